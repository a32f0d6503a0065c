"""Resident ID numbers 公民身份号码 (GB 11643-1999): parse, check, compare, mask.

An 18-character number reads ``RRRRRR YYYYMMDD SSS C``: the region code of the county where
the person was first registered, the birth date, a sequence number whose last digit is odd
for men and even for women, and a MOD 11-2 check character (ISO 7064). Numbers issued
before 1999 have 15 digits (``RRRRRR YYMMDD SSS``, no check character) and are still seen.

Pure functions, no database: the patient index calls them when a record comes in.
"""

from __future__ import annotations

import csv
import enum
import functools
import importlib.resources
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

from yilian.errors import InvalidInput

__all__ = [
    "PROVINCES",
    "IdMismatch",
    "IdRejection",
    "ResidentId",
    "ResidentIdError",
    "Sex",
    "check_digit",
    "mask",
    "mismatches",
    "parse",
    "region_known",
    "region_name",
]

Sex = Literal["male", "female"]

# GB 11643-1999 §7.2: weight of position i (1-based from the left) is 2^(18-i) mod 11.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# The check character for each value of (weighted sum mod 11).
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

# The 34 provincial-level divisions (GB/T 2260), by the first two digits of a region code.
PROVINCES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
    "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}

_EIGHTEEN = re.compile(r"[0-9]{17}[0-9X]")
_FIFTEEN = re.compile(r"[0-9]{15}")


class IdRejection(enum.StrEnum):
    """Why a resident ID number was refused."""

    WRONG_LENGTH = "wrong_length"  # 位数不对
    BAD_CHARACTERS = "bad_characters"  # 含非法字符
    UNKNOWN_PROVINCE = "unknown_province"  # 省级代码不存在
    NO_SUCH_DATE = "no_such_date"  # 出生日期不存在
    BIRTH_IN_FUTURE = "birth_in_future"  # 出生日期晚于今天
    BIRTH_TOO_EARLY = "birth_too_early"  # 出生日期早于 1900 年
    BAD_CHECK_DIGIT = "bad_check_digit"  # 校验码错误


class IdMismatch(enum.StrEnum):
    """Where a patient record disagrees with its own resident ID: stored, but flagged."""

    BIRTH_DATE_DIFFERS = "birth_date_differs"  # 出生日期与身份证号不符
    SEX_DIFFERS = "sex_differs"  # 性别与身份证号不符
    REGION_UNKNOWN = "region_unknown"  # 地区代码不在本地代码表中（可能是已撤销的县）


class ResidentIdError(InvalidInput, ValueError):
    """A resident ID number that cannot be right, with the reason a clerk can act on.

    Messages never repeat the whole number, so they are safe to log.
    """

    reason: IdRejection

    def __init__(self, reason: IdRejection, zh: str, en: str) -> None:
        super().__init__(f"resident_id_{reason.value}", zh, en,
                         [{"field": "resident_id", "reason": reason.value}])
        self.reason = reason

    @property
    def message_zh(self) -> str:
        """The message in Chinese."""
        return self.zh

    @property
    def message_en(self) -> str:
        """The message in English."""
        return self.en


@dataclass(frozen=True)
class ResidentId:
    """A resident ID number that passed every check, with what it says about its holder."""

    number: str  # always the 18-character form, upper-case X
    region_code: str  # 6 digits: county of first registration, possibly since abolished
    birth_date: date
    sex: Sex
    legacy: bool  # given in the 15-digit form


def check_digit(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits of a resident ID."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("check_digit needs exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def parse(raw: str, *, today: date | None = None) -> ResidentId:
    """Check a resident ID number as typed or scanned and read what it encodes.

    Spaces are dropped, full-width characters (from a Chinese input method) are read as
    their ASCII forms, and a lower-case x is accepted. A 15-digit number is upgraded to 18.
    """
    number = "".join(unicodedata.normalize("NFKC", raw).split()).upper()
    legacy = len(number) == 15
    _check_format(number)
    if legacy:
        number = number[:6] + "19" + number[6:]
    province = number[:2]
    if province not in PROVINCES:
        raise ResidentIdError(
            IdRejection.UNKNOWN_PROVINCE,
            f"身份证号前两位 {province} 不是有效的省级行政区代码，请核对",
            f"The resident ID starts with {province}, which is not a province code; "
            "please check it",
        )
    birth_date = _birth_date(number[6:14], today=today or date.today())
    # The date is checked before the check character: when a digit of the date is
    # mistyped both fail, and naming the date tells the clerk where to look.
    if not legacy:
        expected = check_digit(number[:17])
        if number[17] != expected:
            raise ResidentIdError(
                IdRejection.BAD_CHECK_DIGIT,
                f"身份证号校验码错误：按前 17 位计算应为 {expected}，请逐位核对证件",
                f"The resident ID's check digit is wrong: from the first 17 digits it "
                f"should be {expected}; please check every digit against the card",
            )
    else:
        number += check_digit(number)
    return ResidentId(
        number=number,
        region_code=number[:6],
        birth_date=birth_date,
        sex="male" if int(number[16]) % 2 == 1 else "female",
        legacy=legacy,
    )


def _check_format(number: str) -> None:
    """Refuse anything but 17 digits and a digit or X, or 15 digits."""
    if len(number) not in (15, 18):
        raise ResidentIdError(
            IdRejection.WRONG_LENGTH,
            f"身份证号应为 18 位（旧证 15 位），输入的是 {len(number)} 位",
            f"A resident ID has 18 characters (15 on old cards); this one has {len(number)}",
        )
    pattern = _FIFTEEN if len(number) == 15 else _EIGHTEEN
    if pattern.fullmatch(number) is None:
        raise ResidentIdError(
            IdRejection.BAD_CHARACTERS,
            "身份证号只能由数字组成，18 位号码的最后一位可以是 X",
            "A resident ID is made of digits; only the last of 18 characters may be X",
        )


def _birth_date(digits: str, *, today: date) -> date:
    """The birth date from its eight digits ``YYYYMMDD``, if it exists and is plausible."""
    shown = f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    try:
        birth_date = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise ResidentIdError(
            IdRejection.NO_SUCH_DATE,
            f"身份证号中的出生日期 {shown} 不存在，请核对",
            f"The birth date in the resident ID, {shown}, does not exist; please check it",
        ) from None
    if birth_date > today:
        raise ResidentIdError(
            IdRejection.BIRTH_IN_FUTURE,
            f"身份证号中的出生日期 {shown} 晚于今天，请核对",
            f"The birth date in the resident ID, {shown}, is in the future; please check it",
        )
    if birth_date < EARLIEST_BIRTH_DATE:
        raise ResidentIdError(
            IdRejection.BIRTH_TOO_EARLY,
            f"身份证号中的出生日期 {shown} 早于 1900 年，请核对",
            f"The birth date in the resident ID, {shown}, is before 1900; please check it",
        )
    return birth_date


@functools.cache
def _region_table() -> dict[str, str]:
    """The bundled GB/T 2260 codes: code → name (former divisions named 原…)."""
    text = importlib.resources.files("yilian.patients").joinpath("region_codes.csv").read_text(
        encoding="utf-8"
    )
    return {row["code"]: row["name"] for row in csv.DictReader(text.splitlines())}


def region_known(code: str) -> bool:
    """Whether a region code is in the bundled table (Beijing, Tianjin, part of Hebei).

    The table is small on purpose: an unknown code is flagged for a person to look at,
    never refused, because IDs keep the code of counties that have since been abolished.
    """
    return code in _region_table()


def region_name(code: str) -> str | None:
    """The name of a region code from the bundled table, or None when it is not there."""
    return _region_table().get(code)


_SEX_WORDS: dict[str, Sex] = {"male": "male", "m": "male", "男": "male",
                              "female": "female", "f": "female", "女": "female"}


def mismatches(
    resident_id: ResidentId, *, birth_date: date | None, sex: str | None
) -> list[IdMismatch]:
    """What a record states that its resident ID contradicts, plus an unknown region.

    A missing birth date or sex, or a sex that is neither male nor female (FHIR "other",
    "unknown"), cannot contradict the ID and is not flagged.
    """
    flags: list[IdMismatch] = []
    if birth_date is not None and birth_date != resident_id.birth_date:
        flags.append(IdMismatch.BIRTH_DATE_DIFFERS)
    stated_sex = _SEX_WORDS.get(sex.strip().lower()) if sex else None
    if stated_sex is not None and stated_sex != resident_id.sex:
        flags.append(IdMismatch.SEX_DIFFERS)
    if not region_known(resident_id.region_code):
        flags.append(IdMismatch.REGION_UNKNOWN)
    return flags


def mask(number: str) -> str:
    """The number for display, first 6 and last 4 characters shown: ``110101********123X``.

    Anything of 10 characters or fewer is masked whole, so nothing short leaks in full.
    """
    compact = "".join(number.split()).upper()
    if len(compact) <= 10:
        return "*" * len(compact)
    return compact[:6] + "*" * (len(compact) - 10) + compact[-4:]
