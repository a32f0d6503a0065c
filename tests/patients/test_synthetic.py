"""Synthetic patient records: deterministic, valid IDs, every clerk's mistake, hard strangers."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from pypinyin import lazy_pinyin

from yilian.patients import synthetic
from yilian.patients.synthetic import SyntheticRecord

SOURCES = [f"H{number:02d}" for number in range(20)]
N_RECORDS = 30_000
REGION_CODES = {region.code for region in synthetic.REGIONS}


@pytest.fixture(scope="module")
def records() -> list[SyntheticRecord]:
    return synthetic.generate(N_RECORDS, sources=SOURCES, seed=7)


@pytest.fixture(scope="module")
def by_person(records: list[SyntheticRecord]) -> dict[str, list[SyntheticRecord]]:
    people: dict[str, list[SyntheticRecord]] = defaultdict(list)
    for record in records:
        people[record.person_key].append(record)
    return people


def check_digit(first_17: str) -> str:
    """GB 11643 recomputed here, independently of the module under test."""
    weights = [2 ** (17 - index) % 11 for index in range(17)]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first_17, weights, strict=True)) % 11]


def test_check_digit_worked_example() -> None:
    # The example printed in GB 11643-1999: 11010519491231002X.
    assert check_digit("11010519491231002") == "X"
    assert synthetic._check_digit("11010519491231002") == "X"


def test_same_seed_same_records_other_seed_others() -> None:
    first = synthetic.generate(2_000, sources=SOURCES, seed=3)
    assert first == synthetic.generate(2_000, sources=SOURCES, seed=3)
    assert first != synthetic.generate(2_000, sources=SOURCES, seed=4)


def test_counts_and_unique_identifiers(records: list[SyntheticRecord]) -> None:
    assert len(records) == N_RECORDS
    assert len({record.record_id for record in records}) == N_RECORDS
    assert len({(record.source, record.local_id) for record in records}) == N_RECORDS
    assert {record.source for record in records} == set(SOURCES)
    assert synthetic.generate(0, sources=SOURCES) == []


def test_about_a_third_as_many_people_each_at_distinct_institutions(
    by_person: dict[str, list[SyntheticRecord]],
) -> None:
    assert 0.28 * N_RECORDS < len(by_person) < 0.38 * N_RECORDS
    sizes = [len(person) for person in by_person.values()]
    assert sum(size <= 3 for size in sizes) > 0.6 * len(sizes)
    assert max(sizes) >= 8
    for person in by_person.values():
        assert len({record.source for record in person}) == len(person)


def test_few_sources_cap_records_per_person() -> None:
    records = synthetic.generate(600, sources=["A", "B"], seed=1)
    people: dict[str, set[str]] = defaultdict(set)
    for record in records:
        people[record.person_key].add(record.source)
    assert all(len(sources) <= 2 for sources in people.values())


def test_resident_ids_valid_and_true_to_the_person(
    by_person: dict[str, list[SyntheticRecord]],
) -> None:
    owner: dict[str, str] = {}
    for key, person in by_person.items():
        ids = {record.id_number for record in person if record.id_number is not None}
        assert len(ids) <= 1, "one person, one resident ID"
        for id_number in ids:
            assert len(id_number) == 18 and id_number[:17].isdigit()
            assert id_number[17] == check_digit(id_number[:17])
            assert id_number[:6] in REGION_CODES
            assert owner.setdefault(id_number, key) == key, "strangers never share an ID"
            encoded = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
            male = int(id_number[16]) % 2 == 1
            for record in person:
                if record.birth_date is not None:
                    swapped = (record.birth_date.month, record.birth_date.day)
                    assert record.birth_date == encoded or swapped == (encoded.day, encoded.month)
                if record.sex:
                    assert (record.sex == "male") == male


def test_missing_id_share_close_to_target(records: list[SyntheticRecord]) -> None:
    share = sum(record.id_number is None for record in records) / len(records)
    assert abs(share - 0.30) < 0.015
    always = synthetic.generate(500, sources=SOURCES, missing_id_share=0)
    never = synthetic.generate(500, sources=SOURCES, missing_id_share=1)
    assert all(record.id_number for record in always)
    assert not any(record.id_number for record in never)


def test_missing_id_decided_per_record(by_person: dict[str, list[SyntheticRecord]]) -> None:
    mixed = [
        person
        for person in by_person.values()
        if len({record.id_number is None for record in person}) == 2
    ]
    assert len(mixed) > 1_000


def test_field_formats(records: list[SyntheticRecord]) -> None:
    for record in records:
        assert record.sex in ("male", "female", "")
        assert record.phone is None or (len(record.phone) == 11 and record.phone[0] == "1")
        assert record.insured_region in REGION_CODES
        assert record.scheme in ("employee", "resident")
        assert record.name
    local_id_shapes = {record.local_id[:2].isdigit() for record in records}
    assert local_id_shapes == {True, False}
    assert any(record.local_id.startswith("MZ") for record in records)
    assert any("-" in record.local_id for record in records)


def corruption_kinds(person: list[SyntheticRecord]) -> set[str]:
    """Which of the clerks' mistakes show among one person's records."""
    kinds: set[str] = set()
    chinese = [record.name for record in person if not record.name.isascii()]
    if any(record.name.isascii() for record in person):
        kinds.add("pinyin name")
    for name in set(chinese):
        for other in set(chinese) - {name}:
            if len(name) == len(other) and name[0] == other[0]:
                same_sound = lazy_pinyin(name) == lazy_pinyin(other)
                kinds.add("homophone" if same_sound else "look-alike")
    dates = {record.birth_date for record in person}
    if None in dates and len(dates) > 1:
        kinds.add("missing birth date")
    known = [d for d in dates if d is not None]
    if any(a.month == b.day and a.day == b.month and a != b for a in known for b in known):
        kinds.add("day-month swap")
    phones = {record.phone for record in person}
    if None in phones and len(phones) > 1:
        kinds.add("missing phone")
    digits = [p for p in phones if p is not None]
    for a in digits:
        for b in digits:
            differing = [i for i in range(11) if a[i] != b[i]]
            if len(differing) == 1:
                kinds.add("phone digit")
            elif len(differing) == 2 and differing[1] == differing[0] + 1:
                i = differing[0]
                if a[i] == b[i + 1] and a[i + 1] == b[i]:
                    kinds.add("phone transposition")
    addresses = {record.address for record in person}
    if None in addresses and len(addresses) > 1:
        kinds.add("missing address")
    if len(addresses - {None}) > 1:
        kinds.add("address rewritten")
    if "" in {record.sex for record in person}:
        kinds.add("missing sex")
    return kinds


def test_every_corruption_kind_appears(by_person: dict[str, list[SyntheticRecord]]) -> None:
    seen: dict[str, int] = defaultdict(int)
    for person in by_person.values():
        for kind in corruption_kinds(person):
            seen[kind] += 1
    expected = {
        "pinyin name",
        "homophone",
        "look-alike",
        "missing birth date",
        "day-month swap",
        "missing phone",
        "phone digit",
        "phone transposition",
        "missing address",
        "address rewritten",
        "missing sex",
    }
    assert expected <= set(seen), f"missing kinds: {expected - set(seen)}"
    assert all(seen[kind] >= 10 for kind in expected), dict(seen)


def test_pinyin_names_read_the_surname_as_a_surname() -> None:
    assert synthetic._pinyin_name("张", "伟") == "Zhang Wei"
    assert synthetic._pinyin_name("曾", "秀英") == "Zeng Xiuying"


def test_homophone_table_built_from_readings() -> None:
    table = synthetic._homophones()
    assert "玮" in table["伟"]
    assert all(
        lazy_pinyin(other) == lazy_pinyin(character)
        for character, others in table.items()
        for other in others
    )
    assert len(table) > 100


def test_same_name_strangers_are_common_and_some_share_a_birth_date(
    records: list[SyntheticRecord],
) -> None:
    by_name: dict[str, set[str]] = defaultdict(set)
    by_name_and_date: dict[tuple[str, date], set[str]] = defaultdict(set)
    for record in records:
        by_name[record.name].add(record.person_key)
        if record.birth_date is not None:
            by_name_and_date[record.name, record.birth_date].add(record.person_key)
    assert sum(len(people) > 1 for people in by_name.values()) > 300
    assert max(len(people) for people in by_name.values()) > 30
    assert sum(len(people) > 1 for people in by_name_and_date.values()) > 30


def test_households_share_phone_and_address(records: list[SyntheticRecord]) -> None:
    by_phone: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in records:
        if record.phone and record.address:
            by_phone[record.phone, record.address].add(record.person_key)
    assert sum(len(people) > 1 for people in by_phone.values()) > 100


def test_csv_round_trip(records: list[SyntheticRecord], tmp_path: Path) -> None:
    sample = records[:500]
    synthetic.write_csv(sample, tmp_path / "input.csv")
    synthetic.write_truth(sample, tmp_path / "truth.csv")
    with open(tmp_path / "input.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == synthetic.INPUT_COLUMNS
    for row, record in zip(rows[1:], sample, strict=True):
        read = dict(zip(synthetic.INPUT_COLUMNS, row, strict=True))
        assert read["record_id"] == record.record_id
        assert read["name"] == record.name
        assert read["local_id"] == record.local_id
        assert read["sex"] == record.sex
        assert (date.fromisoformat(read["birth_date"]) if read["birth_date"] else None) == (
            record.birth_date
        )
        assert (read["id_number"] or None) == record.id_number
        assert (read["phone"] or None) == record.phone
        assert (read["address"] or None) == record.address
    with open(tmp_path / "truth.csv", newline="", encoding="utf-8") as file:
        truth = list(csv.DictReader(file))
    assert [row["person_key"] for row in truth] == [record.person_key for record in sample]


def test_arguments_checked() -> None:
    with pytest.raises(ValueError, match="sources"):
        synthetic.generate(10, sources=[])
    with pytest.raises(ValueError, match="sources"):
        synthetic.generate(10, sources=["A", "A"])
    with pytest.raises(ValueError, match="missing_id_share"):
        synthetic.generate(10, sources=["A"], missing_id_share=1.5)
    with pytest.raises(ValueError, match="n_records"):
        synthetic.generate(-1, sources=["A"])
