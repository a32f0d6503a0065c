"""Every router of the application, included in one place."""

from __future__ import annotations

from fastapi import FastAPI

from yilian.auth import router as auth_api


def include_all(app: FastAPI) -> None:
    """Mount the API, FHIR and page routers of every capability."""
    app.include_router(auth_api.router)
