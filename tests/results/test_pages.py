"""The results pages a doctor and an administrator use, rendered by the server."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD
from tests.results.conftest import Network, days_ago
from tests.results.test_recognition import CBC, CT, send


def sign_in(client: TestClient, username: str) -> str:
    """Sign in through the login form; the CSRF token of the session."""
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/login", data={"username": username, "password": PASSWORD,
                                         "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    home = client.get("/results/catalogue")
    return home.text.split('name="csrf_token" value="')[1].split('"')[0] if (
        'name="csrf_token"' in home.text) else token


def test_timeline_order_check_and_admin_pages(
    client: TestClient, session: Session, network: Network
) -> None:
    ct = send(session, network, CT, days_ago(12))
    send(session, network, CBC, days_ago(3))
    send(session, network, CBC, days_ago(20))
    session.commit()
    csrf = sign_in(client, "pk_doctor")

    fragment = client.get(f"/results/persons/{network.song.id}/timeline")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "医联体HR" in fragment.text and "剩余 18 天" in fragment.text
    page = client.get(f"/results/persons/{network.song.id}?lang=en")
    assert "Shared results" in page.text and "12 days old, valid 30: 18 days left" in page.text
    viewer = client.get(f"/results/reports/{ct}")
    assert "双肺未见明显异常" in viewer.text and "<rect" not in viewer.text
    # Two blood counts: the value viewer draws haemoglobin's trend.
    cbc_id = int(client.get(f"/results/persons/{network.song.id}").text
                 .split('/results/reports/')[1].split('"')[0])
    assert "<rect" in client.get(f"/results/reports/{cbc_id}").text

    check = client.get(f"/results/order-check?person_id={network.song.id}&item_code={CT}&lang=zh")
    assert "可互认：12 天前检查，有效期 30 天" in check.text
    form = {"csrf_token": csrf, "person_id": str(network.song.id), "item_code": CT,
            "decision": "retest"}
    refused = client.post("/results/decisions", data=form)
    assert refused.status_code == 422 and "复查须选择原因" in refused.text
    done = client.post("/results/decisions", data={**form, "reason": "emergency"})
    assert done.status_code == 200 and "复查" in done.text

    for path in ("/results/catalogue", "/results/qualifications"):
        assert client.get(path).status_code == 200
    assert client.get("/results/savings").status_code == 403  # a clinician: no ledger
