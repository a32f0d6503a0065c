"""Normalise a patient record into the fields the linkage model compares.

One function turns a registration into comparable features, so the online path, the
batch command and `Patient/$match` all compare exactly the same things.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

__all__ = [
    "LinkFeatures",
    "address_key",
    "name_pinyin",
    "normalise_name",
    "normalise_phone",
    "swapped_birth_date",
]

# Surnames read differently from the same character in ordinary words (单 shàn, not dān);
# pypinyin reads characters as words, so a name needs its surname read as a surname.
_SURNAME_READINGS = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "区": "ou", "查": "zha",
    "朴": "piao", "盖": "ge", "覃": "qin", "乐": "yue", "缪": "miao", "种": "chong",
    "黑": "he", "翟": "zhai", "秘": "bi", "繁": "po", "员": "yun", "尉": "yu",
    "召": "shao", "句": "gou", "纪": "ji", "那": "na", "过": "guo", "祭": "zhai",
    "柏": "bai", "薄": "bo", "褚": "chu", "隗": "wei", "卜": "bu", "藏": "zang",
    "长孙": "zhangsun", "尉迟": "yuchi", "万俟": "moqi", "澹台": "tantai",
}
_COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "司徒", "夏侯",
    "公孙", "轩辕", "西门", "独孤", "南宫", "长孙", "尉迟", "万俟", "澹台", "宇文",
})
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NOT_LETTER = re.compile(r"[^a-z]")
_NOT_DIGIT = re.compile(r"[^0-9]")
_SEXES = {
    "male": "male", "m": "male", "男": "male", "female": "female", "f": "female", "女": "female"
}
# Full-width ASCII (from a Chinese input method) and the ideographic space, as ASCII.
FULL_WIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
HALF_WIDTH = "".join(chr(c) for c in range(0x21, 0x7F)) + " "
_FOLD_WIDTH = str.maketrans(FULL_WIDTH, HALF_WIDTH)
# Address prefixes one hospital writes and another leaves out, and punctuation and words
# like 号 and 室 written one way here and another there. The batch command runs the same
# patterns in DuckDB (RE2 syntax: no look-arounds), so keep the two forms in step.
ADDRESS_NOISE = (
    r"^(中国)?(北京市|天津市|上海市|重庆市|[一-鿿]{2,3}(省|自治区))?([一-鿿]{2,4}市)?"
)
ADDRESS_PUNCT = r"[\s,，.。、·\-—()（）#号室楼栋]"
_ADDRESS_NOISE = re.compile(ADDRESS_NOISE)
_ADDRESS_PUNCT = re.compile(ADDRESS_PUNCT)


@dataclass(frozen=True, slots=True)
class LinkFeatures:
    """The comparable form of one source record."""

    name_zh: str | None
    name_py: str | None
    surname_py: str | None
    sex: str | None
    birth_date: str | None
    birth_date_swapped: str | None
    phone: str | None
    address: str | None
    id_key: str | None

    def as_row(self, unique_id: str) -> dict[str, str | None]:
        """The row the linkage model reads, keyed by its column names."""
        return {
            "unique_id": unique_id,
            "name_zh": self.name_zh,
            "name_py": self.name_py,
            "surname_py": self.surname_py,
            "sex": self.sex,
            "birth_date": self.birth_date,
            "birth_date_swapped": self.birth_date_swapped,
            "phone": self.phone,
            "address": self.address,
            "id_key": self.id_key,
        }


def normalise_name(raw: str | None) -> str | None:
    """Full-width to half-width, no spaces or middle dots; None when nothing is left."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    text = re.sub(r"[\s·•．.]+", " " if not _CJK.search(text) else "", text)
    return text or None


@lru_cache(maxsize=500_000)
def name_pinyin(name: str) -> tuple[str, str]:
    """(surname, full name) in toneless pinyin: 张伟 and "Zhang Wei" both give zhang/zhangwei.

    A Latin name written given-name first ("Wei Zhang") is turned round when only its last
    word is a surname, so it meets the character form.
    """
    if _CJK.search(name):
        chars = "".join(_CJK.findall(name))
        surname = chars[:2] if chars[:2] in _COMPOUND_SURNAMES else chars[:1]
        surname_py = _SURNAME_READINGS.get(surname) or "".join(
            lazy_pinyin(surname, style=Style.NORMAL)
        )
        given_py = "".join(lazy_pinyin(chars[len(surname):], style=Style.NORMAL))
        surname_py = _NOT_LETTER.sub("", surname_py.replace("ü", "v"))
        return surname_py, surname_py + _NOT_LETTER.sub("", given_py.replace("ü", "v"))
    words = [_NOT_LETTER.sub("", w) for w in name.lower().replace("ü", "v").split()]
    words = [w for w in words if w]
    if not words:
        return "", ""
    if len(words) > 1 and words[-1] in _KNOWN_SURNAMES and words[0] not in _KNOWN_SURNAMES:
        words = [words[-1], *words[:-1]]
    return words[0], "".join(words)


def fold_width(text: str) -> str:
    """Full-width letters, digits and punctuation as their ASCII forms."""
    return text.translate(_FOLD_WIDTH)


def normalise_sex(raw: str | None) -> str | None:
    """male or female from the ways records write it; None when unknown."""
    if not raw:
        return None
    return _SEXES.get(raw.strip().lower())


def normalise_phone(raw: str | None) -> str | None:
    """Digits only, without the +86 country code; None when fewer than 7 digits remain."""
    if not raw:
        return None
    digits = _NOT_DIGIT.sub("", fold_width(raw))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if len(digits) >= 7 else None


def address_key(raw: str | None) -> str | None:
    """The address without province and city prefix, punctuation or 号, for comparison."""
    if not raw:
        return None
    text = _ADDRESS_PUNCT.sub("", fold_width(raw))
    text = _ADDRESS_NOISE.sub("", text, count=1)
    return text or None


def swapped_birth_date(birth_date: date | None) -> str | None:
    """The date with day and month exchanged, when that is another real date."""
    if birth_date is None or birth_date.day > 12 or birth_date.day == birth_date.month:
        return None
    return birth_date.replace(month=birth_date.day, day=birth_date.month).isoformat()


def link_features(
    *,
    name: str | None,
    sex: str | None,
    birth_date: date | None,
    phone: str | None,
    address: str | None,
    id_key: str | None,
) -> LinkFeatures:
    """Features of one record; `id_key` is a valid resident ID's number or its keyed hash."""
    clean_name = normalise_name(name)
    surname_py = full_py = None
    name_zh = None
    if clean_name:
        surname, full = name_pinyin(clean_name)
        surname_py, full_py = surname or None, full or None
        if _CJK.search(clean_name):
            name_zh = clean_name
    return LinkFeatures(
        name_zh=name_zh,
        name_py=full_py,
        surname_py=surname_py,
        sex=normalise_sex(sex),
        birth_date=birth_date.isoformat() if birth_date else None,
        birth_date_swapped=swapped_birth_date(birth_date),
        phone=normalise_phone(phone),
        address=address_key(address),
        id_key=id_key or None,
    )


# Pinyin of common surnames, to turn round a Latin name written given-name first.
_KNOWN_SURNAMES = frozenset({
    "wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun",
    "ma", "zhu", "hu", "guo", "he", "gao", "lin", "luo", "zheng", "liang", "xie", "song",
    "tang", "han", "feng", "deng", "cao", "peng", "zeng", "xiao", "tian", "dong", "yuan",
    "pan", "cai", "jiang", "yu", "du", "ye", "cheng", "wei", "su", "lv", "ding", "ren", "shen",
    "yao", "lu", "jin", "fu", "zhong", "cui", "tan", "liao", "fan", "wan", "qiu", "xia", "hou",
    "zou", "shi", "xiong", "meng", "qin", "bai", "yan", "mao", "hao", "kong", "shao", "gong",
    "duan", "lei", "long", "tao", "qian", "wen", "kang", "niu", "hong", "shan", "ou", "ouyang",
    "zhuge", "sima", "shangguan",
})
