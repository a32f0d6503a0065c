"""Schemathesis over the whole OpenAPI document, as a platform administrator and a clinician.

The document is read from ``/api/openapi.json`` as a signed-in user reads it; every
operation in it then gets generated requests, sent in-process through the app's test
client. No answer may be a server error, and every refusal (4xx) must say what is wrong in
Chinese and English: the API's error shape (``code``, ``detail``, ``message_zh``,
``message_en``), or an OperationOutcome with ``details.text`` on FHIR routes.

Depth is bounded for CI: ``YILIAN_FUZZ_EXAMPLES`` requests per operation, account and
mode (default 1, following the schema), derandomized so every run sends the same
requests, one account per backend (see ``CI_ACCOUNT``). A deeper local run:
``YILIAN_FUZZ_EXAMPLES=3 YILIAN_FUZZ_MODES=positive,negative YILIAN_FUZZ_ALL_ACCOUNTS=1``
(negative requests break the schema on purpose; about 10 minutes per backend).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode

from tests.fuzz.conftest import World, is_clear_error

EXAMPLES = int(os.environ.get("YILIAN_FUZZ_EXAMPLES", "1"))
MODES = [GenerationMode(mode) for mode in
         os.environ.get("YILIAN_FUZZ_MODES", "positive").split(",")]

# Operations the sweep leaves out, and why.
SKIPPED = {
    ("POST", "/api/v1/auth/revoke"),  # would sign the sweep's own accounts out
    ("DELETE", "/api/v1/users/{user_id}/totp"),  # a reset signs that user out everywhere
}
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
)


def problems_of(response: Any) -> list[str]:
    """What is wrong with an answer: a server error, or a refusal without a clear message."""
    status = response.status_code
    if status >= 500:
        return [f"{status}: {response.text[:300]}"]
    if 400 <= status < 500:
        try:
            body = response.json()
        except ValueError:
            return [f"{status} without a JSON body: {response.text[:200]}"]
        if not is_clear_error(body):
            return [f"{status} without a clear message: {response.text[:300]}"]
    return []


def send(world: World, case: Any, headers: dict[str, str]) -> Any:
    """The case sent through the app's test client (quicker than schemathesis's transport)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    for unused in ("timeout", "allow_redirects", "verify", "cert", "proxies", "stream"):
        kwargs.pop(unused, None)
    prepared = requests.Request(**kwargs).prepare()
    return world.client.request(
        prepared.method or "GET", prepared.url or "", headers=dict(prepared.headers),
        content=prepared.body, follow_redirects=False,
    )


def _fuzz(world: World, operation: Any, mode: GenerationMode, headers: dict[str, str],
          found: list[str]) -> None:
    """Send the operation's generated requests; note up to three problems in ``found``."""

    @SETTINGS
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = send(world, case, headers)
        found.extend(f"{case.as_curl_command()} -> {problem}"
                     for problem in problems_of(response)[: max(3 - len(found), 0)])

    # A schema with nothing to break (only free-text parameters) has no negative case.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()


def sweep(world: World, headers: dict[str, str]) -> dict[str, list[str]]:
    """Every operation of the document; the problems found, by operation."""
    document = world.client.get("/api/openapi.json", headers=headers)
    assert document.status_code == 200, document.text
    schema = schemathesis.openapi.from_dict(document.json())
    problems: dict[str, list[str]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        found = problems.setdefault(f"{operation.method.upper()} {operation.path}", [])
        for mode in MODES:
            _fuzz(world, operation, mode, headers, found)
    return {label: found for label, found in problems.items() if found}


# In CI each backend sweeps as one account (the administrator reaches every operation's
# logic, the clinician mostly its permission checks), halving the cost; set
# YILIAN_FUZZ_ALL_ACCOUNTS=1 to sweep as both on both backends.
CI_ACCOUNT = {"sqlite": "admin", "postgresql": "doctor"}


def accounts_for(world: World) -> list[str]:
    if os.environ.get("YILIAN_FUZZ_ALL_ACCOUNTS") == "1":
        return ["admin", "doctor"]
    backend = "sqlite" if world.settings.database_url.startswith("sqlite") else "postgresql"
    return [CI_ACCOUNT[backend]]


def test_no_operation_fails_or_refuses_without_a_message(world: World) -> None:
    problems = {
        f"{account}: {label}": found
        for account in accounts_for(world)
        for label, found in sweep(world, getattr(world, account)).items()
    }

    assert not problems, "\n".join(
        f"{label}:\n  " + "\n  ".join(found) for label, found in sorted(problems.items())
    )


class Answer:
    """A made-up answer, for checking the check."""

    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code, self.body, self.text = status_code, body, str(body)

    def json(self) -> Any:
        return self.body


def test_the_check_tells_a_clear_refusal_from_a_failure(world: World) -> None:
    """The API's and FHIR's refusals pass; a server error or a bare refusal does not."""
    refused = world.client.get("/api/v1/registry/institutions/999999", headers=world.admin)
    fhir = world.client.get("/fhir/r4/Patient/999999", headers=world.admin)
    assert (refused.status_code, fhir.status_code) == (404, 404)
    assert problems_of(refused) == [] and problems_of(fhir) == []

    assert problems_of(Answer(500, refused.json())) != []
    assert problems_of(Answer(400, {"detail": "bad"})) != []
    assert problems_of(Answer(404, {"resourceType": "OperationOutcome", "issue": [{}]})) != []
