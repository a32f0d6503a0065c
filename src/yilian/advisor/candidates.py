"""Where a patient could go: the patient's home region, and the candidate places for a need.

Candidates for a specialty are the institutions of the patient's home city, the institutions
bound to them by an agreement in force (the Beijing lead of a trusteeship, consortium and
alliance partners) and the hospitals whose campuses they are, that have a department of the
specialty. For a named expert: wherever the expert holds clinics, and their home hospital.
For a green-channel emergency: every institution certified for that centre.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from yilian.errors import InvalidInput, YilianError
from yilian.patients.models import Person
from yilian.registry import agreements
from yilian.registry import service as registry
from yilian.registry.models import Department, EmergencyCentre, Institution, Region
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import Slot
from yilian.settlement import coverage

EMERGENCY_SPECIALTY = "emergency"
POOL_LIMIT = 1000


@dataclass(frozen=True)
class Home:
    """Where the patient lives, as a region with a centre point (None when unknown)."""

    region_code: str
    region_name: str
    latitude: float | None
    longitude: float | None


@dataclass
class Place:
    """A candidate: an institution, the department that would see the patient, the slot."""

    institution: Institution
    department: Department | None
    slot: Slot | None = None
    expert_name: str = ""  # the slot's expert


def _with_point(regions: dict[str, Region], code: str) -> Region | None:
    """The region, or the nearest enclosing one, that has a centre point."""
    found = regions.get(code)
    seen: set[str] = set()
    while found is not None and found.code not in seen:
        if found.latitude is not None and found.longitude is not None:
            return found
        seen.add(found.code)
        found = regions.get(found.parent_code) if found.parent_code else None
    return None


def region_in_address(regions: Sequence[Region], address: str) -> Region | None:
    """The most specific region named in a free-text address (怀来县 before 张家口市)."""
    named = [region for region in regions
             if region.name and region.name != "市辖区" and region.name in address]
    rank = {"county": 0, "city": 1, "province": 2}
    named.sort(key=lambda region: (rank.get(region.level.value, 3), -len(region.name)))
    return named[0] if named else None


def home_of(session: Session, person: Person) -> Home:
    """The patient's home region: named in the newest address on record, else where they
    are insured; no region when neither is known."""
    regions = {region.code: region for region in registry.list_regions(session)}
    ordered = sorted(person.records, key=lambda record: (record.updated_at, record.id),
                     reverse=True)
    found = None
    for record in ordered:
        if record.address and (found := region_in_address(list(regions.values()),
                                                          record.address)):
            break
    if found is None:
        try:
            insured = coverage.insurance_of(session, person_id=person.id).insured_region_code
        except YilianError:
            insured = ""
        found = regions.get(insured)
    if found is None:
        return Home("", "", None, None)
    point = _with_point(regions, found.code)
    return Home(found.code, found.name, point.latitude if point else None,
                point.longitude if point else None)


def home_city(region_code: str) -> str:
    """The city (地级) a county code lies in: 130730 → 130700; a province stays itself."""
    if not region_code or region_code.endswith("0000"):
        return region_code
    return region_code[:4] + "00"


def pool_near(session: Session, *, home: Home, on: date) -> set[int]:
    """Institutions of the home city, their agreement partners and the hospitals they are
    campuses of."""
    if not home.region_code:
        rows, _ = registry.list_institutions(session, where=registry.InstitutionFilter(),
                                             limit=POOL_LIMIT)
        return {row.id for row in rows}
    local, _ = registry.list_institutions(
        session, where=registry.InstitutionFilter(region_code=home_city(home.region_code)),
        limit=POOL_LIMIT)
    ids = {row.id for row in local}
    parents = {row.parent_id for row in local if row.parent_id is not None}
    return ids | parents | set(agreements.partner_ids(session, institution_ids=ids, on=on))


def earliest_in(session: Session, departments: Sequence[Department], *,
                after: datetime) -> tuple[Department, Slot | None]:
    """Of an institution's departments of the specialty, the one with the soonest free slot
    (the first by code when none has one), and that slot."""
    best: tuple[Department, Slot | None] = (departments[0], None)
    for department in departments:
        found = scheduling.free_slots(session, after=after, department_id=department.id, limit=1)
        if found and (best[1] is None or found[0].start_at < best[1].start_at):
            best = (department, found[0])
    return best


def for_specialty(session: Session, *, specialty: str, pool: set[int] | None,
                  after: datetime, with_slots: bool = True) -> list[Place]:
    """Institutions of the pool (any, when None) with a department of the specialty."""
    departments = registry.departments_with_specialty(
        session, specialty=specialty, institution_ids=None if pool is None else sorted(pool))
    by_institution: dict[int, list[Department]] = {}
    for department in departments:
        by_institution.setdefault(department.institution_id, []).append(department)
    places = []
    for found in by_institution.values():
        if with_slots:
            department, slot = earliest_in(session, found, after=after)
        else:
            department, slot = found[0], None
        places.append(Place(department.institution, department, slot))
    return places


def for_expert(session: Session, *, practitioner_id: int, after: datetime) -> list[Place]:
    """Where the expert holds clinics (with their soonest free slot there), and their home."""
    expert = registry.get_practitioner_or_raise(session, practitioner_id=practitioner_id)
    slots = scheduling.free_slots(session, after=after, practitioner_ids=[expert.id], limit=500)
    soonest: dict[int, Slot] = {}
    for free in slots:
        soonest.setdefault(free.clinic_session.institution_id, free)
    places = []
    held = registry.institutions_by_id(session, ids={*soonest, expert.institution_id})
    for institution_id, institution in held.items():
        slot = soonest.get(institution_id)
        department = (registry.get_department_or_raise(session, department_id=slot.department_id)
                      if slot is not None else expert.department)
        places.append(Place(institution, department, slot))
    return places


def for_green_channel(session: Session, *, centre: EmergencyCentre,
                      specialty: str | None) -> list[Place]:
    """Every institution certified for the centre, with the department that takes the
    patient (the specialty's, else the emergency department)."""
    certified, _ = registry.list_institutions(
        session, where=registry.InstitutionFilter(centre=centre), limit=POOL_LIMIT)
    ids = [row.id for row in certified]
    wanted = {department.institution_id: department for department in reversed(
        registry.departments_with_specialty(session, specialty=specialty or EMERGENCY_SPECIALTY,
                                            institution_ids=ids))}
    return [Place(row, wanted.get(row.id)) for row in certified]


def check_specialty(session: Session, specialty: str) -> None:
    """422 for a specialty no department of the network has."""
    if specialty not in {code for code, _, _ in registry.list_specialties(session)}:
        raise InvalidInput("unknown_specialty", f"网络中没有该专科：{specialty}",
                           f"No department of the network has the specialty {specialty}")
