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


@dataclass(frozen=True)
class DemoSettlements:
    """What the demo settled."""

    settled: int
    skipped: int


def _clerk(institution: Institution) -> Principal:
    """The institution's insurance clerk, as the demo acts (no account of its own)."""
    return Principal(user_id=0, username="demo.settlement", role=Role.INSURANCE_CLERK,
                     institution_id=institution.id, institution_ids=frozenset({institution.id}))


def _bill_lines(rng: random.Random, items: list[engine.CatalogueItem],
                stay_days: int) -> list[dict[str, str]]:
    """A plausible inpatient bill: bed and nursing per day, then drugs, tests, materials."""
    by_code = {item.code: item for item in items}
    lines = [{"code": "110900001", "qty": str(stay_days), "unit_price": "50.00"},
             {"code": "111000001", "qty": str(stay_days), "unit_price": "30.00"}]
    for item in rng.sample(items, rng.randint(4, 10)):
        if item.code in ("110900001", "111000001"):
            continue
        limit = item.price_limit or Decimal(rng.randint(20, 400))
        # Most prices sit at the limit; a few above it (over-limit self-pay).
        above = (limit * Decimal("1.15")).quantize(Decimal("0.01"))
        price = limit if rng.random() < 0.8 else above
        service = by_code[item.code].category is engine.ItemCategory.SERVICE
        qty = 1 if service else rng.randint(1, 20)
        lines.append({"code": item.code, "qty": str(qty), "unit_price": str(price)})
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
        discharge = date(YEAR, 1, 5) + timedelta(days=index * 320 // BILLS)
        stay = rng.randint(3, 14)
        request = SettleRequest.model_validate({
            "idempotency_key": f"DEMO-{YEAR}-{index:05d}", "person_id": records[0],
            "institution_id": institution.id,
            "admission_date": (discharge - timedelta(days=stay)).isoformat(),
            "discharge_date": discharge.isoformat(),
            "lines": _bill_lines(rng, sorted(catalogue.items.values(), key=lambda i: i.code),
                                 stay),
        })
        try:
            with session.begin_nested():
                settlements.settle_bill(session, principal=_clerk(institution), request=request,
                                        rules=rules)
            settled += 1
        except YilianError:  # insured where no demo policy applies (Tianjin, Shijiazhuang)
            skipped += 1
    return DemoSettlements(settled, skipped)
