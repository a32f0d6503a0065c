"""Demo patients: a few thousand source records across the network, with the duplicates a
real index meets (the same person at the county campus and in Beijing, homophone names,
swapped day and month, missing resident IDs), registered one by one through the index."""

from __future__ import annotations

from sqlalchemy.orm import Session

from yilian.config import Settings
from yilian.patients import service as patients
from yilian.patients import synthetic
from yilian.patients.models import InsuranceScheme, LinkMethod, Sex
from yilian.patients.schemas import RecordCreate
from yilian.registry import service as registry

# Where the demo's patients are registered: the Huailai campus and its township health
# centres, its Beijing lead hospital and a few more of the network.
SOURCES = (
    "PKUPH-HL", "PKUPH", "HL-THC-SHACHENG", "HL-THC-CUNRUI", "HL-THC-XINBAOAN",
    "HL-THC-DONGHUAYUAN", "PKUFH", "PKU3H",
)
RECORDS = 3000
SEED = 2026


def create_patients(
    session: Session, settings: Settings, *, records: int = RECORDS
) -> dict[LinkMethod, int]:
    """Register the demo records; how many records each way of linking took."""
    institutions = {
        code: registry.institution_by_code_or_raise(session, code=code).id for code in SOURCES
    }
    outcomes: dict[LinkMethod, int] = {}
    for record in synthetic.generate(records, sources=SOURCES, seed=SEED):
        made = patients.register_record(
            session,
            settings,
            None,
            data=RecordCreate(
                institution_id=institutions[record.source],
                local_id=record.local_id,
                name=record.name,
                sex=Sex(record.sex) if record.sex else Sex.UNKNOWN,
                birth_date=record.birth_date,
                id_number=record.id_number,
                phone=record.phone,
                address=record.address or "",
                insured_region_code=record.insured_region,
                insurance_scheme=InsuranceScheme(record.scheme),
            ),
        )
        outcomes[made.outcome] = outcomes.get(made.outcome, 0) + 1
    return outcomes
