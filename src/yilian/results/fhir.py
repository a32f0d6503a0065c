"""FHIR R4 DiagnosticReport, Observation and ImagingStudy: read, search and intake.

Search reads the results tables, limited to the people the reader may see (the patient
index decides: ``patients.visible_person_ids``), and is audited. Intake (``POST
DiagnosticReport`` with contained Observations and ImagingStudy, or a transaction Bundle
whose DiagnosticReport references Observations by their ``urn:uuid`` fullUrls) is mapped
onto ``results.create_report``: the same rules as HL7 and the API, all or nothing.

Codes: ``code`` carries the recognition catalogue code (system :data:`CATALOGUE`) and the
LOINC code where the catalogue has one; searching ``code`` takes either. ``performer`` is
the performing Organization; ``date`` the time performed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal
from yilian.errors import InvalidInput
from yilian.fhir import systems
from yilian.fhir.capability import ResourceHandler, not_found
from yilian.fhir.dates import instant_bounds
from yilian.fhir.search import (
    ID_PARAM,
    Clause,
    ParamType,
    SearchParam,
    SearchQuery,
    SearchResult,
    any_of,
    dates,
    int_ids,
    page_statements,
    prefixed_id,
    reference_ids,
    standard,
    strings,
    tokens,
)
from yilian.patients import service as patients
from yilian.registry import service as registry
from yilian.results import service as results
from yilian.results.models import (
    DiagnosticReport,
    ImagingStudy,
    ItemCategory,
    Observation,
    RecognitionItem,
    ReportStatus,
)
from yilian.results.schemas import ReportCreate
from yilian.validation import describe_validation_errors

CATALOGUE = f"{systems.CANONICAL_BASE}/CodeSystem/recognition-item"
ACCESSION = f"{systems.CANONICAL_BASE}/sid/accession"
SUPERSEDES = f"{systems.CANONICAL_BASE}/StructureDefinition/supersedes"
VIEWER_URL = f"{systems.CANONICAL_BASE}/StructureDefinition/image-viewer"
LOINC = "http://loinc.org"
V2_SECTION = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DICOM_UID = "urn:dicom:uid"

# ---------------------------------------------------------------- resources


def _code(item: RecognitionItem | None, item_code: str) -> dict[str, Any]:
    coding = [{"system": CATALOGUE, "code": item_code,
               **({"display": item.name} if item else {})}]
    if item is not None and item.loinc:
        coding.append({"system": LOINC, "code": item.loinc, "display": item.name_en})
    return {"coding": coding, "text": item.name if item else item_code}


def report_resource(report: DiagnosticReport, item: RecognitionItem | None) -> dict[str, Any]:
    """A result as FHIR DiagnosticReport."""
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": str(report.id),
        "status": report.status.value,
        "category": [{"coding": [{"system": V2_SECTION, "code": "LAB" if
                                  report.category is ItemCategory.LAB else "RAD"}]}],
        "code": _code(item, report.item_code),
        "subject": {"reference": f"Patient/{report.person_id}"},
        "effectiveDateTime": report.performed_at.isoformat(),
        "issued": report.issued_at.isoformat(),
        "performer": [{"reference": f"Organization/{report.institution_id}"}],
    }
    if report.accession:
        resource["identifier"] = [{"system": ACCESSION, "value": report.accession}]
    if report.observations:
        resource["result"] = [{"reference": f"Observation/{o.id}"} for o in report.observations]
    if report.imaging_studies:
        resource["imagingStudy"] = [{"reference": f"ImagingStudy/{s.id}"}
                                    for s in report.imaging_studies]
    if report.conclusion:
        resource["conclusion"] = report.conclusion
    if report.supersedes_id is not None:
        resource["extension"] = [{"url": SUPERSEDES, "valueReference": {
            "reference": f"DiagnosticReport/{report.supersedes_id}"}}]
    return resource


def created_resource(session: Session, report: DiagnosticReport) -> dict[str, Any]:
    """A just-stored report as FHIR DiagnosticReport (the answer to a create)."""
    return report_resource(report, results.get_item(session, code=report.item_code))


def observation_resource(observation: Observation) -> dict[str, Any]:
    """A lab value as FHIR Observation."""
    report = observation.report
    system = LOINC if observation.code_system.upper() in ("LN", "LOINC") else CATALOGUE
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(observation.id),
        "status": "corrected" if report.status is ReportStatus.CORRECTED else "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": [{"system": system, "code": observation.code,
                             **({"display": observation.name} if observation.name else {})}]},
        "subject": {"reference": f"Patient/{report.person_id}"},
        "effectiveDateTime": report.performed_at.isoformat(),
        "performer": [{"reference": f"Organization/{report.institution_id}"}],
    }
    if observation.value_number is not None:
        resource["valueQuantity"] = {"value": float(observation.value_number),
                                     "unit": observation.unit}
    elif observation.value:
        resource["valueString"] = observation.value
    if observation.abnormal_flag is not None:
        resource["interpretation"] = [{"coding": [{"system": INTERPRETATION,
                                                   "code": observation.abnormal_flag.value}]}]
    if observation.reference_range:
        reference: dict[str, Any] = {"text": observation.reference_range}
        if observation.reference_low is not None:
            reference["low"] = {"value": float(observation.reference_low)}
        if observation.reference_high is not None:
            reference["high"] = {"value": float(observation.reference_high)}
        resource["referenceRange"] = [reference]
    return resource


def imaging_resource(study: ImagingStudy) -> dict[str, Any]:
    """The images of an exam as FHIR ImagingStudy."""
    report = study.report
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": str(study.id),
        "status": "available",
        "identifier": [{"system": DICOM_UID, "value": f"urn:oid:{study.study_uid}"}],
        "subject": {"reference": f"Patient/{report.person_id}"},
        "started": report.performed_at.isoformat(),
    }
    if study.modality:
        resource["modality"] = [{"system": systems.DICOM, "code": study.modality}]
    if study.viewer_url:
        resource["extension"] = [{"url": VIEWER_URL, "valueUrl": study.viewer_url}]
    return resource


# ---------------------------------------------------------------- read and search


def _visible(principal: Principal) -> ColumnElement[bool] | None:
    visible = patients.visible_person_ids(principal)
    return None if visible is None else DiagnosticReport.person_id.in_(visible)


def _audit(session: Session, principal: Principal, action: str, ids: list[int]) -> None:
    audit.record(session, action=action, entity_type="diagnostic_report",
                 institution_id=principal.institution_id, detail={"returned": ids})


def _report_condition(clause: Clause) -> ColumnElement[bool]:
    if clause.name in ("patient", "subject"):
        return DiagnosticReport.person_id.in_(int_ids(reference_ids(clause, "Patient")))
    if clause.name == "performer":
        return DiagnosticReport.institution_id.in_(
            int_ids(reference_ids(clause, "Organization")))
    if clause.name == "date":
        since, until = instant_bounds(dates(clause))
        return and_(*([DiagnosticReport.performed_at >= since] if since else []),
                    *([DiagnosticReport.performed_at < until] if until else []))
    if clause.name == "code":
        conditions: list[ColumnElement[bool]] = []
        for token in tokens(clause):
            if token.names(CATALOGUE):
                conditions.append(DiagnosticReport.item_code == token.code)
            if token.names(LOINC):
                conditions.append(DiagnosticReport.item_code.in_(
                    select(RecognitionItem.code).where(RecognitionItem.loinc == token.code)))
        return any_of(conditions)
    if clause.name == "status":
        return DiagnosticReport.status.in_(
            [status for status in ReportStatus if status.value in strings(clause)])
    raise AssertionError(f"unhandled search parameter {clause.name}")


def _reports(principal: Principal, clauses: tuple[Clause, ...]) -> Select[Any]:
    """Reports the reader may see meeting the clauses (``_id`` is the caller's)."""
    statement = select(DiagnosticReport)
    visible = _visible(principal)
    if visible is not None:
        statement = statement.where(visible)
    for clause in clauses:
        if clause.name != "_id":
            statement = statement.where(_report_condition(clause))
    return statement.order_by(DiagnosticReport.performed_at.desc(), DiagnosticReport.id.desc())


def _id_condition(column: Any, query: SearchQuery) -> list[ColumnElement[bool]]:
    """``_id`` clauses as conditions on the resource's key column."""
    return [column.in_(int_ids(strings(clause))) for clause in query.clauses
            if clause.name == "_id"]


def read_report(session: Session, principal: Principal, resource_id: str) -> dict[str, Any]:
    """One DiagnosticReport the reader may see; audited."""
    report_id = prefixed_id(resource_id)
    if report_id is None:
        raise not_found("DiagnosticReport", resource_id)
    report = results.get_report_or_raise(session, principal, report_id=report_id)
    return report_resource(report, results.get_item(session, code=report.item_code))


def search_reports(session: Session, principal: Principal, query: SearchQuery) -> SearchResult:
    """DiagnosticReports the reader may see matching every clause, newest first; audited."""
    statement = _reports(principal, query.clauses).where(
        *_id_condition(DiagnosticReport.id, query))
    pages, total = page_statements(session, [statement], offset=query.offset,
                                   count=query.count)
    found: list[DiagnosticReport] = list(pages[0])
    items = results.items_by_code(session, codes={r.item_code for r in found})
    _audit(session, principal, "result.search", [r.id for r in found])
    return SearchResult([report_resource(r, items.get(r.item_code)) for r in found], total)


def _child_search(model: type[Observation] | type[ImagingStudy]) -> Any:
    def search(session: Session, principal: Principal, query: SearchQuery) -> SearchResult:
        reports = _reports(principal, tuple(c for c in query.clauses if c.name != "code"))
        statement = select(model).where(
            model.report_id.in_(reports.order_by(None).with_only_columns(DiagnosticReport.id)),
            *_id_condition(model.id, query))
        for clause in query.clauses:
            if clause.name == "code":  # only Observation declares it
                statement = statement.where(any_of([
                    Observation.code == token.code for token in tokens(clause)
                    if token.system in (None, LOINC, CATALOGUE)]))
        pages, total = page_statements(session, [statement.order_by(model.id.desc())],
                                       offset=query.offset, count=query.count)
        found = list(pages[0])
        _audit(session, principal, f"result.{model.__tablename__}.search", [f.id for f in found])
        make = observation_resource if model is Observation else imaging_resource
        return SearchResult([make(f) for f in found], total)

    return search


def _child_read(model: type[Observation] | type[ImagingStudy]) -> Any:
    def read(session: Session, principal: Principal, resource_id: str) -> dict[str, Any]:
        key = prefixed_id(resource_id)
        found = session.get(model, key) if key is not None else None
        if not isinstance(found, Observation | ImagingStudy):
            raise not_found(model.__name__, resource_id)
        results.get_report_or_raise(session, principal, report_id=found.report_id)  # audits
        if isinstance(found, Observation):
            return observation_resource(found)
        return imaging_resource(found)

    return read


_COMMON = (
    ID_PARAM,
    SearchParam("patient", ParamType.REFERENCE, "The patient (Patient/<person id>).",
                standard("DiagnosticReport", "patient")),
    SearchParam("date", ParamType.DATE, "When the test was performed.",
                standard("DiagnosticReport", "date")),
    SearchParam("performer", ParamType.REFERENCE,
                "The performing institution (Organization/<id>).",
                standard("DiagnosticReport", "performer")),
)
_CODE = SearchParam("code", ParamType.TOKEN,
                    f"A recognition catalogue code ({CATALOGUE}) or a LOINC code ({LOINC}).",
                    standard("DiagnosticReport", "code"))

HANDLERS: tuple[ResourceHandler, ...] = (
    ResourceHandler(
        resource_type="DiagnosticReport", action=Action.RESULT_READ,
        documentation=(
            "A lab or exam result of the shared results index (检查检验结果互认): subject the "
            "patient index person, performer the institution, effective the time performed, "
            "conclusion the physician's conclusion (shown, never recognised). A correction "
            f"supersedes (extension {SUPERSEDES}), never overwrites. create: POST with "
            "contained Observations (result) and ImagingStudy (imagingStudy), or a "
            "transaction Bundle. Visible to whoever may see the patient."),
        search_params=(*_COMMON, _CODE, SearchParam(
            "status", ParamType.TOKEN, "final | corrected | entered-in-error.",
            standard("DiagnosticReport", "status"))),
        interactions=("read", "search-type", "create"),
        read=read_report, search=search_reports,
    ),
    ResourceHandler(
        resource_type="Observation", action=Action.RESULT_READ,
        documentation="A lab value of a DiagnosticReport, with unit, reference range and "
                      "interpretation (abnormal flag).",
        search_params=(*_COMMON, SearchParam("code", ParamType.TOKEN,
                                             f"The value's code (LOINC: {LOINC}).",
                                             standard("Observation", "code"))),
        read=_child_read(Observation), search=_child_search(Observation),
    ),
    ResourceHandler(
        resource_type="ImagingStudy", action=Action.RESULT_READ,
        documentation=f"The images of an exam: DICOM Study Instance UID ({DICOM_UID}), "
                      f"modality, and the image viewer URL (extension {VIEWER_URL}).",
        search_params=_COMMON,
        read=_child_read(ImagingStudy), search=_child_search(ImagingStudy),
    ),
)


# ---------------------------------------------------------------- intake


def _bad(zh: str, en: str) -> InvalidInput:
    return InvalidInput("invalid_diagnostic_report", zh, en)


def _reference_id(value: Mapping[str, Any] | None, resource_type: str) -> int:
    reference = str((value or {}).get("reference", ""))
    parts = reference.split("/")
    if len(parts) < 2 or parts[-2] != resource_type or not parts[-1].isdigit():
        raise _bad(f"须引用 {resource_type}/<编号>：{reference or '（空）'}",
                   f"Expected a reference to {resource_type}/<id>: {reference or '(none)'}")
    return int(parts[-1])


def _item_code(session: Session, code: Mapping[str, Any]) -> str:
    for coding in code.get("coding", []):
        if coding.get("system") == CATALOGUE:
            return str(coding.get("code", ""))
    for coding in code.get("coding", []):
        if coding.get("system") == LOINC:
            item = results.item_by_loinc(session, loinc=str(coding.get("code", "")))
            if item is not None:
                return item.code
    raise _bad("code 须含互认目录编码或目录中的 LOINC 编码",
               "code needs a recognition catalogue code or a LOINC code the catalogue has")


def _observation_in(resource: Mapping[str, Any]) -> dict[str, Any]:
    coding = (resource.get("code", {}).get("coding") or [{}])[0]
    quantity = resource.get("valueQuantity") or {}
    value = quantity.get("value", resource.get("valueString", ""))
    interpretation = ((resource.get("interpretation") or [{}])[0].get("coding") or [{}])[0]
    reference = (resource.get("referenceRange") or [{}])[0]
    low, high = reference.get("low", {}).get("value"), reference.get("high", {}).get("value")
    text = reference.get("text") or (f"{low}-{high}" if low is not None and high is not None
                                     else "")
    return {"code": coding.get("code", ""),
            "code_system": "LN" if coding.get("system") == LOINC else "",
            "name": coding.get("display", ""), "value": str(value),
            "unit": quantity.get("unit", ""), "reference_range": text,
            "abnormal_flag": interpretation.get("code")}


def _imaging_in(resource: Mapping[str, Any]) -> dict[str, Any]:
    uid = next((str(i.get("value", "")).removeprefix("urn:oid:")
                for i in resource.get("identifier", []) if i.get("system") == DICOM_UID), "")
    modality = (resource.get("modality") or [{}])[0].get("code", "")
    viewer = next((e.get("valueUrl", "") for e in resource.get("extension", [])
                   if e.get("url") == VIEWER_URL), "")
    return {"study_uid": uid, "modality": modality, "viewer_url": viewer}


def create_report(
    session: Session, principal: Principal, body: Mapping[str, Any],
    resolved: Mapping[str, Mapping[str, Any]] | None = None,
) -> DiagnosticReport:
    """Store a posted DiagnosticReport; ``resolved`` maps a Bundle's fullUrls to resources."""
    if body.get("resourceType") != "DiagnosticReport":
        raise _bad("须为 DiagnosticReport 资源", "Expected a DiagnosticReport resource")
    known = {f"#{r.get('id')}": r for r in body.get("contained", [])} | dict(resolved or {})

    def targets(field: str) -> list[Mapping[str, Any]]:
        found = []
        for ref in body.get(field, []):
            target = known.get(str(ref.get("reference", "")))
            if target is None:
                raise _bad(f"{field} 引用的资源须内含或在同一事务中：{ref.get('reference')}",
                           f"{field} must reference a contained resource or one in the same "
                           f"transaction: {ref.get('reference')}")
            found.append(target)
        return found

    identifier = next((str(i.get("value", "")) for i in body.get("identifier", [])
                       if i.get("system") == ACCESSION), "")
    try:
        data = ReportCreate.model_validate({
            "person_id": _reference_id(body.get("subject"), "Patient"),
            "institution_id": _reference_id((body.get("performer") or [None])[0],
                                            "Organization"),
            "item_code": _item_code(session, body.get("code", {})),
            "accession": identifier, "performed_at": body.get("effectiveDateTime"),
            "status": body.get("status", "final"), "conclusion": body.get("conclusion", ""),
            "observations": [_observation_in(r) for r in targets("result")],
            "imaging_studies": [_imaging_in(r) for r in targets("imagingStudy")],
        })
    except ValidationError as error:
        zh, en, details = describe_validation_errors(error.errors())
        raise InvalidInput("invalid_diagnostic_report", zh, en, details) from error
    registry.check_institution_exists(session, institution_id=data.institution_id)
    return results.create_report(session, principal, data=data)


def transaction(session: Session, principal: Principal, bundle: Mapping[str, Any],
                ) -> dict[str, Any]:
    """A transaction Bundle of DiagnosticReports and the Observations/ImagingStudies they
    reference by fullUrl: every report stored, or none (the request rolls back)."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise _bad("须为 type=transaction 的 Bundle", "Expected a Bundle of type transaction")
    entries = bundle.get("entry", [])
    resolved = {str(e.get("fullUrl", "")): e.get("resource", {}) for e in entries}
    answers = []
    for entry in entries:
        resource = entry.get("resource", {})
        kind = resource.get("resourceType")
        if kind == "DiagnosticReport":
            report = create_report(session, principal, resource, resolved)
            answers.append({"response": {"status": "201 Created",
                                         "location": f"DiagnosticReport/{report.id}"}})
        elif kind in ("Observation", "ImagingStudy"):
            answers.append({"response": {"status": "200 OK"}})  # stored with its report
        else:
            raise _bad(f"事务中不支持的资源类型：{kind}",
                       f"Resource type not supported in a transaction: {kind}")
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}
