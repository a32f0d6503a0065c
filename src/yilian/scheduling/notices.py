"""Reschedule notices: what a patient is told when a clinic they were booked into is called
off, with the next free slots offered.

:func:`create_notice` is the one place a notice is made, so the generic notifications
capability (``yilian.notify``) can publish each notice from there too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.auth import service as users
from yilian.db import utcnow
from yilian.errors import NotFound
from yilian.notify import service as notify
from yilian.registry import service as registry
from yilian.scheduling.models import Appointment, ExceptionKind, RescheduleNotice, Slot

LOCAL = ZoneInfo("Asia/Shanghai")
WEEKDAYS_ZH = "一二三四五六日"


def local_time_zh(moment: datetime) -> str:
    """A moment as a patient reads it: 12月8日（周二）08:00."""
    local = moment.astimezone(LOCAL)
    return f"{local.month}月{local.day}日（周{WEEKDAYS_ZH[local.weekday()]}）{local:%H:%M}"


def local_time_en(moment: datetime) -> str:
    """A moment in English: Tue 8 Dec 08:00."""
    local = moment.astimezone(LOCAL)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def create_notice(
    session: Session,
    *,
    appointment: Appointment,
    offered: Sequence[Slot],
    reason: str,
    kind: ExceptionKind,
) -> RescheduleNotice:
    """Tell the patient their appointment was cancelled with the clinic, offering slots."""
    expert = registry.get_practitioner_or_raise(
        session, practitioner_id=appointment.practitioner_id
    )
    why_zh = "节假日停诊" if kind is ExceptionKind.HOLIDAY else "专家停诊"
    why_en = "a holiday" if kind is ExceptionKind.HOLIDAY else "the expert's absence"
    when_zh, when_en = local_time_zh(appointment.start_at), local_time_en(appointment.start_at)
    offers_zh = "、".join(local_time_zh(slot.start_at) for slot in offered) or "暂无"
    offers_en = ", ".join(local_time_en(slot.start_at) for slot in offered) or "none yet"
    detail_zh = f"（{reason}）" if reason else ""
    detail_en = f" ({reason})" if reason else ""
    notice = RescheduleNotice(
        appointment_id=appointment.id,
        person_id=appointment.person_id,
        message_zh=(f"您预约的{expert.name}专家 {when_zh} 门诊因{why_zh}{detail_zh}已取消。"
                    f"可改约：{offers_zh}。"),
        message_en=(f"Your appointment with Dr {expert.name} on {when_en} was cancelled "
                    f"because of {why_en}{detail_en}. Free slots offered: {offers_en}."),
        offered_slot_ids=",".join(str(slot.id) for slot in offered),
    )
    session.add(notice)
    session.flush()
    _announce(session, notice=notice, appointment=appointment)
    return notice


def _announce(session: Session, *, notice: RescheduleNotice, appointment: Appointment) -> None:
    """Put the notice in the patient's own inbox (and the clinic's webhooks) when the patient
    has an account; without one the notice waits on the record for the desk to phone."""
    accounts = users.active_accounts_of_person(session, person_id=appointment.person_id)
    if not accounts:
        return
    notify.publish(
        session, kind="appointment.cancelled", institution_ids=[appointment.institution_id],
        user_ids=accounts, title_zh="门诊停诊，请改约",
        title_en="Clinic called off: choose a new slot",
        body_zh=notice.message_zh, body_en=notice.message_en, link="/scheduling/mine",
        payload={"appointment_id": appointment.id, "notice_id": notice.id,
                 "offered_slot_ids": notice.offered_slot_ids},
        subject_ref=f"Appointment/{appointment.id}",
    )


def notices_for(session: Session, *, person_id: int) -> list[RescheduleNotice]:
    """A patient's notices, newest first."""
    return list(session.scalars(
        select(RescheduleNotice).where(RescheduleNotice.person_id == person_id)
        .order_by(RescheduleNotice.created_at.desc(), RescheduleNotice.id.desc())
    ))


def get_notice_or_raise(session: Session, *, notice_id: int, person_id: int) -> RescheduleNotice:
    """One of the patient's notices, or 404."""
    notice = session.get(RescheduleNotice, notice_id)
    if notice is None or notice.person_id != person_id:
        raise NotFound("通知", "Notice", notice_id)
    return notice


def resolve(notice: RescheduleNotice) -> None:
    """The patient has acted on the notice (rebooked)."""
    notice.resolved_at = utcnow()

