"""Forks Yilian servers from a process that built the app once (gunicorn's ``--preload``).

Building the app (importing every capability, its routes and their schemas) costs 5-15 s
of CPU on the shared test machine; a crash test starts servers again and again. This
process pays that once, then forks a fresh server process per ``start`` command: each
child makes its own app, engine and connections from the environment it is given, runs
uvicorn with the app's lifespan (so the outbox worker runs inside it), and dies with its
parent. ``kill`` SIGKILLs a child: nothing of it runs again, no shutdown hook, no rollback.

Commands on stdin, one JSON object a line; answers on stdout, one line each:
``{"start": {"env": {...}, "port": 8000, "log": "/path"}}`` → ``{"pid": 123}``;
``{"kill": 123}`` → ``{"killed": 123}``. End of input: every child is killed.

A child started with ``YILIAN_TEST_DIE_AFTER_COMMIT`` in its env SIGKILLs itself right
after it commits the first unit of work that did that (``referral.accept``: accepted a
referral; ``settlement``: settled a bill), before the answer leaves: the window where the
change is stored and the client never hears so. It is a SQLAlchemy session listener the
child registers on itself; nothing under ``src/`` knows of it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
DIE_AFTER_COMMIT = "YILIAN_TEST_DIE_AFTER_COMMIT"
_DOING = "crash_test_doing"  # session.info: this transaction did what the child dies after


def _die_after_commit(window: str) -> None:
    """In the child: SIGKILL itself right after committing the first unit of work that did
    ``window``, before the route's answer is sent (the request's session commits first)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

    from yilian.referrals.models import ReferralEvent
    from yilian.referrals.states import ReferralAction
    from yilian.settlement.models import Settlement

    windows: dict[str, Callable[[object], bool]] = {
        "referral.accept": lambda row: (isinstance(row, ReferralEvent)
                                        and row.action == ReferralAction.ACCEPT.value),
        "settlement": lambda row: isinstance(row, Settlement),
    }
    if window not in windows:
        raise SystemExit(f"{DIE_AFTER_COMMIT}={window!r}: not one of {sorted(windows)}")
    does = windows[window]

    @event.listens_for(Session, "after_flush")
    def _note(session: Session, _context: UOWTransaction) -> None:
        if any(does(row) for row in session.new):
            session.info[_DOING] = True

    @event.listens_for(Session, "after_commit")
    def _die(session: Session) -> None:
        # after_commit also follows a savepoint's release; only the outermost is stored.
        if session.info.get(_DOING) and session.get_nested_transaction() is None:
            os.kill(os.getpid(), signal.SIGKILL)

    @event.listens_for(Session, "after_transaction_end")
    def _forget(session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # ended, and the child lives: it did not do it
            session.info.pop(_DOING, None)


def _serve(parent: int, env: dict[str, str], port: int, log: str) -> None:
    """In the child: die with the zygote, log to a file, serve until killed."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the zygote died before prctl took effect
        os._exit(1)
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    sys.stdin.close()
    os.environ.update(env)
    if window := env.get(DIE_AFTER_COMMIT):
        _die_after_commit(window)
    import uvicorn

    from yilian.app import create_app
    from yilian.config import Settings, get_settings

    get_settings.cache_clear()
    app = create_app(Settings())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="on", ws="none", timeout_graceful_shutdown=2)


def main() -> None:
    import psycopg  # noqa: F401 - imported once here, not in every server
    import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401

    from yilian.app import create_app
    from yilian.config import Settings

    # Build one throw-away app so every router, schema and template is made before forking;
    # its engine is never connected.
    scratch = Path(tempfile.gettempdir()) / f"zygote-{os.getpid()}.db"
    create_app(Settings(database_url=f"sqlite:///{scratch}",
                        secret_key="zygote-only-never-serves-0123456789abcdef",
                        field_key=os.environ["YILIAN_FIELD_KEY"]))
    children: set[int] = set()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        command: dict[str, Any] = json.loads(line)
        if "start" in command:
            start = command["start"]
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                try:
                    _serve(parent, start["env"], int(start["port"]), start["log"])
                finally:
                    os._exit(0)
            children.add(pid)
            print(json.dumps({"pid": pid}), flush=True)
        elif "kill" in command:
            pid = int(command["kill"])
            if pid in children:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                children.discard(pid)
            print(json.dumps({"killed": pid}), flush=True)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
