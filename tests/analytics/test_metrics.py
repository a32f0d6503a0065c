"""The metrics beyond volumes worked by hand on a few rows of each source: referrals and
their response times, deadlines and green-channel clocks; consultations kept local;
visiting-expert clinics and expert days; tests avoided; settlement by fund. They are read
from ``metric_month`` as ``yilian analytics refresh`` rebuilt it, per reader's scope, and
the XLSX files hold the JSON's rows."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.analytics.conftest import Network
from tests.factories import bearer
from yilian.analytics import metric_refresh
from yilian.analytics.metrics import median_of
from yilian.cli import app as cli
from yilian.consultations.models import Consultation, ConsultationKind, ConsultationStatus
from yilian.patients.models import InsuranceScheme
from yilian.referrals.models import (
    ClockPoint,
    Direction,
    Referral,
    ReferralClock,
    ReferralKind,
    TaskStatus,
    Urgency,
)
from yilian.registry.models import (
    EmergencyCentre,
    Practitioner,
    PractitionerRole,
    PractitionerRoleKind,
    PractitionerTitle,
)
from yilian.results.models import Decision, RecognitionDecision, SavingsEntry
from yilian.scheduling.models import (
    Appointment,
    AppointmentStatus,
    BookingSource,
    ClinicSession,
    HalfDay,
    Slot,
    SlotStatus,
    Stationing,
    StationingMode,
    StationingRole,
)
from yilian.settlement.engine import Filing
from yilian.settlement.models import Settlement, SettlementStatus

MARCH = datetime(2023, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 Beijing
YEAR = {"from": "2023-01", "to": "2023-12"}


def referral(session: Session, network: Network, origin: int, target: int,
             direction: Direction, *, answer_minutes: int | None,
             due_minutes: int | None, requested: datetime | None = MARCH,
             green: EmergencyCentre | None = None) -> Referral:
    row = Referral(
        person_id=network.local, referring_institution_id=origin, target_institution_id=target,
        direction=direction, kind=ReferralKind.INPATIENT, urgency=Urgency.URGENT,
        green_channel=green, diagnosis_code="J18.9", diagnosis_text="肺炎", reason="转诊",
        consent_recorded=True, requested_at=requested,
        status=TaskStatus.ACCEPTED if answer_minutes is not None else TaskStatus.REQUESTED,
        responded_at=MARCH + timedelta(minutes=answer_minutes) if answer_minutes is not None
        else None,
        response_due_at=MARCH + timedelta(minutes=due_minutes) if due_minutes is not None
        else None)
    session.add(row)
    session.flush()
    return row


def clock(session: Session, row: Referral, minutes: int, end: ClockPoint) -> None:
    door = MARCH + timedelta(hours=2)
    session.add_all([
        ReferralClock(referral_id=row.id, point=ClockPoint.DOOR, at=door, recorded_by="t"),
        ReferralClock(referral_id=row.id, point=end, at=door + timedelta(minutes=minutes),
                      recorded_by="t")])


def load_referrals(session: Session, network: Network) -> Referral:
    """Seen by the Baoding analyst: up 2, down 2, lateral 1; response 30, 90, 10, 60 min;
    deadlines: on time, late, on time, overdue; D2B 75 min, DNT 70 min."""
    bd, bch, hl = network.baoding.id, network.bch.id, network.huailai.id
    first = referral(session, network, bd, bch, Direction.UP, answer_minutes=30,
                     due_minutes=24 * 60)
    referral(session, network, bd, bch, Direction.UP, answer_minutes=90, due_minutes=60)
    chest = referral(session, network, bch, bd, Direction.DOWN, answer_minutes=10,
                     due_minutes=30, green=EmergencyCentre.CHEST_PAIN)
    stroke = referral(session, network, bch, bd, Direction.DOWN, answer_minutes=None,
                      due_minutes=30, green=EmergencyCentre.STROKE)
    clock(session, chest, 75, ClockPoint.BALLOON)
    clock(session, stroke, 70, ClockPoint.NEEDLE)
    referral(session, network, bd, hl, Direction.LATERAL, answer_minutes=None,
             due_minutes=None, requested=None)  # a draft: never counted
    referral(session, network, hl, bd, Direction.LATERAL, answer_minutes=60, due_minutes=None)
    referral(session, network, hl, bch, Direction.UP, answer_minutes=5, due_minutes=60)
    return first


def load_others(session: Session, network: Network, first_referral: Referral) -> None:
    """Consultations, clinics, stationings, recognition savings and settlements."""
    bd, bch, ped = network.baoding.id, network.bch.id, network.paediatrics.id
    for status, follow_up, kind in (
            (ConsultationStatus.REPORTED, None, ConsultationKind.SINGLE),
            (ConsultationStatus.CLOSED, first_referral.id, ConsultationKind.SINGLE),
            (ConsultationStatus.REQUESTED, None, ConsultationKind.MDT)):
        session.add(Consultation(
            kind=kind, urgency=Urgency.ROUTINE, status=status, person_id=network.local,
            requesting_institution_id=bd, target_institution_id=bch,
            target_specialty="paediatrics", diagnosis_code="J18.9", diagnosis_text="肺炎",
            question="?", requested_at=MARCH, follow_up_referral_id=follow_up))
    expert = Practitioner(code="BCH-LI", name="李专家", sex="female",
                          title=PractitionerTitle.CHIEF_PHYSICIAN, specialty="paediatrics",
                          institution_id=bch)
    home = Practitioner(code="BD-WANG", name="王医生", sex="male",
                        title=PractitionerTitle.CHIEF_PHYSICIAN, specialty="paediatrics",
                        institution_id=bd)
    session.add_all([expert, home])
    session.flush()
    monday = date(2023, 3, 6)
    for practitioner, statuses in (
            (expert, [AppointmentStatus.FULFILLED, AppointmentStatus.ARRIVED,
                      AppointmentStatus.NOSHOW, AppointmentStatus.CANCELLED]),
            (home, [AppointmentStatus.FULFILLED])):
        clinic = ClinicSession(practitioner_id=practitioner.id, institution_id=bd,
                               department_id=ped, weekday=0, half_day=HalfDay.MORNING,
                               start_time=time(8, 0), slot_minutes=15, slot_count=4,
                               valid_from=date(2023, 1, 1))
        session.add(clinic)
        session.flush()
        for number, status in enumerate(statuses):
            start = datetime(2023, 3, 6, number, 0, tzinfo=UTC)
            slot = Slot(clinic_session_id=clinic.id, practitioner_id=practitioner.id,
                        department_id=ped, session_date=monday, start_at=start,
                        end_at=start + timedelta(minutes=15), status=SlotStatus.BUSY)
            session.add(slot)
            session.flush()
            session.add(Appointment(
                code=f"A{practitioner.id}{number}", slot_id=slot.id, person_id=network.local,
                practitioner_id=practitioner.id, department_id=ped, institution_id=bd,
                clinic_session_id=clinic.id, session_date=monday, start_at=start,
                end_at=slot.end_at, status=status, source=BookingSource.ONLINE))
        if practitioner is expert:  # a clinic called off on 03-13 is no day on site
            session.add(Slot(clinic_session_id=clinic.id, practitioner_id=expert.id,
                             department_id=ped, session_date=date(2023, 3, 13),
                             start_at=MARCH, end_at=MARCH, status=SlotStatus.BUSY_UNAVAILABLE))
    for kind, mode, start, end in (
            (PractitionerRoleKind.STATIONED_EXPERT, StationingMode.RESIDENT, date(2023, 3, 1),
             date(2023, 3, 10)),
            (PractitionerRoleKind.VISITING_EXPERT, StationingMode.PERIODIC, date(2023, 1, 1),
             None)):
        role = PractitionerRole(practitioner_id=expert.id, institution_id=bd, department_id=ped,
                                role=kind, start_date=start, end_date=end)
        session.add(role)
        session.flush()
        session.add(Stationing(practitioner_role_id=role.id, mode=mode,
                               role=StationingRole.ATTENDING))
    for item, price in (("CBC", "25.50"), ("CBC", "25.50"), ("CT-HEAD", "120.00")):
        decision = RecognitionDecision(person_id=network.local, ordering_institution_id=bd,
                                       item_code=item, decision=Decision.ACCEPTED,
                                       decided_by="t", decided_at=MARCH)
        session.add(decision)
        session.flush()
        session.add(SavingsEntry(decision_id=decision.id, institution_id=bd, item_code=item,
                                 amount=Decimal(price), month="2023-03"))
    for key, fee, pooled, reversed_month in (("S1", "1000.00", "600.00", None),
                                             ("S2", "500.00", "300.00", "2023-04")):
        session.add(Settlement(
            idempotency_key=key, bill_hash=key, person_id=network.local, institution_id=bd,
            status=SettlementStatus.REVERSED if reversed_month else SettlementStatus.SETTLED,
            insured_region_code="130600", fund_region_code="130600",
            treatment_region_code="130602", scheme=InsuranceScheme.RESIDENT,
            filing=Filing.FILED, admission_date=date(2023, 3, 1),
            discharge_date=date(2023, 3, 9), year=2023, settled_month="2023-03",
            policy_version="p", catalogue_version="c", medfee_sumamt=Decimal(fee),
            hifp_pay=Decimal(pooled), hifmi_pay=Decimal(0), hifmi_base=Decimal(0),
            maf_pay=Decimal(0), fund_pay_sumamt=Decimal(pooled),
            psn_part_amt=Decimal(fee) - Decimal(pooled), acct_pay=Decimal(0),
            psn_cash_pay=Decimal(fee) - Decimal(pooled), bill={}, slip={},
            reversed_month=reversed_month))


def refresh(session: Session) -> None:
    metric_refresh.refresh_metrics(session, now=datetime(2026, 12, 1, tzinfo=UTC))
    session.commit()


def get(client: TestClient, username: str, path: str, **params: str) -> dict:  # type: ignore[type-arg]
    answer = client.get(f"/api/v1/analytics/{path}", headers=bearer(client, username),
                        params={**YEAR, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_median_of_a_histogram() -> None:
    assert median_of([(30, 1), (90, 1), (10, 1), (60, 1)]) == Decimal("45.0")
    assert median_of([(5, 3), (100, 1)]) == Decimal("5.0")
    assert median_of([(7, 1), (9, 2)]) == Decimal("9.0")
    assert median_of([]) is None


def test_referral_metrics_worked_example(client: TestClient, session: Session,
                                         network: Network) -> None:
    load_referrals(session, network)
    refresh(session)
    seen = get(client, "analyst_bd", "referrals")
    assert (seen["up"], seen["down"], seen["lateral"], seen["total"]) == (2, 2, 1, 5)
    assert Decimal(seen["down_percent"]) == Decimal("40.0")
    assert seen["answered"] == 4
    assert Decimal(seen["median_response_minutes"]) == Decimal("45.0")
    assert (seen["with_deadline"], seen["overdue"]) == (4, 2)
    assert Decimal(seen["overdue_percent"]) == Decimal("50.0")
    assert seen["months"] == [{"month": "2023-03", "up": 2, "down": 2, "lateral": 1}]
    # Huailai's administrator sees Huailai's two referrals only.
    huailai = get(client, "hl_admin", "referrals")
    assert (huailai["up"], huailai["down"], huailai["lateral"]) == (1, 0, 1)
    green = {row["interval"]: row for row in get(client, "analyst_bd", "green-channel")["rows"]}
    assert green["door_to_balloon"]["cases"] == 1
    assert Decimal(green["door_to_balloon"]["median_minutes"]) == Decimal("75.0")
    assert Decimal(green["door_to_balloon"]["within_target_percent"]) == Decimal("100.0")
    assert Decimal(green["door_to_needle"]["median_minutes"]) == Decimal("70.0")
    assert Decimal(green["door_to_needle"]["within_target_percent"]) == Decimal("0.0")


def test_metrics_read_the_aggregate_until_refreshed(client: TestClient, session: Session,
                                                    network: Network, runner: CliRunner,
                                                    ) -> None:
    load_referrals(session, network)
    refresh(session)
    referral(session, network, network.baoding.id, network.bch.id, Direction.UP,
             answer_minutes=20, due_minutes=60)
    session.commit()
    assert get(client, "root", "referrals")["up"] == 3  # 2 + the Huailai one
    result = runner.invoke(cli, ["analytics", "refresh"])
    assert result.exit_code == 0, result.output
    assert get(client, "root", "referrals")["up"] == 4


def test_care_metrics_worked_example(client: TestClient, session: Session,
                                     network: Network) -> None:
    load_others(session, network, load_referrals(session, network))
    refresh(session)
    consultations = get(client, "analyst_bd", "consultations")
    assert (consultations["total"], consultations["reported"], consultations["kept_local"],
            consultations["referred_up"]) == (3, 2, 1, 1)
    assert Decimal(consultations["kept_local_percent"]) == Decimal("50.0")
    clinics = get(client, "bd_his", "clinics")
    assert (clinics["booked"], clinics["attended"], clinics["noshow"],
            clinics["cancelled"]) == (4, 2, 1, 1)
    assert Decimal(clinics["attended_percent"]) == Decimal("66.7")
    assert clinics["expert_days"] == 11  # 10 resident days + 1 clinic day (03-13 called off)
    assert {m["key"]: m["count"] for m in clinics["expert_days_by_mode"]} == {
        "periodic": 1, "resident": 10}
    recognition = get(client, "analyst_bd", "recognition")
    assert recognition["tests_avoided"] == 3
    assert Decimal(recognition["money_saved"]) == Decimal("171.00")
    year = get(client, "analyst_bd", "settlement")
    funds = {f["key"]: Decimal(f["amount"]) for f in year["funds"]}
    assert year["settlements"] == 1  # two settled in March, one reversed in April
    assert funds["medfee_sumamt"] == Decimal("1000.00")
    assert funds["hifp_pay"] == Decimal("600.00")
    march = get(client, "analyst_bd", "settlement", **{"from": "2023-03", "to": "2023-03"})
    assert march["settlements"] == 2
    assert {f["key"]: Decimal(f["amount"]) for f in march["funds"]}["medfee_sumamt"] == \
        Decimal("1500.00")
    # Huailai's administrator sees none of Baoding's clinics, savings or settlements.
    assert get(client, "hl_admin", "clinics")["booked"] == 0
    assert get(client, "hl_admin", "recognition")["tests_avoided"] == 0
    assert get(client, "hl_admin", "settlement")["settlements"] == 0


def test_xlsx_matches_the_json(client: TestClient, session: Session, network: Network) -> None:
    load_others(session, network, load_referrals(session, network))
    refresh(session)
    for name, rows, keys in (
            ("referrals", get(client, "analyst_bd", "referrals")["months"],
             ("month", "up", "down", "lateral")),
            ("settlement", get(client, "analyst_bd", "settlement")["rows"],
             ("institution_code", "fund", "settlements", "amount"))):
        answer = client.get(f"/api/v1/analytics/{name}.xlsx", params=YEAR,
                            headers=bearer(client, "analyst_bd"))
        assert answer.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
        assert sheet is not None
        lines = list(sheet.iter_rows(values_only=True))
        headings = [str(h).split(" ")[-1] for h in lines[0]]
        found = [dict(zip(headings, line, strict=True)) for line in lines[1:1 + len(rows)]]
        assert len(rows) > 0
        for row, line in zip(rows, found, strict=True):
            for key in keys:
                expected = row[key]
                got = line[key]
                if key == "amount":
                    assert Decimal(str(got)).quantize(Decimal("0.01")) == Decimal(expected)
                else:
                    assert got == expected, (name, key)
