"""The demo network's encounter history: the plan of ``demo_plan`` made into rows.

Patients come from small pools registered through the patient index (children at the
Baoding children's hospital, adults at the TCM partner and at Guang'anmen), so every
encounter names a real person of the index, and its insured region and residence are
copied from that person's record exactly as intake copies them. A child is only ever
drawn for a year in which they were 0–14 years old. Rows go in by bulk insert (COPY on
PostgreSQL), then the monthly aggregate is rebuilt once from them.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from faker import Faker
from sqlalchemy.orm import Session

from yilian.analytics import aggregates, bulk
from yilian.analytics.aggregates import BEIJING, patient_origin
from yilian.analytics.demo_plan import (
    BAODING,
    CHILDREN_HOSPITAL,
    PARTNERSHIP_CODE,
    PARTNERSHIP_START,
    TCM_PARTNER,
    TRUSTEESHIP_CODE,
    TRUSTEESHIP_START,
    Batch,
    HistoryPlan,
    Pool,
    plan_history,
)
from yilian.analytics.intake import regions_of
from yilian.analytics.models import EncounterKind, EncounterStatus
from yilian.analytics.service import add_months
from yilian.config import Settings
from yilian.db import utcnow
from yilian.patients import service as patients
from yilian.patients.models import InsuranceScheme, Sex
from yilian.patients.resident_id import check_digit
from yilian.patients.schemas import RecordCreate
from yilian.registry import agreements
from yilian.registry import service as registry

SEED = 2026


@dataclass(frozen=True)
class PoolSpec:
    """Who a pool's patients are: where registered, insured and living, and when born."""

    institution_code: str
    size: int  # at full scale (each one a registration through the index: kept small)
    insured: tuple[str, ...]  # insured regions, drawn in turn
    residences: tuple[str, ...]  # household regions (resident ID address codes)
    born: tuple[int, int]  # first and last birth year
    local_id_prefix: str


POOLS: dict[Pool, PoolSpec] = {
    Pool.BAODING_CHILDREN: PoolSpec(
        CHILDREN_HOSPITAL, 400, (BAODING,),
        ("130602", "130606", "130681", "130626", "130633", "130624"), (2000, 2024), "HX"),
    Pool.VISITING_CHILDREN: PoolSpec(
        CHILDREN_HOSPITAL, 60, ("130100", "130700", "110000"), ("130102", "130105", "130705"),
        (2000, 2024), "HW"),
    Pool.BAODING_ADULTS: PoolSpec(
        TCM_PARTNER, 120, (BAODING,), ("130602", "130606", "130626", "130633"),
        (1940, 1975), "HX"),
    Pool.BAODING_ADULTS_IN_BEIJING: PoolSpec(
        "GAMH", 60, (BAODING,), ("130602", "130606", "130681", "130626"), (1940, 1975), "BD"),
}
POOL_MINIMUM = 25  # enough children for each birth year's window
# Where the pools live (GB/T 2260 names), the start of each patient's address.
RESIDENCE_NAMES = {
    "130602": "河北省保定市竞秀区", "130606": "河北省保定市莲池区", "130681": "河北省涿州市",
    "130626": "河北省保定市定兴县", "130633": "河北省保定市易县", "130624": "河北省保定市阜平县",
    "130102": "河北省石家庄市长安区", "130105": "河北省石家庄市新华区",
    "130705": "河北省张家口市宣化区"}
CHILD_AGES = (0, 14)  # 儿童医院: patients under 15
PREFIX = {EncounterKind.OUTPATIENT: "HMZ", EncounterKind.INPATIENT: "HZY",
          EncounterKind.SURGERY: "HSS"}


@dataclass(frozen=True)
class Patient:
    """A pool patient as the encounter rows need them."""

    person_id: int
    birth_year: int
    insured_region_code: str | None
    residence_region_code: str | None


@dataclass(frozen=True)
class HistoryLoaded:
    """What loading the history did."""

    encounters: int
    patients: int
    buckets: int


def pool_size(pool: Pool, scale: float) -> int:
    """How many patients a pool holds at ``scale``."""
    return max(POOL_MINIMUM, round(POOLS[pool].size * min(scale, 1.0)))


def _resident_id(region: str, born: date, sequence: int, *, male: bool) -> str:
    """A valid resident ID; ``sequence`` distinct per region keeps the numbers distinct."""
    order = sequence % 500 * 2 + (1 if male else 0)  # the 17th digit: odd for men (GB 11643)
    first17 = f"{region}{born:%Y%m%d}{order:03d}"
    return first17 + check_digit(first17)


def register_pools(session: Session, settings: Settings, *, scale: float,
                   ) -> dict[Pool, list[Patient]]:
    """Register each pool's patients through the patient index; their regions as intake
    reads them."""
    faker = Faker("zh_CN")
    faker.seed_instance(SEED)
    rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
    found: dict[Pool, list[Patient]] = {}
    for pool, spec in POOLS.items():
        institution = registry.institution_by_code_or_raise(session, code=spec.institution_code)
        members = []
        size = pool_size(pool, scale)
        for number in range(size):
            # Birth years spread evenly, so every year's window of children is filled.
            year = spec.born[0] + number * (spec.born[1] - spec.born[0] + 1) // size
            born = date(year, rng.randint(1, 12), rng.randint(1, 28))
            male = rng.random() < 0.52
            residence = spec.residences[number % len(spec.residences)]
            name = faker.name_male() if male else faker.name_female()
            registration = patients.register_record(session, settings, None, data=RecordCreate(
                institution_id=institution.id, local_id=f"{spec.local_id_prefix}{number + 1:06d}",
                name=name, sex=Sex.MALE if male else Sex.FEMALE, birth_date=born,
                id_number=_resident_id(residence, born, number // len(spec.residences),
                                        male=male),
                address=RESIDENCE_NAMES[residence] + faker.street_address(),
                insured_region_code=spec.insured[
                    number % len(spec.insured)],
                insurance_scheme=InsuranceScheme.RESIDENT))
            regions = regions_of(registration.person, institution_id=institution.id)
            members.append(Patient(registration.person.id, year, regions.insured_region_code,
                                   regions.residence_region_code))
        found[pool] = members
    return found


class _Rows:
    """Encounter rows of the plan's batches, one generator for all (seeded: the same
    history every time)."""

    def __init__(self, session: Session, pools: dict[Pool, list[Patient]]) -> None:
        self.rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
        self.now = utcnow()
        self.pools = pools
        self.institutions: dict[str, tuple[int, str]] = {}
        self.departments: dict[str, dict[str, int]] = {}
        self.session = session
        self.sequence: dict[tuple[str, EncounterKind, str], int] = {}
        self.candidates: dict[tuple[Pool, int], Sequence[Patient]] = {}
        self.origins: dict[tuple[Pool, str], dict[str | None, str]] = {}

    def resolve(self, code: str) -> tuple[int, str]:
        """An institution's id and region, its departments by code (looked up once)."""
        if code not in self.institutions:
            institution = registry.institution_by_code_or_raise(self.session, code=code)
            self.institutions[code] = (institution.id, institution.region_code)
            self.departments[code] = {d.code: d.id for d in registry.list_departments(
                self.session, institution_id=institution.id)}
        return self.institutions[code]

    def _patients(self, pool: Pool, year: int) -> Sequence[Patient]:
        key = (pool, year)
        if key not in self.candidates:
            members = self.pools[pool]
            if pool in (Pool.BAODING_CHILDREN, Pool.VISITING_CHILDREN):
                members = [p for p in members
                           if CHILD_AGES[0] <= year - p.birth_year - 1 <= CHILD_AGES[1]]
            self.candidates[key] = members
        return self.candidates[key]

    def _origins(self, pool: Pool, region_code: str) -> dict[str | None, str]:
        key = (pool, region_code)
        if key not in self.origins:
            self.origins[key] = {
                p.insured_region_code: patient_origin(p.insured_region_code, region_code).value
                for p in self.pools[pool]}
        return self.origins[key]

    def of(self, batch: Batch) -> Iterator[bulk.Row]:
        """The rows of one batch."""
        institution_id, region_code = self.institutions[batch.institution_code]
        department_id = self.departments[batch.institution_code][batch.department_code]
        year, month = int(batch.month[:4]), int(batch.month[5:])
        month_start = datetime(year, month, 1, tzinfo=BEIJING).astimezone(UTC)
        days = calendar.monthrange(year, month)[1]
        candidates = self._patients(batch.pool, year)
        origins = self._origins(batch.pool, region_code)
        key = (batch.institution_code, batch.kind, batch.month)
        first = self.sequence.get(key, 0)
        self.sequence[key] = first + batch.count
        kind = batch.kind
        inpatient, surgery = kind is EncounterKind.INPATIENT, kind is EncounterKind.SURGERY
        any_hour = inpatient or batch.department_code == "EMER"  # wards and 急诊 never close
        resource_type, kind_value = "Procedure" if surgery else "Encounter", kind.value
        finished = EncounterStatus.FINISHED.value
        prefix = f"{PREFIX[kind]}{year}{month:02d}"
        next_month = add_months(batch.month, 1)
        month_minutes = days * 1440
        draw, now, size = self.rng.random, self.now, len(candidates)
        # Minutes from the Beijing midnight the month begins (China keeps no summer time),
        # so the months of start and end follow without converting each instant.
        for number in range(first + 1, first + batch.count + 1):
            patient = candidates[int(draw() * size)]
            hour = int(draw() * 24) if any_hour else 8 + int(draw() * 10)
            offset = int(draw() * days) * 1440 + hour * 60 + int(draw() * 60)
            started = month_start + timedelta(minutes=offset)
            ended: datetime | None = None
            end_month: str | None = None
            if inpatient or surgery:
                length = ((2 + int(draw() * 13)) * 1440 + int(draw() * 9) * 60 if inpatient
                          else 30 + int(draw() * 211))  # a stay of 2–14 days, 30–240 minutes
                ended = started + timedelta(minutes=length)
                end_month = batch.month if offset + length < month_minutes else next_month
            yield (resource_type, f"{prefix}{number:06d}", kind_value, finished,
                   patient.person_id, institution_id, department_id, started, ended,
                   batch.month, end_month, patient.insured_region_code,
                   patient.residence_region_code, origins[patient.insured_region_code], now,
                   now)


def _check_agreements(session: Session) -> None:
    """The plan's baselines hang on two agreements' start dates: they must be the demo's."""
    for code, start in ((TRUSTEESHIP_CODE, TRUSTEESHIP_START),
                        (PARTNERSHIP_CODE, PARTNERSHIP_START)):
        agreement = agreements.get_agreement_by_code(session, code=code)
        if agreement is None or agreement.start_date != start:
            raise RuntimeError(f"demo agreement {code} should start on {start}")


def rows(session: Session, plan: HistoryPlan, pools: dict[Pool, list[Patient]],
         ) -> Iterator[bulk.Row]:
    """Every encounter row of the plan. Institutions and departments are looked up before
    the first row: on PostgreSQL the rows stream into a COPY that holds the connection."""
    made = _Rows(session, pools)
    for code in dict.fromkeys(batch.institution_code for batch in plan.batches):
        made.resolve(code)
    return (row for batch in plan.batches for row in made.of(batch))


def load(session: Session, settings: Settings, *, scale: float) -> HistoryLoaded:
    """Register the pools, write the plan's encounters and rebuild the aggregate (flushes
    only; the caller commits). ``scale`` 0 loads nothing."""
    if scale <= 0:
        return HistoryLoaded(0, 0, 0)
    _check_agreements(session)
    plan = plan_history(scale)
    pools = register_pools(session, settings, scale=scale)
    session.flush()
    written = bulk.insert_encounters(session, rows(session, plan, pools))
    buckets = aggregates.refresh(session)
    return HistoryLoaded(written, sum(len(p) for p in pools.values()), buckets)


__all__ = ["POOLS", "HistoryLoaded", "Patient", "PoolSpec", "load", "pool_size",
           "register_pools", "rows"]
