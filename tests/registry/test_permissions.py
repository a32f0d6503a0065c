"""Who may change whose departments: refusals are 403, bilingual, and left in the audit trail;
a lead hospital's administrator runs the departments of its campus."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.registry.checks import audit_events, detail_of
from tests.registry.conftest import Network
from yilian.audit.models import AuditOutcome
from yilian.registry.models import Department

API = "/api/v1/registry"

Headers = dict[str, dict[str, str]]


def _stored(session: Session, department: Department) -> Department:
    session.expire_all()
    found = session.get(Department, department.id)
    assert found is not None
    return found


def test_clinician_editing_another_hospitals_department_is_refused_and_audited(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    # a Baoding clinician tries to rename a PKU People's Hospital department
    response = client.patch(f"{API}/departments/{network.pku_cardiology.id}",
                            json={"name": "改名"}, headers=as_user["bd_doctor"])

    assert response.status_code == 403
    assert response.json()["message_zh"] == (
        "临床医生无权执行此操作：registry.department.write")
    assert response.json()["message_en"] == (
        "A clinician may not do this: registry.department.write")
    assert _stored(session, network.pku_cardiology).name == "心血管内科"
    [denied] = audit_events(session, "registry.department.write")
    assert denied.outcome is AuditOutcome.DENIED
    assert denied.actor == "bd_doctor"
    assert denied.actor_institution_id == network.baoding.id
    assert detail_of(denied)["path"] == f"{API}/departments/{network.pku_cardiology.id}"
    assert audit_events(session, "department.update") == []


@pytest.mark.parametrize("target", ["pku_cardiology", "huailai_cardiology"])
def test_hospital_admin_editing_a_department_outside_their_hospital_is_refused(
    client: TestClient, network: Network, as_user: Headers, session: Session, target: str
) -> None:
    # Baoding's administrator reaches neither PKU People's nor the campus PKU runs in Huailai
    department: Department = getattr(network, target)

    response = client.patch(f"{API}/departments/{department.id}", json={"beds": 1},
                            headers=as_user["bd_admin"])

    assert response.status_code == 403
    assert response.json()["message_zh"] == (
        "医院管理员无权执行此操作（非本机构）：registry.department.write")
    assert response.json()["message_en"] == (
        "A hospital administrator may not do this for another institution: "
        "registry.department.write")
    assert _stored(session, department).beds == 40
    [denied] = audit_events(session, "registry.department.write")
    assert (denied.outcome, denied.actor) == (AuditOutcome.DENIED, "bd_admin")


def test_lead_hospital_admin_edits_their_campus_department_and_it_is_audited(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    response = client.patch(
        f"{API}/departments/{network.huailai_cardiology.id}",
        json={"name": "心血管内科（双主任制）", "beds": 60},
        headers=as_user["pku_admin"],
    )

    assert response.status_code == 200, response.text
    assert response.json()["beds"] == 60
    stored = _stored(session, network.huailai_cardiology)
    assert (stored.name, stored.beds) == ("心血管内科（双主任制）", 60)
    [update] = audit_events(session, "department.update")
    assert update.outcome is AuditOutcome.SUCCESS
    assert update.actor == "pku_admin"
    assert update.institution_id == network.huailai.id
    assert update.entity_id == str(network.huailai_cardiology.id)
    assert {"beds", "name"} <= set(detail_of(update)["fields"])  # type: ignore[arg-type]


def test_department_writes_follow_the_institution_scope(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    neurology = {"code": "NEURO", "name": "神经内科", "specialty": "neurology", "beds": 30}

    at_campus = client.post(f"{API}/institutions/{network.huailai.id}/departments",
                            json=neurology, headers=as_user["pku_admin"])
    at_baoding = client.post(f"{API}/institutions/{network.baoding.id}/departments",
                             json=neurology, headers=as_user["pku_admin"])
    by_analyst = client.post(f"{API}/institutions/{network.county.id}/departments",
                             json=neurology, headers=as_user["analyst"])
    by_root = client.post(f"{API}/institutions/{network.county.id}/departments",
                          json=neurology, headers=as_user["root"])
    unknown = client.patch(f"{API}/departments/999999", json={"beds": 1},
                           headers=as_user["pku_admin"])

    assert at_campus.status_code == 201
    assert at_baoding.status_code == 403
    assert by_analyst.status_code == 403
    assert by_root.status_code == 201
    assert unknown.status_code == 404
    denied = audit_events(session, "registry.department.write")
    assert [event.actor for event in denied] == ["pku_admin", "analyst"]
    created = audit_events(session, "department.create")
    assert [e.actor for e in created if e.actor != "system"] == ["pku_admin", "root"]


def test_nobody_but_platform_admins_imports_csv(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    files = {"file": ("i.csv", b"code,name,region_code,level,kind\n", "text/csv")}

    response = client.post(f"{API}/import", files=files, headers=as_user["pku_admin"])

    assert response.status_code == 403
    [denied] = audit_events(session, "registry.import")
    assert denied.outcome is AuditOutcome.DENIED
