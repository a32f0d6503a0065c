"""Results intake: a report with its values and images stored as sent; a correction
supersedes the report under the same accession number, never overwrites it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from yilian.auth.permissions import Action, Principal, authorize
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.patients import service as patients
from yilian.registry import service as registry
from yilian.results.models import (
    DiagnosticReport,
    ImagingStudy,
    ItemCategory,
    Observation,
    RecognitionItem,
    ReportStatus,
)
from yilian.results.schemas import ReportCreate


def _item_or_raise(session: Session, code: str) -> RecognitionItem:
    item = session.scalar(select(RecognitionItem).where(RecognitionItem.code == code))
    if item is None:
        raise NotFound("互认项目", "Recognition item", code)
    return item


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def reference_bounds(text: str) -> tuple[Decimal | None, Decimal | None]:
    """Low and high of a reference range written ``3.5-5.3``, ``<5.2`` or ``>=60``."""
    text = text.strip().replace("～", "-").replace("~", "-").replace("—", "-")
    if text.startswith(("<", "≤")):
        return None, _number(text.lstrip("<=≤"))
    if text.startswith((">", "≥")):
        return _number(text.lstrip(">=≥")), None
    low, separator, high = text.partition("-")
    if separator and low:
        return _number(low), _number(high)
    return None, None


def current_report(
    session: Session, *, institution_id: int, accession: str
) -> DiagnosticReport | None:
    """The institution's report under this accession number that nothing supersedes."""
    newer = aliased(DiagnosticReport)
    return session.scalar(
        select(DiagnosticReport)
        .where(
            DiagnosticReport.institution_id == institution_id,
            DiagnosticReport.accession == accession,
            ~exists().where(newer.supersedes_id == DiagnosticReport.id),
        )
        .order_by(DiagnosticReport.id.desc())
        .limit(1)
    )


def create_report(
    session: Session, principal: Principal | None, *, data: ReportCreate
) -> DiagnosticReport:
    """Store a result; a corrected one supersedes the report under the same accession."""
    if principal is not None:
        authorize(principal, Action.RESULT_WRITE, [data.institution_id])
    item = _item_or_raise(session, data.item_code)
    person = patients.current_person(session, person_id=data.person_id)
    if person is None or (principal is not None
                          and not patients.can_view(session, principal, person)):
        raise NotFound("患者", "Patient", data.person_id)
    registry.check_institution_exists(session, institution_id=data.institution_id)
    earlier = (current_report(session, institution_id=data.institution_id,
                              accession=data.accession) if data.accession else None)
    if data.status is ReportStatus.FINAL and earlier is not None:
        raise Conflict(
            "report_exists",
            f"报告 {data.accession} 已存在；更正请以“更正”状态发送",
            f"Report {data.accession} already exists; send a correction with status corrected",
        )
    if data.status is not ReportStatus.FINAL and earlier is None:
        raise InvalidInput(
            "nothing_to_correct", f"没有可更正的报告：{data.accession or '（无检查号）'}",
            f"No earlier report to correct: {data.accession or '(no accession)'}",
        )
    report = DiagnosticReport(
        person_id=person.id, institution_id=data.institution_id,
        department_name=data.department_name, item_code=item.code, category=item.category,
        accession=data.accession, performed_at=data.performed_at, status=data.status,
        conclusion=data.conclusion, supersedes_id=earlier.id if earlier else None,
    )
    for sequence, value in enumerate(data.observations, start=1):
        low, high = reference_bounds(value.reference_range)
        report.observations.append(Observation(
            sequence=sequence, code=value.code, code_system=value.code_system, name=value.name,
            value=value.value, value_number=_number(value.value), unit=value.unit,
            reference_range=value.reference_range, reference_low=low, reference_high=high,
            abnormal_flag=value.abnormal_flag,
        ))
    for study in data.imaging_studies:
        report.imaging_studies.append(ImagingStudy(**study.model_dump()))
    if item.category is ItemCategory.LAB and not report.observations and (
        data.status is not ReportStatus.ENTERED_IN_ERROR
    ):
        raise InvalidInput("lab_without_values", f"检验报告 {item.code} 没有结果数值",
                           f"Lab report {item.code} carries no values")
    session.add(report)
    session.flush()
    return report
