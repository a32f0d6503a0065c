"""Shared plumbing of the HTTP benchmarks: a scratch PostgreSQL database, a Yilian server on
loopback, keep-alive clients and percentiles.

Used by ``soak.py`` and ``scaling.py``; the older scripts (``referrals.py``, ``booking.py``,
``settlement.py``, ``recognition.py``) carry their own copies of the same few lines.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from yilian import migrate
from yilian.db import make_engine

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FIELD_KEY = "YmVuY2gtZmllbGQta2V5LTMyLWJ5dGVzLWxvbmchISE="
SECRET = "bench-secret-key-not-for-production-0123456789"  # noqa: S105 - a scratch database
PASSWORD = "Bench-2026-load"  # noqa: S105 - a scratch database
SRC = Path(__file__).resolve().parent.parent / "src"


def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create database ``name`` on the admin URL's server, migrate it; its URL."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


def drop_database(admin_url: str, name: str) -> None:
    """Drop the scratch database."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """``uvicorn yilian.asgi:app`` with ``workers`` processes on loopback, once it answers."""
    env = {**os.environ, "YILIAN_DATABASE_URL": url, "YILIAN_SECRET_KEY": SECRET,
           "YILIAN_FIELD_KEY": FIELD_KEY, "YILIAN_LOG_LEVEL": "WARNING",
           "YILIAN_LOGIN_MAX_FAILURES": "1000", "PYTHONPATH": str(SRC),
           # a throwaway database: its clerks and analysts sign in with a password alone
           "YILIAN_TOTP_REQUIRED": "false"}
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "uvicorn", "yilian.asgi:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log", "--backlog", "4096"], env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                probe.close()
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.kill()
    raise SystemExit("the server did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Terminate the server and wait for it."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# uvicorn closes a keep-alive connection idle for 5 s (``--timeout-keep-alive``); a client
# idle nearly that long opens a new one first, as HTTP connection pools do, rather than
# send into a connection the server may be closing.
KEEP_ALIVE_SECONDS = 4.0


class Client:
    """One keep-alive HTTP/1.1 connection to the server (reconnects after a failure, and
    after it has been idle as long as the server keeps it)."""

    def __init__(self, port: int, timeout: float = 60) -> None:
        self.port, self.timeout = port, timeout
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.last_used = time.monotonic()

    def _reconnect(self) -> None:
        self.connection.close()
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                     timeout=self.timeout)

    def call(self, method: str, path: str, token: str = "", body: object = None,
             form: str = "") -> tuple[int, object, float]:
        """Status, decoded JSON body (``{}`` when none) and seconds taken."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload: str | None = None
        if form:
            headers["Content-Type"], payload = "application/x-www-form-urlencoded", form
        elif body is not None:
            headers["Content-Type"], payload = "application/json", json.dumps(body)
        if time.monotonic() - self.last_used > KEEP_ALIVE_SECONDS:
            self._reconnect()
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._reconnect()
            raise
        finally:
            self.last_used = time.monotonic()
        seconds = time.perf_counter() - started
        try:
            decoded: object = json.loads(data) if data else {}
        except ValueError:
            decoded = {}
        return response.status, decoded, seconds

    def close(self) -> None:
        self.connection.close()


def token(port: int, username: str, password: str = PASSWORD) -> str:
    """A bearer token through ``POST /api/v1/auth/token``."""
    client = Client(port)
    status, body, _ = client.call("POST", "/api/v1/auth/token",
                                  form=f"username={username}&password={password}")
    client.close()
    assert status == 200 and isinstance(body, dict), body
    return str(body["access_token"])


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the values lie (nearest rank; 0 when none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def little_bound(clients: int, target_ms: float, cheapest_rate: float) -> str:
    """What the latency target asks of throughput (Little's law), beside what the cheapest
    authenticated endpoint manages: clients that send again as soon as answered wait, on
    average, clients / throughput, whatever the server does."""
    needed = clients / (target_ms / 1000)
    return (f"  Little's law: {clients} clients that never pause wait {clients} / throughput "
            f"on average, so p99 <= {target_ms:.0f} ms needs more than {needed:.0f} req/s; "
            f"the cheapest authenticated endpoint alone manages {cheapest_rate:.0f} req/s here")
