"""Consultation rules: request one, find it, and move it through its workflow.

No HTTP here; functions flush, the request or CLI commits. Every status change goes through
:func:`transition`, which locks the row, checks the one transition table (states.py) and
bumps the version column (a compare-and-swap), appends the step to the timeline and ends the
records' share when the consultation ends. The report's rules live in report.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, authorize, is_allowed
from yilian.config import Settings
from yilian.consultations import availability, events, sharing
from yilian.consultations.models import (
    Consultation,
    ConsultationExpert,
    ConsultationKind,
    ConsultationPatient,
    ConsultationStatus,
)
from yilian.consultations.schemas import ConsultationCreate
from yilian.consultations.states import (
    AWAITING_ANSWER,
    ENDED,
    STATUS_NAMES,
    TRANSITIONS,
    ConsultationAction,
    Side,
    next_status,
)
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yilian.patients import service as patients
from yilian.referrals import service as referrals
from yilian.referrals.models import Urgency
from yilian.registry import service as registry

ANSWERS = frozenset({ConsultationAction.ACCEPT, ConsultationAction.DECLINE})
ROOM_TOKEN_BYTES = 24  # 32 URL-safe characters: unguessable, and carries no id

# ---------------------------------------------------------------- small rules


def response_window(settings: Settings, urgency: Urgency) -> timedelta:
    """How long the consulted institution has to accept or decline (per urgency)."""
    minutes = {
        Urgency.EMERGENCY: settings.consultation_deadline_emergency_minutes,
        Urgency.URGENT: settings.consultation_deadline_urgent_minutes,
        Urgency.ROUTINE: settings.consultation_deadline_routine_minutes,
    }[urgency]
    return timedelta(minutes=minutes)


def is_overdue(consultation: Consultation, now: datetime) -> bool:
    """Unanswered past its response deadline."""
    return (consultation.status in AWAITING_ANSWER and consultation.response_due_at is not None
            and now > consultation.response_due_at)


def new_room_token() -> str:
    """A random room token for the video system: never derived from an id."""
    return secrets.token_urlsafe(ROOM_TOKEN_BYTES)


def room_url(settings: Settings, consultation: Consultation) -> str:
    """The session's video room link ('' until scheduled)."""
    if not consultation.room_token:
        return ""
    return settings.consultation_room_url_template.replace("{token}", consultation.room_token)


def expert_ids(consultation: Consultation) -> list[int]:
    """The assigned experts' practitioner ids."""
    return [expert.practitioner_id for expert in consultation.experts]


def person_ids(consultation: Consultation) -> list[int]:
    """The session's patients, the main one first."""
    return [entry.person_id for entry in consultation.patients]


# ---------------------------------------------------------------- request


def _check_target(session: Session, *, data: ConsultationCreate, origin_id: int) -> None:
    if data.target_institution_id == origin_id:
        raise InvalidInput("same_institution", "不能向本机构申请远程会诊",
                           "A consultation is asked of another institution")
    registry.get_institution_or_raise(session, institution_id=data.target_institution_id)
    if data.target_department_id is not None:
        department = registry.get_department_or_raise(
            session, department_id=data.target_department_id)
        if department.institution_id != data.target_institution_id:
            raise InvalidInput("department_elsewhere", "所选科室不属于受邀机构",
                               "The department is not one of the consulted institution's")
    for practitioner_id in data.expert_ids:
        expert = registry.get_practitioner_or_raise(session, practitioner_id=practitioner_id)
        if expert.institution_id != data.target_institution_id:
            raise InvalidInput("expert_elsewhere", f"专家{expert.name}不属于受邀机构",
                               f"{expert.name} does not work at the consulted institution")


def create(session: Session, settings: Settings, principal: Principal, *,
           data: ConsultationCreate) -> Consultation:
    """Ask for a consultation; its patients' records are shared with the consulted
    institution while it is open, and its coordinators hear of it."""
    authorize(principal, Action.CONSULTATION_REQUEST)
    origin_id = principal.institution_id
    if origin_id is None:
        raise InvalidInput("no_institution", "只有机构用户可以申请会诊",
                           "Only an institution's staff may ask for a consultation")
    authorize(principal, Action.CONSULTATION_REQUEST, [origin_id])
    wanted = list(dict.fromkeys([data.person_id, *data.other_person_ids]))
    if len(wanted) > 1 and data.kind not in (ConsultationKind.WARD_ROUND,
                                             ConsultationKind.CASE_DISCUSSION,
                                             ConsultationKind.TEACHING):
        raise InvalidInput("one_patient", "单科会诊和多学科会诊只针对一位患者",
                           "A single-specialty or MDT consultation is about one patient")
    people = [patients.get_person_or_raise(session, principal, person_id=pid,
                                           purpose="consultation.patient.read")
              for pid in wanted]
    _check_target(session, data=data, origin_id=origin_id)
    if data.referral_id is not None:
        referrals.get_or_raise(session, principal, referral_id=data.referral_id)
    now = utcnow()
    consultation = Consultation(
        kind=data.kind, urgency=data.urgency, status=ConsultationStatus.REQUESTED,
        person_id=people[0].id, requesting_institution_id=origin_id,
        requesting_user_id=principal.user_id,
        requesting_practitioner_id=principal.practitioner_id,
        target_institution_id=data.target_institution_id,
        target_department_id=data.target_department_id,
        target_specialty=data.target_specialty,
        requested_expert_ids=",".join(str(i) for i in data.expert_ids),
        diagnosis_code=data.diagnosis_code, diagnosis_text=data.diagnosis_text,
        question=data.question, clinical_summary=data.clinical_summary,
        preferred_times=data.preferred_times, referral_id=data.referral_id,
        requested_at=now, response_due_at=now + response_window(settings, data.urgency),
    )
    session.add(consultation)
    session.flush()
    for position, person in enumerate(people):
        entry = ConsultationPatient(consultation_id=consultation.id, person_id=person.id,
                                    position=position)
        consultation.patients.append(entry)
    events.record_event(session, consultation=consultation, principal=principal,
                        action="created", to_status=consultation.status.value,
                        note=data.question)
    session.flush()
    sharing.share_records(session, settings, consultation=consultation)
    audit.record(session, action="consultation.create", entity_type="consultation",
                 entity_id=str(consultation.id), institution_id=origin_id,
                 patient_id=consultation.person_id)
    events.announce(session, consultation=consultation, what="requested",
                    title_zh="新的会诊申请", title_en="new consultation request",
                    institution_ids=[consultation.target_institution_id])
    session.flush()
    return consultation


# ---------------------------------------------------------------- find


def visible(principal: Principal) -> Any:
    """The condition on consultations the principal may see: either side's institution."""
    if principal.is_network_wide:
        return None
    reach = sorted(principal.institution_ids)
    return or_(Consultation.requesting_institution_id.in_(reach),
               Consultation.target_institution_id.in_(reach))


def can_see(principal: Principal, consultation: Consultation) -> bool:
    """Whether the principal works at either institution (or network-wide)."""
    return principal.is_network_wide or bool(
        {consultation.requesting_institution_id, consultation.target_institution_id}
        & principal.institution_ids)


def get(session: Session, *, consultation_id: int) -> Consultation | None:
    """The consultation with this id, if any (no checks: for services and jobs)."""
    return session.get(Consultation, consultation_id)


def get_or_raise(session: Session, principal: Principal, *,
                 consultation_id: int, audited: bool = True) -> Consultation:
    """A consultation the principal may see (404 otherwise); the read is audited, unless
    ``audited=False``: the caller reads something of it and audits that instead."""
    authorize(principal, Action.CONSULTATION_READ)
    consultation = session.get(Consultation, consultation_id)
    if consultation is None or not can_see(principal, consultation):
        raise NotFound("会诊", "Consultation", consultation_id)
    if audited:
        audit.record(session, action="consultation.read", entity_type="consultation",
                     entity_id=str(consultation.id),
                     institution_id=consultation.target_institution_id,
                     patient_id=consultation.person_id)
    return consultation


@dataclass(frozen=True)
class ConsultationFilter:
    """Ways to narrow a worklist."""

    box: str = ""  # "incoming" (asked of us) | "outgoing" (asked by us) | "" (both)
    status: ConsultationStatus | None = None
    overdue: bool = False
    expert_id: int | None = None  # sessions of this expert (their calendar)
    person_id: int | None = None


def _filtered(statement: Select[Any], principal: Principal, where: ConsultationFilter,
              now: datetime) -> Select[Any]:
    condition = visible(principal)
    if condition is not None:
        statement = statement.where(condition)
    reach = sorted(principal.institution_ids)
    if where.box == "incoming":
        statement = statement.where(Consultation.target_institution_id.in_(reach))
    elif where.box == "outgoing":
        statement = statement.where(Consultation.requesting_institution_id.in_(reach))
    if where.status is not None:
        statement = statement.where(Consultation.status == where.status)
    if where.overdue:
        statement = statement.where(Consultation.status.in_(AWAITING_ANSWER),
                                    Consultation.response_due_at < now)
    if where.expert_id is not None:
        statement = statement.where(Consultation.id.in_(
            select(ConsultationExpert.consultation_id)
            .where(ConsultationExpert.practitioner_id == where.expert_id)))
    if where.person_id is not None:
        statement = statement.where(Consultation.id.in_(
            select(ConsultationPatient.consultation_id)
            .where(ConsultationPatient.person_id == where.person_id)))
    return statement


def list_(session: Session, principal: Principal, *, where: ConsultationFilter,
          offset: int = 0, limit: int = 50) -> tuple[Sequence[Consultation], int]:
    """Consultations the principal may see, with the total; an expert's calendar sorts by
    session time, a worklist newest first; the search is audited."""
    authorize(principal, Action.CONSULTATION_READ)
    now = utcnow()
    total = session.scalar(
        _filtered(select(func.count(Consultation.id)), principal, where, now)) or 0
    order = ((Consultation.starts_at, Consultation.id) if where.expert_id is not None
             else (Consultation.id.desc(),))
    rows = session.scalars(_filtered(select(Consultation), principal, where, now)
                           .order_by(*order).offset(offset).limit(limit)).all()
    audit.record(session, action="consultation.search", entity_type="consultation",
                 institution_id=principal.institution_id,
                 detail={"returned": [row.id for row in rows], "total": total})
    return rows, total


# ---------------------------------------------------------------- sides and the workflow


def may_act_for(principal: Principal, consultation: Consultation, side: Side) -> bool:
    """Whether the principal may act for this side of the consultation."""
    if side is Side.REQUESTER:
        return is_allowed(principal, Action.CONSULTATION_REQUEST,
                          [consultation.requesting_institution_id])
    if side is Side.COORDINATOR:
        return is_allowed(principal, Action.CONSULTATION_COORDINATE,
                          [consultation.target_institution_id])
    return (is_allowed(principal, Action.CONSULTATION_GIVE, [consultation.target_institution_id])
            and principal.practitioner_id in expert_ids(consultation))


SIDE_NAMES = {
    Side.REQUESTER: ("申请方", "the requesting side"),
    Side.COORDINATOR: ("受邀机构的会诊管理员", "the consulted institution's coordinator"),
    Side.EXPERT: ("受邀专家", "an assigned expert"),
}


def acting_side(principal: Principal, consultation: Consultation,
                action: ConsultationAction) -> Side:
    """The side the principal takes the action for; 403 when they may take it for none."""
    allowed = TRANSITIONS[action].sides
    for side in (Side.COORDINATOR, Side.EXPERT, Side.REQUESTER):
        if side in allowed and may_act_for(principal, consultation, side):
            return side
    names_zh = "或".join(SIDE_NAMES[s][0] for s in sorted(allowed))
    names_en = " or ".join(SIDE_NAMES[s][1] for s in sorted(allowed))
    raise PermissionDenied(f"只有{names_zh}可以执行此操作", f"Only {names_en} may do this",
                           action=action.value)


def lock(session: Session, *, consultation_id: int) -> Consultation:
    """The consultation, re-read and locked for this transaction (``FOR UPDATE``)."""
    consultation = session.scalars(
        select(Consultation).where(Consultation.id == consultation_id).with_for_update()
        .execution_options(populate_existing=True)).first()
    if consultation is None:
        raise NotFound("会诊", "Consultation", consultation_id)
    return consultation


def transition(
    session: Session, principal: Principal | None, *, consultation: Consultation,
    action: ConsultationAction, reason: str = "", note: str = "",
    expected_version: int | None = None, changes: dict[str, Any] | None = None,
) -> Consultation:
    """Take one step of the workflow: the only place a consultation's status changes."""
    if principal is not None:
        acting_side(principal, consultation, action)
    current = lock(session, consultation_id=consultation.id)
    if expected_version is not None and current.version != expected_version:
        raise Conflict("version_conflict", "会诊已被他人修改，请刷新后重试",
                       "Someone else changed the consultation meanwhile; reload and try again")
    before = current.status
    after = next_status(before, action)
    current.status = after
    for name, value in (changes or {}).items():
        setattr(current, name, value)
    # The consulted institution's answer (accept or decline) stops the response clock; the
    # requester withdrawing an unanswered request is no answer (the counts' response times).
    if before in AWAITING_ANSWER and action in ANSWERS:
        current.responded_at = current.responded_at or utcnow()
    events.record_event(session, consultation=current, principal=principal,
                        action=action.value, from_status=before.value, to_status=after.value,
                        reason=reason, note=note)
    if after in ENDED:
        sharing.end_sharing(session, consultation=current)
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("version_conflict", "会诊已被他人修改，请刷新后重试",
                       "Someone else changed the consultation meanwhile; reload and try again"
                       ) from None
    audit.record(session, action=f"consultation.{action.value}", entity_type="consultation",
                 entity_id=str(current.id), institution_id=current.target_institution_id,
                 patient_id=current.person_id,
                 detail={"from": before.value, "to": after.value})
    return current


def _status_title(status: ConsultationStatus) -> tuple[str, str]:
    return STATUS_NAMES[status]


def accept(session: Session, principal: Principal, *, consultation: Consultation,
           practitioner_ids: list[int], note: str = "",
           expected_version: int | None = None) -> Consultation:
    """The coordinator accepts and assigns the experts (of the consulted institution; at
    least two for an MDT); the experts and the requester hear of it. Who may comes before
    the checks of the experts named."""
    acting_side(principal, consultation, ConsultationAction.ACCEPT)
    wanted = list(dict.fromkeys(practitioner_ids))
    if consultation.kind is ConsultationKind.MDT and len(wanted) < 2:
        raise InvalidInput("mdt_needs_experts", "多学科会诊至少需要两位不同学科的专家",
                           "An MDT needs at least two experts")
    if not wanted:
        raise InvalidInput("experts_required", "请指定会诊专家", "Assign the experts")
    for practitioner_id in wanted:
        person = registry.get_practitioner_or_raise(session, practitioner_id=practitioner_id)
        if person.institution_id != consultation.target_institution_id:
            raise InvalidInput("expert_elsewhere", f"专家{person.name}不属于本机构",
                               f"{person.name} does not work at the consulted institution")
    done = transition(session, principal, consultation=consultation,
                      action=ConsultationAction.ACCEPT, note=note,
                      expected_version=expected_version,
                      changes={"coordinator_user_id": principal.user_id})
    for practitioner_id in wanted:
        expert = ConsultationExpert(consultation_id=done.id, practitioner_id=practitioner_id,
                                    assigned_by=principal.username)
        done.experts.append(expert)
    session.flush()
    zh, en = _status_title(done.status)
    events.tell_requester(session, consultation=done, what="accepted", title_zh=zh,
                          title_en=en.lower())
    events.tell_experts(session, consultation=done, what="assigned",
                        title_zh="您被指定为会诊专家", title_en="you are assigned as an expert")
    return done


def decline(session: Session, principal: Principal, *, consultation: Consultation,
            reason: str, expected_version: int | None = None) -> Consultation:
    """Decline with the reason the requester will read; the records stop being shared."""
    acting_side(principal, consultation, ConsultationAction.DECLINE)
    if not reason.strip():
        raise InvalidInput("reason_required", "拒绝会诊须说明理由",
                           "A decline needs a reason")
    done = transition(session, principal, consultation=consultation,
                      action=ConsultationAction.DECLINE, reason=reason,
                      expected_version=expected_version, changes={"decline_reason": reason})
    events.tell_requester(session, consultation=done, what="declined", title_zh="已拒绝",
                          title_en="declined")
    return done


def _lock_experts_time(session: Session, *, practitioner_ids: list[int]) -> None:
    """Lock every assignment of these experts (``FOR UPDATE``, in id order) so two
    coordinators scheduling sessions that share an expert check and book one after the
    other: the second then sees the first's time and is refused."""
    session.execute(select(ConsultationExpert.id)
                    .where(ConsultationExpert.practitioner_id.in_(practitioner_ids))
                    .order_by(ConsultationExpert.id).with_for_update()).all()


def schedule(session: Session, settings: Settings, principal: Principal, *,
             consultation: Consultation, starts_at: datetime, minutes: int | None = None,
             expected_version: int | None = None) -> Consultation:
    """Set the session's time: refused (409, naming who is busy and why) unless every
    assigned expert is free then; the room link is made once, with a random token."""
    length = timedelta(minutes=minutes or settings.consultation_session_minutes)
    if starts_at.tzinfo is None:
        raise InvalidInput("time_zone_required", "会诊时间须带时区",
                           "The session time needs a time zone")
    if starts_at <= utcnow():
        raise InvalidInput("time_past", "会诊时间须在将来", "The session must be in the future")
    acting_side(principal, consultation, ConsultationAction.SCHEDULE)
    ends_at = starts_at + length
    _lock_experts_time(session, practitioner_ids=expert_ids(consultation))
    busy = availability.clashes(session, practitioner_ids=expert_ids(consultation),
                                start=starts_at, end=ends_at, zone=settings.scheduling_timezone,
                                except_consultation_id=consultation.id)
    if busy:
        names = {pid: registry.get_practitioner_or_raise(session, practitioner_id=pid).name
                 for pid in {b.practitioner_id for b in busy}}
        raise Conflict(
            "expert_busy",
            "所选时间专家不空闲：" + "；".join(f"{names[b.practitioner_id]}（{b.what_zh}）"
                                              for b in busy),
            "Not every expert is free then: " + "; ".join(
                f"{names[b.practitioner_id]} ({b.what_en})" for b in busy),
        )
    done = transition(session, principal, consultation=consultation,
                      action=ConsultationAction.SCHEDULE, expected_version=expected_version,
                      note=starts_at.isoformat(),
                      changes={"starts_at": starts_at, "ends_at": ends_at,
                               "room_token": consultation.room_token or new_room_token()})
    events.tell_requester(session, consultation=done, what="scheduled", title_zh="已排期",
                          title_en="scheduled")
    events.tell_experts(session, consultation=done, what="scheduled", title_zh="已排期",
                        title_en="scheduled")
    return done


def start(session: Session, principal: Principal, *, consultation: Consultation,
          expected_version: int | None = None) -> Consultation:
    """The session begins (the coordinator or an assigned expert)."""
    return transition(session, principal, consultation=consultation,
                      action=ConsultationAction.START, expected_version=expected_version)


def close(session: Session, principal: Principal, *, consultation: Consultation,
          note: str = "", expected_version: int | None = None) -> Consultation:
    """Close after the signed report: the consulted institution's view of the records ends."""
    return transition(session, principal, consultation=consultation,
                      action=ConsultationAction.CLOSE, note=note,
                      expected_version=expected_version, changes={"closed_at": utcnow()})


def cancel(session: Session, principal: Principal, *, consultation: Consultation,
           reason: str = "", expected_version: int | None = None) -> Consultation:
    """Withdraw the request (requesting side); the records stop being shared."""
    done = transition(session, principal, consultation=consultation,
                      action=ConsultationAction.CANCEL, reason=reason,
                      expected_version=expected_version, changes={"closed_at": utcnow()})
    events.announce(session, consultation=done, what="cancelled", title_zh="已撤销",
                    title_en="cancelled", institution_ids=[done.target_institution_id])
    return done


def escalate_overdue(session: Session, *, now: datetime | None = None) -> list[Consultation]:
    """Escalate every unanswered request past its deadline, once each: an entry on its
    timeline and a notice to the consulted institution's staff."""
    moment = now or utcnow()
    overdue = session.scalars(
        select(Consultation).where(Consultation.status.in_(AWAITING_ANSWER),
                                   Consultation.response_due_at < moment,
                                   Consultation.escalated_at.is_(None))
        .order_by(Consultation.id).with_for_update(skip_locked=True)).all()
    for consultation in overdue:
        consultation.escalated_at = moment
        events.record_event(session, consultation=consultation, principal=None,
                            action="escalated", note="超时未受理 / overdue")
        events.announce(session, consultation=consultation, what="escalated",
                        title_zh="会诊申请超时未受理", title_en="request overdue",
                        institution_ids=[consultation.target_institution_id])
    session.flush()
    return list(overdue)
