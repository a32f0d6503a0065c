"""Demo settlement data: Song's coverage and a year of settled inpatient bills (seeded).

Bills are settled through the real service, as the treating institution's clerk would, for
demo patients whose insured region has a shipped policy (Zhangjiakou, Baoding, Beijing) at
the Huailai campus, its township centres and the Beijing hospitals of the demo network.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.auth.models import Role
from yilian.auth.permissions import Principal
from yilian.demo.patients import song
from yilian.errors import YilianError
from yilian.patients.models import InsuranceScheme, PatientRecord
from yilian.registry.models import Institution
from yilian.settlement import coverage, engine
from yilian.settlement import service as settlements
from yilian.settlement.catalogue import find_catalogue
from yilian.settlement.engine import Filing
from yilian.settlement.schemas import SettleRequest

SEED = 2026
YEAR = 2026
BILLS = 120
TREATING = ("PKUPH-HL", "HL-THC-SHACHENG", "HL-THC-XINBAOAN", "PKUPH", "PKUFH", "PKU3H")
SONG_CARD = "H13073019620314"
# Discharge diagnoses 2207 dise_codg of the demo bills are taken in turn (DIAGNOSES, below),
# so every treating institution has bills of each: the advisor's typical bills group by them.


@dataclass(frozen=True)
class DemoSettlements:
    """What the demo settled."""

    settled: int
    skipped: int


def _clerk(institution: Institution) -> Principal:
    """The institution's insurance clerk, as the demo acts (no account of its own)."""
    return Principal(user_id=0, username="demo.settlement", role=Role.INSURANCE_CLERK,
                     institution_id=institution.id, institution_ids=frozenset({institution.id}))


# What a stay of each demo diagnosis bills, item by item: (code, quantity, per day?). Every
# stay also bills bed, nursing, an infusion with saline and a set per day, and the lab basics.
PER_STAY = (("110900001", 1, True), ("111000001", 1, True), ("120100001", 1, True),
            ("XB05BBA022", 1, True), ("C03010200", 1, True), ("250101001", 2, False),
            ("250301001", 1, False))
PATHWAYS: dict[str, tuple[tuple[int, int], tuple[tuple[str, int, bool], ...]]] = {
    "I25.1": ((6, 9), (("310701001", 2, False), ("220300001", 1, False),
                       ("XC10AAA085", 1, True), ("XB01ABA035", 1, True),
                       ("ZA09AAP001", 30, False))),
    "I21.9": ((7, 10), (("330803001", 1, False), ("C02040100", 1, False),
                        ("310701001", 3, False), ("XB01ABA035", 2, True),
                        ("XC10AAA085", 1, True))),
    "I20.0": ((5, 8), (("310701001", 2, False), ("XC08CAA030", 1, True),
                       ("XC10AAA085", 1, True), ("XB01ABA035", 1, True))),
    "I63.9": ((10, 14), (("210300001", 1, False), ("210200001", 1, False),
                         ("XC10AAA085", 1, True), ("340100001", 1, False))),
    "J18.9": ((7, 10), (("XJ01DDA051", 2, True), ("210300001", 1, False),
                        ("XN02BEA001", 6, False))),
    "E11.9": ((7, 12), (("XA10BAA030", 3, True), ("XA10AEA069", 2, False),
                        ("220300001", 1, False))),
    "K80.2": ((5, 8), (("330100001", 1, False), ("220300001", 1, False),
                       ("XJ01DDA051", 2, True), ("C99000001", 1, False))),
    "S72.0": ((12, 16), (("331601005", 1, False), ("C14030100", 1, False),
                         ("330100001", 1, False), ("XB01ABA035", 1, True),
                         ("340100001", 2, False))),
}
DIAGNOSES = tuple(PATHWAYS)


def stay_of(rng: random.Random, diagnosis: str) -> int:
    """How many days a demo stay of the diagnosis lasts."""
    low, high = PATHWAYS[diagnosis][0]
    return rng.randint(low, high)


def _bill_lines(rng: random.Random, catalogue: engine.Catalogue, stay_days: int,
                diagnosis: str) -> list[dict[str, str]]:
    """A plausible inpatient bill of the diagnosis: the stay's items at the treatment place's
    price limits (a few 15 % above them: over-limit self-pay); unlimited items priced freely."""
    lines = []
    for code, qty, per_day in PER_STAY + PATHWAYS[diagnosis][1]:
        limit = catalogue.items[code].price_limit or Decimal(rng.randint(20, 400))
        above = (limit * Decimal("1.15")).quantize(Decimal("0.01"))
        price = limit if rng.random() < 0.8 else above
        lines.append({"code": code, "qty": str(qty * stay_days if per_day else qty),
                      "unit_price": str(price)})
    return lines


def load(session: Session) -> DemoSettlements:
    """Song's coverage and a year of settlements; flushes only (the caller commits)."""
    song_person = song(session)
    if song_person is not None:
        coverage.set_coverage(session, person_id=song_person.id, insured_region_code="130730",
                              scheme=InsuranceScheme.RESIDENT, card_number=SONG_CARD,
                              filing=Filing.NONE)
    rng = random.Random(SEED)  # noqa: S311 (seeded demo data, not security)
    rules = settlements.rulebook()
    institutions = list(session.scalars(select(Institution).where(Institution.code.in_(TREATING))
                                        .order_by(Institution.code)))
    settled = skipped = 0
    for index in range(BILLS):
        institution = institutions[index % len(institutions)]
        records = session.scalars(
            select(PatientRecord.person_id)
            .where(PatientRecord.institution_id == institution.id,
                   PatientRecord.insured_region_code.is_not(None))
            .order_by(PatientRecord.id).offset(rng.randint(0, 150)).limit(1)
        ).all()
        if not records or (song_person is not None and records[0] == song_person.id):
            skipped += 1
            continue
        catalogue = find_catalogue(rules.catalogues, treatment_region=institution.region_code)
        diagnosis = DIAGNOSES[index // len(institutions) % len(DIAGNOSES)]
        discharge = date(YEAR, 1, 5) + timedelta(days=index * 320 // BILLS)
        stay = stay_of(rng, diagnosis)
        request = SettleRequest.model_validate({
            "idempotency_key": f"DEMO-{YEAR}-{index:05d}", "person_id": records[0],
            "institution_id": institution.id,
            "admission_date": (discharge - timedelta(days=stay)).isoformat(),
            "discharge_date": discharge.isoformat(), "dise_codg": diagnosis,
            "lines": _bill_lines(rng, catalogue, stay, diagnosis),
        })
        try:
            with session.begin_nested():
                settlements.settle_bill(session, principal=_clerk(institution), request=request,
                                        rules=rules)
            settled += 1
        except YilianError:  # insured where no demo policy applies (Tianjin, Shijiazhuang)
            skipped += 1
    return DemoSettlements(settled, skipped)
