"""A small network for advisor tests: PKU People's in Beijing, its Huailai campus, a Baoding
hospital, each with cardiology, settled bills of one diagnosis group at each (priced at the
place's own catalogue limits), expert clinics, and Song, a Huailai resident (insured 130730,
resident scheme), registered at the campus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tests.factories import (
    make_department,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import utcnow
from yilian.registry import service as registry
from yilian.registry.models import EmergencyCentre, Institution, PractitionerTitle
from yilian.registry.schemas import PractitionerCreate
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import HalfDay
from yilian.settlement import service as settlements
from yilian.settlement.schemas import SettleRequest

# Region centres as in the demo's regions.csv.
POINTS = {
    "110000": (39.9042, 116.4074), "110100": (39.9042, 116.4074), "110102": (39.9123, 116.3660),
    "130000": (38.0428, 114.5149), "130600": (38.8739, 115.4646), "130602": (38.8773, 115.4587),
    "130700": (40.7676, 114.8869), "130730": (40.4153, 115.5178),
}
# One week of coronary heart disease care (I25), item by item; priced at each place's limit.
PATHWAY = (("110900001", 7), ("111000001", 7), ("310701001", 2), ("XC10AAA085", 14),
           ("XB01ABA035", 7), ("210300001", 1))
HEBEI_PRICES = {"110900001": "50.00", "111000001": "30.00", "310701001": "15.00",
                "XC10AAA085": "0.86", "XB01ABA035": "28.00", "210300001": "150.00"}
BEIJING_PRICES = {"110900001": "100.00", "111000001": "44.00", "310701001": "15.00",
                  "XC10AAA085": "0.86", "XB01ABA035": "30.00", "210300001": "180.00"}


@dataclass
class World:
    """What an advisor test acts on."""

    beijing: Institution
    huailai: Institution
    baoding: Institution
    song_id: int
    song_record_id: int
    huailai_doctor: str
    baoding_doctor: str
    patient: str
    beijing_slot_id: int
    huailai_slot_id: int


def pathway_lines(prices: dict[str, str], *, days: int = 7) -> list[dict[str, Any]]:
    """The pathway's bill lines at these prices (bed and nursing for ``days`` days)."""
    return [{"code": code, "qty": days if code in ("110900001", "111000001") else qty,
             "unit_price": prices[code]} for code, qty in PATHWAY]


def _clerk(session: Session, institution: Institution) -> Any:
    clerk = make_user(session, role=Role.INSURANCE_CLERK, institution=institution)
    return users.principal_for(session, user=clerk)


def settle(session: Session, settings: Settings, institution: Institution, *, key: str,
           diagnosis: str, lines: list[dict[str, Any]], sequence: int) -> None:
    """Settle a bill of another Huailai resident at the institution (its clerk settles)."""
    other = register(session, settings, institution, f"P{key}", name="李建国", sex="male",
                     birth_date="1958-01-02",
                     id_number=resident_id_number("130730", date(1958, 1, 2), sequence,
                                                  male=True),
                     insured_region_code="130730", insurance_scheme="resident")
    request = SettleRequest.model_validate({
        "idempotency_key": f"ADVISOR-{key}", "person_id": other.person.id,
        "institution_id": institution.id, "admission_date": "2026-03-01",
        "discharge_date": "2026-03-08", "lines": lines, "dise_codg": diagnosis})
    settlements.settle_bill(session, principal=_clerk(session, institution), request=request)


def _expert(session: Session, institution: Institution, code: str) -> int:
    made = registry.create_practitioner(session, data=PractitionerCreate(
        code=code, name=f"专家{code}", sex="female", title=PractitionerTitle.CHIEF_PHYSICIAN,
        specialty="cardiology", institution_code=institution.code, department_code="CARD"))
    return made.id


def _clinic_slot(session: Session, institution: Institution, *, practitioner_id: int,
                 day: date, today: date) -> int:
    """A clinic on ``day``'s weekday from today; the id of its first free slot."""
    department = registry.department_by_code_or_raise(session, institution_id=institution.id,
                                                      code="CARD")
    clinic = scheduling.create_session(session, principal=None, plan=scheduling.SessionPlan(
        practitioner_id=practitioner_id, department_id=department.id, weekday=day.weekday(),
        half_day=HalfDay.MORNING, start=time(9, 0), slot_minutes=15, slot_count=4,
        valid_from=today))
    scheduling.generate(session, today=today, horizon_days=14, clinic_sessions=[clinic])
    found = scheduling.free_slots(session, after=utcnow(), practitioner_ids=[practitioner_id],
                                  limit=1)
    return found[0].id


def build(session: Session, settings: Settings) -> World:
    """The network, its settled bills and clinics, Song and the users; committed."""
    beijing = make_institution(session, code="BJ-PKUPH", name="北京大学人民医院",
                               region_code="110102", level=3,
                               centres=[EmergencyCentre.CHEST_PAIN, EmergencyCentre.STROKE])
    huailai = make_institution(session, code="HL-CAMPUS", name="北京大学人民医院怀来院区",
                               region_code="130730", level=2, parent_code="BJ-PKUPH",
                               centres=[EmergencyCentre.STROKE])
    baoding = make_institution(session, code="BD-HOSP", name="保定市第二医院",
                               region_code="130602", level=3,
                               centres=[EmergencyCentre.CHEST_PAIN])
    for region in registry.list_regions(session):
        if region.code in POINTS:
            region.latitude, region.longitude = POINTS[region.code]
    for institution in (beijing, huailai, baoding):
        make_department(session, institution)
    song = register(session, settings, huailai, "HL-SONG", name="宋桂兰", sex="female",
                    birth_date="1962-03-14", address="河北省张家口市怀来县沙城镇",
                    id_number=resident_id_number("130730", date(1962, 3, 14), 24, male=False),
                    insured_region_code="130730", insurance_scheme="resident")
    # I25 at the campus and in Beijing: the same care, each at its own prices (two bills
    # each; the typical bill is the lower median, the shorter stay).
    settle(session, settings, huailai, key="HL1", diagnosis="I25.1",
           lines=pathway_lines(HEBEI_PRICES), sequence=31)
    settle(session, settings, huailai, key="HL2", diagnosis="I25.9",
           lines=pathway_lines(HEBEI_PRICES, days=10), sequence=33)
    settle(session, settings, beijing, key="BJ1", diagnosis="I25.1",
           lines=pathway_lines(BEIJING_PRICES), sequence=35)
    settle(session, settings, beijing, key="BJ2", diagnosis="I25.1",
           lines=pathway_lines(BEIJING_PRICES, days=10), sequence=37)
    # I21 in Beijing and Baoding (the chest-pain centres); J18 only at Baoding (level 3).
    settle(session, settings, beijing, key="BJ3", diagnosis="I21.9",
           lines=pathway_lines(BEIJING_PRICES), sequence=39)
    settle(session, settings, baoding, key="BD1", diagnosis="I21.9",
           lines=pathway_lines(HEBEI_PRICES), sequence=41)
    settle(session, settings, baoding, key="BD2", diagnosis="J18.9",
           lines=pathway_lines(HEBEI_PRICES), sequence=43)
    today = scheduling.local_today()
    beijing_slot = _clinic_slot(session, beijing, day=today + timedelta(days=1), today=today,
                                practitioner_id=_expert(session, beijing, "BJ-CARD-1"))
    huailai_slot = _clinic_slot(session, huailai, day=today + timedelta(days=4), today=today,
                                practitioner_id=_expert(session, huailai, "HL-CARD-1"))
    doctor = make_user(session, role=Role.CLINICIAN, institution=huailai)
    outsider = make_user(session, role=Role.CLINICIAN, institution=baoding)
    patient = make_user(session, role=Role.PATIENT, institution=huailai)
    patient.person_id = song.person.id
    session.commit()
    return World(beijing, huailai, baoding, song.person.id, song.record.id, doctor.username,
                 outsider.username, patient.username, beijing_slot, huailai_slot)
