"""The outflow metric worked by hand: Baoding-insured admissions treated in Beijing fall
from 2.5 a month in the year before the trusteeship (2021-07 … 2022-06) to 1 a month in
2023, i.e. −60 %; the outflow aggregate kept in the intake transaction equals the one
rebuilt by refresh and a row-by-row recount; region scope for analysts and hospitals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.conftest import Network
from tests.factories import bearer, make_department
from yilian.analytics import aggregates, intake
from yilian.analytics.models import Encounter, EncounterKind, EncounterStatus, OutflowMonth
from yilian.analytics.schemas import EncounterCreate
from yilian.registry.models import Agreement


def admit(session: Session, institution_id: int, department_id: int | None, person: int,
          source: str, year: int, month: int, *, kind: EncounterKind = EncounterKind.INPATIENT,
          status: EncounterStatus = EncounterStatus.FINISHED) -> None:
    started = datetime(year, month, 10, 2, 0, tzinfo=UTC)
    intake.record_encounter(session, None, data=EncounterCreate(
        resource_type="Procedure" if kind is EncounterKind.SURGERY else "Encounter",
        source_id=source, kind=kind, status=status, person_id=person,
        institution_id=institution_id, department_id=department_id, started_at=started,
        ended_at=started.replace(day=14) if kind is EncounterKind.INPATIENT else None))


def spread(count: int, first_year: int, first_month: int) -> list[tuple[int, int]]:
    """``count`` months cycling through the 12 months from the first one."""
    found = []
    for i in range(count):
        index = first_year * 12 + first_month - 1 + i % 12
        found.append((index // 12, index % 12 + 1))
    return found


def load(session: Session, network: Network) -> int:
    """Baseline: 30 outside (BCH paediatrics), 30 inside; 2023: 12 outside, 48 inside, plus
    one outside in BCH cardiology and rows the outflow must ignore. Returns the cardiology
    department id."""
    bch_ped = make_department(session, network.bch, code="PED", specialty="paediatrics").id
    bch_card = make_department(session, network.bch, code="CARD").id
    bd, bd_ped = network.baoding.id, network.paediatrics.id
    for i, (y, m) in enumerate(spread(30, 2021, 7)):
        admit(session, network.bch.id, bch_ped, network.local, f"BO{i}", y, m)
        admit(session, bd, bd_ped, network.local, f"BI{i}", y, m)
    for i, (y, m) in enumerate(spread(12, 2023, 1)):
        admit(session, network.bch.id, bch_ped, network.local, f"PO{i}", y, m)
    for i, (y, m) in enumerate(spread(48, 2023, 1)):
        admit(session, bd, bd_ped, network.local, f"PI{i}", y, m)
    admit(session, network.bch.id, bch_card, network.local, "CARD1", 2023, 3)
    # Not counted: Beijing-insured (another region), insured region unknown, cancelled,
    # outpatient visits and surgeries.
    admit(session, bd, bd_ped, network.beijing, "BJ1", 2023, 3)
    admit(session, network.bch.id, bch_ped, network.unknown, "UN1", 2023, 3)
    admit(session, network.bch.id, bch_ped, network.local, "CX1", 2023, 3,
          status=EncounterStatus.CANCELLED)
    admit(session, network.bch.id, bch_ped, network.local, "MZ1", 2023, 3,
          kind=EncounterKind.OUTPATIENT)
    admit(session, network.bch.id, bch_ped, network.local, "SS1", 2023, 3,
          kind=EncounterKind.SURGERY)
    session.commit()
    return bch_card


def stored(session: Session) -> dict[tuple[str, str, int, int], int]:
    return {(r.insured_region_code, r.month, r.institution_id, r.department_key): r.admissions
            for r in session.scalars(select(OutflowMonth)) if r.admissions}


def test_outflow_worked_example(client: TestClient, session: Session, network: Network) -> None:
    load(session, network)
    answer = client.get("/api/v1/analytics/outflow", headers=bearer(client, "analyst_bd"),
                        params={"region": "130600", "from": "2023-01", "to": "2023-12",
                                "specialty": "paediatrics"})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["baseline_source"] == session.scalars(select(Agreement)).one().code
    assert (report["baseline"]["period_from"], report["baseline"]["period_to"]) == \
        ("2021-07", "2022-06")
    assert (report["baseline"]["admissions"], report["baseline"]["outside"]) == (60, 30)
    assert Decimal(report["baseline"]["outside_percent"]) == Decimal("50.0")
    assert (report["period"]["admissions"], report["period"]["outside"]) == (60, 12)
    assert Decimal(report["period"]["outside_percent"]) == Decimal("20.0")
    assert Decimal(report["outside_change_percent"]) == Decimal("-60.0")
    assert Decimal(report["share_change_points"]) == Decimal("-30.0")
    assert Decimal(report["outside_per_month_change"]) == Decimal("-1.5")
    march = next(m for m in report["months"] if m["month"] == "2023-03")
    assert (march["admissions"], march["outside"]) == (5, 1)
    # All specialties: the cardiology admission in Beijing counts too.
    every = client.get("/api/v1/analytics/outflow", headers=bearer(client, "analyst_bd"),
                       params={"region": "130600", "from": "2023-01",
                               "to": "2023-12"}).json()
    assert (every["period"]["admissions"], every["period"]["outside"]) == (61, 13)


def test_agreement_sets_specialty_and_baseline(client: TestClient, session: Session,
                                               network: Network) -> None:
    load(session, network)
    agreement = session.scalars(select(Agreement)).one()
    agreement.specialty = "paediatrics"
    session.commit()
    report = client.get("/api/v1/analytics/outflow", headers=bearer(client, "root"), params={
        "region": "130600", "from": "2023-01", "to": "2023-12",
        "agreement_id": agreement.id}).json()
    assert report["specialty"] == "paediatrics"
    assert report["agreement_code"] == agreement.code
    assert report["period"]["outside"] == 12
    assert Decimal(report["outside_change_percent"]) == Decimal("-60.0")


def test_outflow_incremental_equals_refresh(session: Session, network: Network) -> None:
    cardiology = load(session, network)
    # Re-sent: one baseline outside stay moves to 2023-02, one period stay is cancelled.
    admit(session, network.bch.id, cardiology, network.local, "BO0", 2023, 2)
    admit(session, network.baoding.id, network.paediatrics.id, network.local, "PI0", 2023, 1,
          status=EncounterStatus.CANCELLED)
    session.commit()
    incremental = stored(session)
    recount = aggregates.recount_outflow_in_python(session.scalars(select(Encounter)))
    assert incremental == {tuple(k): v for k, v in recount.items()}
    aggregates.refresh(session)
    session.commit()
    assert stored(session) == incremental
    bch, bd = network.bch.id, network.baoding.id
    assert incremental[("130600", "2023-02", bch, cardiology)] == 1
    assert incremental[("130600", "2023-01", bd, network.paediatrics.id)] == 3  # 4 − 1
    assert ("110000", "2023-03", bd, network.paediatrics.id) in incremental


@pytest.mark.parametrize(("username", "region", "status"), [
    ("analyst_bd", "130600", 200), ("analyst_bd", "130700", 403),
    ("bd_his", "130600", 200), ("hl_admin", "130600", 403), ("hl_admin", "130700", 200),
])
def test_outflow_region_scope(client: TestClient, session: Session, network: Network,
                              username: str, region: str, status: int) -> None:
    answer = client.get("/api/v1/analytics/outflow", headers=bearer(client, username),
                        params={"region": region})
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "region" in answer.text


def test_half_a_baseline_is_a_bilingual_422(client: TestClient, session: Session,
                                       network: Network) -> None:
    answer = client.get("/api/v1/analytics/outflow", headers=bearer(client, "root"),
                        params={"region": "130600", "baseline_from": "2021-01"})
    assert answer.status_code == 422
    assert "基线期" in answer.text and "baseline" in answer.text
