"""The web application: API, FHIR facade and pages, built by :func:`create_app`."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlencode

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yilian import __version__, apidocs, i18n, logs
from yilian.audit import service as audit
from yilian.audit.models import AuditOutcome
from yilian.config import Settings, get_settings
from yilian.db import make_engine, make_sessionmaker
from yilian.deps import (
    DETACHED_SLOTS,
    POOL_SPARE,
    SAFE_METHODS,
    DatabaseSlots,
    audit_context,
)
from yilian.errors import InvalidInput, YilianError
from yilian.patients.linkage import DEFAULT_MODEL_PATH, scorer_for
from yilian.validation import describe_validation_errors
from yilian.webui import PACKAGE_DIR, build_environment, current_language, render

log = logs.get_logger(__name__)


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path == "/api/docs":
        return True
    if path.startswith(("/api/", "/fhir/", "/hl7/")):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "GET"


def _is_fhir(request: Request) -> bool:
    return request.url.path.startswith("/fhir/")


def _operation_outcome(status_code: int, error: YilianError) -> dict[str, Any]:
    fhir_code = {
        400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
        409: "conflict", 422: "invalid", 429: "throttled",
    }.get(status_code, "exception")
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": fhir_code,
                "details": {"text": f"{error.zh} / {error.en}"},
                "diagnostics": error.code,
            }
        ],
    }


async def _audit_refusal(request: Request, error: YilianError) -> None:
    """Keep a trace of refused writes and of every permission denial.

    The record is written in the thread pool: a flash crowd of refused bookings must not
    stall the event loop on database I/O.
    """
    if error.status_code == 401:
        return
    if error.status_code != 403 and request.method in SAFE_METHODS:
        return
    if getattr(request.state, "principal", None) is None and error.status_code != 403:
        return
    action = next((d.get("action") for d in error.details if d.get("action")), "")
    outcome = AuditOutcome.DENIED if error.status_code == 403 else AuditOutcome.FAILED
    slots: DatabaseSlots = request.app.state.db_slots
    async with slots.detached:
        await run_in_threadpool(
            audit.record_detached,
            request.app.state.sessionmaker,
            audit_context(request),
            action=action or f"{request.method} {request.url.path}"[:64],
            outcome=outcome,
            entity_type="request",
            entity_id=request.url.path[:64],
            detail={"method": request.method, "path": request.url.path, "code": error.code},
        )


def error_response(request: Request, error: YilianError) -> Response:
    """The answer to a failed request, in the form the caller reads."""
    language = current_language.get()
    challenge = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    if _is_fhir(request):
        return JSONResponse(
            _operation_outcome(error.status_code, error),
            status_code=error.status_code,
            media_type="application/fhir+json",
            headers=challenge,
        )
    if _wants_html(request):
        if error.status_code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        return render(
            request, "error.html", {"error": error, "message": error.message(language)},
            status_code=error.status_code,
        )
    body: dict[str, Any] = {
        "code": error.code,
        "detail": error.message(language),
        "message_zh": error.zh,
        "message_en": error.en,
    }
    if error.details:
        body["errors"] = error.details
    return JSONResponse(body, status_code=error.status_code, headers=challenge)


def server_error_response(request: Request) -> Response:
    """Log the exception being handled with the request id; answer without any trace."""
    request_id = getattr(request.state, "request_id", "")
    log.exception("unhandled_error", path=request.url.path, request_id=request_id)
    error = YilianError(
        "server_error",
        f"系统内部错误，请联系信息科并提供请求编号 {request_id}",
        f"Internal error; give request id {request_id} to your IT department",
        500,
    )
    return error_response(request, error)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_yilian_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, YilianError)
        await _audit_refusal(request, exc)
        return error_response(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        zh, en, details = describe_validation_errors(exc.errors())
        error = InvalidInput("invalid_request", zh, en, details)
        await _audit_refusal(request, error)
        return error_response(request, error)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            error = YilianError("not_found", "页面或资源不存在", "Page or resource not found", 404)
        elif exc.status_code == 405:
            error = YilianError("method_not_allowed", "不支持该请求方法",
                                "Method not allowed", 405)
        else:
            detail = str(exc.detail)
            error = YilianError("http_error", detail, detail, exc.status_code)
        return error_response(request, error)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return server_error_response(request)

    app.add_exception_handler(YilianError, on_yilian_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
}


class RequestContext:
    """Request id, language, security headers and the access log around every request.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``, which costs an extra task and
    stream per request): it only wraps ``send`` to add headers to the response start.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.static_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in SECURITY_HEADERS.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = request_id
        language = i18n.request_language(request, self.settings.default_language)
        asked = request.query_params.get("lang")
        token = current_language.set(language)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                present = {key for key, _ in headers.raw}
                headers.raw.extend(
                    item for item in self.static_headers if item[0] not in present
                )
                if scope.get("scheme") == "https":
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                if asked in i18n.LANGUAGES:
                    headers.append(
                        "set-cookie",
                        f"{i18n.LANGUAGE_COOKIE}={asked}; Max-Age={365 * 86400}; Path=/; "
                        "SameSite=lax",
                    )
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_headers)
            except Exception:
                if response_started:
                    log.exception("error_after_response_started", path=request.url.path,
                                  request_id=request_id)
                else:
                    await server_error_response(request)(scope, receive, send_with_headers)
        finally:
            log.info(
                "request", method=request.method, path=request.url.path, status=status,
                request_id=request_id, ms=round((time.perf_counter() - started) * 1000, 1),
            )
            current_language.reset(token)
            structlog.contextvars.clear_contextvars()


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(RequestContext, settings=settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie="yilian_session",
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.secure_cookies,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The Yilian web application for these settings (migrations are applied elsewhere)."""
    settings = settings or get_settings()
    logs.configure(json_logs=settings.log_json, level=settings.log_level)
    app = FastAPI(
        title="Yilian 医联 API",
        version=__version__,
        description="Regional medical collaboration platform — REST API. "
        "Errors carry `message_zh` and `message_en`.",
        docs_url=None,  # served by yilian.apidocs, behind sign-in
        openapi_url=None,
        redoc_url=None,
    )
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_sessions_max,
        max_overflow=DETACHED_SLOTS + POOL_SPARE,
    )
    app.state.db_slots = DatabaseSlots.sized(settings.db_sessions_max)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.templates = build_environment()
    # Compile the patient index's scoring SQL now (once per process), not in the first
    # registration a clerk makes; a broken model file stops start-up with its reason.
    scorer_for(settings.empi_model_path or DEFAULT_MODEL_PATH)
    _install_middleware(app, settings)
    _install_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        try:
            with engine.connect() as connection:
                connection.execute(text("select 1"))
        except Exception as exc:
            log.warning("database_unreachable", error=str(exc))
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "reachable"})

    from yilian.routes import include_all

    include_all(app)
    apidocs.describe_security(app)
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    return app
