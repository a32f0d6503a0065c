"""The session's room: joining records attendance (once each) and gives the video link;
the coordinator records the assigned experts who took part without signing in."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal
from yilian.config import Settings
from yilian.consultations import events
from yilian.consultations.models import Consultation, ConsultationAttendance, ConsultationStatus
from yilian.consultations.service import expert_ids, may_act_for, room_url
from yilian.consultations.states import HOLDS_TIME, Side
from yilian.errors import Conflict, InvalidInput, PermissionDenied

# The coordinator may still record who took part once the report is signed.
RECORDABLE = HOLDS_TIME | {ConsultationStatus.REPORTED}


def attend(session: Session, settings: Settings, principal: Principal, *,
           consultation: Consultation) -> str:
    """Record that the principal joined the session (once each) and give the room link."""
    if consultation.status not in HOLDS_TIME:
        raise Conflict("no_session", "会诊尚未排期或已结束，不能进入会诊室",
                       "The session is not scheduled or is over; the room is not open")
    if not (may_act_for(principal, consultation, Side.REQUESTER)
            or may_act_for(principal, consultation, Side.EXPERT)
            or may_act_for(principal, consultation, Side.COORDINATOR)):
        raise PermissionDenied("只有申请方、受邀专家和会诊管理员可以进入会诊室",
                               "Only the requester, the experts and the coordinator may join",
                               action=Action.CONSULTATION_READ.value)
    recorded = _attended_practitioners(session, consultation=consultation)
    joined = session.scalars(select(ConsultationAttendance).where(
        ConsultationAttendance.consultation_id == consultation.id,
        ConsultationAttendance.user_id == principal.user_id)).first()
    if joined is None and (principal.practitioner_id is None
                           or principal.practitioner_id not in recorded):
        session.add(ConsultationAttendance(
            consultation_id=consultation.id, user_id=principal.user_id,
            username=principal.username, institution_id=principal.institution_id,
            practitioner_id=principal.practitioner_id, recorded_by=principal.username))
        events.record_event(session, consultation=consultation, principal=principal,
                            action="joined")
        audit.record(session, action="consultation.join", entity_type="consultation",
                     entity_id=str(consultation.id),
                     institution_id=consultation.target_institution_id,
                     patient_id=consultation.person_id)
        session.flush()
    return room_url(settings, consultation)


def attendance(session: Session, *, consultation: Consultation) -> list[ConsultationAttendance]:
    """Who joined the session, in order."""
    return list(session.scalars(select(ConsultationAttendance).where(
        ConsultationAttendance.consultation_id == consultation.id)
        .order_by(ConsultationAttendance.id)))


def _attended_practitioners(session: Session, *, consultation: Consultation) -> set[int]:
    return {pid for pid in session.scalars(select(ConsultationAttendance.practitioner_id).where(
        ConsultationAttendance.consultation_id == consultation.id)) if pid is not None}


def record_attendance(session: Session, principal: Principal, *, consultation: Consultation,
                      practitioner_ids: list[int]) -> list[ConsultationAttendance]:
    """The coordinator records which assigned experts took part (once each), for those who
    joined without signing in; returns the rows added."""
    if not may_act_for(principal, consultation, Side.COORDINATOR):
        raise PermissionDenied("只有受邀机构的会诊管理员可以登记出席",
                               "Only the consulted institution's coordinator records attendance",
                               action=Action.CONSULTATION_COORDINATE.value)
    if consultation.status not in RECORDABLE:
        raise Conflict("no_session", "会诊尚未开始或已结束，不能登记出席",
                       "Attendance is recorded for a scheduled, running or reported session")
    assigned = set(expert_ids(consultation))
    strangers = [pid for pid in practitioner_ids if pid not in assigned]
    if strangers:
        raise InvalidInput("not_assigned", "只能登记已分配的会诊专家",
                           "Only the assigned experts' attendance is recorded")
    recorded = _attended_practitioners(session, consultation=consultation)
    added = []
    for practitioner_id in dict.fromkeys(practitioner_ids):
        if practitioner_id in recorded:
            continue
        row = ConsultationAttendance(
            consultation_id=consultation.id, user_id=None, username="",
            institution_id=consultation.target_institution_id,
            practitioner_id=practitioner_id, recorded_by=principal.username)
        session.add(row)
        added.append(row)
    if added:
        events.record_event(session, consultation=consultation, principal=principal,
                            action="attendance",
                            note=",".join(str(row.practitioner_id) for row in added))
        audit.record(session, action="consultation.attendance", entity_type="consultation",
                     entity_id=str(consultation.id),
                     institution_id=consultation.target_institution_id,
                     patient_id=consultation.person_id,
                     detail={"practitioner_ids": [row.practitioner_id for row in added]})
        session.flush()
    return added
