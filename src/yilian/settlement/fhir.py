"""FHIR R4 Coverage, Claim and ClaimResponse for settlement.

``GET Coverage/{person id}``; ``GET Claim/{settlement id}`` and ``ClaimResponse/{settlement
id}`` for stored settlements, and search of all three (see :mod:`.fhir_search`). ``POST
Claim`` with ``use = claim`` settles the bill at discharge (2207; the Claim's identifier is
the idempotency key) and answers its slip as the ClaimResponse; with ``use =
predetermination`` it answers the estimate and stores nothing. ClaimResponse.item.adjudication
carries submitted, eligible (in scope), and our own codes for 先行自付, 超限价 and 全自费; the
response's total carries submitted, eligible, deductible, copay (the patient's share) and
benefit (all funds). Every resource is validated against fhir.resources R4B on the way out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import ValidationError

from yilian.auth.permissions import Action, Principal
from yilian.config import Settings
from yilian.deps import AppSettings, DbSession, RequirePermission
from yilian.errors import InvalidInput
from yilian.fhir.bundle import FHIR_JSON, fhir_response, searchset, validated
from yilian.fhir.capability import ResourceDeclaration
from yilian.fhir.search import MAX_COUNT, SearchParam, SearchQuery, SearchResult, parse_search
from yilian.fhir.systems import CANONICAL_BASE, INSURANCE_SCHEME, INSURED_REGION
from yilian.settlement import coverage, engine, fhir_search
from yilian.settlement import service as settlements
from yilian.settlement.fhir_search import (
    CLAIM_PARAMS,
    CLAIM_RESPONSE_PARAMS,
    COVERAGE_PARAMS,
    FHIR_STATUS,
)
from yilian.settlement.models import Settlement
from yilian.settlement.schemas import SettleRequest, slip_json

ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
OUR_ADJUDICATION = f"{CANONICAL_BASE}/CodeSystem/settlement-adjudication"
ITEM_CODE = f"{CANONICAL_BASE}/CodeSystem/medical-insurance-item"  # 医保目录项目编码
FILING = f"{CANONICAL_BASE}/StructureDefinition/out-of-region-filing"
CARD = f"{CANONICAL_BASE}/sid/insurance-card"
ASSISTANCE = f"{CANONICAL_BASE}/StructureDefinition/medical-assistance-category"  # 医疗救助
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
OURS = {  # our adjudication codes, beside HL7's
    "preselfpay_amt": ("self-pay-first", "先行自付 Class-B self-pay-first"),
    "overlmt_selfpay": ("over-limit", "超限价 Above the price limit"),
    "fulamt_ownpay_amt": ("fully-self-paid", "全自费 Fully self-paid"),
}
router = APIRouter(prefix="/fhir/r4", tags=["fhir"])
FhirBody = Annotated[dict[str, Any], Body(media_type=FHIR_JSON)]
_ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {FHIR_JSON: {}}}}

DECLARATIONS = (
    ResourceDeclaration(
        resource_type="Coverage", action=Action.SETTLEMENT_READ, search_params=COVERAGE_PARAMS,
        documentation="A person's basic medical insurance (id = patient id): payor the "
        "insured region's fund, class the scheme, subscriberId the card, extensions the "
        "out-of-region filing status and the medical-assistance category. Search needs "
        "patient or beneficiary.",
    ),
    ResourceDeclaration(
        resource_type="Claim", action=Action.SETTLEMENT_READ, search_params=CLAIM_PARAMS,
        interactions=("read", "search-type", "create"),
        documentation="A settled inpatient bill (id = settlement id, use=claim, status "
        "active or cancelled when reversed). POST a Claim with use=claim (identifier = "
        "idempotency key, patient, provider, billablePeriod = admission and discharge "
        "dates, item.productOrService, quantity, unitPrice) to settle it at discharge: "
        "201 and its ClaimResponse, 200 and the same one for the same identifier. With "
        "use=predetermination the estimate comes back as a ClaimResponse; nothing is stored.",
    ),
    ResourceDeclaration(
        resource_type="ClaimResponse", action=Action.SETTLEMENT_READ,
        search_params=CLAIM_RESPONSE_PARAMS,
        documentation="The settlement slip (id = settlement id): item.adjudication "
        f"submitted, eligible and {OUR_ADJUDICATION} self-pay-first / over-limit / "
        "fully-self-paid; total submitted, eligible, deductible, copay (patient's share), "
        "benefit (all funds, medical assistance included).",
    ),
)


def _money(value: Any) -> dict[str, Any]:
    # FHIR Money.value is a decimal: the slip's fen go out exactly, never through a float.
    return {"value": Decimal(str(value)), "currency": "CNY"}


def _adjudication(code: str, amount: Any, *, ours: bool = False,
                  display: str = "") -> dict[str, Any]:
    coding = {"system": OUR_ADJUDICATION if ours else ADJUDICATION, "code": code}
    if display:
        coding["display"] = display
    return {"category": {"coding": [coding]}, "amount": _money(amount)}


def coverage_resource(insurance: coverage.Insurance) -> dict[str, Any]:
    """A person's insurance as FHIR Coverage."""
    return {
        "resourceType": "Coverage", "id": str(insurance.person_id), "status": "active",
        "extension": [{"url": FILING, "valueCode": insurance.filing.value},
                      {"url": INSURED_REGION, "valueCode": insurance.insured_region_code},
                      {"url": ASSISTANCE, "valueCode": insurance.assistance.value}],
        "subscriberId": insurance.card_number or None,
        "beneficiary": {"reference": f"Patient/{insurance.person_id}"},
        "payor": [{"identifier": {"system": INSURED_REGION,
                                  "value": insurance.insured_region_code},
                   "display": f"参保地医保基金 {insurance.insured_region_code}"}],
        "class": [{"type": {"coding": [{"system": INSURANCE_SCHEME, "code": "scheme"}]},
                   "value": insurance.scheme.value}],
    }


def claim_resource(settlement: Settlement) -> dict[str, Any]:
    """A settled bill as FHIR Claim."""
    lines = settlement.slip["lines"]
    return {
        "resourceType": "Claim", "id": str(settlement.id),
        "identifier": [{"system": f"{CANONICAL_BASE}/sid/settlement",
                        "value": settlement.idempotency_key}],
        "status": FHIR_STATUS[settlement.status],
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "institutional"}]},
        "use": "claim", "patient": {"reference": f"Patient/{settlement.person_id}"},
        "billablePeriod": {"start": settlement.admission_date.isoformat(),
                           "end": settlement.discharge_date.isoformat()},
        "created": settlement.settled_at.isoformat(),
        "provider": {"reference": f"Organization/{settlement.institution_id}"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority",
                                 "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True,
                       "coverage": {"reference": f"Coverage/{settlement.person_id}"}}],
        "item": [{"sequence": n,
                  "productOrService": {"coding": [{"system": ITEM_CODE, "code": line["code"],
                                                   "display": line["name"] or None}]},
                  "quantity": {"value": Decimal(str(line["qty"]))},
                  "unitPrice": _money(line["unit_price"]),
                  "net": _money(line["det_item_fee_sumamt"])}
                 for n, line in enumerate(lines, start=1)],
        "total": _money(settlement.slip["medfee_sumamt"]),
    }


def claim_response(slip: dict[str, Any], *, resource_id: str | None, use: str, person_id: int,
                   created: str, request_ref: str | None,
                   status: str = "active") -> dict[str, Any]:
    """A slip as FHIR ClaimResponse."""
    items = []
    for n, line in enumerate(slip["lines"], start=1):
        adjudication = [_adjudication("submitted", line["det_item_fee_sumamt"]),
                        _adjudication("eligible", line["inscp_scp_amt"])]
        adjudication += [_adjudication(code, line[field], ours=True, display=display)
                         for field, (code, display) in OURS.items()]
        items.append({"itemSequence": n, "adjudication": adjudication})
    response: dict[str, Any] = {
        "resourceType": "ClaimResponse", "status": status,
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "institutional"}]},
        "use": use, "patient": {"reference": f"Patient/{person_id}"}, "created": created,
        "insurer": {"identifier": {"system": INSURED_REGION, "value": slip["fund_region"]},
                    "display": f"参保地医保基金 {slip['fund_region']}"},
        "outcome": "complete",
        "disposition": f"policy {slip['policy_version']}; catalogue {slip['catalogue_version']}",
        "item": items,
        "total": [
            {"category": {"coding": [{"system": ADJUDICATION, "code": code}]},
             "amount": _money(slip[field])}
            for code, field in (("submitted", "medfee_sumamt"), ("eligible", "inscp_scp_amt"),
                                ("deductible", "act_pay_dedc"), ("copay", "psn_part_amt"),
                                ("benefit", "fund_pay_sumamt"))
        ],
    }
    if resource_id is not None:
        response["id"] = resource_id
    if request_ref is not None:
        response["request"] = {"reference": request_ref}
    return response


def settlement_claim_response(settlement: Settlement) -> dict[str, Any]:
    """A stored settlement's slip as its ClaimResponse."""
    return claim_response(
        settlement.slip, resource_id=str(settlement.id), use="claim",
        person_id=settlement.person_id, created=settlement.settled_at.isoformat(),
        request_ref=f"Claim/{settlement.id}", status=FHIR_STATUS[settlement.status])


def _reference_id(reference: dict[str, Any] | None, kind: str) -> int:
    text = str((reference or {}).get("reference", ""))
    prefix, _, ident = text.partition("/")
    if prefix != kind or not ident.isdigit():
        raise InvalidInput("claim_invalid", f"Claim 缺少 {kind} 引用",
                           f"The Claim needs a {kind} reference")
    return int(ident)


def predetermination_lines(claim: dict[str, Any]) -> list[engine.BillLine]:
    """The planned bill's lines from a Claim's items."""
    lines = []
    for item in claim.get("item") or []:
        codings = (item.get("productOrService") or {}).get("coding") or [{}]
        lines.append(engine.BillLine(
            str(codings[0].get("code", "")),
            Decimal(str((item.get("quantity") or {}).get("value", 1))),
            Decimal(str((item.get("unitPrice") or {}).get("value", 0))),
        ))
    if not lines:
        raise InvalidInput("claim_invalid", "Claim 没有费用项目", "The Claim has no items")
    return lines


# ---------------------------------------------------------------- read and search


def _base_url(request: Request, settings: Settings) -> str:
    if settings.fhir_base_url:
        return settings.fhir_base_url.rstrip("/")
    return f"{str(request.base_url).rstrip('/')}{router.prefix}"


def _search(request: Request, settings: Settings, resource_type: str,
            params: tuple[SearchParam, ...],
            run: Callable[[SearchQuery], SearchResult]) -> Response:
    """Parse the query as the facade does (strict unless Prefer: handling=lenient), run it,
    answer a searchset Bundle."""
    prefer = request.headers.get("prefer", "").replace(";", ",")
    query = parse_search(
        request.query_params.multi_items(), params,
        lenient=any(part.strip() == "handling=lenient" for part in prefer.split(",")),
        max_count=min(MAX_COUNT, settings.page_size_max),
    )
    return fhir_response(searchset(base_url=_base_url(request, settings),
                                   resource_type=resource_type, query=query,
                                   result=run(query)))


@router.get("/Coverage", response_class=Response, responses=_ANSWER, summary="Search Coverage")
def search_coverage(request: Request, session: DbSession, settings: AppSettings,
                    principal: Principal = RequirePermission(Action.SETTLEMENT_READ)) -> Response:
    """Search Coverage by patient or beneficiary (see /fhir/r4/metadata)."""
    return _search(request, settings, "Coverage", COVERAGE_PARAMS, lambda query: (
        fhir_search.search_coverage(session, principal, query, coverage_resource)))


@router.get("/Claim", response_class=Response, responses=_ANSWER, summary="Search Claim")
def search_claims(request: Request, session: DbSession, settings: AppSettings,
                  principal: Principal = RequirePermission(Action.SETTLEMENT_READ)) -> Response:
    """Search settled bills by patient, created, use, status (see /fhir/r4/metadata)."""
    return _search(request, settings, "Claim", CLAIM_PARAMS, lambda query: (
        fhir_search.search_settlements(session, principal, query, claim_resource)))


@router.get("/ClaimResponse", response_class=Response, responses=_ANSWER,
            summary="Search ClaimResponse")
def search_claim_responses(
    request: Request, session: DbSession, settings: AppSettings,
    principal: Principal = RequirePermission(Action.SETTLEMENT_READ),
) -> Response:
    """Search slips by patient, created, use, status (see /fhir/r4/metadata)."""
    return _search(request, settings, "ClaimResponse", CLAIM_RESPONSE_PARAMS, lambda query: (
        fhir_search.search_settlements(session, principal, query, settlement_claim_response)))


@router.get("/Coverage/{resource_id}", response_class=Response, responses=_ANSWER,
            summary="Read Coverage")
def read_coverage(resource_id: int, session: DbSession,
                  principal: Principal = RequirePermission(Action.SETTLEMENT_READ)) -> Response:
    """A person's insurance."""
    settlements.check_person(session, principal, resource_id)
    return fhir_response(coverage_resource(coverage.insurance_of(session, person_id=resource_id)))


@router.get("/Claim/{resource_id}", response_class=Response, responses=_ANSWER,
            summary="Read Claim")
def read_claim(resource_id: int, session: DbSession,
               principal: Principal = RequirePermission(Action.SETTLEMENT_READ)) -> Response:
    """A settled bill."""
    found = settlements.get_or_raise(session, principal, settlement_id=resource_id)
    return fhir_response(claim_resource(found))


@router.get("/ClaimResponse/{resource_id}", response_class=Response, responses=_ANSWER,
            summary="Read ClaimResponse")
def read_claim_response(
    resource_id: int, session: DbSession,
    principal: Principal = RequirePermission(Action.SETTLEMENT_READ),
) -> Response:
    """A settlement's slip."""
    found = settlements.get_or_raise(session, principal, settlement_id=resource_id)
    return fhir_response(settlement_claim_response(found))


# ---------------------------------------------------------------- create (settle or estimate)


def _claim_invalid(zh: str, en: str) -> InvalidInput:
    return InvalidInput("claim_invalid", f"Claim 有误：{zh}", f"The Claim is not valid: {en}")


def settle_request(claim: dict[str, Any]) -> SettleRequest:
    """A use=claim Claim as a settlement request; 400 naming what is missing or wrong."""
    identifiers = claim.get("identifier") or [{}]
    period = claim.get("billablePeriod") or {}
    filing = next((ext.get("valueCode") for ext in claim.get("extension") or []
                   if ext.get("url") == FILING), None)
    lines = []
    for item in claim.get("item") or []:
        codings = (item.get("productOrService") or {}).get("coding") or [{}]
        lines.append({"code": codings[0].get("code", ""),
                      "qty": (item.get("quantity") or {}).get("value", 1),
                      "unit_price": (item.get("unitPrice") or {}).get("value")})
    try:
        return SettleRequest.model_validate({
            "idempotency_key": identifiers[0].get("value"),
            "person_id": _reference_id(claim.get("patient"), "Patient"),
            "institution_id": _reference_id(claim.get("provider"), "Organization"),
            "admission_date": str(period.get("start", ""))[:10],
            "discharge_date": str(period.get("end", ""))[:10],
            "lines": lines, "filing": filing,
        })
    except ValidationError as exc:
        first = exc.errors()[0]
        where = {"idempotency_key": "identifier.value", "admission_date": "billablePeriod.start",
                 "discharge_date": "billablePeriod.end", "lines": "item",
                 "filing": "extension(out-of-region-filing)"}.get(str(first["loc"][0]),
                                                                 str(first["loc"][0]))
        detail = ".".join(str(part) for part in first["loc"][1:])
        where = f"{where}.{detail}" if detail else where
        raise _claim_invalid(f"{where}：{first['msg']}", f"{where}: {first['msg']}") from None


@router.post("/Claim", response_class=Response,
             responses={**_ANSWER, 201: {"content": {FHIR_JSON: {}}}},
             summary="Claim: use=claim settles the bill, use=predetermination estimates it")
def post_claim(request: Request, body: FhirBody, session: DbSession, settings: AppSettings,
               principal: Principal = RequirePermission(Action.SETTLEMENT_ESTIMATE)) -> Response:
    """use=claim: settle at discharge and answer the slip (201; the same identifier again:
    200 and the same slip). use=predetermination: the estimate; nothing is stored."""
    try:
        validated(body if body.get("resourceType") == "Claim" else {"resourceType": "Claim"})
    except ValidationError as exc:
        raise InvalidInput("claim_invalid", "Claim 不符合 FHIR R4", f"Not a valid Claim: "
                           f"{exc.errors()[0]['msg']}") from None
    use = body.get("use")
    if body.get("resourceType") != "Claim" or use not in ("claim", "predetermination"):
        raise InvalidInput("claim_use", "Claim.use 须为 claim（结算）或 predetermination（预估）",
                           "Claim.use must be claim (settle) or predetermination (estimate)")
    if use == "claim":
        done = settlements.settle_bill(session, principal=principal,
                                       request=settle_request(body),
                                       rules=settlements.rulebook(settings))
        response = fhir_response(settlement_claim_response(done.settlement),
                                 status_code=201 if done.created else 200)
        response.headers["Location"] = (
            f"{_base_url(request, settings)}/ClaimResponse/{done.settlement.id}")
        return response
    person_id = _reference_id(body.get("patient"), "Patient")
    institution_id = _reference_id(body.get("provider"), "Organization")
    settlements.check_estimate(session, principal=principal, person_id=person_id)
    on_date = date.fromisoformat(str(body.get("created", ""))[:10])
    slip = settlements.estimate(session, person_id=person_id, institution_id=institution_id,
                                lines=predetermination_lines(body), on_date=on_date,
                                rules=settlements.rulebook(settings))
    return fhir_response(claim_response(
        slip_json(slip), resource_id=None, use="predetermination", person_id=person_id,
        created=on_date.isoformat(), request_ref=None))
