"""The recognition check behind ``POST /api/v1/recognition/check``: one statement per check.

The statement reads only the columns the rules need of the person's results of the asked
items (index ``(person_id, item_code, performed_at)``), whether a correction supersedes each
and whether it carries data or images, and — in the same round trip — the stamp that tells
whether this process's copy of the catalogue, qualifications and places is current
(:mod:`yilian.results.reference`). No ORM object is built; the rules in
:mod:`yilian.results.recognition` judge plain rows. The service module re-exports
:func:`check`, :func:`judge_all` and :func:`explain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, exists, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from yilian.auth.permissions import Action, Principal, authorize
from yilian.db import utcnow
from yilian.errors import NotFound
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.results import recognition, reference
from yilian.results.models import (
    DiagnosticReport,
    ImagingStudy,
    Observation,
    Refusal,
    ReportStatus,
)
from yilian.results.recognition import Verdict
from yilian.results.schemas import CheckRead, CheckRequest, HeldResult, ItemCheck

HR_ZH = {"national": "全国HR", "province": "本省HR", "city": "市HR", "consortium": "医联体HR"}


@dataclass(frozen=True)
class ReportFacts:
    """What the rules read of a held result."""

    id: int
    institution_id: int
    item_code: str
    performed_at: datetime
    status: ReportStatus
    conclusion: str
    superseded: bool
    has_content: bool


def superseded_and_content() -> tuple[Any, Any]:
    """Per report: whether a correction supersedes it, whether it has data or images."""
    newer = aliased(DiagnosticReport)
    superseded = exists().where(newer.supersedes_id == DiagnosticReport.id).label("superseded")
    content = or_(
        exists().where(Observation.report_id == DiagnosticReport.id),
        exists().where(ImagingStudy.report_id == DiagnosticReport.id),
    ).label("has_content")
    return superseded, content


def lineage_of(person_id: ColumnElement[int]) -> Select[Any]:
    """The person and everyone merged into it, transitively (patients.lineage_ids in SQL)."""
    lineage = select(person_id.label("id")).cte("lineage", recursive=True)
    merged = aliased(Person)
    lineage = lineage.union(
        select(merged.id).join(lineage, merged.merged_into_id == lineage.c.id))
    return select(lineage.c.id)


def _check_statement(*, with_lineage: bool) -> Select[Any]:
    superseded, content = superseded_and_content()
    person_id = bindparam("person_id", type_=Integer)
    whose = (DiagnosticReport.person_id.in_(lineage_of(person_id)) if with_lineage
             else DiagnosticReport.person_id == person_id)
    held = (
        select(DiagnosticReport.id, DiagnosticReport.institution_id, DiagnosticReport.item_code,
               DiagnosticReport.performed_at, DiagnosticReport.status,
               DiagnosticReport.conclusion, superseded, content)
        .where(whose, DiagnosticReport.item_code.in_(bindparam("item_codes", expanding=True)))
        .subquery("held")
    )
    stamp = select(literal(1).label("one"),
                   *(c.label(f"s{n}") for n, c in enumerate(reference.stamp_columns()))
                   ).subquery("stamp")
    return (
        select(*(stamp.c[f"s{n}"] for n in range(reference.STAMP_WIDTH)), *held.c)
        .select_from(stamp.outerjoin(held, true()))
        .order_by(held.c.performed_at.desc(), held.c.id.desc())
    )


# Built once: a check only binds the person and the item codes (parameters ``person_id``
# and ``item_codes``).
_STATEMENTS = {lineage: _check_statement(with_lineage=lineage) for lineage in (False, True)}


def check_statement(*, with_lineage: bool) -> Select[Any]:
    """The reference stamp, then the person's results of the items, newest first
    (``with_lineage``: also those of the people merged into the person).

    Always at least one row: the stamp is the left side of an outer join on true, so a
    patient without results still returns the stamp (with NULL result columns).
    """
    return _STATEMENTS[with_lineage]


def judge_all(
    reference_data: reference.Reference, *, reports: Sequence[ReportFacts],
    ordering_institution_id: int, at: datetime,
) -> dict[int, Verdict]:
    """Each report's verdict for the ordering institution (reports of unknown items are
    left out); 404 when the ordering institution does not exist."""
    places = reference_data.places
    ordering = places.get(ordering_institution_id)
    if ordering is None:
        raise NotFound("机构", "Institution", ordering_institution_id)
    verdicts: dict[int, Verdict] = {}
    for report in reports:
        item = reference_data.items.get(report.item_code)
        performer = places.get(report.institution_id)
        if item is None or performer is None:
            continue
        mark = recognition.performer_qualified_at(
            reference_data.marks.get(report.institution_id, ()),
            institution_id=report.institution_id, item_code=item.code,
            item_group=item.item_group, performed_on=recognition.local_day(report.performed_at),
        )
        verdicts[report.id] = recognition.judge(
            status=report.status, superseded=report.superseded,
            has_content=report.has_content, performed_at=report.performed_at, at=at,
            validity_days=item.validity_days, qualification=mark,
            item_scopes=item.scope_set, performer=performer, ordering=ordering,
        )
    return verdicts


def explain(verdict: Verdict | None, *, performer_name: str = "") -> tuple[str, str]:
    """What a doctor is told about one held result, in Chinese and English."""
    if verdict is None:
        return "无可用结果", "No result held"
    age, validity = verdict.age_days, verdict.validity_days
    if verdict.refusal is None:
        scope = verdict.qualification.scope.value if verdict.qualification else ""
        return (f"可互认：{age} 天前检查，有效期 {validity} 天（{HR_ZH.get(scope, '')}）",
                f"recognisable, {age} days old, valid {validity}")
    return {
        Refusal.SUPERSEDED: ("已被更正报告取代", "superseded by a corrected report"),
        Refusal.NOT_FINAL: ("报告录入错误，不予互认", "entered in error; not recognisable"),
        Refusal.EXPIRED: (f"已过期：{age} 天前检查，有效期 {validity} 天",
                          f"expired: performed {age} days ago, validity {validity} days"),
        Refusal.NOT_QUALIFIED: (f"检查时{performer_name}无该项目互认资质",
                                f"the performer {performer_name} was not qualified for this "
                                "item when it was performed".replace("  ", " ")),
        Refusal.SCOPE: ("执行机构的互认范围不覆盖本机构",
                        "the performer's HR scope does not cover the ordering institution"),
        Refusal.NONE_HELD: ("无可用结果", "No result held"),
        Refusal.CONCLUSION_ONLY: ("仅有诊断结论，无检验数据或影像：结论不予互认",
                                  "only the physician's conclusion, no data or images: a "
                                  "conclusion is never recognised"),
    }[verdict.refusal]


def _held(report: ReportFacts, verdict: Verdict) -> HeldResult:
    zh, en = explain(verdict)
    return HeldResult(
        report_id=report.id, institution_id=report.institution_id,
        performed_at=report.performed_at, age_days=verdict.age_days,
        validity_days=verdict.validity_days,
        days_left=max(verdict.validity_days - verdict.age_days, 0),
        hr_scope=verdict.qualification.scope if verdict.qualification else None,
        recognisable=verdict.recognisable, refusal=verdict.refusal,
        explanation_zh=zh, explanation_en=en, conclusion=report.conclusion,
    )


def _facts(rows: Sequence[Any]) -> list[ReportFacts]:
    width = reference.STAMP_WIDTH
    return [
        ReportFacts(row[width], row[width + 1], row[width + 2], row[width + 3], row[width + 4],
                    row[width + 5], bool(row[width + 6]), bool(row[width + 7]))
        for row in rows if row[width] is not None
    ]


def recognisable_counts(
    session: Session, *, person_id: int, ordering_institution_ids: Sequence[int], at: datetime,
) -> dict[int, int]:
    """For each ordering institution: how many items the person (and those merged into them)
    holds a result of that the institution must recognise (fewer re-tests there). One
    statement; the caller has checked the reader may see the person."""
    held_codes = sorted(set(session.scalars(
        select(DiagnosticReport.item_code).where(
            DiagnosticReport.person_id.in_(lineage_of(literal(person_id, Integer)))))))
    counts = dict.fromkeys(ordering_institution_ids, 0)
    if not held_codes:
        return counts
    rows = session.execute(check_statement(with_lineage=True), {
        "person_id": person_id, "item_codes": held_codes}).all()
    reference_data = reference.current(session, rows[0][:reference.STAMP_WIDTH])
    reports = _facts(rows)
    known = {code: reference_data.items[code] for code in held_codes
             if code in reference_data.items}
    for institution_id in ordering_institution_ids:
        if institution_id not in reference_data.places:
            continue
        verdicts = judge_all(reference_data, reports=reports,
                             ordering_institution_id=institution_id, at=at)
        counts[institution_id] = len({report.item_code for report in reports
                                      if report.item_code in known
                                      and verdicts.get(report.id) is not None
                                      and verdicts[report.id].recognisable})
    return counts


def check(session: Session, principal: Principal | None, *, data: CheckRequest) -> CheckRead:
    """For each item: the recognisable results (newest first), or why there are none.

    One statement reads the results and the reference stamp; the catalogue, the
    qualifications and the places come from the process's copy (reloaded when the stamp
    moved). The conclusion is shown, never judged: only the data and images are recognised.
    """
    at = data.at or utcnow()
    person_id = data.person_id
    if principal is not None:
        authorize(principal, Action.RESULT_CHECK, [data.ordering_institution_id])
        person_id = patients.get_person_or_raise(
            session, principal, person_id=data.person_id, purpose="result.check").id
    rows = session.execute(check_statement(with_lineage=principal is not None), {
        "person_id": person_id, "item_codes": sorted(set(data.item_codes))}).all()
    width = reference.STAMP_WIDTH
    reference_data = reference.current(session, rows[0][:width])
    unknown = [code for code in data.item_codes if code not in reference_data.items]
    if unknown:
        raise NotFound("互认项目", "Recognition item", ", ".join(unknown))
    reports = _facts(rows)
    verdicts = judge_all(reference_data, reports=reports,
                         ordering_institution_id=data.ordering_institution_id, at=at)
    answers: list[ItemCheck] = []
    for code in dict.fromkeys(data.item_codes):
        held = [_held(report, verdicts[report.id]) for report in reports
                if report.item_code == code]
        good = [result for result in held if result.recognisable]
        bad = [result for result in held if not result.recognisable]
        refusal = None if good else (bad[0].refusal if bad else Refusal.NONE_HELD)
        zh, en = (good[0].explanation_zh, good[0].explanation_en) if good else (
            (bad[0].explanation_zh, bad[0].explanation_en) if bad else explain(None))
        answers.append(ItemCheck(item_code=code, item_name=reference_data.items[code].name,
                                 recognisable=good, refused=bad, refusal=refusal,
                                 explanation_zh=zh, explanation_en=en))
    return CheckRead(person_id=data.person_id, ordering_institution_id=data.ordering_institution_id,
                     at=at, items=answers)
