"""Platform plumbing a hospital's IT department relies on: health, errors, logs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from yilian.app import create_app
from yilian.config import Settings


def test_health_and_readiness_answer_without_sign_in(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "reachable"


def test_readiness_fails_when_the_database_is_unreachable() -> None:
    settings = Settings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
        secret_key="k" * 40,
        log_level="CRITICAL",
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"


def test_server_error_hides_the_trace_and_logs_it_with_the_request_id(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/v1/explode")
    def explode() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        caplog.set_level(logging.ERROR)
        response = client.get("/api/v1/explode", headers={"X-Request-ID": "req-42"})

    assert response.status_code == 500
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert "req-42" in response.json()["message_zh"]
    logged = [r for r in caplog.records if "unhandled_error" in r.getMessage()]
    assert logged, "the error must be logged"
    assert logged[0].exc_info is not None
    assert response.headers["X-Request-ID"] == "req-42"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_unknown_api_route_is_a_bilingual_404(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    body = response.json()
    assert body["message_zh"] == "页面或资源不存在"
    assert body["message_en"] == "Page or resource not found"


def test_every_response_carries_a_request_id_and_security_headers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert len(response.headers["X-Request-ID"]) >= 16
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    from yilian import logs

    logs.configure(json_logs=True, level="INFO")
    logs.get_logger("yilian.test").info("referral_sent", referral_id=7)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert event["event"] == "referral_sent"
    assert event["referral_id"] == 7


def test_signing_in_returns_to_the_filtered_page_asked_for(client: TestClient) -> None:
    response = client.get(
        "/registry/institutions?region=130000&level=3", follow_redirects=False,
        headers={"accept": "text/html"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/login?next=%2Fregistry%2Finstitutions%3Fregion%3D130000%26level%3D3"
    )


def test_without_a_configured_key_one_is_generated_once_and_kept(tmp_path: Path) -> None:
    key_file = tmp_path / "yilian.secret"

    first = Settings(secret_key="", secret_file=key_file).resolved_secret_key()
    after_restart = Settings(secret_key="", secret_file=key_file).resolved_secret_key()

    assert len(first) >= 40
    assert after_restart == first  # sign-ins survive a restart
    assert key_file.stat().st_mode & 0o077 == 0  # readable by the service account only


def test_the_server_entry_point_puts_the_built_app_out_of_the_collectors_reach(
    tmp_path: Path,
) -> None:
    # A full collection walks every tracked object: with the app's half a million in reach
    # it stalls a worker for 170 ms and more, every few seconds under load.
    probe = (
        "import gc, time, yilian.asgi\n"
        "started = time.perf_counter(); gc.collect()\n"
        "print(gc.get_freeze_count(), (time.perf_counter() - started) * 1000)\n"
    )
    env = {**os.environ, "YILIAN_DATABASE_URL": f"sqlite:///{tmp_path / 'probe.db'}",
           "YILIAN_SECRET_KEY": "probe-secret-key-not-for-production-0123456789"}
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,  # noqa: S603
                            env=env, check=True, timeout=120)
    frozen, collect_ms = answer.stdout.split()

    assert int(frozen) > 100_000, answer.stdout  # the app's objects, frozen at start
    print(f"full collection after the freeze: {float(collect_ms):.0f} ms")
