"""Every router of the application, included in one place."""

from __future__ import annotations

from fastapi import FastAPI

from yilian import apidocs
from yilian.audit import router as audit_api
from yilian.auth import router as auth_api
from yilian.auth import web as auth_web
from yilian.fhir import router as fhir_api
from yilian.portal import web as portal_web
from yilian.registry import router as registry_api
from yilian.registry import web as registry_web


def include_all(app: FastAPI) -> None:
    """Mount the API, FHIR and page routers of every capability."""
    app.include_router(apidocs.router)
    app.include_router(auth_api.router)
    app.include_router(audit_api.router)
    app.include_router(fhir_api.router)
    app.include_router(registry_api.router)
    app.include_router(auth_web.router)
    app.include_router(portal_web.router)
    app.include_router(registry_web.router)
