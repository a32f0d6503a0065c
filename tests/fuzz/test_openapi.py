"""Schemathesis over the whole OpenAPI document, as a platform administrator and a clinician.

Every operation gets a few generated requests that follow the schema and a few that break
it, in-process against the app. No answer may be a server error, and every refusal
(4xx) must carry a message the user can read in both languages (the API's error shape,
or an OperationOutcome on FHIR routes).

The depth is bounded for CI (``YILIAN_FUZZ_EXAMPLES`` examples per operation, mode and
account, default 2, derandomized so a run repeats); set it higher for a deeper local run.
"""

from __future__ import annotations

import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
import requests

from tests.fuzz.conftest import World, is_clear_error

EXAMPLES = int(os.environ.get("YILIAN_FUZZ_EXAMPLES", "1"))
MODES = [GenerationMode(mode) for mode in
         os.environ.get("YILIAN_FUZZ_MODES", "positive").split(",")]

# Operations the sweep leaves out, and why.
SKIPPED = {
    ("POST", "/api/v1/auth/revoke"),  # would sign the sweep's own accounts out
}


def _failures_of(response: Any) -> list[str]:
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
    """The case sent through the app's test client (quicker than schemathesis's own)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    kwargs.pop("timeout", None)
    kwargs.pop("allow_redirects", None)
    prepared = requests.Request(**kwargs).prepare()
    return world.client.request(
        prepared.method or "GET", prepared.url or "", headers=dict(prepared.headers),
        content=prepared.body, follow_redirects=False,
    )


def sweep(world: World, headers: dict[str, str]) -> dict[str, list[str]]:
    """Run every operation; the problems found, by operation."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", world.app, headers=headers)
    problems: dict[str, list[str]] = {}
    if True:
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in SKIPPED:
                continue
            label = f"{operation.method.upper()} {operation.path}"
            for mode in MODES:

                @hypothesis.settings(
                    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
                def run(case: Any) -> None:
                    response = send(world, case, headers)
                    for problem in _failures_of(response):
                        found = problems.setdefault(label, [])
                        if len(found) < 3:
                            found.append(f"{case.as_curl_command()} -> {problem}")

                try:
                    run()
                except hypothesis.errors.Unsatisfiable:
                    pass
    return problems


@pytest.mark.parametrize("account", ["admin", "doctor"])
def test_no_operation_fails_or_refuses_without_a_message(world: World, account: str) -> None:
    problems = sweep(world, getattr(world, account))

    assert not problems, "\n".join(
        f"{label}:\n  " + "\n  ".join(found) for label, found in sorted(problems.items())
    )
