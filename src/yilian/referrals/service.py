"""Referral rules: make a referral, find it, and move it through its workflow.

No HTTP here; functions flush, the request or CLI commits. Every status change goes through
:func:`transition`, which locks the row (``SELECT … FOR UPDATE`` on PostgreSQL), checks the
one transition table (states.py) and bumps the version column (a compare-and-swap), so two
clinicians accepting, or one accepting while another cancels, never both win. Every step is
appended to the timeline through :func:`events.record_event`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, event, func, or_, select
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.exc import StaleDataError

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, authorize, is_allowed
from yilian.config import Settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yilian.patients import service as patients
from yilian.referrals import rules
from yilian.referrals.direction import direction_between as direction_between
from yilian.referrals.direction import place_of as place_of
from yilian.referrals.events import RecordedEvent, record_event
from yilian.referrals.models import (
    EventKind,
    Referral,
    ReferralKind,
    TaskStatus,
    Urgency,
)
from yilian.referrals.schemas import (
    CompletionBody,
    DownReferralBody,
    ReferralCreate,
)
from yilian.referrals.sharing import end_sharing, keep_for_follow_up
from yilian.referrals.sharing import share_records as share_records
from yilian.referrals.states import (
    AWAITING_ANSWER,
    ENDED_WITHOUT_CARE,
    TRANSITIONS,
    ReferralAction,
    Side,
    next_status,
)
from yilian.registry import service as registry
from yilian.registry.models import Institution

# ---------------------------------------------------------------- create


def _check_target(session: Session, *, target: Institution, data: ReferralCreate) -> None:
    if data.target_department_id is not None:
        department = registry.get_department_or_raise(
            session, department_id=data.target_department_id
        )
        if department.institution_id != target.id:
            raise InvalidInput("department_elsewhere", "所选科室不属于接收机构",
                               "The department is not one of the receiving institution's")
    if data.target_practitioner_id is not None:
        registry.get_practitioner_or_raise(session, practitioner_id=data.target_practitioner_id)
    if not rules.centre_accepts(data.green_channel, target.centre_kinds):
        raise InvalidInput(
            "no_such_centre",
            f"{target.name}没有该急救中心资质，绿色通道转诊只能转往具备该中心的机构",
            f"{target.name_en or target.name} has no such emergency centre; a green-channel "
            "referral goes only to an institution certified for it",
        )


def create(
    session: Session, settings: Settings, principal: Principal, *, data: ReferralCreate
) -> Referral:
    """Make a referral (sent at once unless a draft); the patient must be one the referrer
    may see, and their consent recorded."""
    authorize(principal, Action.REFERRAL_WRITE)
    if not data.consent_recorded:
        raise InvalidInput("consent_required", "转诊须先取得患者（或监护人）同意",
                           "A referral needs the patient's (or guardian's) consent first")
    origin_id = data.referring_institution_id or principal.institution_id
    if origin_id is None:
        raise InvalidInput("no_institution", "请选择转出机构", "Choose the referring institution")
    authorize(principal, Action.REFERRAL_WRITE, [origin_id])
    person = patients.get_person_or_raise(session, principal, person_id=data.person_id,
                                          purpose="referral.patient.read")
    origin = registry.get_institution_or_raise(session, institution_id=origin_id)
    target = registry.get_institution_or_raise(session, institution_id=data.target_institution_id)
    if origin.id == target.id:
        raise InvalidInput("same_institution", "不能转诊到本机构",
                           "A referral goes to another institution")
    _check_target(session, target=target, data=data)
    derived = direction_between(session, origin=origin, target=target)
    direction = derived
    if data.direction is not None and data.direction is not derived:
        if not data.direction_override_reason:
            raise InvalidInput("override_reason", "更改转诊方向须说明理由",
                               "Changing the referral's direction needs a reason")
        direction = data.direction
    now = utcnow()
    referral = Referral(
        person_id=person.id,
        referring_institution_id=origin.id,
        referring_department_id=data.referring_department_id,
        referring_practitioner_id=principal.practitioner_id,
        referring_user_id=principal.user_id,
        target_institution_id=target.id,
        target_department_id=data.target_department_id,
        target_practitioner_id=data.target_practitioner_id,
        direction=direction,
        direction_override_reason=(data.direction_override_reason
                                   if direction is not derived else ""),
        kind=data.kind,
        urgency=data.urgency,
        green_channel=data.green_channel,
        diagnosis_code=data.diagnosis_code,
        diagnosis_text=data.diagnosis_text,
        reason=data.reason,
        clinical_summary=data.clinical_summary,
        consent_recorded=True,
        consent_note=data.consent_note,
        status=TaskStatus.DRAFT if data.draft else TaskStatus.REQUESTED,
        based_on_id=data.based_on_id,
        events=[], clocks=[],  # known to be empty: no query to find that out after the flush
    )
    if not data.draft:
        _start_clock(settings, referral, now)
    session.add(referral)
    session.flush()
    record_event(session, referral=referral, kind=EventKind.CREATED, principal=principal,
                 acting_for=Side.REFERRER, to_status=referral.status, reason=data.reason)
    session.flush()
    return referral


def update_draft(session: Session, settings: Settings, principal: Principal, *,
                 referral: Referral, data: ReferralCreate) -> Referral:
    """Change what a draft asks for (a sent referral changes only through its steps); a
    draft posted as no longer a draft is sent."""
    check_side(principal, referral, Side.REFERRER)
    if referral.status is not TaskStatus.DRAFT:
        raise Conflict("not_a_draft", "只有草稿可以修改，已发出的转诊请通过转诊步骤处理",
                       "Only a draft can be changed; a sent referral moves through its steps")
    if data.person_id != referral.person_id:
        raise InvalidInput("other_patient", "不能更换转诊患者",
                           "A referral cannot change its patient")
    origin = registry.get_institution_or_raise(session,
                                               institution_id=referral.referring_institution_id)
    target = registry.get_institution_or_raise(session, institution_id=data.target_institution_id)
    if origin.id == target.id:
        raise InvalidInput("same_institution", "不能转诊到本机构",
                           "A referral goes to another institution")
    _check_target(session, target=target, data=data)
    for name in ("target_institution_id", "target_department_id", "target_practitioner_id",
                 "kind", "urgency", "green_channel", "diagnosis_code", "diagnosis_text",
                 "reason", "clinical_summary"):
        setattr(referral, name, getattr(data, name))
    referral.direction = direction_between(session, origin=origin, target=target)
    record_event(session, referral=referral, kind=EventKind.NOTE, principal=principal,
                 acting_for=Side.REFERRER, note="草稿已修改 / draft changed")
    session.flush()
    if not data.draft:
        submit(session, settings, principal, referral=referral)
    return referral


def _start_clock(settings: Settings, referral: Referral, now: datetime) -> None:
    referral.requested_at = now
    referral.response_due_at = now + rules.response_window(settings, referral.urgency)


# ---------------------------------------------------------------- find


def visible(principal: Principal) -> Any:
    """The condition on referrals the principal may see: the referring side always, the
    receiving side once the referral was sent (a draft is the referrer's own notes)."""
    if principal.is_network_wide:
        return None
    reach = sorted(principal.institution_ids)
    return or_(Referral.referring_institution_id.in_(reach),
               and_(Referral.target_institution_id.in_(reach),
                    Referral.status != TaskStatus.DRAFT))


def can_see(principal: Principal, referral: Referral) -> bool:
    """Whether the principal may see the referral (the same rule as :func:`visible`)."""
    if principal.is_network_wide or referral.referring_institution_id in principal.institution_ids:
        return True
    return (referral.target_institution_id in principal.institution_ids
            and referral.status is not TaskStatus.DRAFT)


def get(session: Session, *, referral_id: int) -> Referral | None:
    """The referral with this id, if any (no checks: for services and jobs)."""
    return session.get(Referral, referral_id)


_LOCKED = "referrals_locked"  # session.info: ids of referrals locked in this transaction


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed or rolled back: every lock is gone
        session.info.pop(_LOCKED, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_locks_on_rollback(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_LOCKED, None)  # a savepoint's rollback may give back its row locks


def get_or_raise(session: Session, principal: Principal, *, referral_id: int,
                 for_update: bool = False, audited: bool = True) -> Referral:
    """A referral the principal may see (404 otherwise); the read is audited.

    ``for_update`` reads it locked for the transaction (a route about to act on it), so the
    step's own :func:`lock` need not read it a second time. ``audited=False`` leaves the
    record to the caller, which reads something of the referral and audits that instead
    (a document download: one access, one record).
    """
    authorize(principal, Action.REFERRAL_READ)
    referral = (_locked(session, referral_id) if for_update
                else session.get(Referral, referral_id))
    if referral is None or not can_see(principal, referral):
        raise NotFound("转诊", "Referral", referral_id)
    if audited:
        audit.record(session, action="referral.read", entity_type="referral",
                     entity_id=str(referral.id), institution_id=referral.target_institution_id,
                     patient_id=referral.person_id)
    return referral


@dataclass(frozen=True)
class ReferralFilter:
    """Ways to narrow a worklist."""

    box: str = ""  # "incoming" | "outgoing" | "" (both)
    status: TaskStatus | None = None
    overdue: bool = False
    person_id: int | None = None
    green_only: bool = False
    kind: ReferralKind | None = None


def _filtered(statement: Select[Any], principal: Principal, where: ReferralFilter,
              now: datetime) -> Select[Any]:
    condition = visible(principal)
    if condition is not None:
        statement = statement.where(condition)
    reach = sorted(principal.institution_ids)
    if where.box == "incoming":
        statement = statement.where(Referral.target_institution_id.in_(reach))
    elif where.box == "outgoing":
        statement = statement.where(Referral.referring_institution_id.in_(reach))
    if where.status is not None:
        statement = statement.where(Referral.status == where.status)
    if where.overdue:
        statement = statement.where(Referral.status.in_(AWAITING_ANSWER),
                                    Referral.response_due_at < now)
    if where.person_id is not None:
        statement = statement.where(Referral.person_id == where.person_id)
    if where.green_only:
        statement = statement.where(Referral.green_channel.is_not(None))
    if where.kind is not None:
        statement = statement.where(Referral.kind == where.kind)
    return statement


def list_(
    session: Session, principal: Principal, *, where: ReferralFilter, offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[Referral], int]:
    """Referrals the principal may see, newest first, with the total; the search is audited."""
    authorize(principal, Action.REFERRAL_READ)
    now = utcnow()
    total = session.scalar(
        _filtered(select(func.count(Referral.id)), principal, where, now)
    ) or 0
    rows = session.scalars(
        _filtered(select(Referral), principal, where, now)
        .order_by(Referral.id.desc()).offset(offset).limit(limit)
    ).all()
    audit_search(session, principal, rows, total=total)
    return rows, total


def audit_search(session: Session, principal: Principal, rows: Sequence[Referral], *,
                 total: int) -> None:
    """Record a search of referrals: who searched, and which referrals it returned."""
    audit.record(session, action="referral.search", entity_type="referral",
                 institution_id=principal.institution_id,
                 detail={"returned": [row.id for row in rows], "total": total})


# ---------------------------------------------------------------- the workflow


def may_act_for(principal: Principal, referral: Referral, side: Side) -> bool:
    """Whether the principal works for this side of the referral (and may act there)."""
    if side is Side.REFERRER:
        return is_allowed(principal, Action.REFERRAL_WRITE, [referral.referring_institution_id])
    return is_allowed(principal, Action.REFERRAL_RESPOND, [referral.target_institution_id])


def check_side(principal: Principal, referral: Referral, side: Side) -> None:
    """403 unless the principal may act for this side of the referral."""
    action = Action.REFERRAL_WRITE if side is Side.REFERRER else Action.REFERRAL_RESPOND
    if not may_act_for(principal, referral, side):
        raise PermissionDenied(
            "只有转出方可以执行此操作" if side is Side.REFERRER else "只有接收方可以执行此操作",
            "Only the referring side may do this" if side is Side.REFERRER
            else "Only the receiving side may do this",
            action=action.value,
        )


def lock(session: Session, *, referral_id: int) -> Referral:
    """The referral, re-read and locked for this transaction (``FOR UPDATE``); read once per
    transaction: locked, nobody else can have changed it since."""
    referral = _locked(session, referral_id)
    if referral is None:
        raise NotFound("转诊", "Referral", referral_id)
    return referral


def _locked(session: Session, referral_id: int) -> Referral | None:
    locked: set[int] = session.info.setdefault(_LOCKED, set())
    if referral_id in locked:
        held = session.get(Referral, referral_id)  # from the identity map, no round trip
        if held is not None:
            return held
    referral = session.scalars(_LOCK, {"referral_id": referral_id}).first()
    if referral is not None:
        locked.add(referral_id)
    return referral


# Built once: every step of every referral runs it.
_LOCK = (select(Referral).where(Referral.id == bindparam("referral_id")).with_for_update()
         .execution_options(populate_existing=True))


def transition(
    session: Session,
    principal: Principal | None,
    *,
    referral: Referral,
    action: ReferralAction,
    reason: str = "",
    note: str = "",
    expected_version: int | None = None,
    changes: dict[str, Any] | None = None,
    acting_for: Side | None = None,
) -> RecordedEvent:
    """Take one step of the workflow: the only place a referral's status changes.

    ``acting_for`` names the side taking a step that more than one side may take (the
    table's ``also``); by default the step's own side.
    """
    side = acting_for or TRANSITIONS[action].side
    if side not in TRANSITIONS[action].sides:
        raise ValueError(f"{side} may not take {action}")
    if principal is not None:
        check_side(principal, referral, side)
    current = lock(session, referral_id=referral.id)
    if expected_version is not None and current.version != expected_version:
        raise Conflict("version_conflict", "转诊已被他人修改，请刷新后重试",
                       "Someone else changed the referral meanwhile; reload and try again")
    before = current.status
    after = next_status(before, action)
    current.status = after
    for name, value in (changes or {}).items():
        setattr(current, name, value)
    if before in AWAITING_ANSWER and after not in AWAITING_ANSWER:
        current.responded_at = current.responded_at or utcnow()
    try:  # the versioned UPDATE first: a twin request that won meanwhile makes this a 409
        session.flush()
    except StaleDataError:
        raise Conflict("version_conflict", "转诊已被他人修改，请刷新后重试",
                       "Someone else changed the referral meanwhile; reload and try again"
                       ) from None
    recorded = record_event(session, referral=current, kind=EventKind.TRANSITION,
                            principal=principal, action=action.value, from_status=before,
                            to_status=after, reason=reason, note=note, acting_for=side)
    if after in ENDED_WITHOUT_CARE:
        end_sharing(session, referral=current)
    session.flush()
    return recorded


def submit(session: Session, settings: Settings, principal: Principal, *,
           referral: Referral, expected_version: int | None = None) -> RecordedEvent:
    """Send a draft to the receiving institution; its response clock starts."""
    now = utcnow()
    return transition(session, principal, referral=referral,
                      expected_version=expected_version, action=ReferralAction.SUBMIT,
                      changes={"requested_at": now, "response_due_at": now
                               + rules.response_window(settings, referral.urgency)})


def accept(session: Session, settings: Settings, principal: Principal | None, *,
           referral: Referral, note: str = "",
           expected_version: int | None = None) -> RecordedEvent:
    """Take the patient; their records are shared with the receiving institution."""
    done = transition(session, principal, referral=referral, action=ReferralAction.ACCEPT,
                      note=note, expected_version=expected_version)
    share_records(session, settings, referral=done.event.referral)
    return done


def decline(session: Session, principal: Principal, *, referral: Referral,
            reason: str, expected_version: int | None = None) -> RecordedEvent:
    """Decline with a reason; the referrer learns why."""
    if not reason:
        raise InvalidInput("reason_required", "拒绝转诊须说明理由", "A decline needs a reason")
    return transition(session, principal, referral=referral,
                      expected_version=expected_version, action=ReferralAction.REJECT,
                      reason=reason, changes={"response_reason": reason})


def advise(session: Session, principal: Principal, *, referral: Referral,
           advice: str, expected_version: int | None = None) -> RecordedEvent:
    """Answer with advice instead of taking the patient (Advice & Guidance)."""
    return transition(session, principal, referral=referral,
                      expected_version=expected_version, action=ReferralAction.ADVISE,
                      note=advice, changes={"advice": advice, "completed_at": utcnow()})


def refer_after_advice(session: Session, settings: Settings, principal: Principal, *,
                       advice: Referral) -> Referral:
    """Turn answered advice into a referral to the same place, in one step. Who may comes
    before whether it can: the receiving side hears it is not theirs, not what state it is."""
    check_side(principal, advice, Side.REFERRER)
    if not advice.advice:
        raise Conflict("no_advice", "该转诊没有专家建议",
                       "This referral was not answered with advice")
    return create(session, settings, principal, data=ReferralCreate(
        person_id=advice.person_id, target_institution_id=advice.target_institution_id,
        target_department_id=advice.target_department_id,
        referring_institution_id=advice.referring_institution_id,
        referring_department_id=advice.referring_department_id,
        kind=advice.kind, urgency=advice.urgency, green_channel=advice.green_channel,
        diagnosis_code=advice.diagnosis_code, diagnosis_text=advice.diagnosis_text,
        reason=advice.reason, clinical_summary=advice.clinical_summary,
        consent_recorded=True, consent_note=advice.consent_note, based_on_id=advice.id,
    ))


def arrive(session: Session, principal: Principal, *, referral: Referral,
           note: str = "", expected_version: int | None = None) -> RecordedEvent:
    """The patient arrived or was admitted; the referrer hears of it."""
    return transition(session, principal, referral=referral,
                      expected_version=expected_version, action=ReferralAction.ARRIVE,
                      note=note, changes={"arrived_at": utcnow()})


def complete(session: Session, settings: Settings, principal: Principal, *,
             referral: Referral, data: CompletionBody,
             expected_version: int | None = None) -> RecordedEvent:
    """Return the outcome (discharge summary, follow-up plan) to the referrer; the records
    stay shared with the receiving institution for the follow-up window only."""
    done = transition(session, principal, referral=referral,
                      expected_version=expected_version, action=ReferralAction.COMPLETE,
                      note=data.outcome_summary,
                      changes={**data.model_dump(), "completed_at": utcnow()})
    keep_for_follow_up(session, settings, referral=done.event.referral)
    return done


def cancel(session: Session, principal: Principal, *, referral: Referral,
           reason: str, expected_version: int | None = None) -> RecordedEvent:
    """Withdraw the referral (referring side)."""
    return transition(session, principal, referral=referral,
                      expected_version=expected_version, action=ReferralAction.CANCEL,
                      reason=reason)


def refer_down(session: Session, settings: Settings, principal: Principal, *,
               referral: Referral, data: DownReferralBody) -> Referral:
    """After discharge, send the patient back down in one step, carrying the follow-up plan
    (the receiving side's step: checked before the referral's state)."""
    check_side(principal, referral, Side.RECEIVER)
    if referral.status is not TaskStatus.COMPLETED or not referral.outcome_summary:
        raise Conflict("not_discharged", "患者尚未出院（转诊未完成），不能下转",
                       "The patient has not been discharged yet; complete the referral first")
    return create(session, settings, principal, data=ReferralCreate(
        person_id=referral.person_id,
        target_institution_id=data.target_institution_id or referral.referring_institution_id,
        target_department_id=data.target_department_id,
        referring_institution_id=referral.target_institution_id,
        referring_department_id=referral.target_department_id,
        kind=data.kind, urgency=Urgency.ROUTINE,
        diagnosis_code=referral.diagnosis_code, diagnosis_text=referral.diagnosis_text,
        reason=data.reason or referral.follow_up_plan or referral.outcome_summary[:4000],
        clinical_summary=f"{referral.outcome_summary}\n\n{referral.follow_up_plan}".strip(),
        consent_recorded=True, consent_note=referral.consent_note, based_on_id=referral.id,
    ))


def add_note(session: Session, principal: Principal, *, referral: Referral,
             note: str) -> RecordedEvent:
    """An interim note on the timeline, for the other side."""
    if not (is_allowed(principal, Action.REFERRAL_WRITE, [referral.referring_institution_id])
            or is_allowed(principal, Action.REFERRAL_RESPOND,
                          [referral.target_institution_id])):
        raise PermissionDenied("无权在此转诊上添加备注", "You may not add notes to this referral",
                               action=Action.REFERRAL_WRITE.value)
    recorded = record_event(session, referral=referral, kind=EventKind.NOTE,
                            principal=principal, note=note)
    session.flush()
    return recorded
