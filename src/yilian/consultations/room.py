"""The session's room: joining records attendance (once each) and gives the video link."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal
from yilian.config import Settings
from yilian.consultations import events
from yilian.consultations.models import Consultation, ConsultationAttendance
from yilian.consultations.service import may_act_for, room_url
from yilian.consultations.states import HOLDS_TIME, Side
from yilian.errors import Conflict, PermissionDenied


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
    joined = session.scalars(select(ConsultationAttendance).where(
        ConsultationAttendance.consultation_id == consultation.id,
        ConsultationAttendance.user_id == principal.user_id)).first()
    if joined is None:
        session.add(ConsultationAttendance(
            consultation_id=consultation.id, user_id=principal.user_id,
            username=principal.username, institution_id=principal.institution_id,
            practitioner_id=principal.practitioner_id))
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
