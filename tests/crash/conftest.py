"""The zygote that forks crash-test servers (one per test process, killed at the end), and
a webhook receiver that holds its requests a while."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from tests.crash.server import Zygote
from tests.live import serve_http


@pytest.fixture(scope="session")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    """Started at once; it builds the app while the first test seeds its database."""
    made = Zygote(tmp_path_factory.mktemp("zygote"))
    try:
        yield made
    finally:
        made.close()


@dataclass
class Receiver:
    """A webhook endpoint on loopback that knows which POSTs it holds right now (``held``).

    Until ``killed`` is set it holds each for ``stall`` seconds and answers 503 (the sender
    retries soon), so there is always a webhook in flight for the kill to cut; afterwards it
    holds each for ``hold`` seconds and answers 200.
    """

    url: str = ""
    hold: float = 0.3
    stall: float = 1.5
    killed: threading.Event = field(default_factory=threading.Event)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # delivery ids not yet answered
    cut_short: list[str] = field(default_factory=list)  # requests whose body never came
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The webhook receiver, served from a thread for the test."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            delivery = self.headers.get("X-Yilian-Delivery", "")
            if len(body) < length:  # the sender died between the headers and the body
                with state.lock:
                    state.cut_short.append(delivery)
                return
            with state.lock:
                state.received.append((dict(self.headers.items()), body))
                state.held.append(delivery)
            try:
                if state.killed.is_set():
                    time.sleep(state.hold)
                    status = 200
                else:
                    status = 200 if state.killed.wait(state.stall) else 503
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the sender was killed while we held its request
                pass
            finally:
                with state.lock:
                    state.held.remove(delivery)

        def log_message(self, format: str, *args: object) -> None:
            return

    with serve_http(Handler) as base:
        state.url = f"{base}/hooks/yilian"
        yield state
