"""Results and mutual recognition REST API: the check, decisions, results, catalogue, savings.

A result or person the user may not see is a 404; the services audit every read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, UploadFile

from yilian.auth.permissions import Action, Principal, Scope, scope_of
from yilian.deps import CurrentPrincipal, DbSession, RequirePermission
from yilian.results import catalogue, qualifications
from yilian.results import service as results
from yilian.results.schemas import (
    CheckRead,
    CheckRequest,
    DecisionCreate,
    DecisionRead,
    ItemRead,
    QualificationCreate,
    QualificationRead,
    ReportCreate,
    ReportRead,
    SavingsTotal,
)
from yilian.schemas import Key

router = APIRouter(prefix="/api/v1", tags=["results"])

Reader = Annotated[Principal, RequirePermission(Action.RESULT_READ)]
Writer = Annotated[Principal, RequirePermission(Action.RESULT_WRITE)]
Checker = Annotated[Principal, RequirePermission(Action.RESULT_CHECK)]
Steward = Annotated[Principal, RequirePermission(Action.RESULT_CATALOGUE)]
Analyst = Annotated[Principal, RequirePermission(Action.RESULT_SAVINGS)]


@router.post("/recognition/check", response_model=CheckRead)
def check_recognition(body: CheckRequest, session: DbSession, principal: Checker) -> CheckRead:
    """Per item: the patient's recognisable results, newest first, or why there are none."""
    return results.check(session, principal, data=body)


@router.post("/recognition/decisions", response_model=DecisionRead, status_code=201)
def record_decision(
    body: DecisionCreate, session: DbSession, principal: Checker
) -> DecisionRead:
    """Accept a recognisable result (the saving is recorded) or re-test with a coded reason."""
    return DecisionRead.model_validate(results.decide(session, principal, data=body))


@router.get("/recognition/savings", response_model=list[SavingsTotal])
def savings(
    session: DbSession,
    principal: Analyst,
    item_code: Annotated[str | None, Query(max_length=32)] = None,
    month_from: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    month_to: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
) -> list[SavingsTotal]:
    """Tests avoided and money saved per institution, item and month."""
    mine = (None if scope_of(principal, Action.RESULT_SAVINGS) is Scope.NETWORK
            else principal.institution_ids)
    return results.savings_totals(session, institution_ids=mine, item_code=item_code,
                                  month_from=month_from, month_to=month_to)


@router.post("/results", response_model=ReportRead, status_code=201)
def create_result(body: ReportCreate, session: DbSession, principal: Writer) -> ReportRead:
    """Store a result (a corrected one supersedes the report with the same accession)."""
    return ReportRead.model_validate(results.create_report(session, principal, data=body))


@router.get("/results/{report_id}", response_model=ReportRead)
def read_result(report_id: Key, session: DbSession, principal: Reader) -> ReportRead:
    """One result with its values and images."""
    return ReportRead.model_validate(
        results.get_report_or_raise(session, principal, report_id=report_id)
    )


@router.get("/recognition/items", response_model=list[ItemRead])
def list_items(session: DbSession, principal: CurrentPrincipal) -> list[ItemRead]:
    """The recognition catalogue."""
    return [ItemRead.model_validate(item) for item in results.list_items(session)]


@router.post("/recognition/catalogue", status_code=200)
async def import_catalogue(
    file: UploadFile, session: DbSession, principal: Steward
) -> dict[str, int]:
    """Load a catalogue CSV: every row checked, all or nothing."""
    return {"items": catalogue.load_csv(session, data=await file.read())}


@router.post("/recognition/qualifications", response_model=QualificationRead, status_code=201)
def create_qualification(
    body: QualificationCreate, session: DbSession, principal: Steward
) -> QualificationRead:
    """Record an HR mark from an EQA result."""
    return QualificationRead.model_validate(results.create_qualification(session, data=body))


@router.post("/recognition/qualifications/import", status_code=200)
async def import_qualifications(
    file: UploadFile, session: DbSession, principal: Steward
) -> dict[str, int]:
    """Import a quality-control centre's qualifications CSV: every row checked, all or
    nothing; known marks updated, new ones added."""
    done = qualifications.import_csv(session, data=await file.read())
    return {"added": done.added, "updated": done.updated, "unchanged": done.unchanged}
