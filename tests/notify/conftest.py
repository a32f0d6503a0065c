"""A webhook receiver on loopback, and the network a notification test needs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest
from sqlalchemy.orm import Session

from tests.factories import make_institution, make_user
from tests.live import serve_http
from yilian.auth import service as users
from yilian.auth.models import Role, User
from yilian.auth.permissions import Principal
from yilian.registry.models import Institution


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP endpoint that records every POST; ``answer`` picks status and delay."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answer: Callable[[int], tuple[int, float]] = lambda _n: (200, 0.0)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Block until ``count`` requests have arrived."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"only {len(self.received)} of {count} requests arrived"
                self.arrived.wait(left)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (in a thread), recording what it is sent."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.arrived:
                state.received.append(Received(dict(self.headers.items()), body))
                number = len(state.received)
                state.arrived.notify_all()
            status, delay = state.answer(number)
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the sender died while we waited (the crash test)
                pass

        def log_message(self, format: str, *args: object) -> None:
            return

    with serve_http(Handler) as base:
        state.url = f"{base}/hooks/yilian"
        yield state


@dataclass
class Network:
    """Two hospitals and their staff."""

    county: Institution
    city: Institution
    county_admin: User
    county_doctor: User
    county_clerk: User
    county_patient: User
    city_doctor: User
    platform_admin: User

    def principal(self, session: Session, user: User) -> Principal:
        """The user as the permission rules see them."""
        return users.principal_for(session, user=user)


@pytest.fixture
def network(session: Session) -> Network:
    """A county hospital with an administrator, a doctor, a clerk and a patient account,
    and a city hospital with a doctor (committed)."""
    county = make_institution(session, code="COUNTY")
    city = make_institution(session, code="CITY", level=3)
    made = Network(
        county=county,
        city=city,
        county_admin=make_user(session, role=Role.HOSPITAL_ADMIN, institution=county,
                               username="county.admin"),
        county_doctor=make_user(session, role=Role.CLINICIAN, institution=county,
                                username="county.doctor"),
        county_clerk=make_user(session, role=Role.INSURANCE_CLERK, institution=county,
                               username="county.clerk"),
        county_patient=make_user(session, role=Role.PATIENT, institution=county,
                                 username="county.patient"),
        city_doctor=make_user(session, role=Role.CLINICIAN, institution=city,
                              username="city.doctor"),
        platform_admin=make_user(session, role=Role.PLATFORM_ADMIN, username="root"),
    )
    session.commit()
    return made
