"""The OpenAPI document and its Swagger UI page, for signed-in users only.

Only sign-in, health checks and FHIR ``metadata`` are public; the API reference is not.
Swagger UI is served from ``static/vendor`` (hospitals run offline) and started by a
static script, because the Content-Security-Policy forbids inline scripts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response

from yilian.deps import CurrentPrincipal

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Yilian 医联 API</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/js/api-docs.js"></script>
</body></html>"""


@router.get("/api/openapi.json")
def openapi_document(request: Request, _principal: CurrentPrincipal) -> Response:
    """The OpenAPI 3 description of the REST API (rendered once per process: the document
    does not change while the app runs, and rendering its ~1 MB costs half a second)."""
    rendered = getattr(request.app.state, "openapi_rendered", None)
    if not isinstance(rendered, bytes):
        schema: dict[str, Any] = request.app.openapi()
        rendered = JSONResponse(schema).body
        request.app.state.openapi_rendered = rendered
    return Response(rendered, media_type="application/json")


@router.get("/api/docs")
def api_reference(_principal: CurrentPrincipal) -> HTMLResponse:
    """Swagger UI over the OpenAPI document."""
    return HTMLResponse(_PAGE)


def describe_security(app: FastAPI) -> None:
    """Declare in the OpenAPI document that every API route needs a bearer token."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "OAuth2Password": {
                    "type": "oauth2",
                    "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}},
                }
            }
            schema["security"] = [{"OAuth2Password": []}]
            token_route = schema["paths"].get("/api/v1/auth/token", {}).get("post")
            if token_route is not None:
                token_route["security"] = []  # signing in needs no token
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
