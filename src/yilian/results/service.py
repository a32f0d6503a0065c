"""Shared results and mutual recognition: intake, the recognition check, decisions, savings.

Who may see a result follows the patient index: a result is visible to whoever may see its
person (``patients.can_view``), which is the performing institution (it holds the patient's
record) and every institution the patient was shared with (referral, consultation,
consent). A result someone may not see is "not found". Every read is audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, authorize
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.registry import service as registry
from yilian.results import checking, recognition, reference

# Intake lives in its own module; the capability's front re-exports it.
# The check lives in its own module (one statement per check); the front re-exports it.
from yilian.results.checking import HR_ZH as HR_ZH
from yilian.results.checking import check as check
from yilian.results.checking import explain as explain
from yilian.results.checking import recognisable_counts as recognisable_counts
from yilian.results.intake import create_report as create_report
from yilian.results.intake import current_report as current_report
from yilian.results.intake import reference_bounds as reference_bounds
from yilian.results.models import (
    Decision,
    DiagnosticReport,
    Qualification,
    RecognitionDecision,
    RecognitionItem,
    RetestReason,
    SavingsEntry,
)
from yilian.results.recognition import Verdict
from yilian.results.schemas import (
    CheckRequest,
    DecisionCreate,
    QualificationCreate,
    SavingsTotal,
)

CONSORTIUM_AGREEMENTS = reference.CONSORTIUM_AGREEMENTS

# ---------------------------------------------------------------- catalogue, qualifications


def get_item(session: Session, *, code: str) -> RecognitionItem | None:
    """A catalogue item by code."""
    return session.scalar(select(RecognitionItem).where(RecognitionItem.code == code))


def get_item_or_raise(session: Session, *, code: str) -> RecognitionItem:
    """A catalogue item by code, or 404."""
    item = get_item(session, code=code)
    if item is None:
        raise NotFound("互认项目", "Recognition item", code)
    return item


def item_by_loinc(session: Session, *, loinc: str) -> RecognitionItem | None:
    """The catalogue item with this LOINC code, if exactly one has it."""
    found = list(session.scalars(
        select(RecognitionItem).where(RecognitionItem.loinc == loinc).limit(2)))
    return found[0] if len(found) == 1 else None


def list_items(session: Session) -> list[RecognitionItem]:
    """The whole catalogue, by category and code."""
    return list(session.scalars(
        select(RecognitionItem).order_by(RecognitionItem.category, RecognitionItem.code)
    ))


def items_by_code(session: Session, *, codes: Iterable[str]) -> dict[str, RecognitionItem]:
    """Catalogue items by code, in one statement."""
    wanted = sorted(set(codes))
    return {item.code: item for item in session.scalars(
        select(RecognitionItem).where(RecognitionItem.code.in_(wanted))
    )}


def create_qualification(session: Session, *, data: QualificationCreate) -> Qualification:
    """Record an HR mark an institution earned in quality evaluation."""
    registry.check_institution_exists(session, institution_id=data.institution_id)
    if data.item_code:
        get_item_or_raise(session, code=data.item_code)
    elif session.scalar(
        select(RecognitionItem.id).where(RecognitionItem.item_group == data.item_group).limit(1)
    ) is None:
        raise NotFound("项目组", "Item group", data.item_group)
    qualification = Qualification(**data.model_dump())
    session.add(qualification)
    session.flush()
    return qualification


def list_qualifications(
    session: Session, *, institution_id: int | None = None
) -> list[Qualification]:
    """HR marks, of one institution or all, newest first."""
    query = select(Qualification).order_by(Qualification.valid_from.desc(), Qualification.id)
    if institution_id is not None:
        query = query.where(Qualification.institution_id == institution_id)
    return list(session.scalars(query))


# ---------------------------------------------------------------- reading


def _audit_read(session: Session, principal: Principal, *, person_id: int, action: str,
                entity_id: str = "", detail: dict[str, Any] | None = None) -> None:
    audit.record(session, action=action, entity_type="diagnostic_report", entity_id=entity_id,
                 institution_id=principal.institution_id, patient_id=person_id, detail=detail)


def get_report_or_raise(
    session: Session, principal: Principal, *, report_id: int
) -> DiagnosticReport:
    """A result the principal may see (404 otherwise); audited."""
    report = session.get(DiagnosticReport, report_id)
    person = session.get(Person, report.person_id) if report is not None else None
    if report is None or person is None or not patients.can_view(session, principal, person):
        raise NotFound("检查检验结果", "Result", report_id)
    _audit_read(session, principal, person_id=report.person_id, action="result.read",
                entity_id=str(report.id))
    return report


def superseded_ids(session: Session, *, report_ids: Sequence[int]) -> set[int]:
    """Which of these reports a later correction supersedes."""
    if not report_ids:
        return set()
    return set(session.scalars(
        select(DiagnosticReport.supersedes_id).where(
            DiagnosticReport.supersedes_id.in_(report_ids))
    ))


def reports_query(person_ids: Sequence[int]) -> Select[DiagnosticReport, bool, bool]:
    """A person's results, newest first, each with whether a correction supersedes it and
    whether it carries data or images (not only a conclusion)."""
    superseded, content = checking.superseded_and_content()
    return (
        select(DiagnosticReport, superseded, content)
        .where(DiagnosticReport.person_id.in_(person_ids))
        .order_by(DiagnosticReport.performed_at.desc(), DiagnosticReport.id.desc())
    )


@dataclass(frozen=True)
class Held:
    """A result as the check reads it: the report, superseded or not, with content or not."""

    report: DiagnosticReport
    superseded: bool
    has_content: bool

    @property
    def facts(self) -> checking.ReportFacts:
        """What the rules read of it."""
        report = self.report
        return checking.ReportFacts(report.id, report.institution_id, report.item_code,
                                    report.performed_at, report.status, report.conclusion,
                                    self.superseded, self.has_content)


@dataclass(frozen=True)
class TimelineEntry:
    """A result on a patient's timeline, with its recognition standing at one institution."""

    report: DiagnosticReport
    item: RecognitionItem | None
    superseded: bool
    verdict: Verdict | None


def timeline(
    session: Session, principal: Principal, *, person: Person, ordering_institution_id: int | None,
    at: datetime | None = None,
) -> list[TimelineEntry]:
    """Every result of a person the principal may see, newest first, judged for the
    principal's institution when it has one; audited."""
    at = at or utcnow()
    ids = patients.lineage_ids(session, person)
    rows = session.execute(reports_query(ids)).all()
    reports = [Held(row[0], bool(row[1]), bool(row[2])) for row in rows]
    items = items_by_code(session, codes={held.report.item_code for held in reports})
    judged: dict[int, Verdict] = {}
    if ordering_institution_id is not None and reports:
        judged = checking.judge_all(
            reference.current(session), reports=[held.facts for held in reports],
            ordering_institution_id=ordering_institution_id, at=at)
    _audit_read(session, principal, person_id=person.id, action="result.timeline",
                detail={"returned": [held.report.id for held in reports]})
    return [TimelineEntry(held.report, items.get(held.report.item_code), held.superseded,
                          judged.get(held.report.id)) for held in reports]


# ---------------------------------------------------------------- decisions and savings


def month_of(instant: datetime) -> str:
    """The ledger month (Beijing time) of an instant: ``2026-12``."""
    return recognition.local_day(instant).strftime("%Y-%m")


def reason_problem(reason: RetestReason | None, text: str) -> tuple[str, str] | None:
    """Why a re-test's reason is not enough, or None: a coded reason, and text for "other"."""
    if reason is None:
        return "复查须选择原因", "A re-test needs a reason"
    if reason is RetestReason.OTHER and not text.strip():
        return "选择“其他”时须说明原因", "Reason “other” needs an explanation"
    return None


def decide(
    session: Session, principal: Principal, *, data: DecisionCreate
) -> RecognitionDecision:
    """Record the doctor's decision: an accepted result saves the test's price; a re-test
    needs a coded reason."""
    authorize(principal, Action.RESULT_CHECK, [data.ordering_institution_id])
    context = audit.context_of(session)
    decision = RecognitionDecision(
        person_id=data.person_id, ordering_institution_id=data.ordering_institution_id,
        item_code=data.item_code, decision=data.decision, decided_by=context.actor,
        decided_by_user_id=principal.user_id, decided_at=utcnow(),
    )
    answer = check(session, principal, data=CheckRequest(
        person_id=data.person_id, ordering_institution_id=data.ordering_institution_id,
        item_codes=[data.item_code]))
    item_answer = answer.items[0]
    if data.decision is Decision.ACCEPTED:
        chosen = next((r for r in item_answer.recognisable if r.report_id == data.report_id),
                      None)
        if chosen is None:
            raise Conflict("not_recognisable",
                           f"该结果不可互认：{item_answer.explanation_zh}",
                           f"This result cannot be recognised: {item_answer.explanation_en}")
        decision.report_id = chosen.report_id
    else:
        problem = reason_problem(data.reason, data.reason_text)
        if problem is not None:
            raise InvalidInput("retest_reason_required", *problem)
        decision.reason, decision.reason_text = data.reason, data.reason_text.strip()
        if item_answer.recognisable:
            decision.report_id = item_answer.recognisable[0].report_id
    session.add(decision)
    session.flush()
    if decision.decision is Decision.ACCEPTED:
        item = get_item_or_raise(session, code=data.item_code)
        session.add(SavingsEntry(
            decision_id=decision.id, institution_id=data.ordering_institution_id,
            item_code=item.code, amount=item.price, month=month_of(decision.decided_at),
        ))
        session.flush()
    return decision


def list_decisions(session: Session, *, person_id: int) -> list[RecognitionDecision]:
    """A person's recognition decisions, newest first."""
    return list(session.scalars(
        select(RecognitionDecision).where(RecognitionDecision.person_id == person_id)
        .order_by(RecognitionDecision.decided_at.desc(), RecognitionDecision.id.desc())
    ))


def savings_totals(
    session: Session, *, institution_ids: Iterable[int] | None = None,
    item_code: str | None = None, month_from: str | None = None, month_to: str | None = None,
) -> list[SavingsTotal]:
    """Tests avoided and money saved per institution, item and month (for analytics)."""
    query = (
        select(SavingsEntry.institution_id, SavingsEntry.item_code, SavingsEntry.month,
               func.count(SavingsEntry.id), func.sum(SavingsEntry.amount))
        .group_by(SavingsEntry.institution_id, SavingsEntry.item_code, SavingsEntry.month)
        .order_by(SavingsEntry.month.desc(), SavingsEntry.institution_id, SavingsEntry.item_code)
    )
    if institution_ids is not None:
        query = query.where(SavingsEntry.institution_id.in_(sorted(institution_ids)))
    if item_code:
        query = query.where(SavingsEntry.item_code == item_code)
    if month_from:
        query = query.where(SavingsEntry.month >= month_from)
    if month_to:
        query = query.where(SavingsEntry.month <= month_to)
    return [
        SavingsTotal(institution_id=i, item_code=code, month=month, tests_avoided=count,
                     amount=Decimal(total).quantize(Decimal("0.01")))
        for i, code, month, count, total in session.execute(query)
    ]
