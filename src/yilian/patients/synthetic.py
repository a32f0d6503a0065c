"""Synthetic patient source records with known truth, for building and measuring the patient index.

One real person visits several institutions; each keeps its own registration record. The first
record of a person is clean; a record at a further institution is a corrupted copy, with the
mistakes registration clerks make: a homophone typed through a pinyin input method (张伟 → 张玮),
a look-alike character, a name written in pinyin only ("Zhang Wei"), day and month swapped,
a missing birth date, a mistyped or missing phone, the address written another way. The resident
ID number is never wrong, but a record lacks it in ``missing_id_share`` of cases.

Strangers are made hard on purpose: surnames follow their real frequency and given names a
steep rank curve, so many people share a full name; some share name and birth date or year,
and household members share surname, address and phone. ``person_key`` is the truth.

Fast enough for a million records: Faker (zh_CN) only fills the pools once, and one seeded
``random.Random`` draws everything else.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Literal

from faker import Faker
from faker.providers.person.zh_CN import Provider as ChinesePersonProvider
from pypinyin import lazy_pinyin

__all__ = [
    "INPUT_COLUMNS",
    "REGIONS",
    "TRUTH_COLUMNS",
    "Region",
    "Scheme",
    "Sex",
    "SyntheticRecord",
    "generate",
    "write_csv",
    "write_truth",
]

Sex = Literal["male", "female", ""]
Scheme = Literal["employee", "resident"]  # 职工医保 / 城乡居民医保

INPUT_COLUMNS = (
    "record_id",
    "source",
    "local_id",
    "name",
    "sex",
    "birth_date",
    "id_number",
    "phone",
    "address",
)
TRUTH_COLUMNS = ("record_id", "person_key")


@dataclass(frozen=True, slots=True)
class Region:
    """A county-level division (GB/T 2260 code) where patients live and are insured."""

    code: str
    province: str
    city: str  # empty for the districts of a municipality (北京, 天津)
    county: str
    population: int  # ten thousands, roughly, 7th census (2020): the region's weight


REGIONS = (
    Region("110101", "北京市", "", "东城区", 70),
    Region("110102", "北京市", "", "西城区", 110),
    Region("110105", "北京市", "", "朝阳区", 345),
    Region("110106", "北京市", "", "丰台区", 200),
    Region("110108", "北京市", "", "海淀区", 313),
    Region("110114", "北京市", "", "昌平区", 227),
    Region("120101", "天津市", "", "和平区", 36),
    Region("120103", "天津市", "", "河西区", 82),
    Region("130102", "河北省", "石家庄市", "长安区", 62),
    Region("130602", "河北省", "保定市", "竞秀区", 60),
    Region("130681", "河北省", "保定市", "涿州市", 66),
    Region("130705", "河北省", "张家口市", "宣化区", 55),
    Region("130730", "河北省", "张家口市", "怀来县", 35),
)


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    """One institution's registration record of a patient; ``person_key`` is the truth."""

    record_id: str
    source: str
    local_id: str
    name: str
    sex: Sex
    birth_date: date | None
    id_number: str | None
    phone: str | None
    address: str | None
    insured_region: str
    scheme: Scheme
    person_key: str


# Records per person, 1, 2, 3, …: most people visit one to three institutions (mean ≈ 3).
RECORDS_PER_PERSON_WEIGHTS = (30, 22, 16, 10, 7, 5, 4, 3, 1.5, 1.5)

# How often a further institution's copy carries each mistake.
NAME_HOMOPHONE = 0.08
NAME_LOOKALIKE = 0.03
NAME_PINYIN_ONLY = 0.04
BIRTH_DAY_MONTH_SWAPPED = 0.06  # only where both are ≤ 12 and differ
BIRTH_DATE_MISSING = 0.015
PHONE_TYPO = 0.05
PHONE_MISSING = 0.12
ADDRESS_REWRITTEN = 0.45
ADDRESS_MISSING = 0.05
SEX_MISSING = 0.01

# How a new person resembles someone already made: the hard negatives.
STRANGER_SAME_BIRTH_DATE = 0.01  # same full name and birth date, nothing else
STRANGER_SAME_BIRTH_YEAR = 0.01  # same full name and birth year
HOUSEHOLD_MEMBER = 0.04  # same address and phone, mostly the same surname

REFERENCE_DATE = date(2025, 1, 1)  # ages are counted to this day, so output never drifts
CLASSIC_GIVEN_NAME_SHARE = 0.55  # the rest are composed from two name characters

# Common given-name characters beyond Faker's names; their readings build the homophone table.
MALE_NAME_CHARACTERS = (
    "浩宇轩泽俊杰博文涛宏志明辉鹏建国军华伟强刚勇毅峰磊斌彬鑫森霖睿瑞锐哲晨辰宸昊皓天"
    "嘉家振震正德春松柏威炜玮翔祥亮凯恺楷铭鸣旭煦子一永涌健坚剑锋丰海航杭民修钢朝韬朋夏"
)
FEMALE_NAME_CHARACTERS = (
    "欣怡雨语羽玉诗思涵晗梓紫芳方婷庭静婧晶菁敏丽莉利娜秀英兰岚蓝燕艳雁霞红虹慧惠蕙佳嘉"
    "婉琬琳霖玲苓莹颖盈萍平梅媛露璐洁婕捷倩茜晴清琴芹月悦玥雪瑶遥纳美玫鹃菲霏蔷"
)
# Characters a hurried eye or a poor scan confuses; read both ways.
LOOKALIKE_PAIRS = (
    "玉王 未末 己已 大太 土士 晴睛 日曰 人入 天夭 宇字 明朋 永水 申由 甲田 于千 午牛 贝见 "
    "凤风 洁浩 梅海 丹舟 雪雷 颖频 云去 瑞端 洋祥 成戍 文丈 亮壳 华毕 辉挥 婷停 莉梨 娟捐"
)
# pypinyin reads these surnames as common words (曾 → ceng); clerks write the surname reading.
SURNAME_READINGS = {
    "曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "区": "ou", "朴": "piao", "查": "zha",
    "盖": "ge", "缪": "miao", "覃": "qin", "翟": "zhai", "阚": "kan", "乐": "yue", "尉": "yu",
}  # fmt: skip
MOBILE_PREFIXES = tuple(
    str(prefix)
    for prefix in (*range(130, 140), *range(150, 154), *range(155, 160), 166, 173,
                   *range(175, 179), *range(180, 190), 191, 198, 199)
)  # fmt: skip
# GB 11643-1999: weights of the first 17 digits, and the check character for the sum mod 11.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"


def _check_digit(first_17: str) -> str:
    """The GB 11643 check character of a resident ID's first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first_17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[total % 11]


@dataclass(slots=True)
class _Person:
    """The truth about one real person, from which each institution's record is copied."""

    key: str
    surname: str
    given_name: str
    sex: Literal["male", "female"]
    birth_date: date
    id_number: str
    phone: str
    region: Region
    street: str  # street and number, e.g. 学院路37
    apartment: tuple[int, int] | None  # building and room
    insured_region: str
    scheme: Scheme


@dataclass(frozen=True, slots=True)
class _Pools:
    """Everything drawn from many times, built once per seed."""

    surnames: tuple[str, ...]
    surname_weights: tuple[float, ...]
    given_names: dict[str, tuple[tuple[str, ...], tuple[float, ...]]]  # by sex
    name_characters: dict[str, str]  # by sex
    streets: tuple[str, ...]
    region_weights: tuple[float, ...]


def generate(
    n_records: int,
    *,
    sources: Sequence[str],
    seed: int = 0,
    missing_id_share: float = 0.30,
) -> list[SyntheticRecord]:
    """Make ``n_records`` source records of about ``n_records / 3`` people, in record_id order.

    Each person's records sit at distinct institutions, so a person has at most
    ``len(sources)`` records; with few sources there are more people. The same seed gives
    the same records.
    """
    if n_records < 0:
        raise ValueError("n_records must not be negative")
    if not sources or len(set(sources)) != len(sources):
        raise ValueError("sources must be a non-empty sequence of distinct institution codes")
    if not 0.0 <= missing_id_share <= 1.0:
        raise ValueError("missing_id_share must lie between 0 and 1")

    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    pools = _pools(seed)
    local_ids = _LocalIds(sources, rng)
    max_records = min(len(sources), len(RECORDS_PER_PERSON_WEIGHTS))
    counts = tuple(range(1, max_records + 1))
    count_weights = RECORDS_PER_PERSON_WEIGHTS[:max_records]
    # record_ids are handed out in shuffled order, so list order reveals nothing of the truth.
    positions = list(range(n_records))
    rng.shuffle(positions)
    width = max(7, len(str(n_records)))
    records: list[SyntheticRecord | None] = [None] * n_records
    people: list[_Person] = []
    issued_ids: set[str] = set()
    made = 0
    while made < n_records:
        person = _new_person(rng, pools, people, issued_ids, key=f"P{len(people):0{width}d}")
        people.append(person)
        wanted = rng.choices(counts, weights=count_weights)[0]
        for copy_number, source in enumerate(rng.sample(range(len(sources)), wanted)):
            if made == n_records:
                break
            position = positions[made]
            records[position] = _record(
                rng,
                person,
                record_id=f"R{position:0{width}d}",
                source=sources[source],
                local_id=local_ids.next(source),
                corrupted=copy_number > 0,
                missing_id_share=missing_id_share,
            )
            made += 1
    return [record for record in records if record is not None]


def write_csv(records: Iterable[SyntheticRecord], path: str | os.PathLike[str]) -> None:
    """Write the patient index's batch input: INPUT_COLUMNS, ISO dates, empty for missing."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(INPUT_COLUMNS)
        writer.writerows(
            (
                record.record_id,
                record.source,
                record.local_id,
                record.name,
                record.sex,
                record.birth_date.isoformat() if record.birth_date else "",
                record.id_number or "",
                record.phone or "",
                record.address or "",
            )
            for record in records
        )


def write_truth(records: Iterable[SyntheticRecord], path: str | os.PathLike[str]) -> None:
    """Write which person each record belongs to: TRUTH_COLUMNS."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(TRUTH_COLUMNS)
        writer.writerows((record.record_id, record.person_key) for record in records)


class _LocalIds:
    """Each institution numbers its patients its own way: 000123, A-88, HL2024000123, …"""

    def __init__(self, sources: Sequence[str], rng: random.Random) -> None:
        self._rng = rng
        self._next = [rng.randrange(1, 50_000) for _ in sources]
        self._styles = [index % 5 for index in range(len(sources))]
        letters = ["".join(ch for ch in source.upper() if "A" <= ch <= "Z") for source in sources]
        self._prefixes = [code[:2] if len(code) >= 2 else "HL" for code in letters]
        self._letters = [chr(ord("A") + index % 26) for index in range(len(sources))]

    def next(self, source: int) -> str:
        """The next patient number at this source; unique there."""
        number = self._next[source]
        self._next[source] = number + self._rng.randint(1, 3)
        style = self._styles[source]
        if style == 0:
            return f"{number:06d}"
        if style == 1:
            return f"{self._letters[source]}-{number}"
        if style == 2:
            return f"{self._prefixes[source]}{self._rng.randint(2008, 2024)}{number:06d}"
        if style == 3:
            return f"MZ{number:08d}"  # 门诊号
        return str(number)


def _new_person(
    rng: random.Random,
    pools: _Pools,
    people: Sequence[_Person],
    issued_ids: set[str],
    *,
    key: str,
) -> _Person:
    """A new real person: a fresh one, or a stranger who resembles someone already made."""
    roll = rng.random()
    resembled = rng.choice(people) if people else None
    sex: Literal["male", "female"] = "male" if rng.random() < 0.5 else "female"
    surname = rng.choices(pools.surnames, cum_weights=pools.surname_weights)[0]
    given_name = _given_name(rng, pools, sex)
    birth_date = _birth_date(rng)
    region = rng.choices(REGIONS, cum_weights=pools.region_weights)[0]
    street = f"{rng.choice(pools.streets)}{rng.randint(1, 199)}"
    building, floor, door = rng.randint(1, 30), rng.randint(1, 24), rng.randint(1, 6)
    # Seven in ten live in a flat (building and room); the rest in a house or a village.
    apartment = (building, floor * 100 + door) if rng.random() < 0.7 else None
    phone = _phone(rng)
    namesake = STRANGER_SAME_BIRTH_DATE + STRANGER_SAME_BIRTH_YEAR
    if resembled is not None and roll < namesake:
        surname, given_name = resembled.surname, resembled.given_name
        sex = resembled.sex if rng.random() < 0.75 else sex
        if roll < STRANGER_SAME_BIRTH_DATE:
            birth_date = resembled.birth_date
        else:
            year_start = date(resembled.birth_date.year, 1, 1)
            birth_date = year_start + timedelta(days=rng.randrange(365))
    elif resembled is not None and roll < namesake + HOUSEHOLD_MEMBER:
        surname = resembled.surname if rng.random() < 0.8 else surname
        region, street = resembled.region, resembled.street
        apartment, phone = resembled.apartment, resembled.phone
    # The ID carries the region of first registration: mostly where the person lives now.
    id_region = region if rng.random() < 0.85 else rng.choice(REGIONS)
    id_number = _resident_id(rng, id_region, birth_date, sex, issued_ids)
    insured_region = region.code if rng.random() < 0.9 else rng.choice(REGIONS).code
    age = (REFERENCE_DATE - birth_date).days // 365
    scheme: Scheme = "employee" if 18 <= age < 60 and rng.random() < 0.65 else "resident"
    return _Person(
        key=key,
        surname=surname,
        given_name=given_name,
        sex=sex,
        birth_date=birth_date,
        id_number=id_number,
        phone=phone,
        region=region,
        street=street,
        apartment=apartment,
        insured_region=insured_region,
        scheme=scheme,
    )


def _given_name(rng: random.Random, pools: _Pools, sex: str) -> str:
    """A classic given name by its popularity, or two common name characters composed."""
    if rng.random() < CLASSIC_GIVEN_NAME_SHARE:
        names, cum_weights = pools.given_names[sex]
        return rng.choices(names, cum_weights=cum_weights)[0]
    characters = pools.name_characters[sex]
    return rng.choice(characters) + rng.choice(characters)


def _birth_date(rng: random.Random) -> date:
    """A patient's birth date: some children, adults skewed to the old, as hospitals see them."""
    if rng.random() < 0.18:
        age_days = rng.randrange(18 * 365)
    else:
        age_days = int(rng.triangular(18, 95, 65) * 365.25)
    return REFERENCE_DATE - timedelta(days=age_days + 1)


def _phone(rng: random.Random) -> str:
    """An 11-digit mainland mobile number."""
    return f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(100_000_000):08d}"


def _resident_id(
    rng: random.Random, region: Region, birth_date: date, sex: str, issued: set[str]
) -> str:
    """A valid 18-digit resident ID, unique among those issued: odd sequence digit for men."""
    while True:
        sequence = rng.randrange(500) * 2 + (1 if sex == "male" else 0)
        first_17 = f"{region.code}{birth_date:%Y%m%d}{sequence:03d}"
        id_number = first_17 + _check_digit(first_17)
        if id_number not in issued:
            issued.add(id_number)
            return id_number


def _record(
    rng: random.Random,
    person: _Person,
    *,
    record_id: str,
    source: str,
    local_id: str,
    corrupted: bool,
    missing_id_share: float,
) -> SyntheticRecord:
    """One institution's record of a person: the truth, or a copy with a clerk's mistakes."""
    id_number = None if rng.random() < missing_id_share else person.id_number
    name = person.surname + person.given_name
    sex: Sex = person.sex
    birth_date: date | None = person.birth_date
    phone: str | None = person.phone
    address: str | None = _address(person, prefix_level=0, hao=True, dashed=False)
    if corrupted:
        name = _corrupt_name(rng, person)
        if rng.random() < SEX_MISSING:
            sex = ""
        roll = rng.random()
        if roll < BIRTH_DATE_MISSING:
            birth_date = None
        elif roll < BIRTH_DATE_MISSING + BIRTH_DAY_MONTH_SWAPPED:
            birth_date = _day_month_swapped(person.birth_date)
        roll = rng.random()
        if roll < PHONE_MISSING:
            phone = None
        elif roll < PHONE_MISSING + PHONE_TYPO:
            phone = _mistyped(rng, person.phone)
        roll = rng.random()
        if roll < ADDRESS_MISSING:
            address = None
        elif roll < ADDRESS_MISSING + ADDRESS_REWRITTEN:
            address = _address(
                person,
                prefix_level=rng.randrange(3),
                hao=rng.random() < 0.5,
                dashed=rng.random() < 0.5,
            )
    return SyntheticRecord(
        record_id=record_id,
        source=source,
        local_id=local_id,
        name=name,
        sex=sex,
        birth_date=birth_date,
        id_number=id_number,
        phone=phone,
        address=address,
        insured_region=person.insured_region,
        scheme=person.scheme,
        person_key=person.key,
    )


def _corrupt_name(rng: random.Random, person: _Person) -> str:
    """The name as another clerk wrote it: mostly right, else a homophone, look-alike or pinyin."""
    roll = rng.random()
    if roll < NAME_PINYIN_ONLY:
        return _pinyin_name(person.surname, person.given_name)
    if roll < NAME_PINYIN_ONLY + NAME_HOMOPHONE:
        table = _homophones()
    elif roll < NAME_PINYIN_ONLY + NAME_HOMOPHONE + NAME_LOOKALIKE:
        table = _lookalikes()
    else:
        return person.surname + person.given_name
    given = person.given_name
    positions = [index for index, character in enumerate(given) if character in table]
    if not positions:
        return person.surname + given
    index = rng.choice(positions)
    replacement = rng.choice(table[given[index]])
    return person.surname + given[:index] + replacement + given[index + 1 :]


@cache
def _pinyin_name(surname: str, given_name: str) -> str:
    """A name in pinyin only, as a foreign-language or old system stores it: "Zhang Xiuying"."""
    surname_pinyin = SURNAME_READINGS.get(surname) or "".join(lazy_pinyin(surname))
    return f"{surname_pinyin.capitalize()} {''.join(lazy_pinyin(given_name)).capitalize()}"


def _day_month_swapped(birth_date: date) -> date:
    """The date with day and month exchanged (1970-03-07 → 1970-07-03), where that is a date."""
    if birth_date.day <= 12 and birth_date.day != birth_date.month:
        return birth_date.replace(month=birth_date.day, day=birth_date.month)
    return birth_date


def _mistyped(rng: random.Random, phone: str) -> str:
    """A phone with one digit changed or two neighbouring digits exchanged, prefix untouched."""
    index = rng.randrange(3, len(phone) - 1)
    if rng.random() < 0.5 and phone[index] != phone[index + 1]:
        return phone[:index] + phone[index + 1] + phone[index] + phone[index + 2 :]
    digit = rng.choice([d for d in "0123456789" if d != phone[index]])
    return phone[:index] + digit + phone[index + 1 :]


def _address(person: _Person, *, prefix_level: int, hao: bool, dashed: bool) -> str:
    """The address as one clerk writes it: with or without province and city, 号 or not."""
    region = person.region
    if prefix_level == 0:
        prefix = region.province + region.city + region.county
    elif prefix_level == 1:
        prefix = (region.city or region.province) + region.county
    else:
        prefix = region.county
    address = prefix + person.street + ("号" if hao else "")
    if person.apartment is not None:
        building, room = person.apartment
        apartment = f"{building}-{room}" if dashed else f"{building}号楼{room}室"
        address += apartment if hao else " " + apartment
    return address


@cache
def _homophones() -> dict[str, tuple[str, ...]]:
    """Given-name characters that a pinyin input method offers for the same toneless syllable."""
    characters = dict.fromkeys(
        "".join(ChinesePersonProvider.first_names_male)
        + "".join(ChinesePersonProvider.first_names_female)
        + MALE_NAME_CHARACTERS
        + FEMALE_NAME_CHARACTERS
    )
    by_reading: dict[str, list[str]] = {}
    for character in characters:
        by_reading.setdefault(lazy_pinyin(character)[0], []).append(character)
    return {
        character: tuple(other for other in group if other != character)
        for group in by_reading.values()
        if len(group) > 1
        for character in group
    }


@cache
def _lookalikes() -> dict[str, tuple[str, ...]]:
    """Characters mistaken for one another by eye, both ways round."""
    table: dict[str, list[str]] = {}
    for pair in LOOKALIKE_PAIRS.split():
        first, second = pair[0], pair[1]
        table.setdefault(first, []).append(second)
        table.setdefault(second, []).append(first)
    return {character: tuple(others) for character, others in table.items()}


@cache
def _pools(seed: int) -> _Pools:
    """Surnames by real frequency, given names by rank, streets from Faker zh_CN."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    surnames = ChinesePersonProvider.last_names
    given_names: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {}
    for sex, names in (
        ("male", ChinesePersonProvider.first_names_male),
        ("female", ChinesePersonProvider.first_names_female),
    ):
        # Faker lists given names most common first; a steep rank curve makes namesakes common.
        given_names[sex] = (tuple(names), _cumulative(1 / (rank + 1) for rank in range(len(names))))
    streets = tuple(dict.fromkeys(fake.street_name() for _ in range(2_000)))
    return _Pools(
        surnames=tuple(surnames),
        surname_weights=_cumulative(surnames.values()),
        given_names=given_names,
        name_characters={"male": MALE_NAME_CHARACTERS, "female": FEMALE_NAME_CHARACTERS},
        streets=streets,
        region_weights=_cumulative(region.population for region in REGIONS),
    )


def _cumulative(weights: Iterable[float]) -> tuple[float, ...]:
    """Running totals, the form ``random.choices`` draws from fastest."""
    totals: list[float] = []
    running = 0.0
    for weight in weights:
        running += weight
        totals.append(running)
    return tuple(totals)
