"""The demo network's encounter history, loaded by ``demo.load`` on each backend: the volume
API shows the seeds' ratios for the Baoding children's hospital computed from the rows, a
direct count over the raw encounters shows Baoding's outflow falling by 60 %, and every
row names a patient of the index whose regions it copied as intake does."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from tests.conftest import (
    DEMO_HISTORY_SCALE,
    DEMO_PASSWORD,
    TEST_FIELD_KEY,
    DemoTemplate,
    demo_copy,
)
from tests.factories import bearer
from yilian.analytics import demo_plan
from yilian.analytics.aggregates import patient_origin
from yilian.analytics.intake import regions_of
from yilian.analytics.models import (
    Encounter,
    EncounterKind,
    EncounterStatus,
    VolumeKind,
    VolumeMonth,
)
from yilian.app import create_app
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.patients.models import Person
from yilian.registry import service as registry
from yilian.registry.models import Department, Institution


@pytest.fixture(scope="module")
def demo_url(demo_template: DemoTemplate,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_copy(demo_template, tmp_path_factory, "history") as url:
        yield url


@pytest.fixture
def demo_session(demo_url: str) -> Iterator[Session]:
    engine = make_engine(demo_url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def demo_client(demo_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=demo_url, field_key=TEST_FIELD_KEY,
                              secret_key="history-test-secret-key-0123456789abcdef",
                              secret_file=tmp_path / "unused.secret", log_level="WARNING"))
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.engine.dispose()


def test_the_volume_api_shows_the_seeds_ratios_for_the_childrens_hospital(
        demo_client: TestClient, demo_session: Session) -> None:
    hospital = registry.institution_by_code_or_raise(demo_session, code="BCH-BD")
    answer = demo_client.get("/api/v1/analytics/volumes", headers=bearer(
        demo_client, "analyst", DEMO_PASSWORD), params={
        "from": "2025-01", "to": "2025-12", "institution_id": hospital.id})

    assert answer.status_code == 200, answer.text
    rows = {row["kind"]: row for row in answer.json()["rows"]}
    assert {kind: rows[kind]["ratio"] for kind in ("outpatient", "admission", "surgery")} == {
        "outpatient": "2.47", "admission": "1.32", "surgery": "3.46"}
    assert {(r["baseline_from"], r["baseline_to"], r["baseline_source"])
            for r in rows.values()} == {("2014-05", "2015-04", "TG-2015-01")}
    # the counts behind them are the plan's, read back from the rows the demo wrote
    planned = demo_plan.plan_history(DEMO_HISTORY_SCALE).children_hospital
    for kind, name in ((EncounterKind.OUTPATIENT, "outpatient"),
                       (EncounterKind.INPATIENT, "admission"), (EncounterKind.SURGERY, "surgery")):
        assert (rows[name]["baseline_total"], rows[name]["period_total"]) == planned[kind]
    counted = demo_session.scalar(select(func.count()).select_from(Encounter).where(
        Encounter.institution_id == hospital.id, Encounter.kind == EncounterKind.OUTPATIENT,
        Encounter.start_month.between("2025-01", "2025-12")))
    assert rows["outpatient"]["period_total"] == counted
    # most of the children are insured in Baoding; the rest come from other cities
    outpatient = rows["outpatient"]
    assert outpatient["local"] > 6 * outpatient["out_of_region"] > 0
    assert outpatient["unknown_region"] == 0


def _outflow(session: Session, *, specialty: str | None = None) -> dict[str, tuple[int, int]]:
    """Admissions of Baoding-insured patients (baseline year, 2025): treated outside Baoding
    and all of them, by a direct count over the raw encounters."""
    baseline = Encounter.start_month.between("2021-04", "2022-03")
    period = case((baseline, "baseline"), else_="2025")
    outside = Institution.region_code.not_like("1306%")
    statement = (select(period, func.sum(case((outside, 1), else_=0)), func.count())
                 .join(Institution, Institution.id == Encounter.institution_id)
                 .join(Department, Department.id == Encounter.department_id)
                 .where(Encounter.kind == EncounterKind.INPATIENT,
                        Encounter.insured_region_code.like("1306%"),
                        baseline | Encounter.start_month.between("2025-01", "2025-12"))
                 .group_by(period))
    if specialty is not None:
        statement = statement.where(Department.specialty == specialty)
    return {row[0]: (int(row[1]), int(row[2])) for row in session.execute(statement)}


def _drop(before: int, after: int) -> Decimal:
    return ((1 - Decimal(after) / before) * 100).quantize(Decimal(1), ROUND_HALF_UP)


def test_baoding_outflow_falls_by_60_percent_counted_over_raw_encounters(
        demo_session: Session) -> None:
    for specialty in (None, "cardiology"):
        counts = _outflow(demo_session, specialty=specialty)
        (out_before, all_before), (out_after, all_after) = counts["baseline"], counts["2025"]

        assert _drop(out_before, out_after) == 60, specialty
        assert out_after / all_after < out_before / all_before, specialty
    # the plan at this scale says how many; the rows agree
    assert (_outflow(demo_session)["baseline"][0], _outflow(demo_session)["2025"][0]) == (
        demo_plan.plan_history(DEMO_HISTORY_SCALE).outflow)


def test_every_encounter_names_a_patient_whose_regions_it_copied(
        demo_session: Session) -> None:
    seen = demo_session.execute(
        select(Encounter.person_id, Encounter.institution_id, Encounter.insured_region_code,
               Encounter.residence_region_code, Encounter.origin,
               func.min(Encounter.start_month), func.max(Encounter.start_month))
        .group_by(Encounter.person_id, Encounter.institution_id,
                  Encounter.insured_region_code, Encounter.residence_region_code,
                  Encounter.origin)).all()
    children = registry.institution_by_code_or_raise(demo_session, code="BCH-BD").id

    assert len(seen) > 100
    assert len({(row[0], row[1]) for row in seen}) == len(seen)  # one set of regions each
    for person_id, institution_id, insured, residence, origin, first, last in seen:
        person = demo_session.get(Person, person_id)
        institution = demo_session.get(Institution, institution_id)
        assert person is not None and institution is not None and person.birth_date
        regions = regions_of(person, institution_id=institution_id)
        assert (insured, residence) == (regions.insured_region_code,
                                        regions.residence_region_code)
        assert origin is patient_origin(insured, institution.region_code)
        if institution_id == children:  # a children's hospital: born before, under 15
            assert person.birth_date.year < int(first[:4])
            assert int(last[:4]) - person.birth_date.year <= 15


def test_the_aggregate_equals_the_raw_rows(demo_session: Session) -> None:
    stored = dict(demo_session.execute(
        select(VolumeMonth.kind, func.sum(VolumeMonth.total)).group_by(VolumeMonth.kind)).all())
    raw = dict(demo_session.execute(
        select(Encounter.kind, func.count()).where(
            Encounter.status != EncounterStatus.CANCELLED).group_by(Encounter.kind)).all())

    assert stored[VolumeKind.OUTPATIENT] == raw[EncounterKind.OUTPATIENT]
    assert stored[VolumeKind.ADMISSION] == raw[EncounterKind.INPATIENT]
    assert stored[VolumeKind.SURGERY] == raw[EncounterKind.SURGERY]
