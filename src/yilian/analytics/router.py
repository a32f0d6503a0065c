"""Analytics REST API: the volume metric (JSON, CSV or XLSX) and encounter intake over REST.

Figures come from the monthly aggregate only; a reader sees the institutions their role
allows (analysts their region, hospital staff their institution and its campuses).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from yilian import tables
from yilian.analytics import export
from yilian.analytics import service as analytics
from yilian.analytics.models import VolumeKind
from yilian.analytics.schemas import EncounterCreate, EncounterRead, VolumeReport
from yilian.auth.permissions import Action, Principal
from yilian.deps import DbSession, RequirePermission

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Reader = Annotated[Principal, RequirePermission(Action.ANALYTICS_READ)]
Writer = Annotated[Principal, RequirePermission(Action.ENCOUNTER_WRITE)]


# A filter form's "all" option sends its parameter empty: every filter here may be blank.
MONTH = r"^(\d{4}-\d{2})?$"
ID = r"^\d{0,9}$"  # at most 9 digits: every such id fits an integer column
KINDS = "^(" + "|".join(kind.value for kind in VolumeKind) + ")?$"


def volume_query(
    period_from: Annotated[str | None, Query(alias="from", pattern=MONTH,
                                             description="First month, YYYY-MM")] = None,
    period_to: Annotated[str | None, Query(alias="to", pattern=MONTH,
                                           description="Last month, YYYY-MM")] = None,
    kind: Annotated[str | None, Query(pattern=KINDS, description="a volume kind")] = None,
    institution_id: Annotated[str | None, Query(pattern=ID, description="an id")] = None,
    region: Annotated[str | None, Query(pattern=r"^(\d{6})?$",
                                        description="GB/T 2260 region code")] = None,
    by: Annotated[str, Query(pattern="^(institution|department)$")] = "institution",
    baseline_from: Annotated[str | None, Query(pattern=MONTH)] = None,
    baseline_to: Annotated[str | None, Query(pattern=MONTH)] = None,
    agreement_id: Annotated[str | None, Query(pattern=ID, description="an id")] = None,
) -> analytics.VolumeQuery:
    """The query string of the volume metric (blank filters count as not given)."""
    return analytics.VolumeQuery(
        period_from=period_from or None, period_to=period_to or None,
        kind=VolumeKind(kind) if kind else None,
        institution_id=int(institution_id) if institution_id else None,
        region_code=region or None, by_department=by == "department",
        baseline_from=baseline_from or None, baseline_to=baseline_to or None,
        agreement_id=int(agreement_id) if agreement_id else None)


Volumes = Annotated[analytics.VolumeQuery, Depends(volume_query)]


@router.get("/volumes", response_model=VolumeReport)
def read_volumes(session: DbSession, principal: Reader, query: Volumes) -> VolumeReport:
    """Visits, admissions, discharges and surgeries per institution (or department) over a
    period, with the local / out-of-region split, the baseline and the ratio to it."""
    return analytics.volumes(session, principal, query=query)


@router.get("/volumes.{fmt}", response_class=Response)
def export_volumes(session: DbSession, principal: Reader, query: Volumes,
                   fmt: Annotated[Literal["csv", "xlsx"], Path()]) -> Response:
    """The same table as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese) or
    as an XLSX workbook."""
    report = analytics.volumes(session, principal, query=query)
    return tables.download(export.volumes_table(report), "volumes", fmt)


@router.post("/encounters", response_model=EncounterRead, status_code=201)
def post_encounter(body: EncounterCreate, session: DbSession, principal: Writer,
                   ) -> EncounterRead:
    """Store one encounter (the same rules as FHIR and HL7); re-sending updates it."""
    stored = analytics.record_encounter(session, principal, data=body)
    return EncounterRead.model_validate(stored.encounter)
