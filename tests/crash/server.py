"""Yilian servers as real processes that a test may SIGKILL and start again.

A :class:`Zygote` (``python -m tests.crash.zygote``) builds the app once and forks a fresh
server process per start, as gunicorn's ``--preload`` does, so a restart costs well under a
second instead of the 5-15 s a cold ``python -m uvicorn yilian.asgi:app`` takes here. Each
:class:`ServerProcess` child is uvicorn on a free loopback port, on the test database, with
the outbox worker running inside it (``YILIAN_NOTIFY_WORKER_IN_SERVER``). Every child dies
with the zygote, and the zygote is killed at the end of the session: no server outlives
the tests.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.conftest import TEST_FIELD_KEY
from tests.crash.zygote import DIE_AFTER_COMMIT
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "crash-test-secret-key-not-for-production-0123456789"


class Zygote:
    """The process that forks servers; commands over its stdin, answers on its stdout."""

    def __init__(self, folder: Path) -> None:
        self.log_path = folder / "zygote.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT))),
               "YILIAN_FIELD_KEY": TEST_FIELD_KEY, "YILIAN_LOG_LEVEL": "WARNING",
               "TMPDIR": str(folder)}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.crash.zygote"], env=env, cwd=folder,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                text=True, bufsize=1,
            )
        self.ready = False

    def _answer(self, key: str) -> Any:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        while True:
            line = stdout.readline()
            if not line:
                raise AssertionError(f"the zygote died:\n{self.log()}")
            try:
                answer = json.loads(line)
            except ValueError:
                continue  # a stray log line
            if isinstance(answer, dict) and key in answer:
                return answer[key]

    def _send(self, command: dict[str, Any], key: str) -> Any:
        if not self.ready:
            self._answer("ready")  # the app is built (the first time only)
            self.ready = True
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self._answer(key)

    def fork(self, env: dict[str, str], port: int, log: Path) -> int:
        """A new server process; its pid."""
        return int(self._send({"start": {"env": env, "port": port, "log": str(log)}}, "pid"))

    def sigkill(self, pid: int) -> None:
        """SIGKILL a server process and wait until it is gone."""
        self._send({"kill": pid}, "killed")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        """Kill the zygote; its children die with it (PR_SET_PDEATHSIG)."""
        self.process.kill()
        self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class ServerProcess:
    """One server process at a time on a fixed port; ``kill`` and ``start`` again."""

    def __init__(self, zygote: Zygote, db_url: str, folder: Path, **settings: str) -> None:
        self.zygote = zygote
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.env = {
            "YILIAN_DATABASE_URL": db_url,
            "YILIAN_SECRET_KEY": SECRET_KEY,
            "YILIAN_SECRET_FILE": str(folder / "unused.secret"),
            "YILIAN_FIELD_KEY": TEST_FIELD_KEY,
            "YILIAN_LOG_LEVEL": "WARNING",
            **{f"YILIAN_{name.upper()}": value for name, value in settings.items()},
        }
        self.pid: int | None = None
        self.starts = 0

    def start(self, timeout: float = 30.0, *, die_after_commit: str = "",
              **settings: str) -> float:
        """Start a server process and wait until it answers ``/healthz``; seconds taken.

        ``settings`` override the server's for this start only. ``die_after_commit``
        (``referral.accept`` or ``settlement``) makes the process SIGKILL itself right
        after committing the first acceptance or settlement, before it answers.
        """
        assert self.pid is None, "a server is already running"
        began = time.monotonic()
        self.starts += 1
        env = {**self.env, **{f"YILIAN_{name.upper()}": value for name, value in settings.items()}}
        if die_after_commit:
            env[DIE_AFTER_COMMIT] = die_after_commit
        self.pid = self.zygote.fork(env, self.port, self._log_path())
        deadline = began + timeout
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return time.monotonic() - began
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.02)
        raise AssertionError(f"the server did not start in {timeout:.0f} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no rollback, no flush; the process is simply gone."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)  # from here, at once; the zygote then reaps it
            self.zygote.sigkill(self.pid)
            self.pid = None

    def died(self, within: float = 5.0) -> bool:
        """Whether the server process dies by itself within ``within`` seconds (a zombie,
        until the zygote reaps it; its sockets close a moment before it is one)."""
        assert self.pid is not None, "no server was started"
        deadline = time.monotonic() + within
        while True:
            try:
                stat = Path(f"/proc/{self.pid}/stat").read_text()
            except FileNotFoundError:
                return True
            if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def _log_path(self) -> Path:
        return self.folder / f"server-{self.starts}.log"

    def log(self) -> str:
        """The tail of the latest server log."""
        path = self._log_path()
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.kill()
