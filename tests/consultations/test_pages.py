"""The consultation pages through the app: the requester's form sends a request, the
coordinator's queue shows it, an outside hospital gets 404, and documents keep to their
types and size."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.consultations.conftest import API, Network, requested
from tests.factories import bearer, make_user
from tests.referrals.conftest import chest_pain_referral
from tests.web.conftest import csrf_of, sign_in
from yilian.auth.models import Role
from yilian.consultations.models import Consultation
from yilian.registry.models import Institution

PDF = b"%PDF-1.4\n% a discharge letter\n"


def _user(session: Session, role: Role, institution_id: int) -> str:
    institution = session.get(Institution, institution_id)
    assert institution is not None
    username = make_user(session, role=role, institution=institution).username
    session.commit()
    return username


def test_the_form_sends_a_request_the_coordinator_queues_and_outsiders_never_see(
    client: TestClient, net: Network, session: Session,
) -> None:
    county = _user(session, Role.CLINICIAN, net.world.county_id)
    coordinator = _user(session, Role.HOSPITAL_ADMIN, net.world.tertiary_id)
    outsider = _user(session, Role.CLINICIAN, net.world.township_id)
    sign_in(client, county)
    form = client.get("/consultations/new")
    assert form.status_code == 200 and "申请远程会诊" in form.text
    sent = client.post("/consultations/new", data={
        "csrf_token": csrf_of(form.text), "person_id": str(net.world.person_id),
        "kind": "mdt", "urgency": "routine",
        "target_institution_id": str(net.world.tertiary_id), "diagnosis_code": "I25.1",
        "question": "PCI 还是搭桥？"}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    page_url = sent.headers["location"]
    shown = client.get(page_url)
    assert "待受理" in shown.text and "动脉粥样硬化性心脏病" in shown.text  # from the code
    bad = client.post("/consultations/new", data={
        "csrf_token": csrf_of(form.text), "person_id": str(net.world.person_id),
        "kind": "mdt", "target_institution_id": str(net.world.tertiary_id),
        "diagnosis_code": "I25.1", "question": ""})
    assert bad.status_code == 422 and "会诊目的" in bad.text
    client.cookies.clear()
    sign_in(client, coordinator)
    queue = client.get("/consultations?box=incoming")
    assert f'href="{page_url}"' in queue.text
    assert "受理并分配专家" in client.get(page_url).text
    client.cookies.clear()
    sign_in(client, outsider)
    assert client.get(page_url).status_code == 404


def test_documents_keep_to_pdf_and_images_and_another_hospital_sees_nothing(
    client: TestClient, net: Network,
) -> None:
    cid = requested(client, net)["id"]
    ok = client.post(f"{API}/{cid}/documents", files={"file": ("letter.pdf", PDF)},
                     headers=net.world.county)
    assert ok.status_code == 201, ok.text
    assert ok.json()["content_type"] == "application/pdf"
    script = client.post(f"{API}/{cid}/documents",
                         files={"file": ("x.pdf", b"<script>alert(1)</script>")},
                         headers=net.world.county)
    assert script.status_code == 422 and script.json()["code"] == "document_type"
    assert "PDF" in script.json()["message_zh"]
    document_id = ok.json()["id"]
    assert client.get(f"{API}/{cid}/documents/{document_id}",
                      headers=net.coordinator).content == PDF
    assert client.get(f"{API}/{cid}/documents/{document_id}",
                      headers=net.world.township).status_code == 404


def test_the_form_names_experts_of_the_chosen_hospital_and_attaches_a_referral(
    client: TestClient, net: Network, session: Session,
) -> None:
    county_doctor = _user(session, Role.CLINICIAN, net.world.county_id)
    county = bearer(client, county_doctor)
    referral = client.post("/api/v1/referrals", headers=county,
                           json=chest_pain_referral(net.world, urgency="routine",
                                                    green_channel=None, kind="outpatient"))
    assert referral.status_code == 201, referral.text
    sign_in(client, county_doctor)
    form = client.get("/consultations/new")
    # Choosing the hospital lists its experts to tick.
    experts = client.get("/consultations/new/experts",
                         params={"target_institution_id": str(net.world.tertiary_id)}).text
    assert all(f'name="expert_ids" value="{e}"' in experts for e in net.expert_ids), experts
    assert 'name="expert_ids"' not in client.get(
        "/consultations/new/experts", params={"target_institution_id": str(net.world.township_id)}
    ).text
    named = net.expert_ids[:2]
    sent = client.post("/consultations/new", data={
        "csrf_token": csrf_of(form.text), "person_id": str(net.world.person_id),
        "kind": "mdt", "urgency": "routine",
        "target_institution_id": str(net.world.tertiary_id), "diagnosis_code": "I25.1",
        "question": "PCI 还是搭桥？", "expert_ids": [str(e) for e in named],
        "referral_id": str(referral.json()["id"])}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    consultation_id = int(sent.headers["location"].rsplit("/", 1)[1])
    stored = session.get(Consultation, consultation_id)
    assert stored is not None
    assert stored.referral_id == referral.json()["id"]
    assert [int(e) for e in stored.requested_expert_ids.split(",")] == named
    # A referral the requester cannot see is refused on the form, and nothing is stored.
    before = session.scalar(select(func.count(Consultation.id)))
    refused = client.post("/consultations/new", data={
        "csrf_token": csrf_of(form.text), "person_id": str(net.world.person_id),
        "kind": "mdt", "target_institution_id": str(net.world.tertiary_id),
        "diagnosis_code": "I25.1", "question": "PCI 还是搭桥？", "referral_id": "999999"})
    assert refused.status_code == 422
    assert session.scalar(select(func.count(Consultation.id))) == before
