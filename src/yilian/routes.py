"""Every router of the application, included in one place."""

from __future__ import annotations

import functools

from fastapi import APIRouter, FastAPI

from yilian import apidocs
from yilian.advisor import router as advisor_api
from yilian.advisor import web as advisor_web
from yilian.analytics import dashboards as analytics_dashboards
from yilian.analytics import fhir as analytics_fhir
from yilian.analytics import hl7 as analytics_hl7
from yilian.analytics import metric_router as analytics_metrics_api
from yilian.analytics import network_router as analytics_network_api
from yilian.analytics import network_web as analytics_network_web
from yilian.analytics import router as analytics_api
from yilian.analytics import web as analytics_web
from yilian.audit import router as audit_api
from yilian.auth import router as auth_api
from yilian.auth import web as auth_web
from yilian.consultations import counts_web as consultations_counts_web
from yilian.consultations import router as consultations_api
from yilian.consultations import web as consultations_web
from yilian.fhir import router as fhir_api
from yilian.hl7v2 import build_router as hl7v2_router
from yilian.notify import router as notify_api
from yilian.notify import web as notify_web
from yilian.patients import hl7 as patients_hl7
from yilian.patients import router as patients_api
from yilian.patients import web as patients_web
from yilian.portal import web as portal_web
from yilian.referrals import fhir as referrals_fhir
from yilian.referrals import router as referrals_api
from yilian.referrals import web as referrals_web
from yilian.registry import router as registry_api
from yilian.registry import web as registry_web
from yilian.results import hl7 as results_hl7
from yilian.results import router as results_api
from yilian.results import web as results_web
from yilian.scheduling import fhir as scheduling_fhir
from yilian.scheduling import router as scheduling_api
from yilian.scheduling import web as scheduling_web
from yilian.settlement import fhir as settlement_fhir
from yilian.settlement import router as settlement_api
from yilian.settlement import web as settlement_web

# What POST /hl7/v2 answers: every capability's HL7 v2 message handlers.
# Analytics takes over ADT^A04 (it still registers the patient first) and adds A01/A03.
HL7_HANDLERS = (*analytics_hl7.with_patient_handlers(patients_hl7.HANDLERS),
                *results_hl7.HANDLERS)


@functools.cache
def _routers() -> tuple[APIRouter, ...]:
    """Every capability's router, in the order requests are matched against them."""
    hl7_router = hl7v2_router(HL7_HANDLERS)
    return (
        apidocs.router,
        auth_api.router,
        audit_api.router,
        fhir_api.router,
        settlement_fhir.router,
        hl7_router,
        registry_api.router,
        patients_api.router,
        settlement_api.router,
        referrals_fhir.router,
        referrals_api.router,
        referrals_api.beds_router,
        auth_web.router,
        portal_web.router,
        registry_web.router,
        patients_web.router,
        notify_api.router,
        notify_web.router,
        settlement_web.router,
        results_api.router,
        results_web.router,
        referrals_web.router,
        scheduling_api.router,
        scheduling_fhir.router,
        scheduling_web.router,
        consultations_api.counts_router,
        consultations_api.router,
        consultations_counts_web.router,
        consultations_web.router,
        analytics_fhir.router,
        analytics_api.router,
        analytics_web.router,
        analytics_network_api.router,
        analytics_network_web.router,
        analytics_metrics_api.router,
        analytics_dashboards.router,
        advisor_api.router,
        advisor_web.router,
    )


def include_all(app: FastAPI) -> None:
    """Mount the API, FHIR and page routers of every capability.

    Their routes are added to the application's own router as they are, not through
    ``include_router``: FastAPI 0.16x wraps an included router lazily and builds every
    route's dependency graph again, for each application, at its first request (about two
    seconds for Yilian's 340 routes). The routers set their prefixes and dependencies
    themselves, so the routes need nothing from an inclusion, and one build at import
    serves every application of the process. Lifespans still join the application's.
    """
    default_lifespan = type(APIRouter().lifespan_context)
    for router in _routers():
        app.router.routes.extend(router.routes)
        if not isinstance(router.lifespan_context, default_lifespan):
            # A router's own lifespan (the notification outbox worker) joins the app's
            # through an inclusion of a router that holds nothing else.
            app.include_router(APIRouter(lifespan=router.lifespan_context))
