"""The advisor's API: ``POST /api/v1/advisor/rank``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from yilian.advisor import service as advisor
from yilian.advisor.schemas import RankRead, RankRequest
from yilian.auth.permissions import Action, Principal
from yilian.deps import AppSettings, DbSession, RequirePermission
from yilian.scheduling.clock import Now

router = APIRouter(prefix="/api/v1/advisor", tags=["advisor"])

Asker = Annotated[Principal, RequirePermission(Action.ADVISOR_RANK)]


@router.post("/rank", response_model=RankRead)
def rank(data: RankRequest, session: DbSession, principal: Asker, settings: AppSettings,
         now: Now) -> RankRead:
    """Where should this patient go for this need? Candidates ranked on out-of-pocket cost
    (the settlement engine on the patient's own coverage), earliest slot, recognised results
    and distance, every factor shown; a green-channel emergency goes to the nearest centre."""
    return advisor.rank(session, settings, principal, data=data, now=now)
