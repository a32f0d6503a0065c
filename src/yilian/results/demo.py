"""Demo results: the Jing-Jin-Ji catalogue, HR qualifications of the demo hospitals, and
results of demo patients across institutions — some recognisable, some expired, some from a
performer not qualified at the time. Seeded, so every load holds the same results; times are
counted back from the day of loading, so "12 days old" stays true on the demo's day.

Song's results are stored through ``create_report``; the other patients' in bulk (one
flush), checked by the same catalogue and built from the same seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from yilian.db import utcnow
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.registry import service as registry
from yilian.results import catalogue, recognition
from yilian.results import service as results
from yilian.results.models import (
    DiagnosticReport,
    HrScope,
    ImagingStudy,
    ItemCategory,
    Observation,
    RecognitionItem,
    ReportStatus,
)
from yilian.results.schemas import ObservationIn, QualificationCreate, ReportCreate

SEED = 2026
PATIENTS = 400

# (institution, item group, scope, valid from, valid to): from the region's 2024–2025 EQA.
QUALIFICATIONS: tuple[tuple[str, str, HrScope, date, date], ...] = (
    *(("PKUPH", group, HrScope.NATIONAL, date(2024, 1, 1), date(2027, 12, 31))
       for group in ("HEMATOLOGY", "BIOCHEMISTRY", "IMMUNOLOGY", "COAGULATION",
                     "TUMOUR_MARKER", "CT", "MRI", "XRAY", "ULTRASOUND", "ECG")),
    *(("PKUPH-HL", group, HrScope.CONSORTIUM, date(2024, 6, 1), date(2027, 5, 31))
       for group in ("HEMATOLOGY", "BIOCHEMISTRY", "COAGULATION", "CT", "XRAY", "ECG")),
    *(("PKUFH", group, HrScope.NATIONAL, date(2024, 1, 1), date(2027, 12, 31))
       for group in ("HEMATOLOGY", "BIOCHEMISTRY", "CT", "MRI")),
    *(("PKU3H", group, HrScope.PROVINCE, date(2024, 1, 1), date(2027, 12, 31))
       for group in ("HEMATOLOGY", "BIOCHEMISTRY", "CT")),
    # The Shacheng health centre passed its haematology EQA only this autumn.
    ("HL-THC-SHACHENG", "HEMATOLOGY", HrScope.CONSORTIUM, date(2026, 10, 1),
     date(2027, 9, 30)),
)

# Lab values a demo panel carries: (LOINC, name, unit, reference range, low, high).
PANEL_VALUES: dict[str, tuple[tuple[str, str, str, str, float, float], ...]] = {
    "JJJ-L001": (("718-7", "血红蛋白", "g/L", "115-150", 105, 160),
                 ("6690-2", "白细胞计数", "10*9/L", "3.5-9.5", 3.0, 12.0),
                 ("777-3", "血小板计数", "10*9/L", "125-350", 100, 380)),
    "JJJ-L006": (("1742-6", "丙氨酸氨基转移酶", "U/L", "7-40", 5, 80),
                 ("1920-8", "天门冬氨酸氨基转移酶", "U/L", "13-35", 10, 70)),
    "JJJ-L007": (("2160-0", "肌酐", "umol/L", "41-73", 35, 120),
                 ("3094-0", "尿素", "mmol/L", "2.6-7.5", 2.0, 10.0)),
    "JJJ-L008": (("2093-3", "总胆固醇", "mmol/L", "<5.2", 3.5, 7.0),
                 ("2571-8", "甘油三酯", "mmol/L", "<1.7", 0.6, 3.0)),
    "JJJ-L011": (("4548-4", "糖化血红蛋白", "%", "4-6", 4.5, 9.5),),
}
EXAMS = ("JJJ-E001", "JJJ-E010", "JJJ-E011", "JJJ-E030", "JJJ-E040")


@dataclass(frozen=True)
class SongResult:
    """One of Song's demo results: what, where, how many days ago."""

    item_code: str
    institution_code: str
    days_ago: int


# Song at PKU People's Hospital: lipids recognisable (Huailai, 20 days, valid 30); liver
# function expired (45 days, valid 14); the Shacheng abdominal ultrasound from a centre
# without an ultrasound qualification. Her CT and blood count arrive by HL7 in the tour.
SONG_RESULTS = (
    SongResult("JJJ-L008", "PKUPH-HL", 20),
    SongResult("JJJ-L006", "PKUPH-HL", 45),
    SongResult("JJJ-E030", "HL-THC-SHACHENG", 10),
)


def _flag(value: float, low: float, high: float, reference: str) -> str:
    if reference.startswith("<"):
        return "H" if value >= float(reference[1:]) else "N"
    bounds = [float(part) for part in reference.split("-")]
    return "L" if value < bounds[0] else "H" if value > bounds[1] else "N"


def _observations(rng: random.Random, item_code: str) -> list[ObservationIn]:
    values = []
    for loinc, name, unit, reference, low, high in PANEL_VALUES[item_code]:
        value = round(rng.uniform(low, high), 1)
        values.append(ObservationIn(code=loinc, code_system="LN", name=name, value=str(value),
                                    unit=unit, reference_range=reference,
                                    abnormal_flag=_flag(value, low, high, reference)))
    return values


def _performed(now: datetime, days: int, rng: random.Random) -> datetime:
    """A working-hours moment (08:00-18:00 Beijing) of the Beijing day ``days`` before
    today's, so "performed N days ago" holds whatever the hour of the load."""
    day = now.astimezone(recognition.BEIJING).date() - timedelta(days=days)
    moment = datetime.combine(day, time(8), tzinfo=recognition.BEIJING) + timedelta(
        minutes=rng.randrange(0, 600))
    return min(moment, now - timedelta(minutes=1)).astimezone(UTC)


def create_qualifications(session: Session) -> int:
    """The HR marks of the demo hospitals."""
    for code, group, scope, valid_from, valid_to in QUALIFICATIONS:
        institution = registry.institution_by_code_or_raise(session, code=code)
        results.create_qualification(session, data=QualificationCreate(
            institution_id=institution.id, item_group=group, scope=scope,
            valid_from=valid_from, valid_to=valid_to,
            eqa_reference=f"京津冀临床检验质控 {valid_from.year} EQA"))
    return len(QUALIFICATIONS)


def create_song_results(session: Session, song: Person, *, now: datetime) -> int:
    """Song's results, through the intake service."""
    rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
    for number, planned in enumerate(SONG_RESULTS, start=1):
        institution = registry.institution_by_code_or_raise(
            session, code=planned.institution_code)
        lab = planned.item_code in PANEL_VALUES
        results.create_report(session, None, data=ReportCreate(
            person_id=song.id, institution_id=institution.id, item_code=planned.item_code,
            accession=f"DEMO-SONG-{number}", department_name="检验科" if lab else "超声科",
            performed_at=_performed(now, planned.days_ago, rng),
            observations=_observations(rng, planned.item_code) if lab else [],
            imaging_studies=[] if lab else [{"study_uid": f"1.2.156.112605.2026.{number}",
                                             "modality": "US", "body_site": "腹部"}],
            conclusion="" if lab else "肝胆胰脾未见明显异常",
        ))
    return len(SONG_RESULTS)


def _bulk_report(rng: random.Random, item: RecognitionItem, person_id: int,
                 institution_id: int, now: datetime, number: int) -> DiagnosticReport:
    lab = item.category is ItemCategory.LAB
    report = DiagnosticReport(
        person_id=person_id, institution_id=institution_id, item_code=item.code,
        category=item.category, accession=f"DEMO-{number:06d}",
        department_name="检验科" if lab else "影像科",
        performed_at=_performed(now, rng.randrange(0, 120), rng), issued_at=now,
        received_at=now, status=ReportStatus.FINAL,
        conclusion="" if lab else "未见明显异常",
    )
    if lab:
        for sequence, value in enumerate(_observations(rng, item.code), start=1):
            low, high = results.reference_bounds(value.reference_range)
            report.observations.append(Observation(
                sequence=sequence, code=value.code, code_system="LN", name=value.name,
                value=value.value, value_number=Decimal(value.value), unit=value.unit,
                reference_range=value.reference_range, reference_low=low,
                reference_high=high, abnormal_flag=value.abnormal_flag))
    else:
        report.imaging_studies.append(ImagingStudy(
            study_uid=f"1.2.156.112605.9.{number}", modality=item.modality,
            body_site=item.body_site))
    return report


def create_patient_results(session: Session, *, now: datetime, patients_count: int,
                           registered: int) -> int:
    """Results of the first demo patients at the institutions that registered them (bulk)."""
    rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
    items = results.items_by_code(session, codes=[*PANEL_VALUES, *EXAMS])
    institutions: dict[str, int] = {}
    reports: list[DiagnosticReport] = []
    # The demo's patients as demo.patients registered them (the same seed), the first few.
    from yilian.demo.patients import generated

    records = generated(registered)[:patients_count]
    for record in records:
        if record.source not in institutions:
            institutions[record.source] = registry.institution_by_code_or_raise(
                session, code=record.source).id
        found = patients.get_record_by_local_id(
            session, institution_id=institutions[record.source], local_id=record.local_id)
        if found is None:
            continue
        for code in rng.sample([*PANEL_VALUES, *EXAMS], k=rng.randint(1, 3)):
            reports.append(_bulk_report(rng, items[code], found.person_id,
                                        institutions[record.source], now, len(reports) + 1))
    session.add_all(reports)
    session.flush()
    return len(reports)


def load(session: Session, song: Person | None, *, registered: int,
         patients_count: int = PATIENTS) -> int:
    """Catalogue, qualifications and results for the demo; how many results were stored."""
    now = utcnow()
    catalogue.load_jingjinji(session)
    create_qualifications(session)
    stored = create_song_results(session, song, now=now) if song is not None else 0
    return stored + create_patient_results(session, now=now, patients_count=patients_count,
                                           registered=registered)
