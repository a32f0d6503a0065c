"""The demo network: the seeds' institutions and programmes, loaded once, signed in to."""

from __future__ import annotations

import re
from datetime import date
from itertools import pairwise

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import DEMO_PATIENT_RECORDS, TEST_FIELD_KEY, demo_settings
from tests.demo.conftest import PASSWORD, LoadedDemo
from yilian import demo
from yilian.auth import service as users
from yilian.auth.models import User
from yilian.cli import app
from yilian.config import get_settings
from yilian.patients.models import LinkMethod, LinkReview, PatientRecord, Person, PersonStatus
from yilian.registry import agreements as agreement_service
from yilian.registry import service as registry
from yilian.registry.agreements import AgreementFilter
from yilian.registry.models import (
    Agreement,
    AgreementParty,
    AgreementType,
    Department,
    EmergencyCentre,
    Institution,
    PartyRole,
    Practitioner,
    PractitionerRole,
    PractitionerRoleKind,
    Region,
)
from yilian.registry.service import InstitutionFilter

TABLES = (Region, Institution, Department, Practitioner, PractitionerRole, Agreement,
          AgreementParty, User, PatientRecord, Person, LinkReview)


def counts(session: Session) -> dict[str, int]:
    """Rows per demo table."""
    return {
        table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
        for table in TABLES
    }


def institution(session: Session, code: str) -> Institution:
    """A demo institution by code (it must exist)."""
    found = registry.get_institution_by_code(session, code=code)
    assert found is not None, code
    return found


def test_report_counts_what_is_in_the_database(
    demo_session: Session, report: demo.DemoReport
) -> None:
    stored = counts(demo_session)

    assert report.network_created
    assert stored["region"] == report.regions >= 30
    assert stored["institution"] == report.institutions >= 50
    assert stored["department"] == report.departments
    assert stored["practitioner"] == report.practitioners >= 500
    assert stored["practitioner_role"] == report.practitioner_roles
    assert stored["agreement"] == report.agreements >= 60
    assert len(report.logins) == len(demo.DEMO_ACCOUNTS) == 7
    # the consulted hospitals' coordinators and the experts who signed consultation reports
    assert report.consultation_accounts > 0
    assert stored["app_user"] == len(report.logins) + report.consultation_accounts


def test_huailai_campus_is_run_by_pku_peoples_under_a_trusteeship_from_2022_07_01(
    demo_session: Session,
) -> None:
    pku, huailai = institution(demo_session, "PKUPH"), institution(demo_session, "PKUPH-HL")

    assert huailai.parent is not None and huailai.parent.code == "PKUPH"
    assert huailai.region_code == "130730"  # 怀来县
    assert set(huailai.centre_kinds) == set(EmergencyCentre)  # works with all five centres
    trusteeships, _ = agreement_service.list_agreements(
        demo_session,
        where=AgreementFilter(type=AgreementType.TRUSTEESHIP, institution_id=huailai.id),
    )
    assert [agreement.start_date for agreement in trusteeships] == [date(2022, 7, 1)]
    assert {(party.institution_id, party.role) for party in trusteeships[0].parties} == {
        (pku.id, PartyRole.LEAD), (huailai.id, PartyRole.MEMBER)}


def test_every_agreement_type_is_present(
    demo_session: Session, report: demo.DemoReport
) -> None:
    present = set(demo_session.scalars(select(Agreement.type).distinct()))

    assert present == set(AgreementType)
    assert set(report.agreements_by_type) == set(AgreementType)
    # the seed: the Huailai campus started 21 new techniques in its first year
    first_year, _ = agreement_service.list_agreements(
        demo_session,
        where=AgreementFilter(type=AgreementType.NEW_TECHNIQUE, active_on=date(2023, 6, 30),
                              institution_id=institution(demo_session, "PKUPH-HL").id),
    )
    assert len(first_year) == 21


def test_hebei_level_3_filter_finds_the_baoding_hospitals_and_no_beijing_one(
    demo_session: Session,
) -> None:
    found, total = registry.list_institutions(
        demo_session, where=InstitutionFilter(region_code="130000", level=3), limit=200
    )
    codes = {row.code for row in found}

    assert total == len(found)
    assert {"BCH-BD", "BDFCH", "BDTCM", "BDSH", "BDSH-KQ", "HBUAH", "SJZPH"} <= codes
    assert all(row.region_code.startswith("13") and row.level == 3 for row in found)
    assert not codes & {"PKUPH", "BCH", "PKUSS", "PKUCH", "GAMH", "BJTTH"}


def test_dual_directors_and_the_nephrologist_who_runs_both_wards(
    demo_session: Session,
) -> None:
    huailai = institution(demo_session, "PKUPH-HL")
    roles = registry.list_roles(demo_session, institution_id=huailai.id)
    executive = [role for role in roles if role.role is PractitionerRoleKind.EXECUTIVE_DIRECTOR]
    local = {role.department_id for role in roles
             if role.role is PractitionerRoleKind.DEPARTMENT_DIRECTOR}

    # 双主任制: 23 PKU People's experts, each beside the local director of the department
    assert len(executive) == 23
    assert {role.practitioner.institution.code for role in executive} == {"PKUPH"}
    assert all(role.department_id in local for role in executive)
    wang_hui = registry.practitioner_by_code_or_raise(demo_session, code="BCH-WANG-HUI")
    wards = {(role.institution.code, role.department.code if role.department else None)
             for role in registry.list_roles(demo_session, practitioner_id=wang_hui.id)
             if role.role is PractitionerRoleKind.DEPARTMENT_DIRECTOR}
    assert wards == {("BCH", "NEPH2"), ("BCH-BD", "NEPH2")}


def test_huailai_leads_the_county_community_of_its_township_centres_and_clinics(
    demo_session: Session,
) -> None:
    huailai = institution(demo_session, "PKUPH-HL")
    primary, total = registry.list_institutions(
        demo_session, where=InstitutionFilter(region_code="130730", level=1), limit=200)
    community, _ = agreement_service.list_agreements(
        demo_session, where=AgreementFilter(type=AgreementType.COUNTY_COMMUNITY,
                                            institution_id=huailai.id))

    assert total >= 17
    parties = {party.institution_id: party.role for party in community[0].parties}
    assert parties.pop(huailai.id) is PartyRole.LEAD
    assert set(parties) == {row.id for row in primary}
    assert set(parties.values()) == {PartyRole.MEMBER}


def test_every_demo_login_signs_in_with_the_printed_password(
    demo_session: Session, report: demo.DemoReport
) -> None:
    text = report.summary()

    assert f"password: {PASSWORD}" in text
    assert "http://127.0.0.1:8000/" in text
    assert {login.role for login in report.logins} == {
        account.role for account in demo.DEMO_ACCOUNTS}
    for login in report.logins:
        assert login.username in text
        user = users.authenticate(demo_session, username=login.username, password=PASSWORD,
                                  client_ip="127.0.0.1", max_failures=5, window_minutes=15)
        assert user.role is login.role
        assert (user.institution.code if user.institution else None) == login.institution_code
    # the Beijing clinician also acts for the campus PKU People's runs
    beijing = users.get_by_username(demo_session, username="pkuph.doctor")
    assert beijing is not None
    reach = users.principal_for(demo_session, user=beijing).institution_ids
    assert institution(demo_session, "PKUPH-HL").id in reach


def test_loading_again_changes_nothing(demo_session: Session) -> None:
    before = counts(demo_session)

    again = demo.load(demo_session, demo_settings("unused://"), password="Another#2026")
    demo_session.commit()

    assert counts(demo_session) == before
    assert not again.network_created
    assert [login.created for login in again.logins] == [False] * len(demo.DEMO_ACCOUNTS)
    # a different password neither changes the accounts nor is claimed to open them
    assert not again.password_opens_logins
    assert "nothing changed" in again.summary()
    assert "Another#2026" not in again.summary()



def test_cli_demo_load_prints_counts_and_logins_then_changes_nothing(
    loaded_demo: LoadedDemo, demo_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first load is the one that built this database: `yilian demo load` (conftest).
    first = loaded_demo.output
    reported = re.search(r"机构 institutions (\d+)", first)
    assert reported is not None
    assert int(reported.group(1)) == counts(demo_session)["institution"]
    assert f"password: {PASSWORD}" in first
    for account in demo.DEMO_ACCOUNTS:
        assert account.username in first
    before = counts(demo_session)
    monkeypatch.setenv("YILIAN_DATABASE_URL", loaded_demo.url)
    monkeypatch.setenv("YILIAN_FIELD_KEY", TEST_FIELD_KEY)
    get_settings.cache_clear()
    try:
        second = CliRunner().invoke(app, ["demo", "load", "--password", PASSWORD])
    finally:
        get_settings.cache_clear()

    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert f"password: {PASSWORD}" in second.output
    demo_session.expire_all()
    assert counts(demo_session) == before


def test_demo_patients_include_the_duplicates_an_index_meets(demo_session: Session) -> None:
    records = demo_session.scalars(select(PatientRecord)).all()
    loaded = DEMO_PATIENT_RECORDS  # the tests load a third of the demo's 3,000 records
    assert loaded <= len(records) <= loaded + 200  # plus Song and the partner hospitals'
    by_method = {m: sum(1 for r in records if r.link_method is m) for m in LinkMethod}
    # Joined by resident ID, joined by the model without one, and people seen only once.
    assert by_method[LinkMethod.RESIDENT_ID] > loaded / 6
    assert by_method[LinkMethod.PROBABILISTIC] > loaded / 15
    assert by_method[LinkMethod.NEW_PERSON] > loaded / 6
    # The same person at the Huailai campus and at PKU People's Hospital in Beijing.
    huailai = institution(demo_session, "PKUPH-HL").id
    beijing = institution(demo_session, "PKUPH").id
    both = [
        person for person in demo_session.scalars(
            select(Person).where(Person.status == PersonStatus.ACTIVE)
        )
        if {huailai, beijing} <= {r.institution_id for r in person.records}
    ]
    assert len(both) > loaded / 60
    # Records without an ID, linked by the model, and some pairs left for a person to judge.
    assert any(r.id_number_hash is None and r.link_method is LinkMethod.PROBABILISTIC
               for r in records)
    assert demo_session.scalar(select(func.count()).select_from(LinkReview)) > 0


def test_the_demo_patient_signs_in_as_song_insured_in_huailai(demo_session: Session) -> None:
    account = users.get_by_username(demo_session, username="huailai.patient")
    assert account is not None and account.person_id is not None
    principal = users.principal_for(demo_session, user=account)
    song = demo_session.get(Person, principal.person_id)
    assert song is not None and song.name == "宋桂兰"
    records = demo_session.scalars(
        select(PatientRecord).where(PatientRecord.person_id == song.id)).all()
    assert [(r.local_id, r.insured_region_code) for r in records] == [("HL-DEMO-SONG", "130730")]


def test_a_year_of_referrals_goes_up_and_down_with_a_few_late_and_green_channel_cases(
    demo_session: Session,
) -> None:
    from yilian.db import utcnow
    from yilian.referrals.models import Direction, Referral, ReferralClock
    from yilian.referrals.rules import is_overdue

    rows = demo_session.scalars(select(Referral)).all()
    directions = {row.direction for row in rows}
    assert {Direction.UP, Direction.DOWN} <= directions and len(rows) > 400
    first = min(row.created_at for row in rows)
    assert (utcnow() - first).days > 300
    assert sum(is_overdue(row.status, row.response_due_at, utcnow()) for row in rows) >= 5
    green = [row for row in rows if row.green_channel is not None]
    assert green and demo_session.scalar(select(func.count()).select_from(ReferralClock)) > 0
    downs = [row for row in rows if row.direction is Direction.DOWN and row.based_on_id]
    assert downs  # Beijing's discharges coming back to the Huailai campus


def test_a_year_of_consultations_between_huailai_baoding_and_beijing(
    demo_session: Session, report: demo.DemoReport,
) -> None:
    from yilian.consultations import report as reports
    from yilian.consultations.models import (
        Consultation,
        ConsultationAttendance,
        ConsultationKind,
        ConsultationReport,
        ConsultationStatus,
    )
    from yilian.consultations.states import OPEN
    from yilian.db import utcnow
    from yilian.patients.models import PatientShare, SharingReason

    rows = demo_session.scalars(select(Consultation)).all()
    assert len(rows) == report.consultations
    codes = {i.id: i.code for i in demo_session.scalars(select(Institution))}
    pairs = {(codes[c.requesting_institution_id], codes[c.target_institution_id])
             for c in rows}
    assert {("PKUPH-HL", "PKUPH"), ("BCH-BD", "BCH"), ("BDFCH", "PKUCH")} <= pairs
    # Every kind, a year back, and every outcome.
    by_kind = {kind: sum(c.kind is kind for c in rows) for kind in ConsultationKind}
    assert all(count >= 10 for count in by_kind.values()), by_kind
    assert (utcnow() - min(c.requested_at for c in rows)).days > 300
    statuses = {c.status for c in rows}
    assert {ConsultationStatus.DECLINED, ConsultationStatus.REQUESTED,
            ConsultationStatus.SCHEDULED, ConsultationStatus.REPORTED,
            ConsultationStatus.CLOSED} <= statuses
    assert all(c.decline_reason for c in rows if c.status is ConsultationStatus.DECLINED)
    # Ward rounds and case discussions about several patients, each at the requester.
    several = [c for c in rows if len(c.patients) > 1]
    assert several and all(c.kind in (ConsultationKind.WARD_ROUND,
                                      ConsultationKind.CASE_DISCUSSION,
                                      ConsultationKind.TEACHING) for c in several)
    for consultation in rows:
        held = {r.institution_id for p in consultation.patients
                for r in demo_session.scalars(select(PatientRecord).where(
                    PatientRecord.person_id == p.person_id))}
        assert consultation.requesting_institution_id in held, consultation.id
    # Times in order; the response clock stops at the answer; most answers on time.
    answered = [c for c in rows if c.responded_at is not None]
    assert all(c.requested_at <= c.responded_at for c in answered)
    on_time = sum(c.responded_at <= c.response_due_at for c in answered if c.response_due_at)
    assert 0.7 < on_time / len(answered) < 1
    assert all(c.requested_at < c.starts_at < c.ends_at for c in rows if c.starts_at)
    assert any(c.escalated_at for c in rows if c.status is ConsultationStatus.REQUESTED)
    # No expert is in two sessions at once.
    sessions: dict[int, list[tuple[object, object]]] = {}
    for c in rows:
        if c.starts_at is not None:
            for expert in c.experts:
                sessions.setdefault(expert.practitioner_id, []).append((c.starts_at, c.ends_at))
    for times in sessions.values():
        times.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(times))
    # Every reported one signed, by each of its assigned experts, of the frozen content.
    reported = [c for c in rows if c.status in (ConsultationStatus.REPORTED,
                                                ConsultationStatus.CLOSED)]
    assert len(reported) > 200
    for consultation in reported:
        report = reports.get_report(demo_session, consultation=consultation)
        assert report is not None and report.content_sha256 == reports.content_hash(report)
        assert ({s.practitioner_id for s in report.signatures}
                == {e.practitioner_id for e in consultation.experts})
        assert all(s.content_sha256 == report.content_sha256 for s in report.signatures)
        attended = demo_session.scalars(select(ConsultationAttendance.practitioner_id).where(
            ConsultationAttendance.consultation_id == consultation.id)).all()
        assert {e.practitioner_id for e in consultation.experts} <= set(attended)
    assert demo_session.scalar(select(func.count()).select_from(ConsultationReport)) == len(
        reported)
    # Some ended in a referral up, most were kept local.
    referred = sum(c.follow_up_referral_id is not None for c in reported)
    assert 0 < referred / len(reported) < 0.5
    # Records are shared with the consulted hospital for the open ones only.
    shared = demo_session.scalars(select(PatientShare).where(
        PatientShare.reason == SharingReason.CONSULTATION)).all()
    open_refs = {f"Consultation/{c.id}" for c in rows if c.status in OPEN}
    assert shared and {s.source_ref for s in shared} == open_refs
