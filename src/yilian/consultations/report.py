"""The report: the experts' structured opinion, signed by each of them; the first
signature freezes its content (later signatures sign the same hash), amendments are
appended below it, never edits. When the last expert signs, the consultation is reported
and the requester finds the report in their inbox; from it they start the referral it
recommends in one step. Documents attached to a consultation are kept here too."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Principal
from yilian.config import Settings
from yilian.consultations import events
from yilian.consultations import service as consultations
from yilian.consultations.models import (
    Consultation,
    ConsultationAmendment,
    ConsultationDocument,
    ConsultationReport,
    ConsultationStatus,
    ReportSignature,
)
from yilian.consultations.schemas import ReferralFromReport, ReportBody
from yilian.consultations.states import ConsultationAction, Side
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yilian.referrals import rules as referral_rules
from yilian.referrals import service as referrals
from yilian.referrals.models import Referral
from yilian.referrals.schemas import ReferralCreate

WRITABLE = frozenset({ConsultationStatus.SCHEDULED, ConsultationStatus.IN_SESSION})


def get_report(session: Session, *, consultation: Consultation) -> ConsultationReport | None:
    """The consultation's report, if one was drafted."""
    return session.scalars(select(ConsultationReport).where(
        ConsultationReport.consultation_id == consultation.id)).first()


def content_hash(report: ConsultationReport) -> str:
    """SHA-256 of what is signed: the four parts of the opinion."""
    content = json.dumps([report.findings, report.assessment, report.recommendations,
                          report.refer_up], ensure_ascii=False)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def is_signed(report: ConsultationReport | None) -> bool:
    """Whether any expert signed it (then it is frozen)."""
    return report is not None and bool(report.content_sha256)


def _expert(principal: Principal, consultation: Consultation) -> int:
    if not consultations.may_act_for(principal, consultation, Side.EXPERT) or (
            principal.practitioner_id is None):
        raise PermissionDenied("只有受邀专家可以撰写和签署会诊报告",
                               "Only an assigned expert may write and sign the report",
                               action="consultation.give")
    return principal.practitioner_id


def save_draft(session: Session, principal: Principal, *, consultation: Consultation,
               data: ReportBody) -> ConsultationReport:
    """Write or change the opinion before anyone signs it."""
    _expert(principal, consultation)
    if consultation.status not in WRITABLE:
        raise Conflict("report_not_open", "会诊尚未开始或已结束，不能撰写报告",
                       "The report can be written only for a scheduled or running session")
    report = get_report(session, consultation=consultation)
    if is_signed(report):
        raise Conflict("report_signed", "报告已签署，不能修改，请追加补充说明",
                       "The report is signed and cannot change; append an amendment")
    if report is None:
        report = ConsultationReport(consultation_id=consultation.id,
                                    drafted_by=principal.username)
        session.add(report)
    report.findings, report.assessment = data.findings, data.assessment
    report.recommendations, report.refer_up = data.recommendations, data.refer_up
    report.drafted_by, report.updated_at = principal.username, utcnow()
    session.flush()
    audit.record(session, action="consultation.report.write", entity_type="consultation",
                 entity_id=str(consultation.id),
                 institution_id=consultation.target_institution_id,
                 patient_id=consultation.person_id)
    return report


def sign(session: Session, principal: Principal, *, consultation: Consultation,
         ) -> ReportSignature:
    """Sign the report as one of its experts; the last signature reports the consultation
    and sends it to the requester's inbox."""
    practitioner_id = _expert(principal, consultation)
    report = get_report(session, consultation=consultation)
    if report is None or not report.assessment:
        raise Conflict("no_report", "尚无报告可签署", "There is no report to sign yet")
    if consultation.status is not ConsultationStatus.IN_SESSION:
        raise Conflict("not_in_session", "会诊开始后才能签署报告",
                       "The report is signed once the session has started")
    if any(s.practitioner_id == practitioner_id for s in report.signatures):
        raise Conflict("already_signed", "您已签署该报告", "You have already signed the report")
    if not report.content_sha256:
        report.content_sha256 = content_hash(report)
    elif content_hash(report) != report.content_sha256:  # the frozen text was tampered with
        raise Conflict("report_changed", "报告内容与首次签署时不一致",
                       "The report differs from what was first signed")
    signature = ReportSignature(report_id=report.id, practitioner_id=practitioner_id,
                                user_id=principal.user_id, signer=principal.username,
                                content_sha256=report.content_sha256)
    report.signatures.append(signature)
    events.record_event(session, consultation=consultation, principal=principal,
                        action="signed", note=report.content_sha256)
    session.flush()
    audit.record(session, action="consultation.report.sign", entity_type="consultation",
                 entity_id=str(consultation.id),
                 institution_id=consultation.target_institution_id,
                 patient_id=consultation.person_id)
    signed = {s.practitioner_id for s in report.signatures}
    if set(consultations.expert_ids(consultation)) <= signed:
        done = consultations.transition(session, None, consultation=consultation,
                                        action=ConsultationAction.SIGN_OFF)
        events.tell_requester(session, consultation=done, what="reported",
                              title_zh="会诊报告已签署", title_en="report signed")
    return signature


def amend(session: Session, principal: Principal, *, consultation: Consultation,
          text: str) -> ConsultationAmendment:
    """Append an amendment to the signed report (an assigned expert); the requester hears."""
    _expert(principal, consultation)
    report = get_report(session, consultation=consultation)
    if report is None or not is_signed(report):
        raise Conflict("report_unsigned", "报告尚未签署，请直接修改草稿",
                       "The report is not signed yet; change the draft instead")
    if not text.strip():
        raise InvalidInput("text_required", "请填写补充说明", "Write the amendment")
    amendment = ConsultationAmendment(report_id=report.id, text=text.strip(),
                                      author=principal.username,
                                      author_user_id=principal.user_id)
    report.amendments.append(amendment)
    events.record_event(session, consultation=consultation, principal=principal,
                        action="amended", note=text.strip())
    session.flush()
    audit.record(session, action="consultation.report.amend", entity_type="consultation",
                 entity_id=str(consultation.id),
                 institution_id=consultation.target_institution_id,
                 patient_id=consultation.person_id)
    events.tell_requester(session, consultation=consultation, what="amended",
                          title_zh="会诊报告有补充说明", title_en="report amended")
    return amendment


def start_referral(session: Session, settings: Settings, principal: Principal, *,
                   consultation: Consultation, data: ReferralFromReport) -> Referral:
    """From the signed report, a draft referral of the main patient to the consulted
    institution, its question, diagnosis and opinion filled in; once per consultation."""
    if not consultations.may_act_for(principal, consultation, Side.REQUESTER):
        raise PermissionDenied("只有申请方可以据此报告发起转诊",
                               "Only the requesting side may refer from this report",
                               action="consultation.request")
    report = get_report(session, consultation=consultation)
    if consultation.status not in (ConsultationStatus.REPORTED, ConsultationStatus.CLOSED) or (
            not is_signed(report)) or report is None:
        raise Conflict("report_not_signed", "会诊报告签署后才能据此发起转诊",
                       "A referral starts from the signed report")
    if consultation.follow_up_referral_id is not None:
        raise Conflict("referral_started",
                       f"已据此报告发起转诊 #{consultation.follow_up_referral_id}",
                       f"Referral #{consultation.follow_up_referral_id} was already started "
                       "from this report")
    summary = "\n\n".join(part for part in (
        consultation.clinical_summary,
        f"会诊 #{consultation.id} 所见 / findings: {report.findings}" if report.findings else "",
        f"会诊意见 / assessment: {report.assessment}",
    ) if part)
    referral = referrals.create(session, settings, principal, data=ReferralCreate(
        person_id=consultation.person_id,
        target_institution_id=consultation.target_institution_id,
        target_department_id=data.target_department_id or consultation.target_department_id,
        kind=data.kind, urgency=consultation.urgency,
        diagnosis_code=consultation.diagnosis_code, diagnosis_text=consultation.diagnosis_text,
        reason=report.recommendations[:4000], clinical_summary=summary[:20000],
        consent_recorded=data.consent_recorded, consent_note=data.consent_note, draft=True,
    ))
    locked = consultations.lock(session, consultation_id=consultation.id)
    locked.follow_up_referral_id = referral.id
    events.record_event(session, consultation=locked, principal=principal,
                        action="referred", note=f"ServiceRequest/{referral.id}")
    session.flush()
    return referral


# ---------------------------------------------------------------- documents


def attach_document(session: Session, settings: Settings, principal: Principal, *,
                    consultation: Consultation, filename: str,
                    content: bytes) -> ConsultationDocument:
    """Attach a medical record (PDF, JPEG or PNG by its bytes; size-limited), either side."""
    if not any(consultations.may_act_for(principal, consultation, side) for side in Side):
        raise PermissionDenied("无权为该会诊上传资料",
                               "You may not attach documents to this consultation",
                               action="consultation.request")
    if len(content) > settings.consultation_document_max_bytes:
        limit = settings.consultation_document_max_bytes // (1024 * 1024)
        raise InvalidInput("document_too_large", f"文件超过 {limit} MB 上限",
                           f"The file is larger than the {limit} MB limit")
    content_type = referral_rules.sniff_document_type(content)
    if content_type is None:
        raise InvalidInput("document_type", "只接受 PDF、JPEG 或 PNG 文件",
                           "Only PDF, JPEG or PNG files are accepted")
    document = ConsultationDocument(
        consultation_id=consultation.id, filename=filename[:200] or "document",
        content_type=content_type, size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), content=content,
        uploaded_by=principal.username)
    session.add(document)
    events.record_event(session, consultation=consultation, principal=principal,
                        action="document", note=document.filename)
    session.flush()
    audit.record(session, action="consultation.document.upload", entity_type="consultation",
                 entity_id=str(consultation.id),
                 institution_id=consultation.target_institution_id,
                 patient_id=consultation.person_id)
    return document


def list_documents(session: Session, *,
                   consultation: Consultation) -> Sequence[ConsultationDocument]:
    """The consultation's documents (without their content), oldest first."""
    return session.scalars(select(ConsultationDocument).where(
        ConsultationDocument.consultation_id == consultation.id)
        .order_by(ConsultationDocument.id)).all()


def read_document(session: Session, *, consultation: Consultation,
                  document_id: int) -> ConsultationDocument:
    """One document with its content; the download is audited."""
    document = session.get(ConsultationDocument, document_id)
    if document is None or document.consultation_id != consultation.id:
        raise NotFound("会诊资料", "Document", document_id)
    audit.record(session, action="consultation.document.read",
                 entity_type="consultation_document", entity_id=str(document.id),
                 institution_id=consultation.target_institution_id,
                 patient_id=consultation.person_id)
    return document
