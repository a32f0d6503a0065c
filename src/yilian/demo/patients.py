"""Demo patients: a few thousand source records across the network, with the duplicates a
real index meets (the same person at the county campus and in Beijing, homophone names,
swapped day and month, missing resident IDs), registered one by one through the index."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from yilian.config import Settings
from yilian.patients import service as patients
from yilian.patients import synthetic
from yilian.patients.models import InsuranceScheme, LinkMethod, Person, Sex
from yilian.patients.resident_id import check_digit
from yilian.patients.schemas import RecordCreate
from yilian.registry import service as registry

# Where the demo's patients are registered: the Huailai campus and its township health
# centres, its Beijing lead hospital and a few more of the network.
SOURCES = (
    "PKUPH-HL", "PKUPH", "HL-THC-SHACHENG", "HL-THC-CUNRUI", "HL-THC-XINBAOAN",
    "HL-THC-DONGHUAYUAN", "PKUFH", "PKU3H",
)
RECORDS = 3000  # the default of Settings.demo_patient_records
SEED = 2026
# The Baoding hospitals register a few patients too: those they consult their Beijing
# partners about (the consultations demo). Big hospitals record the resident ID.
PARTNER_SOURCES = ("BCH-BD", "BDFCH", "BDTCM", "BDSH-KQ", "HBUAH")
PARTNER_RECORDS = 45
PARTNER_SEED = 2027

# The demo patient who signs in as ``huailai.patient``: Song, insured in Huailai county
# (130730), registered at the PKU People's Hospital Huailai campus (the seeds' story).
SONG_INSTITUTION = "PKUPH-HL"
SONG_LOCAL_ID = "HL-DEMO-SONG"
_SONG_ID17 = "13073019620314002"
SONG = RecordCreate(
    local_id=SONG_LOCAL_ID,
    name="宋桂兰",
    sex=Sex.FEMALE,
    birth_date=date(1962, 3, 14),
    id_number=_SONG_ID17 + check_digit(_SONG_ID17),
    phone="13931300314",
    address="河北省张家口市怀来县沙城镇",
    insured_region_code="130730",
    insurance_scheme=InsuranceScheme.RESIDENT,
)


def create_song(session: Session, settings: Settings) -> Person:
    """Register the demo patient Song at the Huailai campus (her person in the index)."""
    institution = registry.institution_by_code_or_raise(session, code=SONG_INSTITUTION)
    data = SONG.model_copy(update={"institution_id": institution.id})
    return patients.register_record(session, settings, None, data=data).person


def song(session: Session) -> Person | None:
    """Song's person, once the demo has registered her."""
    institution = registry.get_institution_by_code(session, code=SONG_INSTITUTION)
    if institution is None:
        return None
    record = patients.get_record_by_local_id(
        session, institution_id=institution.id, local_id=SONG_LOCAL_ID
    )
    return record.person if record is not None else None


def create_patients(session: Session, settings: Settings) -> dict[LinkMethod, int]:
    """Register the demo records (``settings.demo_patient_records`` of them); how many
    records each way of linking took."""
    return _register(session, settings, generated(settings.demo_patient_records))


def generated(records: int) -> list[synthetic.SyntheticRecord]:
    """The demo's source records: the same count gives the same records."""
    return synthetic.generate(records, sources=SOURCES, seed=SEED)


def create_partner_patients(session: Session, settings: Settings) -> dict[LinkMethod, int]:
    """Register the Baoding hospitals' demo records; how many records each way of linking
    took."""
    return _register(session, settings, synthetic.generate(
        PARTNER_RECORDS, sources=PARTNER_SOURCES, seed=PARTNER_SEED, missing_id_share=0.0))


def _register(session: Session, settings: Settings,
              generated: list[synthetic.SyntheticRecord]) -> dict[LinkMethod, int]:
    institutions = {
        code: registry.institution_by_code_or_raise(session, code=code).id
        for code in sorted({record.source for record in generated})
    }
    outcomes: dict[LinkMethod, int] = {}
    for record in generated:
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
