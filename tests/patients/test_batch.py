"""Batch linking: the file command agrees with one-by-one registration and with itself."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from itertools import combinations
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import make_institution, register
from yilian.cli import app as cli
from yilian.config import Settings
from yilian.patients import batch, resident_id, synthetic
from yilian.patients.features import link_features

SOURCES = ("HL01", "BJ01", "BD01")
TODAY = date(2026, 11, 23)


def _python_features(record: synthetic.SyntheticRecord) -> dict[str, str | None]:
    id_key = None
    if record.id_number:
        try:
            parsed = resident_id.parse(record.id_number, today=TODAY)
        except ValueError:
            parsed = None
        id_key = parsed.number if parsed else None
    born = record.birth_date or (parsed.birth_date if id_key and parsed else None)
    return link_features(
        name=record.name, sex=record.sex, birth_date=born, phone=record.phone,
        address=record.address, id_key=id_key,
    ).as_row("x")


def test_batch_features_equal_the_online_features(tmp_path: Path) -> None:
    records = synthetic.generate(600, sources=SOURCES, seed=5)
    awkward = [
        # full-width digits and +86, a 15-digit legacy ID, a bad check digit, a pinyin name
        synthetic.SyntheticRecord(
            record_id="odd-1", source="HL01", local_id="1", name="Ｚｈａｎｇ  Ｗｅｉ",
            sex="male", birth_date=None, id_number="130730680314123",
            phone="+86 １３８-1234-5678", address="河北省张家口市怀来县沙城镇（东大街）12号",
            insured_region="130730", scheme="resident", person_key="x"),
        synthetic.SyntheticRecord(
            record_id="odd-2", source="HL01", local_id="2", name="宋 秀兰", sex="female",
            birth_date=date(1968, 3, 14), id_number="130730196803141230",
            phone="010-8888", address=None, insured_region="130730", scheme="resident",
            person_key="y"),
    ]
    path = tmp_path / "in.csv"
    synthetic.write_csv([*records, *awkward], path)
    from_sql = batch.features_of_file(path, today=TODAY)
    for record, row in zip([*records, *awkward], from_sql, strict=True):
        expected = _python_features(record)
        got = {k: row[k] for k in expected if k != "unique_id"}
        assert got == {k: v for k, v in expected.items() if k != "unique_id"}, record.record_id


def _pairs(partition: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, list[str]] = {}
    for record_id, person in partition.items():
        groups.setdefault(person, []).append(record_id)
    return {frozenset(p) for g in groups.values() for p in combinations(g, 2)}


def test_batch_and_online_registration_agree(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    records = synthetic.generate(240, sources=SOURCES, seed=21)
    institutions = {code: make_institution(session, code=code) for code in SOURCES}
    online: dict[str, str] = {}
    for record in records:
        made = register(
            session, settings, institutions[record.source], record.local_id,
            name=record.name, sex=record.sex or "unknown", birth_date=record.birth_date,
            id_number=record.id_number, phone=record.phone, address=record.address or "",
        )
        online[record.record_id] = str(made.person.id)
    session.flush()
    # The online path moves records when people merge; read where they ended up.
    for record in records:
        found = session.get(type(made.record), int(_record_pk(session, record, institutions)))
        assert found is not None
        online[record.record_id] = str(found.person_id)

    path, out = tmp_path / "in.csv", tmp_path / "out.csv"
    synthetic.write_csv(records, path)
    batch.link_csv(path, out, link_threshold=settings.empi_link_threshold,
                   review_threshold=settings.empi_review_threshold)
    with out.open(encoding="utf-8") as handle:
        batched = {row["record_id"]: row["person_id"] for row in csv.DictReader(handle)}

    online_pairs, batch_pairs = _pairs(online), _pairs(batched)
    truth = _pairs({r.record_id: r.person_key for r in records})
    assert online_pairs == batch_pairs
    # And both are right about nearly every pair of records of the same person.
    assert len(batch_pairs & truth) >= 0.97 * len(truth)


def _record_pk(session: Session, record: synthetic.SyntheticRecord, institutions: dict) -> int:
    from yilian.patients import service as patients

    found = patients.get_record_by_local_id(
        session, institution_id=institutions[record.source].id, local_id=record.local_id
    )
    assert found is not None
    return found.id


def test_link_command_writes_one_person_per_record(tmp_path: Path) -> None:
    records = synthetic.generate(900, sources=SOURCES, seed=8)
    path, out = tmp_path / "in.csv", tmp_path / "out.csv"
    synthetic.write_csv(records, path)
    result = CliRunner().invoke(cli, ["patients", "link", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["record_id", "person_id", "match_probability"]
    assert [r["record_id"] for r in rows] == [r.record_id for r in records]
    people = Counter(r["person_id"] for r in rows)
    true_people = len({r.person_key for r in records})
    assert abs(len(people) - true_people) <= 0.03 * true_people
    # Records joined by the same resident ID carry probability 1.
    by_id = Counter(r.id_number for r in records if r.id_number)
    shared = {r.record_id for r in records if r.id_number and by_id[r.id_number] > 1}
    assert all(r["match_probability"] == "1.000000" for r in rows if r["record_id"] in shared)


def test_link_command_refuses_a_file_without_record_ids(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("record_id,source,name\n,HL01,张伟\n1,HL01,王芳\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["patients", "link", str(path), "-o", str(out)])
    assert result.exit_code == 1
    assert "record_id" in result.output and "1 empty" in result.output
    assert not out.exists()
