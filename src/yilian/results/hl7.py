"""ORU^R01 for shared results: lab panels and exams from a hospital's LIS, PACS or ECG system.

What is read (HL7 v2.3–2.8):

PID-3   The sender's own patient number (chosen as for ADT, see ``patients.hl7``); the
        patient must already be registered at the sending institution (ADT^A04).
OBR     One report per OBR, with the OBX segments that follow it.
OBR-3   Filler order number: the report's accession number (a correction names it again).
OBR-4   Universal service ID: CE-1 the catalogue code of the item (JJJ-E010); when CE-3 is
        ``LN`` a LOINC code, looked up in the catalogue.
OBR-7   Observation date/time: when the test was performed (YYYYMMDDHHMM[SS], Beijing
        time unless it carries an offset).
OBR-24  Diagnostic service section / department name (kept as the department's name).
OBR-25  Result status: F final, C correction (supersedes the report with that accession).
OBX     Lab values: OBX-3 code (CE-3 ``LN`` marks LOINC), OBX-5 value, OBX-6 unit,
        OBX-7 reference range, OBX-8 abnormal flag (N L H LL HH A).
        Exams: OBX-3 ``110180`` (DICOM "Study Instance UID") with the UID in OBX-5;
        OBX-3 ``VIEWER`` with the image viewer URL; OBX-3 ``IMP`` (or LOINC 19005-8 /
        59776-5) the physician's conclusion — stored and shown, never recognised.

A message is all or nothing: every OBR is stored, or none (AE names the first problem).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian import hl7v2
from yilian.auth.permissions import Action
from yilian.hl7v2 import AckCode, ErrorCode, ErrorLocation, Hl7Error, Message, Segment
from yilian.patients import service as patients
from yilian.patients.hl7 import local_patient_number
from yilian.results import service as results
from yilian.results.models import AbnormalFlag, RecognitionItem, ReportStatus
from yilian.results.schemas import ReportCreate
from yilian.validation import describe_validation_errors

__all__ = ["HANDLERS", "observation_time", "receive_results", "report_groups"]

STUDY_UID_CODES = frozenset({"110180", "STUDYUID"})
VIEWER_CODES = frozenset({"VIEWER"})
CONCLUSION_CODES = frozenset({"IMP", "19005-8", "59776-5", "CONCLUSION"})
STATUSES = {"F": ReportStatus.FINAL, "C": ReportStatus.CORRECTED,
            "W": ReportStatus.ENTERED_IN_ERROR}
_TIME = re.compile(r"(\d{12})(\d{2})?(?:\.\d+)?([+-]\d{4})?")
_BEIJING = timezone(timedelta(hours=8))


def observation_time(text: str, where: ErrorLocation) -> datetime:
    """A DTM of minute precision or better; Beijing time unless an offset is given."""
    match = _TIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        digits, seconds, offset = match.groups()
        zone = _BEIJING
        if offset:
            sign = 1 if offset[0] == "+" else -1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
        return datetime.strptime(digits + (seconds or "00"), "%Y%m%d%H%M%S").replace(tzinfo=zone)
    except ValueError as error:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.DATA_TYPE,
            f"检查时间应为 YYYYMMDDHHMM[SS] 格式：{text}",
            f"The observation time must be written YYYYMMDDHHMM[SS]: {text}",
            location=where, reason="invalid_time",
        ) from error


def report_groups(message: Message) -> list[tuple[Segment, list[Segment]]]:
    """Each OBR with the OBX segments following it; AR when there is no OBR."""
    groups: list[tuple[Segment, list[Segment]]] = []
    for segment in message.segments:
        if segment.name == "OBR":
            groups.append((segment, []))
        elif segment.name == "OBX" and groups:
            groups[-1][1].append(segment)
    if not groups:
        raise Hl7Error(
            AckCode.REJECTED, ErrorCode.SEGMENT_SEQUENCE,
            "ORU^R01 消息缺少 OBR 段", "ORU^R01 needs at least one OBR segment",
            location=ErrorLocation("OBR"), reason="segment_missing",
        )
    return groups


def _item(session: Session, obr: Segment, sequence: int) -> RecognitionItem:
    service = obr.field(4)
    code, system = service.value(1), service.value(3).upper()
    item = results.get_item(session, code=code)
    if item is None and system == "LN":
        item = results.item_by_loinc(session, loinc=code)
    if item is None:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.UNKNOWN_KEY,
            f"互认目录中没有项目 {code}", f"No recognition catalogue item {code}",
            location=ErrorLocation("OBR", 4, sequence=sequence), reason="unknown_item",
        )
    return item


def _flag(text: str, where: ErrorLocation) -> AbnormalFlag | None:
    if not text:
        return None
    try:
        return AbnormalFlag(text.upper())
    except ValueError as error:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.TABLE_VALUE_NOT_FOUND,
            f"异常标志不存在：{text}（可用 N、L、H、LL、HH、A）",
            f"Unknown abnormal flag {text} (use N, L, H, LL, HH, A)",
            location=where, reason="unknown_abnormal_flag",
        ) from error


def _report_fields(
    session: Session, obr: Segment, observations: list[Segment], sequence: int
) -> dict[str, Any]:
    item = _item(session, obr, sequence)
    status_code = obr.value(25).upper() or "F"
    if status_code not in STATUSES:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.TABLE_VALUE_NOT_FOUND,
            f"结果状态不支持：{status_code}（可用 F、C、W）",
            f"Result status {status_code} is not supported (use F, C or W)",
            location=ErrorLocation("OBR", 25, sequence=sequence), reason="unknown_status",
        )
    when = obr.value(7)
    if not when:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.REQUIRED_FIELD_MISSING,
            "OBR-7 检查时间不能为空", "OBR-7 Observation Date/Time is required",
            location=ErrorLocation("OBR", 7, sequence=sequence), reason="required_field_missing",
        )
    fields: dict[str, Any] = {
        "item_code": item.code, "accession": obr.value(3) or obr.value(2),
        "performed_at": observation_time(when, ErrorLocation("OBR", 7, sequence=sequence)),
        "department_name": obr.value(24), "status": STATUSES[status_code],
        "observations": [], "imaging_studies": [],
    }
    study: dict[str, str] = {}
    conclusion: list[str] = []
    for obx in observations:
        code = obx.value(3).upper()
        text = "\n".join(line.value(1) for line in obx.field(5).each())
        if code in STUDY_UID_CODES:
            study["study_uid"] = obx.value(5)
        elif code in VIEWER_CODES:
            study["viewer_url"] = obx.value(5)
        elif code in CONCLUSION_CODES:
            conclusion.append(text)
        else:
            fields["observations"].append({
                "code": obx.value(3), "code_system": obx.field(3).value(3),
                "name": obx.field(3).value(2), "value": obx.value(5), "unit": obx.value(6),
                "reference_range": obx.value(7),
                "abnormal_flag": _flag(obx.value(8), ErrorLocation("OBX", 8)),
            })
    if study:
        fields["imaging_studies"].append(
            {**study, "modality": item.modality, "body_site": item.body_site})
    fields["conclusion"] = "\n".join(part for part in conclusion if part)
    return fields


def receive_results(session: Session, inbound: hl7v2.Inbound) -> hl7v2.Accepted:
    """ORU^R01: store each OBR's report for the sender's patient (all or none)."""
    message = inbound.message
    pid = message.segment("PID")
    where = ErrorLocation("PID", 3)
    if pid is None:
        raise Hl7Error(AckCode.ERROR, ErrorCode.SEGMENT_SEQUENCE,
                       "ORU^R01 消息缺少 PID 段", "ORU^R01 needs a PID segment",
                       location=ErrorLocation("PID"), reason="segment_missing")
    local_id = local_patient_number(pid.field(3), inbound.institution_code)
    record = (patients.get_record_by_local_id(
        session, institution_id=inbound.institution_id, local_id=local_id) if local_id else None)
    if record is None:
        raise Hl7Error(
            AckCode.ERROR, ErrorCode.UNKNOWN_KEY,
            f"本机构没有患者号 {local_id or '（空）'}，请先以 ADT^A04 登记",
            f"No patient number {local_id or '(none)'} at this institution; "
            "register it with ADT^A04 first",
            location=where, reason="unknown_patient",
        )
    stored: list[int] = []
    for sequence, (obr, observations) in enumerate(report_groups(message), start=1):
        fields = _report_fields(session, obr, observations, sequence)
        try:
            data = ReportCreate.model_validate({
                **fields, "person_id": record.person_id,
                "institution_id": inbound.institution_id,
            })
        except ValidationError as error:
            zh, en, _ = describe_validation_errors(error.errors())
            raise Hl7Error(AckCode.ERROR, ErrorCode.DATA_TYPE, zh, en,
                           location=ErrorLocation("OBR", sequence=sequence),
                           reason="invalid_field") from error
        stored.append(results.create_report(session, inbound.principal, data=data).id)
    return hl7v2.Accepted("results_stored", patient_id=record.person_id,
                          detail={"report_ids": stored})


HANDLERS: tuple[hl7v2.MessageHandler, ...] = (
    hl7v2.MessageHandler("ORU", "R01", receive_results, actions=(Action.RESULT_WRITE,)),
)
