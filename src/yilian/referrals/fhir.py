"""Referrals as FHIR: ``ServiceRequest/{id}`` is what is asked, ``Task/{id}`` its workflow
(the same id; ``Task.focus`` is the ServiceRequest), as IHE 360X and China's referral guides
model them. Read and search both; create a ServiceRequest (the Task starts ``requested``);
update a draft ServiceRequest (posting it as active sends it); update a Task's status,
which goes through the same transition table as the REST API.

Task create: every ServiceRequest has exactly one Task (the same row), so posting a Task
does not make a second workflow. It is the IHE 360X way of *starting* the workflow of a
request made as a draft: a Task with ``status: requested`` whose ``focus`` (or
``basedOn``) is a draft ServiceRequest sends that request, exactly as the REST ``submit``
step does (referring side only, response clock started), and is answered 201 with the
Task. A Task for a request whose workflow has already started is a 409 naming the
existing Task; one that starts in any other status, or names no request, another patient
or another receiving Organization, is a 422.

Mapping: ServiceRequest.status is ``draft`` / ``active`` (open) / ``completed`` / ``revoked``
(declined, cancelled, failed); priority routine / urgent / stat (emergency); ``reasonCode`` the
ICD-10 diagnosis; requester and performer the two Organizations. ``meta.versionId`` is the
referral's version: a Task update carrying an older one is a 409.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal, authorize
from yilian.config import Settings
from yilian.deps import AppSettings, DbSession, RequirePermission
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.fhir.bundle import FHIR_JSON, fhir_response, validated
from yilian.fhir.capability import ResourceHandler, not_found
from yilian.fhir.search import (
    ID_PARAM,
    ParamType,
    SearchParam,
    SearchQuery,
    SearchResult,
    int_ids,
    reference_ids,
    strings,
    tokens,
)
from yilian.referrals import booking
from yilian.referrals import service as referrals
from yilian.referrals.models import Referral, ReferralKind, TaskStatus, Urgency
from yilian.referrals.schemas import BookingBody, CompletionBody, ReferralCreate
from yilian.referrals.states import ReferralAction, action_for
from yilian.validation import describe_validation_errors

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
KIND_SYSTEM = "https://yilian.example.cn/fhir/CodeSystem/referral-kind"
DIRECTION_EXTENSION = "https://yilian.example.cn/fhir/StructureDefinition/referral-direction"
GREEN_CHANNEL_EXTENSION = "https://yilian.example.cn/fhir/StructureDefinition/green-channel"
SNOMED = "http://snomed.info/sct"
PRIORITY = {Urgency.ROUTINE: "routine", Urgency.URGENT: "urgent", Urgency.EMERGENCY: "stat"}
URGENCY_OF = {code: urgency for urgency, code in PRIORITY.items()} | {"asap": Urgency.URGENT}
_OPEN = {TaskStatus.REQUESTED, TaskStatus.RECEIVED, TaskStatus.ACCEPTED, TaskStatus.READY,
         TaskStatus.IN_PROGRESS}
_REVOKED = {TaskStatus.REJECTED, TaskStatus.CANCELLED, TaskStatus.FAILED}


def request_status(status: TaskStatus) -> str:
    """ServiceRequest.status of a referral in this Task status."""
    if status is TaskStatus.DRAFT:
        return "draft"
    if status is TaskStatus.COMPLETED:
        return "completed"
    return "revoked" if status in _REVOKED else "active"


def _meta(referral: Referral) -> dict[str, Any]:
    return {"versionId": str(referral.version),
            "lastUpdated": referral.updated_at.isoformat()}


def _organization(institution_id: int) -> dict[str, str]:
    return {"reference": f"Organization/{institution_id}"}


def service_request(referral: Referral) -> dict[str, Any]:
    """The referral as a FHIR ServiceRequest (what is asked)."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(referral.id),
        "meta": _meta(referral),
        "status": request_status(referral.status),
        "intent": "order",
        "category": [{"coding": [{"system": SNOMED, "code": "3457005",
                                  "display": "Patient referral"}]}],
        "priority": PRIORITY[referral.urgency],
        "code": {"coding": [{"system": KIND_SYSTEM, "code": referral.kind.value}]},
        "subject": {"reference": f"Patient/{referral.person_id}"},
        "authoredOn": referral.created_at.isoformat(),
        "requester": _organization(referral.referring_institution_id),
        "performer": [_organization(referral.target_institution_id)],
        "reasonCode": [{"coding": [{"system": ICD10_SYSTEM, "code": referral.diagnosis_code,
                                    "display": referral.diagnosis_text}],
                        "text": referral.diagnosis_text}],
        "note": [{"text": referral.reason}],
        "extension": [{"url": DIRECTION_EXTENSION, "valueCode": referral.direction.value}],
    }
    if referral.target_department_id:
        resource["performer"].append(
            {"reference": f"Organization/dept-{referral.target_department_id}"})
    if referral.green_channel:
        resource["extension"].append({"url": GREEN_CHANNEL_EXTENSION,
                                      "valueCode": referral.green_channel.value})
    if referral.clinical_summary:
        resource["note"].append({"text": referral.clinical_summary})
    if referral.based_on_id:
        resource["basedOn"] = [{"reference": f"ServiceRequest/{referral.based_on_id}"}]
    return resource


def task(referral: Referral) -> dict[str, Any]:
    """The referral's workflow as a FHIR Task."""
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(referral.id),
        "meta": _meta(referral),
        "status": referral.status.value,
        "intent": "order",
        "priority": PRIORITY[referral.urgency],
        "focus": {"reference": f"ServiceRequest/{referral.id}"},
        "for": {"reference": f"Patient/{referral.person_id}"},
        "authoredOn": referral.created_at.isoformat(),
        "lastModified": referral.updated_at.isoformat(),
        "requester": _organization(referral.referring_institution_id),
        "owner": _organization(referral.target_institution_id),
    }
    if referral.response_due_at:
        resource["restriction"] = {"period": {"end": referral.response_due_at.isoformat()}}
    if referral.response_reason:
        resource["statusReason"] = {"text": referral.response_reason}
    outputs: list[dict[str, Any]] = []
    if referral.appointment_ref:
        outputs.append({"type": {"text": "appointment"},
                        "valueReference": {"reference": referral.appointment_ref}})
    if referral.advice:
        outputs.append({"type": {"text": "advice"}, "valueString": referral.advice})
    if referral.outcome_summary:
        outputs.append({"type": {"text": "discharge-summary"},
                        "valueString": referral.outcome_summary})
    if referral.follow_up_plan:
        outputs.append({"type": {"text": "follow-up-plan"}, "valueString": referral.follow_up_plan})
    if outputs:
        resource["output"] = outputs
    return resource


# ---------------------------------------------------------------- read and search


def _read(session: Session, principal: Principal, resource_id: str, kind: str) -> Referral:
    ids = int_ids([resource_id])
    try:
        return referrals.get_or_raise(session, principal, referral_id=ids[0] if ids else -1)
    except NotFound:
        raise not_found(kind, resource_id) from None


def read_service_request(
    session: Session, principal: Principal, resource_id: str
) -> dict[str, Any]:
    """One referral as a ServiceRequest (audited)."""
    return service_request(_read(session, principal, resource_id, "ServiceRequest"))


def read_task(session: Session, principal: Principal, resource_id: str) -> dict[str, Any]:
    """One referral's Task (audited)."""
    return task(_read(session, principal, resource_id, "Task"))


def _search(session: Session, principal: Principal, query: SearchQuery,
            *, status_of: Any) -> tuple[list[Referral], int]:
    authorize(principal, Action.REFERRAL_READ)
    statement = select(Referral)
    condition = referrals.visible(principal)
    if condition is not None:
        statement = statement.where(condition)
    for clause in query.clauses:
        if clause.name == "_id":
            statement = statement.where(Referral.id.in_(int_ids(strings(clause))))
        elif clause.name in ("patient", "subject", "for"):
            statement = statement.where(
                Referral.person_id.in_(int_ids(reference_ids(clause, "Patient"))))
        elif clause.name == "status":
            wanted = {t.code for t in tokens(clause)}
            statement = statement.where(Referral.status.in_(
                [s for s in TaskStatus if status_of(s) in wanted]))
        elif clause.name in ("requester",):
            statement = statement.where(Referral.referring_institution_id.in_(
                int_ids(reference_ids(clause, "Organization"))))
        elif clause.name in ("performer", "owner"):
            statement = statement.where(Referral.target_institution_id.in_(
                int_ids(reference_ids(clause, "Organization"))))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(session.scalars(statement.order_by(Referral.id.desc())
                                .offset(query.offset).limit(query.count)))
    referrals.audit_search(session, principal, rows, total=total)
    return rows, total


def search_service_requests(session: Session, principal: Principal,
                            query: SearchQuery) -> SearchResult:
    """Referrals the principal may see, as ServiceRequests."""
    rows, total = _search(session, principal, query, status_of=request_status)
    return SearchResult([service_request(row) for row in rows], total)


def search_tasks(session: Session, principal: Principal, query: SearchQuery) -> SearchResult:
    """Referrals the principal may see, as Tasks."""
    rows, total = _search(session, principal, query, status_of=lambda s: s.value)
    return SearchResult([task(row) for row in rows], total)


_COMMON = (
    ID_PARAM,
    SearchParam("patient", ParamType.REFERENCE, "The patient referred (Patient/{id})."),
    SearchParam("requester", ParamType.REFERENCE, "The referring Organization."),
)
SERVICE_REQUEST = ResourceHandler(
    resource_type="ServiceRequest", action=Action.REFERRAL_READ,
    documentation="Referrals (双向转诊) the reader's institution made or receives.",
    read=read_service_request, search=search_service_requests,
    interactions=("read", "search-type", "create", "update"),
    search_params=(*_COMMON,
                   SearchParam("status", ParamType.TOKEN, "draft | active | completed | revoked"),
                   SearchParam("performer", ParamType.REFERENCE, "The receiving Organization.")),
)
TASK = ResourceHandler(
    resource_type="Task", action=Action.REFERRAL_READ,
    documentation="The workflow of each referral; update its status to take a step (the "
                  "same transition rules as the REST API; an illegal step is a 409). Create "
                  "a Task (status requested, focus a draft ServiceRequest) to send that "
                  "request; a request already under way has its Task (409).",
    read=read_task, search=search_tasks,
    interactions=("read", "search-type", "create", "update"),
    search_params=(*_COMMON,
                   SearchParam("status", ParamType.TOKEN, "A FHIR Task status"),
                   SearchParam("owner", ParamType.REFERENCE, "The receiving Organization.")),
)
HANDLERS = (SERVICE_REQUEST, TASK)


# ---------------------------------------------------------------- create and update


def _valid(body: dict[str, Any], resource_type: str) -> Any:
    if body.get("resourceType") != resource_type:
        raise InvalidInput("invalid_resource", f"请提交 {resource_type} 资源",
                           f"Send a {resource_type} resource")
    try:
        return validated(body)
    except ValidationError as invalid:
        zh, en, details = describe_validation_errors(invalid.errors())
        raise InvalidInput("invalid_resource", zh, en, details) from None


def _ref_id(reference: Any, resource_type: str) -> int | None:
    text = getattr(reference, "reference", None) or ""
    ids = int_ids([text.removeprefix(f"{resource_type}/")]) if text.startswith(
        f"{resource_type}/") else []
    return ids[0] if ids else None


def create_service_request(session: Session, settings: Settings, principal: Principal,
                           body: dict[str, Any]) -> Referral:
    """Make a referral from a posted ServiceRequest (consent taken as given by the sender)."""
    return referrals.create(session, settings, principal, data=_referral_create(body))


def update_service_request(session: Session, settings: Settings, principal: Principal,
                           resource_id: str, body: dict[str, Any]) -> Referral:
    """Change a draft referral from a posted ServiceRequest (409 once it was sent)."""
    if body.get("id") != resource_id:
        raise InvalidInput("id_mismatch", "资源 id 与地址不一致",
                           "The resource's id is not the one in the URL")
    referral = _read(session, principal, resource_id, "ServiceRequest")
    return referrals.update_draft(session, settings, principal, referral=referral,
                                  data=_referral_create(body))


def _referral_create(body: dict[str, Any]) -> ReferralCreate:
    """A posted ServiceRequest in the referral's own terms."""
    request = _valid(body, "ServiceRequest")
    performers = request.performer or []
    target = next((i for p in performers if (i := _ref_id(p, "Organization"))), None)
    department = next((int(p.reference.split("dept-")[1]) for p in performers
                       if p.reference and p.reference.startswith("Organization/dept-")), None)
    reason = (request.reasonCode or [None])[0]
    coding = (reason.coding or [None])[0] if reason else None
    kind_code = next((c.code for c in (request.code.coding if request.code else []) or []
                      if c.system == KIND_SYSTEM), ReferralKind.OUTPATIENT.value)
    green = next((e.valueCode for e in request.extension or []
                  if e.url == GREEN_CHANNEL_EXTENSION), None)
    notes = [n.text for n in request.note or [] if n.text]
    data = {
        "person_id": _ref_id(request.subject, "Patient"), "target_institution_id": target,
        "target_department_id": department, "kind": kind_code,
        "urgency": URGENCY_OF.get(request.priority or "routine", Urgency.ROUTINE),
        "green_channel": green, "diagnosis_code": coding.code if coding else "",
        "diagnosis_text": (coding.display if coding else "") or (reason.text if reason else ""),
        "reason": notes[0] if notes else "", "clinical_summary": "\n".join(notes[1:]),
        "consent_recorded": True, "draft": request.status == "draft",
    }
    try:
        return ReferralCreate.model_validate(data)
    except ValidationError as invalid:
        zh, en, details = describe_validation_errors(invalid.errors())
        raise InvalidInput("invalid_resource", zh, en, details) from None


def _task_request_id(posted: Any) -> int:
    """The ServiceRequest a posted Task is for (its focus or basedOn, which must agree)."""
    named = [_ref_id(posted.focus, "ServiceRequest"),
             *(_ref_id(ref, "ServiceRequest") for ref in posted.basedOn or [])]
    ids = {i for i in named if i is not None}
    if not ids:
        raise InvalidInput("task_request_required",
                           "任务须以 focus 或 basedOn 指明所属的转诊申请（ServiceRequest）",
                           "A Task names its referral in focus or basedOn "
                           "(ServiceRequest/{id})")
    if len(ids) > 1:
        raise InvalidInput("task_request_ambiguous", "任务的 focus 与 basedOn 指向不同的转诊申请",
                           "The Task's focus and basedOn name different ServiceRequests")
    return ids.pop()


def create_task(session: Session, settings: Settings, principal: Principal,
                body: dict[str, Any]) -> Referral:
    """Start the workflow of a draft ServiceRequest from a posted Task (it is sent, as by the
    REST ``submit`` step); 409 when the request's Task is already under way."""
    posted = _valid(body, "Task")
    request_id = _task_request_id(posted)
    referral = _read(session, principal, str(request_id), "ServiceRequest")
    wanted = TaskStatus(posted.status)
    if wanted is not TaskStatus.REQUESTED:
        raise InvalidInput(
            "task_start_status",
            f"新建任务的状态须为 requested（发出转诊），不能为 {wanted.value}；"
            "后续步骤请更新已有任务",
            f"A new Task starts as requested (the referral is sent), not {wanted.value}; "
            "later steps update the existing Task",
        )
    patient = _ref_id(getattr(posted, "for_fhir", None), "Patient")
    if patient is not None and patient != referral.person_id:
        raise InvalidInput("task_other_patient", "任务的患者（for）与转诊申请的患者不一致",
                           "The Task's patient (for) is not the ServiceRequest's subject")
    owner = _ref_id(posted.owner, "Organization")
    if owner is not None and owner != referral.target_institution_id:
        raise InvalidInput("task_other_owner", "任务的执行机构（owner）与转诊申请的接收机构不一致",
                           "The Task's owner is not the ServiceRequest's receiving Organization")
    if referral.status is not TaskStatus.DRAFT:
        raise Conflict(
            "task_exists",
            f"转诊申请 ServiceRequest/{referral.id} 已有任务 Task/{referral.id}"
            f"（状态 {referral.status.value}），请更新该任务",
            f"ServiceRequest/{referral.id} already has its Task, Task/{referral.id} "
            f"({referral.status.value}); update that Task instead",
        )
    referrals.submit(session, settings, principal, referral=referral)
    return referral


def update_task(session: Session, settings: Settings, principal: Principal, resource_id: str,
                body: dict[str, Any]) -> Referral:
    """Take the step that leads to the posted Task's status (409 when the table forbids it)."""
    posted = _valid(body, "Task")
    if posted.id != resource_id:
        raise InvalidInput("id_mismatch", "资源 id 与地址不一致",
                           "The resource's id is not the one in the URL")
    referral = _read(session, principal, resource_id, "Task")
    wanted = TaskStatus(posted.status)
    if wanted is referral.status:
        return referral
    version = int(posted.meta.versionId) if posted.meta and posted.meta.versionId and (
        posted.meta.versionId.isdigit()) else None
    reason = posted.statusReason.text if posted.statusReason and posted.statusReason.text else ""
    outputs = {(o.type.text or ""): o for o in posted.output or []}
    action = action_for(referral.status, wanted)
    if action is ReferralAction.ACCEPT:
        referrals.accept(session, settings, principal, referral=referral,
                         expected_version=version)
    elif action is ReferralAction.REJECT:
        referrals.decline(session, principal, referral=referral, reason=reason,
                          expected_version=version)
    elif action is ReferralAction.BOOK:
        appointment = outputs.get("appointment")
        ref = appointment.valueReference.reference if appointment and (
            appointment.valueReference) else ""
        start = posted.executionPeriod.start if posted.executionPeriod else None
        booking.book(session, principal, referral=referral, expected_version=version,
                       data=BookingBody(appointment_ref=ref or "", appointment_at=start))
    elif action is ReferralAction.COMPLETE:
        summary = outputs.get("discharge-summary")
        plan = outputs.get("follow-up-plan")
        referrals.complete(session, settings, principal, referral=referral,
                           expected_version=version, data=CompletionBody(
                               outcome_summary=(summary.valueString if summary else "") or "",
                               follow_up_plan=(plan.valueString if plan else "") or ""))
    elif action is ReferralAction.SUBMIT:
        referrals.submit(session, settings, principal, referral=referral,
                         expected_version=version)
    else:
        referrals.transition(session, principal, referral=referral, action=action,
                             reason=reason, expected_version=version)
    return referral


router = APIRouter(prefix="/fhir/r4", tags=["fhir"])
FhirBody = Body(media_type=FHIR_JSON)


@router.post("/ServiceRequest", name="fhir_create_ServiceRequest", status_code=201,
             summary="Create ServiceRequest (a referral)", response_class=Response)
def post_service_request(
    request: Request, session: DbSession, settings: AppSettings,
    body: dict[str, Any] = FhirBody,
    principal: Principal = RequirePermission(Action.REFERRAL_WRITE),
) -> Response:
    """Refer a patient: the answer is the ServiceRequest; its Task starts as requested."""
    referral = create_service_request(session, settings, principal, body)
    response = fhir_response(service_request(referral), status_code=201)
    response.headers["Location"] = f"{request.base_url}fhir/r4/ServiceRequest/{referral.id}"
    return response


@router.put("/ServiceRequest/{resource_id}", name="fhir_update_ServiceRequest",
            summary="Update ServiceRequest (a draft referral)", response_class=Response)
def put_service_request(
    resource_id: str, session: DbSession, settings: AppSettings,
    body: dict[str, Any] = FhirBody,
    principal: Principal = RequirePermission(Action.REFERRAL_WRITE),
) -> Response:
    """Change a draft referral; posting it with status active sends it."""
    referral = update_service_request(session, settings, principal, resource_id, body)
    return fhir_response(service_request(referral))


@router.post("/Task", name="fhir_create_Task", status_code=201,
             summary="Create Task (send a draft referral)", response_class=Response)
def post_task(
    request: Request, session: DbSession, settings: AppSettings,
    body: dict[str, Any] = FhirBody,
    principal: Principal = RequirePermission(Action.REFERRAL_WRITE),
) -> Response:
    """Start the workflow of a draft ServiceRequest: its Task becomes requested."""
    referral = create_task(session, settings, principal, body)
    response = fhir_response(task(referral), status_code=201)
    response.headers["Location"] = f"{request.base_url}fhir/r4/Task/{referral.id}"
    return response


@router.put("/Task/{resource_id}", name="fhir_update_Task", summary="Update Task (a step)",
            response_class=Response)
def put_task(
    resource_id: str, session: DbSession, settings: AppSettings,
    body: dict[str, Any] = FhirBody,
    principal: Principal = RequirePermission(Action.REFERRAL_READ),
) -> Response:
    """Move the referral to the posted status, if the transition table allows it."""
    return fhir_response(task(update_task(session, settings, principal, resource_id, body)))
