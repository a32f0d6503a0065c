"""ADT messages for the patient index: register (A04), update (A08) and merge (A40).

What is read (HL7 v2.3–2.8, as hospital information systems in China send it):

PID-3   Patient Identifier List (CX, repeating).
        The local patient number is the repetition whose assigning authority (CX-4) is
        the sending facility (MSH-4); else the first with identifier type (CX-5) PI or MR;
        else the first with neither CX-4 nor CX-5.
        The resident ID 居民身份证号 is the repetition with CX-5 ``NNCHN``; or CX-4 ``CHN``
        with CX-5 empty, NN, NI, ID or RI; or CX-4 containing 身份证; or CX-5 ``ID`` or
        ``RI`` when the value has the form of a resident ID (17 digits and a digit or X,
        or 15 digits) — other ID/RI numbers are not taken for one.
PID-19  The resident ID when PID-3 carries none (the 社会保障号码 is the resident ID).
PID-5   Name (XPN, repeating): the first repetition in Chinese characters, else the first.
        Family (1), given (2) and middle (3) names run together: 宋^秀兰 → 宋秀兰, and 宋秀兰
        sent whole as the family name stays 宋秀兰; pinyin keeps spaces (SONG^XIULAN).
PID-7   Birth date: the first eight digits (YYYYMMDD) of the timestamp.
PID-8   Sex: M, F, O, U (HL7 table 0001; A → other, N → unknown) or the national codes
        of GB/T 2261.1: 1 男, 2 女, 0 未知, 9 未说明.
PID-11  Address (XAD, repeating; the home one, type H, first): province (4), city (3),
        county (9, when a name rather than a code), street (1), other designation (2);
        a division already written in the street is not repeated.
PID-13  Phone (XTN, repeating; the mobile one, CP, first): XTN-12, else XTN-1, else
        area code (6) and number (7).
IN1-15  Plan type 险种, in the first IN1 that names one: ``employee``/职工 → employee,
        ``resident``/居民 → resident; IN1 segments naming anything else are ignored.
IN1-3   In that IN1, the insured region 参保地 as CX-1 when a GB/T 2260 code.
MRG-1   ADT^A40: the prior patient number, chosen like the local number of PID-3.

An empty field leaves what is stored; the HL7 null ``""`` clears it (for the resident ID:
``""`` as CX-1 of its PID-3 repetition, or as PID-19). PV1 and EVN are not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from yilian import hl7v2
from yilian.auth.permissions import Action
from yilian.hl7v2 import AckCode, ErrorCode, ErrorLocation, Field, Hl7Error, Message, Segment
from yilian.patients import merging, resident_id
from yilian.patients import service as patients
from yilian.patients.models import InsuranceScheme, PatientRecord, Sex
from yilian.patients.schemas import RecordCreate, RecordUpdate
from yilian.validation import describe_validation_errors

__all__ = [
    "HANDLERS",
    "SEX_CODES",
    "address_text",
    "administrative_sex",
    "birth_date",
    "insurance_scheme",
    "insured_region",
    "is_resident_id",
    "local_patient_number",
    "merge_patients",
    "patient_fields",
    "person_name",
    "phone_number",
    "register_patient",
    "resident_id_number",
    "update_patient",
]

M = TypeVar("M", bound=BaseModel)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_RESIDENT_ID_FORM = re.compile(r"\d{17}[\dXx]|\d{15}")
_REGION_CODE = re.compile(r"[1-9]\d{5}")
_LOCAL_NUMBER_TYPES = frozenset({"PI", "MR"})
_TYPES_WITH_CHN = frozenset({"", "NN", "NI", "ID", "RI"})
_LOOSE_ID_TYPES = frozenset({"ID", "RI"})

# PID-8: HL7 table 0001, and GB/T 2261.1 (个人基本信息分类与代码 第1部分：人的性别代码).
SEX_CODES: Mapping[str, Sex] = {
    "M": Sex.MALE, "F": Sex.FEMALE, "O": Sex.OTHER, "A": Sex.OTHER,
    "U": Sex.UNKNOWN, "N": Sex.UNKNOWN,
    "1": Sex.MALE, "2": Sex.FEMALE, "0": Sex.UNKNOWN, "9": Sex.UNKNOWN,
}


class Unreadable(ValueError):
    """A field whose value cannot be what it should be; the caller knows where it was."""

    def __init__(self, code: ErrorCode, zh: str, en: str, reason: str = "") -> None:
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en, self.reason = code, zh, en, reason


# ---------------------------------------------------------------- reading fields


def _authority(cx: Field) -> str:
    """CX-4 Assigning Authority: its namespace id, else its universal id."""
    return cx.value(4) or cx.value(4, subcomponent=2)


def is_resident_id(cx: Field) -> bool:
    """Whether a PID-3 repetition is the resident ID (the rules are in the module docstring)."""
    kind, authority = cx.value(5).upper(), _authority(cx)
    if kind == "NNCHN" or "身份证" in authority:
        return True
    if authority.upper() == "CHN":
        return kind in _TYPES_WITH_CHN
    return kind in _LOOSE_ID_TYPES and bool(_RESIDENT_ID_FORM.fullmatch(cx.value(1)))


def local_patient_number(identifiers: Field, facility: str) -> str | None:
    """The sender's own patient number in a CX list (PID-3, MRG-1), if there is one."""
    candidates = [cx for cx in identifiers.each() if cx.value(1) and not is_resident_id(cx)]
    own = [cx for cx in candidates if _authority(cx).upper() == facility.upper()]
    typed = [cx for cx in candidates if cx.value(5).upper() in _LOCAL_NUMBER_TYPES]
    bare = [cx for cx in candidates if not _authority(cx) and not cx.value(5)]
    chosen = own or typed or bare
    return chosen[0].value(1) if chosen else None


def resident_id_number(number: Field) -> str:
    """A resident ID that passes every check of GB 11643, as sent (the index parses it)."""
    text = number.value(1)
    try:
        resident_id.parse(text)
    except resident_id.ResidentIdError as error:
        raise Unreadable(ErrorCode.DATA_TYPE, error.zh, error.en, error.code) from error
    return text


def person_name(names: Field) -> str | None:
    """The name in characters if sent, family name first; None when there is none."""
    present = [xpn for xpn in names.each() if not xpn.is_empty]
    if not present:
        return None
    chosen = next((xpn for xpn in present if _CJK.search(xpn.text())), present[0])
    parts = [part for part in (chosen.value(1), chosen.value(2), chosen.value(3)) if part]
    return ("" if _CJK.search("".join(parts)) else " ").join(parts) or None


def birth_date(timestamp: Field) -> date:
    """The date of a TS/DTM value: ``19680314``, ``196803140830``, ``19680314083000+0800``."""
    text = timestamp.value(1)
    try:
        if not re.fullmatch(r"\d{8}[\d.+-]*", text):
            raise ValueError(text)
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as error:
        raise Unreadable(
            ErrorCode.DATA_TYPE,
            f"出生日期应为 YYYYMMDD 格式的有效日期：{text}",
            f"The birth date must be a real date written YYYYMMDD: {text}",
            "invalid_birth_date",
        ) from error


def administrative_sex(code: Field) -> Sex:
    """The sex a PID-8 code stands for (HL7 table 0001 or GB/T 2261.1)."""
    value = code.value(1).upper()
    if value not in SEX_CODES:
        raise Unreadable(
            ErrorCode.TABLE_VALUE_NOT_FOUND,
            f"性别代码不存在：{value}（可用 M、F、O、U 或 1、2、0、9）",
            f"Unknown sex code {value} (use M, F, O, U or 1, 2, 0, 9)",
            "unknown_sex_code",
        )
    return SEX_CODES[value]


def address_text(addresses: Field) -> str | None:
    """The home address as one line of text, largest division first."""
    present = [xad for xad in addresses.each() if not xad.is_empty]
    if not present:
        return None
    xad = next((a for a in present if a.value(7).upper() == "H"), present[0])
    street = xad.value(1)
    county = xad.value(9)
    divisions = [xad.value(4), xad.value(3), "" if county.isdigit() else county]
    parts = [part for part in divisions if part and part not in street]
    parts += [part for part in (street, xad.value(2)) if part]
    return ("" if _CJK.search("".join(parts)) else " ").join(parts) or None


def phone_number(numbers: Field) -> str | None:
    """The mobile number if sent, else the first; None when only e-mail or nothing is there."""
    present = [xtn for xtn in numbers.each() if not xtn.is_empty]
    ordered = sorted(present, key=lambda xtn: xtn.value(3).upper() != "CP")
    for xtn in ordered:
        number = xtn.value(12) or xtn.value(1) or (xtn.value(6) + xtn.value(7))
        if number:
            return number
    return None


def insurance_scheme(plan_type: Field) -> InsuranceScheme | None:
    """The basic medical insurance scheme an IN1-15 plan type names, if any."""
    text = plan_type.value(1)
    if text.lower() == "employee" or "职工" in text:
        return InsuranceScheme.EMPLOYEE
    if text.lower() == "resident" or "居民" in text:
        return InsuranceScheme.RESIDENT
    return None


def insured_region(company: Field) -> str | None:
    """IN1-3 CX-1 when it is a GB/T 2260 region code (the 统筹区 the patient is insured in)."""
    code = company.value(1)
    return code if _REGION_CODE.fullmatch(code) else None


# ---------------------------------------------------------------- a PID as record fields


@dataclass
class PatientFields:
    """What PID and IN1 say, as record fields; a field not sent is not in ``changes``."""

    local_id: str | None
    changes: dict[str, Any] = field(default_factory=dict)

    def take(
        self,
        name: str,
        sent: Field,
        read: Callable[[Field], Any],
        *,
        cleared: Any,
        where: ErrorLocation,
    ) -> None:
        """Set ``name`` from the field: the null clears it, an empty field leaves it."""
        if sent.is_null:
            self.changes[name] = cleared
            return
        if sent.is_empty:
            return
        try:
            value = read(sent)
        except Unreadable as error:
            raise Hl7Error(
                AckCode.ERROR, error.code, error.zh, error.en, location=where,
                reason=error.reason,
            ) from error
        if value is not None:
            self.changes[name] = value


def _resident_id_source(pid: Segment) -> tuple[Field, ErrorLocation] | None:
    for repetition, cx in enumerate(pid.field(3).each(), start=1):
        if is_resident_id(cx):
            return cx.component(1), ErrorLocation("PID", 3, repetition=repetition, component=1)
    if not pid.field(19).is_empty:
        return pid.field(19), ErrorLocation("PID", 19)
    return None


def patient_fields(message: Message, pid: Segment, *, facility: str) -> PatientFields:
    """Read a PID segment (and the message's IN1) as the fields of a patient record."""
    fields = PatientFields(local_patient_number(pid.field(3), facility))

    def at(number: int) -> ErrorLocation:
        return ErrorLocation("PID", number)

    fields.take("name", pid.field(5), person_name, cleared="", where=at(5))
    fields.take("birth_date", pid.field(7), birth_date, cleared=None, where=at(7))
    fields.take("sex", pid.field(8), administrative_sex, cleared=Sex.UNKNOWN, where=at(8))
    fields.take("address", pid.field(11), address_text, cleared="", where=at(11))
    fields.take("phone", pid.field(13), phone_number, cleared=None, where=at(13))
    source = _resident_id_source(pid)
    if source is not None:
        number, where = source
        fields.take("id_number", number, resident_id_number, cleared=None, where=where)
    insurance = next(
        (
            in1 for in1 in message.all("IN1")
            if in1.field(15).is_null or insurance_scheme(in1.field(15)) is not None
        ),
        None,
    )
    if insurance is not None:
        fields.take("insurance_scheme", insurance.field(15), insurance_scheme, cleared=None,
                    where=ErrorLocation("IN1", 15))
        fields.take("insured_region_code", insurance.field(3), insured_region, cleared=None,
                    where=ErrorLocation("IN1", 3))
    return fields


# Where each record field came from, for validation errors.
_SOURCE: Mapping[str, ErrorLocation] = {
    "local_id": ErrorLocation("PID", 3),
    "name": ErrorLocation("PID", 5),
    "birth_date": ErrorLocation("PID", 7),
    "sex": ErrorLocation("PID", 8),
    "address": ErrorLocation("PID", 11),
    "phone": ErrorLocation("PID", 13),
    "id_number": ErrorLocation("PID", 3),
    "insured_region_code": ErrorLocation("IN1", 3),
    "insurance_scheme": ErrorLocation("IN1", 15),
}


def _validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        zh, en, details = describe_validation_errors(error.errors())
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.DATA_TYPE, zh, en,
            location=_SOURCE.get(details[0]["field"]), reason="invalid_field",
        ) from error


def _the_pid(message: Message) -> Segment:
    pid = message.segment("PID")
    if pid is None:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.SEGMENT_SEQUENCE,
            f"{message.header.event} 消息缺少 PID 段",
            f"{message.header.event} needs a PID segment",
            location=ErrorLocation("PID"), reason="segment_missing",
        )
    return pid


def _required_local_id(fields: PatientFields, where: ErrorLocation) -> str:
    if not fields.local_id:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.REQUIRED_FIELD_MISSING,
            "未找到本机构患者号（PID-3 中 CX-4 为本机构或类型为 PI/MR 的标识）",
            "No local patient number (a PID-3 identifier assigned by the sending facility, "
            "or of type PI or MR)",
            location=where, reason="local_id_missing",
        )
    return fields.local_id


def _unknown_patient(local_id: str, where: ErrorLocation) -> Hl7Error:
    return Hl7Error(
        AckCode.ERROR, ErrorCode.UNKNOWN_KEY,
        f"本机构没有患者号 {local_id}，请先以 ADT^A04 登记",
        f"No patient number {local_id} at this institution; register it with ADT^A04 first",
        location=where, reason="unknown_patient",
    )


def _accepted(result: str, registration: patients.Registration) -> hl7v2.Accepted:
    return hl7v2.Accepted(
        result,
        patient_id=registration.person.id,
        detail={
            "record_id": registration.record.id,
            "link": registration.outcome.value,
            "reviews": [review.id for review in registration.reviews],
        },
    )


def _update(
    session: Session, inbound: hl7v2.Inbound, record: PatientRecord, fields: PatientFields
) -> hl7v2.Accepted:
    data = _validated(RecordUpdate, fields.changes)
    registration = patients.update_record(
        session, inbound.settings, inbound.principal, record=record, data=data
    )
    return _accepted("updated", registration)


# ---------------------------------------------------------------- handlers


def register_patient(session: Session, inbound: hl7v2.Inbound) -> hl7v2.Accepted:
    """ADT^A04: register the patient; a number already registered is updated as by A08."""
    pid = _the_pid(inbound.message)
    fields = patient_fields(inbound.message, pid, facility=inbound.institution_code)
    local_id = _required_local_id(fields, ErrorLocation("PID", 3))
    record = patients.get_record_by_local_id(
        session, institution_id=inbound.institution_id, local_id=local_id
    )
    if record is not None:
        return _update(session, inbound, record, fields)
    data = _validated(
        RecordCreate,
        {"institution_id": inbound.institution_id, "local_id": local_id, **fields.changes},
    )
    registration = patients.register_record(
        session, inbound.settings, inbound.principal, data=data
    )
    return _accepted("registered", registration)


def update_patient(session: Session, inbound: hl7v2.Inbound) -> hl7v2.Accepted:
    """ADT^A08: change what the institution told us about its patient."""
    pid = _the_pid(inbound.message)
    fields = patient_fields(inbound.message, pid, facility=inbound.institution_code)
    where = ErrorLocation("PID", 3)
    local_id = _required_local_id(fields, where)
    record = patients.get_record_by_local_id(
        session, institution_id=inbound.institution_id, local_id=local_id
    )
    if record is None:
        raise _unknown_patient(local_id, where)
    return _update(session, inbound, record, fields)


def _patient_pairs(message: Message) -> list[tuple[Segment, Segment]]:
    """Each PID with the MRG that follows it (ADT^A40 may merge several pairs)."""
    pairs: list[tuple[Segment, Segment]] = []
    pid: Segment | None = None
    for segment in message.segments:
        if segment.name == "PID":
            if pid is not None:
                break
            pid = segment
        elif segment.name == "MRG" and pid is not None:
            pairs.append((pid, segment))
            pid = None
    if pid is not None or not pairs:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.SEGMENT_SEQUENCE,
            "ADT^A40 的每个 PID 段后须有 MRG 段", "Each PID of ADT^A40 must be followed by MRG",
            location=ErrorLocation("MRG", sequence=len(pairs) + 1), reason="segment_missing",
        )
    return pairs


def _known_record(
    session: Session, inbound: hl7v2.Inbound, identifiers: Field, where: ErrorLocation
) -> PatientRecord:
    local_id = _required_local_id(
        PatientFields(local_patient_number(identifiers, inbound.institution_code)), where
    )
    record = patients.get_record_by_local_id(
        session, institution_id=inbound.institution_id, local_id=local_id
    )
    if record is None:
        raise _unknown_patient(local_id, where)
    return record


def merge_patients(session: Session, inbound: hl7v2.Inbound) -> hl7v2.Accepted:
    """ADT^A40: the sender found two of its numbers are one patient (PID-3 survives MRG-1).

    The two records' people are merged, with history; both records stay, now one person's,
    and the prior number is retired: later updates to it are refused. Merging people who
    are already one merges nothing, so a resent A40 changes nothing.
    """
    header = inbound.message.header
    merged: list[int] = []
    survivor_id: int | None = None
    for sequence, (pid, mrg) in enumerate(_patient_pairs(inbound.message), start=1):
        survivor = _known_record(
            session, inbound, pid.field(3), ErrorLocation("PID", 3, sequence=sequence)
        )
        prior = _known_record(
            session, inbound, mrg.field(1), ErrorLocation("MRG", 1, sequence=sequence)
        )
        survivor_id = survivor.person_id
        if prior.person_id != survivor.person_id:
            event = merging.merge_persons(
                session,
                inbound.settings,
                inbound.principal,
                survivor_id=survivor.person_id,
                retired_id=prior.person_id,
                reason=f"HL7 {header.event} {header.control_id}",
            )
            merged.append(event.id)
        merging.retire_patient_number(prior=prior, survivor=survivor)
    return hl7v2.Accepted(
        "merged" if merged else "already_one_person",
        patient_id=survivor_id,
        detail={"merge_events": merged},
    )


HANDLERS: tuple[hl7v2.MessageHandler, ...] = (
    hl7v2.MessageHandler("ADT", "A04", register_patient),
    hl7v2.MessageHandler("ADT", "A08", update_patient),
    # Merging people acts on the whole index: the account must also steward patients.
    hl7v2.MessageHandler(
        "ADT", "A40", merge_patients, actions=(Action.PATIENT_WRITE, Action.PATIENT_LINK)
    ),
)
