"""The referral's "book" step: an appointment (a clinic slot, or a time and place) or a bed.

The receiving side books anything; once the referral is accepted the referring side may
book too, but only a free, published clinic slot of the receiving department (issue 5: the
county doctor books the Beijing expert's slot, at Beijing or at the county campus, inside
the referral): the receiving hospital has said yes and published that capacity itself, so
taking it decides nothing for them, whereas a time, place or bed outside its schedule is
theirs to give.

Concurrency: the referral row is locked and its status and version checked *before* a slot
is claimed, the slot is claimed by scheduling's one conditional update, and the referral
moves in the same transaction. So two bookings of one referral (either side, any slots)
leave one appointment and one 409, and two referrals after one slot get it once
(``slot_full`` for the other); a refused booking leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.auth.permissions import Principal
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput
from yilian.referrals import service as referrals
from yilian.referrals.events import RecordedEvent
from yilian.referrals.models import Referral
from yilian.referrals.schemas import BookingBody
from yilian.referrals.states import ReferralAction, Side, next_status
from yilian.registry import service as registry
from yilian.registry.models import Practitioner
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import BookingSource, Slot


def booking_side(principal: Principal, referral: Referral) -> Side:
    """The side a booking is made for: the receiver's whenever the principal works there,
    else the referrer's when they work there (anyone else is refused as not the receiver)."""
    if not referrals.may_act_for(principal, referral, Side.RECEIVER) and (
            referrals.may_act_for(principal, referral, Side.REFERRER)):
        return Side.REFERRER
    return Side.RECEIVER


def referrer_books_a_slot_only(data: BookingBody) -> None:
    """The referring side books a published slot, nothing else (422 otherwise)."""
    if data.slot_id is None or data.appointment_at is not None or any(
            (data.appointment_place, data.ward, data.bed, data.appointment_ref)):
        raise InvalidInput(
            "referrer_slot_only",
            "转出方只能预约接收科室已发布的门诊号源；具体时间、地点或床位由接收方安排",
            "The referring side books a published clinic slot of the receiving department; "
            "a time, place or bed is for the receiving side to arrange",
        )


def book(session: Session, principal: Principal, *, referral: Referral,
         data: BookingBody, expected_version: int | None = None) -> RecordedEvent:
    """Record the appointment or the bed (either side may book a slot, see the module).

    A slot is booked through the scheduling capability in this same transaction, so the
    referral and its appointment land together or not at all.
    """
    if (data.slot_id is None and data.appointment_at is None and not data.ward
            and not data.appointment_ref):
        raise InvalidInput("booking_empty", "请选择号源，或填写预约时间或病区床位",
                           "Choose a clinic slot, or give an appointment time or a ward and bed")
    side = booking_side(principal, referral)
    referrals.check_side(principal, referral, side)
    if side is Side.REFERRER:
        referrer_books_a_slot_only(data)
    # Lock and check first: a slot is never claimed for a referral that cannot be booked.
    current = referrals.lock(session, referral_id=referral.id)
    if expected_version is not None and current.version != expected_version:
        raise Conflict("version_conflict", "转诊已被他人修改，请刷新后重试",
                       "Someone else changed the referral meanwhile; reload and try again")
    next_status(current.status, ReferralAction.BOOK)
    changes = data.model_dump(exclude={"note", "slot_id"})
    if data.slot_id is not None:
        changes.update(_book_slot(session, principal, referral=current, slot_id=data.slot_id,
                                  side=side))
    return referrals.transition(session, principal, referral=current,
                                expected_version=expected_version, action=ReferralAction.BOOK,
                                note=data.note, changes=changes, acting_for=side)


def slot_fits(session: Session, referral: Referral, slot: Slot, *, side: Side) -> None:
    """Refuse a slot the referral cannot use (422 with the reason).

    A slot fits when its clinic is held by the receiving institution, or at one of its
    campuses by one of the receiving institution's own experts (a Beijing expert's clinic
    at the county campus). The receiver may choose any of its departments; the referrer
    only the department the referral was accepted by, when it names one (at a campus: a
    clinic of one of that department's experts).
    """
    held_at = slot.clinic_session.institution_id
    at_home = held_at == referral.target_institution_id
    expert = registry.get_practitioner_or_raise(session, practitioner_id=slot.practitioner_id)
    at_campus = (
        not at_home
        and held_at in _campus_ids(session, referral.target_institution_id)
        and expert.institution_id == referral.target_institution_id
    )
    if not (at_home or at_campus):
        raise InvalidInput("slot_elsewhere", "该号源不属于接收机构或其院区的本院专家",
                           "That slot is not a clinic of the receiving institution or of "
                           "its experts at its campuses")
    department = slot.department_id if at_home else expert.department_id
    if side is Side.REFERRER and referral.target_department_id not in (None, department):
        raise InvalidInput("slot_other_department", "该号源不属于接收科室",
                           "That slot is not in the receiving department")


def _campus_ids(session: Session, institution_id: int) -> set[int]:
    return {c.id for c in registry.campuses_of(session, institution_id=institution_id)}


def bookable_slots(session: Session, referral: Referral, *, limit: int = 20) -> list[Slot]:
    """The receiving department's free slots for the book step, soonest first: its own
    clinics and its experts' clinics at the receiving institution's campuses."""
    if referral.target_department_id is None:
        return []
    after = utcnow()
    own = scheduling.free_slots(session, after=after,
                                department_id=referral.target_department_id, limit=limit)
    campuses = _campus_ids(session, referral.target_institution_id)
    experts = session.scalars(
        select(Practitioner.id).where(
            Practitioner.department_id == referral.target_department_id,
            Practitioner.institution_id == referral.target_institution_id,
        )
    ).all()
    away = (scheduling.free_slots(session, after=after, practitioner_ids=experts,
                                  institution_ids=campuses, limit=limit)
            if campuses and experts else [])
    return sorted({slot.id: slot for slot in own + away}.values(),
                  key=lambda slot: (slot.start_at, slot.id))[:limit]


def _book_slot(session: Session, principal: Principal, *, referral: Referral, slot_id: int,
               side: Side) -> dict[str, Any]:
    """Book a fitting slot (see :func:`slot_fits`) for the referred patient; the link fields."""
    slot = scheduling.get_slot_or_raise(session, slot_id=slot_id)
    slot_fits(session, referral, slot, side=side)
    appointment = scheduling.book(
        session, principal=principal, slot_id=slot.id, person_id=referral.person_id,
        source=BookingSource.REFERRAL, source_ref=f"ServiceRequest/{referral.id}",
    )
    return {"appointment_ref": f"Appointment/{appointment.id}", "appointment_at": slot.start_at,
            "appointment_department_id": slot.department_id}
