"""The advisor's pages: the patient's "where to go" page with slots to book, the panel in the
referral form (the referring institution left out) and its "use this option" fragment."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.advisor.world import build
from tests.web.conftest import BROWSER_ACCEPT, csrf_of, sign_in
from yilian.config import Settings
from yilian.registry import service as registry


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that asks for pages as a browser does."""
    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as test_client:
        yield test_client


def _ranks(html: str) -> list[str]:
    return re.findall(r'id="option-(\d+)" data-rank="\d+"', html)


def test_the_patient_compares_places_and_can_book_the_earliest_slot(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    sign_in(client, world.patient)
    assert 'id="advisor-link"' in client.get("/scheduling/book").text
    page = client.get("/advisor", params={"specialty": "cardiology", "kind": "inpatient",
                                          "diagnosis_code": "I25.1"})
    assert page.status_code == 200, page.text
    assert _ranks(page.text) == [str(world.huailai.id), str(world.beijing.id)]
    assert "最便宜" in page.text and "最快" in page.text
    assert f'name="slot_id" value="{world.beijing_slot_id}"' in page.text
    # Weights on the page change the order.
    by_wait = client.get("/advisor", params={"specialty": "cardiology", "kind": "inpatient",
                                             "diagnosis_code": "I25.1", "w_cost": "0",
                                             "w_wait": "100", "w_results": "0",
                                             "w_distance": "0"})
    assert _ranks(by_wait.text) == [str(world.beijing.id), str(world.huailai.id)]
    refused = client.get("/advisor", params={"specialty": "cardiology", "w_cost": "x"})
    assert refused.status_code == 422 and 'id="advisor-error"' in refused.text


def test_the_referral_form_panel_leaves_out_the_referring_hospital_and_fills_the_target(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    sign_in(client, world.huailai_doctor)
    form = client.get("/referrals/new", params={"person_id": world.song_id})
    assert 'id="advisor-ask"' in form.text
    token = csrf_of(form.text)
    panel = client.post("/advisor/panel", data={
        "csrf_token": token, "person_id": str(world.song_id), "specialty": "cardiology",
        "kind": "inpatient", "diagnosis_code": "I25.1"})
    assert panel.status_code == 200, panel.text
    assert _ranks(panel.text) == [str(world.beijing.id)]  # the campus refers, so not itself
    assert "采用此方案" in panel.text
    empty = client.post("/advisor/panel", data={"csrf_token": token, "specialty": "cardiology"})
    assert 'id="advisor-error"' in empty.text
    cardiology = registry.department_by_code_or_raise(session, institution_id=world.beijing.id,
                                                      code="CARD")
    chosen = client.get("/referrals/advised", params={
        "target_institution_id": world.beijing.id, "target_department_id": cardiology.id,
        "target_practitioner_id": "", "slot_id": world.beijing_slot_id, "kind": "inpatient"})
    assert chosen.status_code == 200
    assert f'<option value="{world.beijing.id}" selected>' in chosen.text
    assert f'<option value="{cardiology.id}" selected>' in chosen.text
    assert f'name="advisor_slot_id" value="{world.beijing_slot_id}"' in chosen.text
    assert chosen.text.count('hx-swap-oob="true"') == 2
