"""ADT encounters for analytics: admit (A01), discharge (A03), register an outpatient (A04).

Each message first goes through the patient index exactly as ADT^A04 does (``patients.hl7``:
the PID registers the patient or updates them), then its PV1 becomes an encounter:

PV1-2   Patient class: O outpatient, E emergency (both count as 门急诊 visits), I inpatient.
        Default: O for A04, I for A01/A03.
PV1-3   Assigned location (PL): PL-1 the department code of the sending institution;
        PV1-10 (hospital service) when PL-1 is empty. May be empty.
PV1-19  Visit number (CX-1): the encounter's id at the sender — re-sending it updates the
        same encounter (A03 after A01 discharges the stay); required.
PV1-44  Admit / visit date-time (YYYYMMDDHHMM[SS], Beijing time unless an offset is given);
        EVN-2 when empty (A01, A04).
PV1-45  Discharge date-time (A03); EVN-2 when empty.

ADT^A04 without a PV1, or with one carrying no visit number (PV1-19), only registers the
patient, as before analytics existed. A01 and A03 need PV1 and PV1-19.
Answers: AA stored; AE a field is wrong or unknown (the reason names it); AR the account
may not send encounters for the sending institution.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian import hl7v2
from yilian.analytics import intake
from yilian.analytics.models import EncounterKind, EncounterStatus
from yilian.analytics.schemas import EncounterCreate
from yilian.errors import InvalidInput, PermissionDenied
from yilian.hl7v2 import AckCode, ErrorCode, ErrorLocation, Hl7Error, Segment
from yilian.patients import hl7 as patients_hl7
from yilian.registry import service as registry
from yilian.results.hl7 import observation_time
from yilian.validation import describe_validation_errors

__all__ = ["HANDLERS", "admit", "discharge", "register_outpatient", "with_patient_handlers"]

PATIENT_CLASSES = {"O": EncounterKind.OUTPATIENT, "E": EncounterKind.OUTPATIENT,
                   "I": EncounterKind.INPATIENT}


def _pv1(inbound: hl7v2.Inbound, *, required: bool) -> Segment | None:
    pv1 = inbound.message.segment("PV1")
    if pv1 is None and required:
        event = inbound.message.header.event
        raise Hl7Error(AckCode.ERROR, ErrorCode.SEGMENT_SEQUENCE,
                       f"{event} 消息缺少 PV1 段", f"{event} needs a PV1 segment",
                       location=ErrorLocation("PV1"), reason="segment_missing")
    return pv1


def _time(text: str, where: ErrorLocation) -> datetime:
    return observation_time(text, where)


def _event_time(inbound: hl7v2.Inbound) -> str:
    evn = inbound.message.segment("EVN")
    return evn.value(2) if evn is not None else ""


def _kind(pv1: Segment, default: EncounterKind) -> EncounterKind:
    code = pv1.value(2).upper()
    if not code:
        return default
    if code not in PATIENT_CLASSES:
        raise Hl7Error(AckCode.ERROR, ErrorCode.TABLE_VALUE_NOT_FOUND,
                       f"PV1-2 患者类别不支持：{code}（可用 O、E、I）",
                       f"PV1-2 patient class {code} is not supported (use O, E or I)",
                       location=ErrorLocation("PV1", 2), reason="unknown_patient_class")
    return PATIENT_CLASSES[code]


def _department_id(session: Session, inbound: hl7v2.Inbound, pv1: Segment) -> int | None:
    code = pv1.value(3) or pv1.value(10)
    if not code:
        return None
    try:
        return registry.department_by_code_or_raise(
            session, institution_id=inbound.institution_id, code=code).id
    except InvalidInput as error:
        raise Hl7Error(AckCode.ERROR, ErrorCode.UNKNOWN_KEY, error.zh, error.en,
                       location=ErrorLocation("PV1", 3), reason="unknown_department") from None


def _visit_number(pv1: Segment) -> str:
    number = pv1.value(19)
    if not number:
        raise Hl7Error(AckCode.ERROR, ErrorCode.REQUIRED_FIELD_MISSING,
                       "PV1-19 就诊号不能为空", "PV1-19 Visit Number is required",
                       location=ErrorLocation("PV1", 19), reason="required_field_missing")
    return number


def _store(session: Session, inbound: hl7v2.Inbound, registered: hl7v2.Accepted,
           *, default_kind: EncounterKind, discharge: bool) -> hl7v2.Accepted:
    pv1 = _pv1(inbound, required=True)
    assert pv1 is not None
    kind = _kind(pv1, default_kind)
    if discharge and kind is not EncounterKind.INPATIENT:
        raise Hl7Error(AckCode.ERROR, ErrorCode.DATA_TYPE,
                       "ADT^A03 出院只适用于住院患者（PV1-2 = I）",
                       "ADT^A03 discharges inpatients only (PV1-2 = I)",
                       location=ErrorLocation("PV1", 2), reason="not_inpatient")
    source_id = _visit_number(pv1)
    stored = intake.find(session, institution_id=inbound.institution_id,
                         resource_type="Encounter", source_id=source_id)
    started_text = pv1.value(44) or ("" if discharge else _event_time(inbound))
    if started_text:
        started = _time(started_text, ErrorLocation("PV1", 44))
    elif stored is not None:
        started = stored.started_at
    else:
        raise Hl7Error(AckCode.ERROR, ErrorCode.REQUIRED_FIELD_MISSING,
                       "PV1-44 入院时间不能为空（此前未收到该次住院的入院消息）",
                       "PV1-44 Admit Date/Time is required (no admission was received for "
                       "this visit)", location=ErrorLocation("PV1", 44),
                       reason="required_field_missing")
    ended: datetime | None = None
    status = EncounterStatus.IN_PROGRESS if kind is EncounterKind.INPATIENT else (
        EncounterStatus.FINISHED)
    if discharge:
        ended_text = pv1.value(45) or _event_time(inbound)
        if not ended_text:
            raise Hl7Error(AckCode.ERROR, ErrorCode.REQUIRED_FIELD_MISSING,
                           "PV1-45 出院时间不能为空", "PV1-45 Discharge Date/Time is required",
                           location=ErrorLocation("PV1", 45), reason="required_field_missing")
        ended, status = _time(ended_text, ErrorLocation("PV1", 45)), EncounterStatus.FINISHED
    try:
        data = EncounterCreate(
            resource_type="Encounter", source_id=source_id, kind=kind, status=status,
            person_id=registered.patient_id or 0, institution_id=inbound.institution_id,
            department_id=_department_id(session, inbound, pv1), started_at=started,
            ended_at=ended)
    except ValidationError as error:
        zh, en, _ = describe_validation_errors(error.errors())
        raise Hl7Error(AckCode.ERROR, ErrorCode.DATA_TYPE, zh, en,
                       location=ErrorLocation("PV1"), reason="invalid_field") from error
    try:
        result = intake.record_encounter(session, inbound.principal, data=data)
    except PermissionDenied as error:
        raise Hl7Error(AckCode.REJECTED, ErrorCode.INTERNAL, error.zh, error.en,
                       location=ErrorLocation("MSH", 4), reason="forbidden") from None
    return hl7v2.Accepted(
        registered.result, patient_id=registered.patient_id,
        detail={**registered.detail, "encounter_id": result.encounter.id,
                "encounter": "created" if result.created else "updated"})


def register_outpatient(session: Session, inbound: hl7v2.Inbound) -> hl7v2.Accepted:
    """ADT^A04: register the patient; with a PV1, also their outpatient (or emergency) visit."""
    registered = patients_hl7.register_patient(session, inbound)
    pv1 = _pv1(inbound, required=False)
    if pv1 is None or not pv1.value(19):
        return registered  # a registration only: no visit number, no visit to count
    return _store(session, inbound, registered, default_kind=EncounterKind.OUTPATIENT,
                  discharge=False)


def admit(session: Session, inbound: hl7v2.Inbound) -> hl7v2.Accepted:
    """ADT^A01: register or update the patient and open their inpatient stay."""
    registered = patients_hl7.register_patient(session, inbound)
    return _store(session, inbound, registered, default_kind=EncounterKind.INPATIENT,
                  discharge=False)


def discharge(session: Session, inbound: hl7v2.Inbound) -> hl7v2.Accepted:
    """ADT^A03: close the stay (opening it too, when its A01 never came)."""
    registered = patients_hl7.register_patient(session, inbound)
    return _store(session, inbound, registered, default_kind=EncounterKind.INPATIENT,
                  discharge=True)


HANDLERS: tuple[hl7v2.MessageHandler, ...] = (
    hl7v2.MessageHandler("ADT", "A01", admit),
    hl7v2.MessageHandler("ADT", "A03", discharge),
    hl7v2.MessageHandler("ADT", "A04", register_outpatient),
)


def with_patient_handlers(
    patient_handlers: Iterable[hl7v2.MessageHandler],
) -> tuple[hl7v2.MessageHandler, ...]:
    """The patient index's ADT handlers with A04 taken over by :func:`register_outpatient`
    (which still registers the patient first), plus A01 and A03."""
    ours = {handler.event for handler in HANDLERS}
    return (*(h for h in patient_handlers if h.event not in ours), *HANDLERS)
