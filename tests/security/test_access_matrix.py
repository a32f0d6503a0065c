"""The access matrix: every API, FHIR and HL7 route × every role × own, shared and other.

Design
------
* The rules are one declarative table, :data:`tests.security.access_rules.RULES`: for each
  (method, path template) the roles that may call it and, for a route naming one thing,
  how far each role reaches. The sweep enumerates the application's routes itself
  (:func:`api_routes`), so a route added without a rule fails
  :func:`test_every_route_has_a_rule` with the list of routes missing one.
* One small world per backend for the whole module (``tests/security/world.py``, built
  through the real services and API on a private database): institutions A, B and C, a user
  of every role in A (the network roles in none), a patient of A, a patient of B, and a
  patient of B shared with A by an accepted referral. Tokens are minted once per user.
* Each route is called, in-process, by each role. A route naming a thing of the world is
  called once per case (``own``: A's, ``shared``: B's patient shared with A, ``other``: B's
  or C's); other path parameters get placeholders. An allowed call must answer its rule's
  status; any other call 403 or 404 (or, for a write, a 422 that names no data) — never
  data: no answer may carry the name of a patient the role may not see, whatever the route.
  No call may answer 401 or 5xx.
* SQLite gets the whole sweep; PostgreSQL the calls whose answer depends on queries
  (:func:`_reads_the_database`): the visibility rules are SQL (a recursive CTE for shares
  that follow merges), role refusals are not.
* A write naming a seeded thing sends a valid body (its rule's ``body``), so whether the
  caller may act on that thing decides the answer: refused on another institution's thing
  (403 or 404, never a 409 or a 422 that would say it got past the check), not refused on
  its own. Other writes send a body that fails validation (``[]``): a role without the
  permission must be refused before validation, and a permitted one is not refused. Reads
  run first; then the writes that must be refused (they change nothing, or the sweep has
  found a hole); then the allowed ones, those that end a thing last; token revocation
  last of all.
* Audit completeness, in the same sweep: an allowed read of one patient's data leaves
  exactly one audit record naming that patient; a 403 leaves exactly one ``denied`` record
  for the path, a refused write exactly one ``failed`` or ``denied`` record (the app's
  ``_audit_refusal``), and no refused call leaves a record of a successful read.
  :func:`test_audit_records_cannot_be_changed_through_any_route` tries every other method on
  the audit routes.

All findings of a sweep are collected and reported together, one line each.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, Row, func, select

from tests.conftest import TEST_FIELD_KEY, Backend, private_database
from tests.security.access_rules import (
    FIXED_PARAMETERS,
    PLACEHOLDER_ID,
    RULES,
    Reach,
    Rule,
)
from tests.security.world import NAMES, World, build
from yilian.app import create_app
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker

PREFIXES = ("/api/", "/fhir/", "/hl7/")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# Which cases an OWN reach covers, by kind of thing: a patient shared with A is A's to see;
# a settlement, an institution's own things are not shared by a referral.
OWN_CASES = {
    "person": {"own", "shared"}, "record": {"own", "shared"}, "referral": {"own", "shared"},
    "consultation": {"own", "shared"},
    "settlement": {"own"}, "institution": {"own"}, "department": {"own"},
    "practitioner": {"own"}, "audit": {"own"},
    "appointment": {"own", "shared"}, "report": {"own", "shared"},
    "observation": {"own", "shared"}, "imaging": {"own", "shared"},
    "encounter": {"own", "shared"}, "procedure": {"own", "shared"},
    "clinic": {"own"}, "slot": {"own"}, "webhook": {"own"}, "message": {"own"},
    "inbox": {"own"}, "agreement": {"own"}, "user": {"own"}, "practitioner_role": {"own"},
    "review": {"own"}, "merge": {"own"},
}
# The same from C's point of view: C sees B's ``other`` patient only (B referred them to C
# and asked C's opinion), as A sees ``shared``; of the institutions' things, the audit
# record and the agreement of ``other`` are C's own.
def _seen_by_c(cases: set[str] | frozenset[str]) -> set[str]:
    """A's cases as C has them: C is asked (as A is in ``shared``) in ``other``, and asks
    nothing (as A does in ``own``)."""
    return {"other"} if "shared" in cases else set()


C_CASES = {kind: _seen_by_c(cases) for kind, cases in OWN_CASES.items()}
C_CASES["audit"] = C_CASES["agreement"] = {"other"}
C_ROLES = (Role.CLINICIAN, Role.HOSPITAL_ADMIN)
PER_USER = {"inbox"}
PATIENT_KINDS = ("person", "record", "referral", "consultation", "settlement", "appointment",
                 "report", "observation", "imaging", "encounter", "procedure")
SELF_CASES = {"person": {"own"}, "settlement": {"own"}, "appointment": {"own"}}
# The patients each role may see anywhere (their names may appear in its answers).
VISIBLE_PATIENTS = {
    Role.PLATFORM_ADMIN: {"own", "shared", "other"},
    Role.COMMISSION_ANALYST: set(),
    Role.HOSPITAL_ADMIN: {"own", "shared"},
    Role.CLINICIAN: {"own", "shared"},
    Role.INSURANCE_CLERK: {"own", "shared"},
    Role.PATIENT: {"own"},
}
PARAMETER = re.compile(r"{(\w+)}")
# Steps after which a thing is over: swept after the other allowed writes.
ENDING = {"cancel", "decline", "fail", "close", "reversal", "refund", "status", "complete"}


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) of the API, FHIR and HL7 routes, as the app has them."""
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if isinstance(context.original_route, APIRoute) and path.startswith(PREFIXES):
            found.extend((method, path) for method in sorted(context.methods or ()))
    return found


@dataclass
class Sweep:
    """The seeded app, its world and a connection to count audit records."""

    app: FastAPI
    client: TestClient
    world: World
    engine: Engine
    seeded_in: float
    last_audit_id: int = 0  # the newest audit record seen so far


@pytest.fixture(scope="module")
def sweep(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    """One seeded world per backend for the module."""
    with private_database(backend, tmp_path_factory, "access_matrix") as url:
        settings = Settings(
            database_url=url, secret_key="test-secret-key-not-for-production-0123456789",
            field_key=TEST_FIELD_KEY, log_json=True, log_level="WARNING",
        )
        app = create_app(settings)
        engine = make_engine(url)
        started = time.perf_counter()
        try:
            with TestClient(app) as client, make_sessionmaker(engine)() as session:
                world = build(session, settings, client)
                yield Sweep(app, client, world, engine, time.perf_counter() - started)
        finally:
            engine.dispose()
            app.state.engine.dispose()


def test_every_route_has_a_rule(sweep: Sweep) -> None:
    routes = set(api_routes(sweep.app))
    assert len(routes) > 200  # the enumeration sees the included routers
    missing = sorted(routes - RULES.keys())
    assert not missing, "Routes without an access rule in tests/security/access_rules.py:\n" + \
        "\n".join(f"  {method} {path}" for method, path in missing)
    stale = sorted(RULES.keys() - routes)
    assert not stale, "Rules for routes that no longer exist:\n" + \
        "\n".join(f"  {method} {path}" for method, path in stale)


def test_a_route_added_without_a_rule_would_be_listed() -> None:
    router = APIRouter(prefix="/api/v1/brand-new")

    @router.get("/{thing_id}")
    def read_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app = FastAPI()
    app.include_router(router)

    assert set(api_routes(app)) - RULES.keys() == {("GET", "/api/v1/brand-new/{thing_id}")}


@dataclass(frozen=True)
class Call:
    """One request of the sweep."""

    method: str
    template: str
    rule: Rule
    role: Role
    case: str | None  # which seeded thing fills the target parameter, if any
    viewer: str = "A"  # whose user calls: A's, or C's (the second point of view)

    def url(self, world: World) -> tuple[str, bool]:
        """The path to call, and whether a placeholder id went into it."""
        placeholder = False

        def fill(match: re.Match[str]) -> str:
            nonlocal placeholder
            name = match.group(1)
            if name in FIXED_PARAMETERS:
                return FIXED_PARAMETERS[name]
            if self.case is not None and name == _target_parameter(self.template):
                assert self.rule.target is not None
                return str(_seeded(world, self.rule.target, self.case, self.role))
            if self.case is not None and name in self.rule.fills:
                return str(_seeded(world, self.rule.fills[name], self.case, self.role))
            placeholder = True
            return PLACEHOLDER_ID

        return PARAMETER.sub(fill, self.template), placeholder

    @property
    def allowed(self) -> bool:
        reach = self.rule.allowed.get(self.role)
        if reach is None:
            return False
        if self.case is None or reach is Reach.ALL:
            return True
        assert self.rule.target is not None
        own_cases = self.rule.role_cases.get(self.role, self.rule.own_cases)
        if reach is Reach.OWN and own_cases is not None:
            # A's cases: "own" where A refers or asks, "shared" where A is asked.
            return self.case in (own_cases if self.viewer == "A" else _seen_by_c(own_cases))
        cases = (SELF_CASES if reach is Reach.SELF else
                 OWN_CASES if self.viewer == "A" else C_CASES)
        return self.case in cases.get(self.rule.target, set())

    @property
    def visible(self) -> set[str]:
        """The patients whose names may appear in this call's answers."""
        return VISIBLE_PATIENTS[self.role] if self.viewer == "A" else {"other"}

    def headers(self, world: World) -> dict[str, str]:
        if self.rule.public:
            return {}
        return (world.headers if self.viewer == "A" else world.c_headers)[self.role]

    def label(self) -> str:
        case = f" [{self.case}]" if self.case else ""
        viewer = "" if self.viewer == "A" else " of C"
        return f"{self.method} {self.template}{case} as {self.role.value}{viewer}"


def _reads_the_database(call: Call) -> bool:
    """Whether who sees what in the call's answer is decided by a query: a role the route
    lets through, on a route naming a seeded thing or a read naming nothing (a list or a
    search). The rest (a role refused outright, a write naming nothing, a read of a
    placeholder id) is decided by the role check, the same on every backend, so the
    PostgreSQL sweep leaves them to the SQLite one (it costs 20 ms of CPU a call)."""
    if call.role not in call.rule.allowed:
        return False
    if call.rule.target is not None:
        return True
    return call.method == "GET" and _target_parameter(call.template) == ""


def _seeded(world: World, kind: str, case: str, role: Role) -> int:
    """The seeded thing of a kind and case: a user's own (inbox item) is the caller's."""
    if case == "own" and kind in world.per_role:
        return world.per_role[kind][role]
    return world.targets[kind][case]


def _resolve(world: World, value: str) -> str:
    """A query value: ``"@kind.case"`` is that seeded thing's id."""
    if not value.startswith("@"):
        return value
    kind, case = value[1:].split(".")
    return str(world.targets[kind][case])


def _filled(world: World, value: object) -> object:
    """A body with every ``"@kind.case"`` string in it replaced by that seeded id."""
    if isinstance(value, str) and value.startswith("@"):
        return int(_resolve(world, value))
    if isinstance(value, list):
        return [_filled(world, item) for item in value]
    if isinstance(value, dict):
        return {key: _filled(world, item) for key, item in value.items()}
    return value


def _body(world: World, call: Call) -> object:
    """What a write sends: its rule's valid body when the call names a thing (so only who
    calls decides), else one that fails validation."""
    if call.rule.body is not None and call.case is not None:
        return _filled(world, call.rule.body)
    return []


def _target_parameter(template: str) -> str:
    """The path parameter naming the route's target: the first that is not fixed."""
    names = [name for name in PARAMETER.findall(template) if name not in FIXED_PARAMETERS]
    return names[0] if names else ""


def _calls() -> list[Call]:
    calls = []
    for (method, template), rule in RULES.items():
        cases: list[str | None] = [None]
        if rule.target is not None:
            cases = ["own", "shared", "other"]
        for role in Role:
            # A role refused the route outright is tried on its own institution's thing
            # only: the case most likely to be let through by a check that looks at data.
            for case in cases if role in rule.allowed else cases[:1]:
                calls.append(Call(method, template, rule, role, case))
            # C's staff, on each case of a route naming a thing their role may reach (a
            # user's own things, an inbox item, are A's users' only).
            if role in C_ROLES and role in rule.allowed and rule.target is not None \
                    and rule.target not in PER_USER:
                calls.extend(Call(method, template, rule, role, case, "C") for case in cases)
    # Reads first; then writes that must be refused (they change nothing), then allowed
    # writes, those that end a thing (cancel, decline, reverse ...) last.
    return sorted(calls, key=lambda c: (c.rule.last, c.method != "GET", c.allowed,
                                        c.template.rsplit("/", 1)[-1] in ENDING))


def _case_cases(world: World, call: Call) -> bool:
    kind = str(call.rule.target)
    return call.case is None or call.case in world.targets[kind] or (
        call.case == "own" and kind in world.per_role)


# Each name as it reads, and as JSON that escapes non-ASCII characters writes it.
SPELLINGS = {case: (name, json.dumps(name).strip('"')) for case, name in NAMES.items()}


def _leaked_names(text: str, visible: set[str]) -> list[str]:
    return [NAMES[case] for case, spellings in SPELLINGS.items()
            if case not in visible
            and any(spelling in text for spelling in spellings)]


def _is_error_body(response: Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and ("code" in body or
                                       body.get("resourceType") == "OperationOutcome")


AUDITED = AuditEvent.__table__.c
AUDIT_COLUMNS = (AUDITED.id, AUDITED.action, AUDITED.outcome, AUDITED.entity_type,
                 AUDITED.entity_id, AUDITED.patient_id)


def _new_audit(sweep: Sweep) -> list[Row[Any, Any, Any, Any, Any, Any]]:
    """The audit records written since the last look (only requests write any)."""
    with sweep.engine.connect() as connection:
        rows = list(connection.execute(
            select(*AUDIT_COLUMNS).where(AUDITED.id > sweep.last_audit_id)))
    if rows:
        sweep.last_audit_id = max(row.id for row in rows)
    return rows


def _last_audit_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0)


def _check(sweep: Sweep, call: Call) -> list[str]:
    """Make the call; what is wrong with its answer and its audit records."""
    world, problems = sweep.world, []
    path, placeholder = call.url(world)
    headers = call.headers(world)
    query = {key: _resolve(world, value) for key, value in call.rule.query.items()}
    kwargs: dict[str, Any] = {"headers": headers, "params": query}
    body = _body(world, call) if call.method in WRITES else None
    if body is not None:
        kwargs["json"] = body
    response = sweep.client.request(call.method, path, **kwargs)
    status = response.status_code
    rows = _new_audit(sweep)
    person_id = (world.person_ids[call.case]
                 if call.case is not None and call.rule.target in PATIENT_KINDS
                 else None)
    if status >= 500 or status == 401:
        return [f"{call.label()}: {status} {response.text[:200]}"]
    leaked = _leaked_names(response.text, call.visible)
    if leaked:
        problems.append(f"{call.label()}: {status} shows patients {leaked}")
    if call.allowed:
        if call.rule.ok is not None:
            expected = call.rule.ok
        elif call.method == "GET":
            expected = frozenset({404 if placeholder else 200})
        else:
            expected = None
        refusing = {403} if placeholder else {403, 404}
        if expected is not None and status not in expected:
            problems.append(f"{call.label()}: {status}, expected {sorted(expected)}: "
                            f"{response.text[:200]}")
        elif expected is None and status in refusing:
            problems.append(f"{call.label()}: refused {status}: {response.text[:200]}")
        shown = [name for name in NAMES.values() if name in response.text
                 or json.dumps(name).strip('"') in response.text]
        if shown and not rows:
            problems.append(f"{call.label()}: {status} shows patients {shown} and left no "
                            "audit record")
        if call.rule.patient_read and status == 200 and person_id is not None:
            naming = [row for row in rows if row.patient_id is not None]
            if len(naming) != 1 or naming[0].patient_id != person_id:
                problems.append(
                    f"{call.label()}: audit records naming a patient: "
                    f"{[(r.action, r.patient_id, r.entity_type, r.entity_id) for r in naming]}"
                    f", expected one for patient {person_id}")
        return problems
    refused = {403, 404} | ({422} if body == [] and call.role in call.rule.allowed else set())
    if status not in refused:
        problems.append(f"{call.label()}: {status}, expected 403 or 404: "
                        f"{response.text[:200]}")
        return problems
    if not _is_error_body(response):
        problems.append(f"{call.label()}: refused with a body that is not an error")
    read = [row for row in rows if row.outcome == AuditOutcome.SUCCESS
            and row.patient_id is not None]
    if read:
        problems.append(f"{call.label()}: refused, yet audited as a read of patient "
                        f"{[row.patient_id for row in read]}")
    refusals = [row for row in rows if row.outcome != AuditOutcome.SUCCESS]
    if status == 403 or call.method in WRITES:
        want = AuditOutcome.DENIED if status == 403 else AuditOutcome.FAILED
        if len(refusals) != 1 or refusals[0].outcome != want \
                or refusals[0].entity_id != path[:64]:
            problems.append(
                f"{call.label()}: {status} left refusal records "
                f"{[(r.outcome, r.entity_id) for r in refusals]}, expected one "
                f"{want.value} for {path}")
    return problems


def test_audit_records_cannot_be_changed_through_any_route(sweep: Sweep) -> None:
    audit_routes = [(method, path) for method, path in api_routes(sweep.app)
                    if path.startswith(("/api/v1/audit", "/fhir/r4/AuditEvent"))]
    assert {method for method, _ in audit_routes} == {"GET"}
    own = sweep.world.targets["audit"]["own"]
    admin = sweep.world.headers[Role.PLATFORM_ADMIN]
    before = sweep.client.get(f"/api/v1/audit/{own}", headers=admin)
    assert before.status_code == 200
    for path in ("/api/v1/audit", f"/api/v1/audit/{own}", "/fhir/r4/AuditEvent",
                 f"/fhir/r4/AuditEvent/{own}"):
        for method in WRITES:
            answer = sweep.client.request(method, path, headers=admin,
                                          json={"action": "tampered", "outcome": "success"})
            assert answer.status_code in (404, 405), (method, path, answer.status_code)
    assert sweep.client.get(f"/api/v1/audit/{own}", headers=admin).json() == before.json()


def test_access_matrix(sweep: Sweep, backend: Backend) -> None:
    # Runs after the module's other tests: its last calls revoke every user's tokens.
    started, cpu = time.perf_counter(), time.process_time()
    calls = [call for call in _calls() if _case_cases(sweep.world, call)
             and (backend.name == "sqlite" or _reads_the_database(call))]
    sweep.last_audit_id = _last_audit_id(sweep.engine)
    problems = [problem for call in calls for problem in _check(sweep, call)]
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"\naccess matrix on {backend.name}: {len(calls)} calls over {len(RULES)} routes "
          f"in {took:.1f} s ({cpu:.1f} s CPU; world seeded in {sweep.seeded_in:.1f} s)")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
