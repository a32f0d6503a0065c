"""Around the workflow: green-channel clock times, medical-record documents, the bed census
receiving departments publish, and escalation of overdue referrals to department heads."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.models import User
from yilian.auth.permissions import Action, Principal, authorize, is_allowed
from yilian.config import Settings
from yilian.db import utcnow
from yilian.errors import InvalidInput, NotFound, PermissionDenied
from yilian.referrals import rules
from yilian.referrals.events import Audience, known, record_event
from yilian.referrals.models import (
    BedCensus,
    EventKind,
    Referral,
    ReferralClock,
    ReferralDocument,
)
from yilian.referrals.schemas import BedCensusUpdate, ClockBody
from yilian.referrals.states import AWAITING_ANSWER
from yilian.registry import service as registry
from yilian.registry.models import PractitionerRoleKind

HEAD_ROLES = frozenset({PractitionerRoleKind.DEPARTMENT_DIRECTOR,
                        PractitionerRoleKind.EXECUTIVE_DIRECTOR})


def _either_side(principal: Principal, referral: Referral) -> None:
    if not (is_allowed(principal, Action.REFERRAL_WRITE, [referral.referring_institution_id])
            or is_allowed(principal, Action.REFERRAL_RESPOND,
                          [referral.target_institution_id])):
        raise PermissionDenied("无权修改此转诊", "You may not change this referral",
                               action=Action.REFERRAL_WRITE.value)


# ---------------------------------------------------------------- green channel


def record_clock(session: Session, principal: Principal, *, referral: Referral,
                 data: ClockBody) -> ReferralClock:
    """Record (or correct, with the change on the timeline) a green-channel clock time."""
    _either_side(principal, referral)
    if referral.green_channel is None:
        raise InvalidInput("not_green_channel", "只有绿色通道转诊记录时间节点",
                           "Clock times are recorded for green-channel referrals only")
    clock = next((c for c in referral.clocks if c.point is data.point), None)
    note = data.at.isoformat()
    if clock is None:
        clock = ReferralClock(referral_id=referral.id, point=data.point, at=data.at,
                              recorded_by=principal.username)
        session.add(clock)
        referral.clocks.append(clock)
    else:
        note = f"{clock.at.isoformat()} → {note}"
        clock.at, clock.recorded_by = data.at, principal.username
    record_event(session, referral=referral, kind=EventKind.CLOCK, principal=principal,
                 action=data.point.value, note=note)
    session.flush()
    return clock


def intervals(referral: Referral) -> list[rules.ClockResult]:
    """Door-to-balloon / door-to-needle of the referral against their targets."""
    return rules.clock_results(referral.green_channel,
                               {clock.point: clock.at for clock in referral.clocks})


# ---------------------------------------------------------------- documents


def attach_document(session: Session, settings: Settings, principal: Principal, *,
                    referral: Referral, filename: str, content: bytes) -> ReferralDocument:
    """Attach a medical record (PDF, JPEG or PNG, by its bytes; size-limited)."""
    _either_side(principal, referral)
    if len(content) > settings.referral_document_max_bytes:
        limit = settings.referral_document_max_bytes // (1024 * 1024)
        raise InvalidInput("document_too_large", f"文件超过 {limit} MB 上限",
                           f"The file is larger than the {limit} MB limit")
    content_type = rules.sniff_document_type(content)
    if content_type is None:
        raise InvalidInput("document_type", "只接受 PDF、JPEG 或 PNG 文件",
                           "Only PDF, JPEG or PNG files are accepted")
    document = ReferralDocument(
        referral_id=referral.id, filename=filename[:200] or "document",
        content_type=content_type, size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), content=content,
        uploaded_by=principal.username,
    )
    session.add(document)
    session.flush()
    record_event(session, referral=referral, kind=EventKind.DOCUMENT, principal=principal,
                 note=document.filename)
    session.flush()
    return document


def list_documents(session: Session, *, referral: Referral) -> Sequence[ReferralDocument]:
    """The referral's documents (without their content), oldest first."""
    return session.scalars(_DOCUMENTS, {"referral_id": referral.id}).all()


# Built once: every referral shown lists its documents.
_DOCUMENTS = (select(ReferralDocument)
              .where(ReferralDocument.referral_id == bindparam("referral_id"))
              .order_by(ReferralDocument.id))


def read_document(session: Session, *, referral: Referral, document_id: int) -> ReferralDocument:
    """One document with its content; the download is audited."""
    document = session.get(ReferralDocument, document_id)
    if document is None or document.referral_id != referral.id:
        raise NotFound("病历文件", "Document", document_id)
    audit.record(session, action="referral.document.read", entity_type="referral_document",
                 entity_id=str(document.id), institution_id=referral.target_institution_id,
                 patient_id=referral.person_id)
    return document


# ---------------------------------------------------------------- bed census


def publish_beds(session: Session, principal: Principal, *, department_id: int,
                 data: BedCensusUpdate) -> list[BedCensus]:
    """Replace a department's free-bed census, ward by ward (wards not given are dropped)."""
    department = registry.get_department_or_raise(session, department_id=department_id)
    authorize(principal, Action.BED_CENSUS_WRITE, [department.institution_id])
    existing = {row.ward: row for row in session.scalars(
        select(BedCensus).where(BedCensus.department_id == department.id))}
    rows = []
    for ward in data.wards:
        row = existing.pop(ward.ward, None)
        if row is None:
            row = BedCensus(institution_id=department.institution_id,
                            department_id=department.id, ward=ward.ward)
            session.add(row)
        row.free_beds, row.total_beds = ward.free_beds, ward.total_beds
        row.updated_by, row.updated_at = principal.username, utcnow()
        rows.append(row)
    for gone in existing.values():
        session.delete(gone)
    session.flush()
    return rows


def bed_census(session: Session, *, institution_id: int) -> Sequence[BedCensus]:
    """Free beds of every department of an institution, by ward."""
    return session.scalars(select(BedCensus).where(BedCensus.institution_id == institution_id)
                           .order_by(BedCensus.department_id, BedCensus.ward)).all()


def free_beds_by_institution(session: Session, *, institution_ids: Sequence[int]) -> dict[int, int]:
    """Free beds in total per institution (for target suggestions)."""
    totals: dict[int, int] = {}
    for row in session.scalars(select(BedCensus)
                               .where(BedCensus.institution_id.in_(institution_ids))):
        totals[row.institution_id] = totals.get(row.institution_id, 0) + row.free_beds
    return totals


# ---------------------------------------------------------------- escalation


@dataclass(frozen=True)
class DepartmentHeads:
    """Who heads a receiving department: practitioners and their user accounts."""

    practitioner_ids: frozenset[int]
    user_ids: frozenset[int]
    names: tuple[str, ...]


def department_heads(session: Session, *, institution_id: int, department_id: int | None,
                     on: datetime) -> DepartmentHeads:
    """The department's director and executive director (双主任制) on a day, from the registry."""
    if department_id is None:
        return DepartmentHeads(frozenset(), frozenset(), ())
    roles = [role for role in registry.list_roles(session, institution_id=institution_id,
                                                   active_on=on.date())
             if role.role in HEAD_ROLES and role.department_id == department_id]
    practitioner_ids = frozenset(role.practitioner_id for role in roles)
    user_ids = frozenset(session.scalars(
        select(User.id).where(User.practitioner_id.in_(practitioner_ids), User.is_active)
    )) if practitioner_ids else frozenset()
    return DepartmentHeads(practitioner_ids, user_ids,
                           tuple(role.practitioner.name for role in roles))


def escalate_overdue(session: Session, *, now: datetime | None = None) -> list[Referral]:
    """Escalate every unanswered referral past its deadline to the receiving department's
    heads, once each: an escalation event on its timeline addressed to them."""
    moment = now or utcnow()
    overdue = session.scalars(
        select(Referral).where(Referral.status.in_(AWAITING_ANSWER),
                               Referral.response_due_at < moment,
                               Referral.escalated_at.is_(None))
        .order_by(Referral.id).with_for_update(skip_locked=True)
    ).all()
    for referral in overdue:
        heads = department_heads(session, institution_id=referral.target_institution_id,
                                 department_id=referral.target_department_id, on=moment)
        referral.escalated_at = moment
        late = int((moment - referral.response_due_at).total_seconds() // 60) if (
            referral.response_due_at) else 0
        record_event(
            session, referral=referral, kind=EventKind.ESCALATED, principal=None,
            reason=f"超时 {late} 分钟未答复 / unanswered {late} min past its deadline",
            note="、".join(heads.names),
            audience=Audience(user_ids=heads.user_ids, practitioner_ids=heads.practitioner_ids,
                              institution_ids=known(referral.target_institution_id),
                              department_ids=known(referral.target_department_id)),
        )
    session.flush()
    return list(overdue)
