"""The registry REST API: finding institutions, registering campuses, departments, staff
and agreements, and the answers a client gets when a request is wrong."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.registry.checks import audit_events, count_institutions
from tests.registry.conftest import Network
from yilian.audit.models import AuditOutcome

API = "/api/v1/registry"

Headers = dict[str, dict[str, str]]


def _codes(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


# ---------------------------------------------------------------- finding institutions


def test_hebei_level_three_hospitals_include_every_city_of_the_province(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    hebei_level_3 = client.get(f"{API}/institutions", params={"region": "130000", "level": 3},
                               headers=as_user["analyst"])

    # Baoding's two tertiary hospitals; PKU People's is level 3 but in Beijing, and the
    # Huailai campus is in Hebei but level 2.
    assert sorted(_codes(hebei_level_3)) == ["BDCH", "BDFIRST"]
    assert hebei_level_3.json()["total"] == 2


def test_filters_combine_grade_kind_centre_parent_and_text(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    headers = as_user["bd_doctor"]

    def codes(**params: Any) -> list[str]:
        return sorted(_codes(client.get(f"{API}/institutions", params=params, headers=headers)))

    assert codes(region="130000", level=3, grade="甲") == ["BDFIRST"]
    assert codes(kind="children_hospital") == ["BDCH"]
    assert codes(centre="chest_pain") == ["BDFIRST", "PKUPH"]
    assert codes(centre="chest_pain", region="130600") == ["BDFIRST"]
    assert codes(parent_id=network.pku.id) == ["PKUPH-HL"]
    assert codes(region="130730") == ["HL-SHACHENG", "HLCOUNTY", "PKUPH-HL"]
    assert codes(q="怀来") == ["HLCOUNTY", "PKUPH-HL"]


def test_paging_reports_the_total_and_walks_every_institution_once(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    headers = as_user["analyst"]
    pages = [
        client.get(f"{API}/institutions", params={"offset": offset, "limit": 4}, headers=headers)
        for offset in (0, 4, 8)
    ]

    assert [page.json()["total"] for page in pages] == [6, 6, 6]
    assert [len(page.json()["items"]) for page in pages] == [4, 2, 0]
    walked = [code for page in pages for code in _codes(page)]
    assert sorted(walked) == sorted({code for code in walked})
    # highest level first: the three tertiary hospitals open the first page
    assert walked[:3] == ["PKUPH", "BDCH", "BDFIRST"]
    too_big = client.get(f"{API}/institutions", params={"limit": 500}, headers=headers)
    assert too_big.status_code == 422


def test_reading_the_registry_needs_a_signed_in_user(client: TestClient, network: Network) -> None:
    assert client.get(f"{API}/institutions").status_code == 401


def test_one_institution_its_campuses_and_departments(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    headers = as_user["bd_doctor"]

    pku = client.get(f"{API}/institutions/{network.pku.id}", headers=headers).json()
    campuses = client.get(f"{API}/institutions/{network.pku.id}/campuses", headers=headers)
    departments = client.get(f"{API}/institutions/{network.pku.id}/departments", headers=headers)
    department = client.get(f"{API}/departments/{network.pku_cardiology.id}", headers=headers)
    missing = client.get(f"{API}/institutions/999999", headers=headers)

    assert pku["name"] == "北京大学人民医院"
    assert pku["centres"] == ["chest_pain", "stroke"]
    assert [campus["code"] for campus in campuses.json()] == ["PKUPH-HL"]
    assert [d["code"] for d in departments.json()] == ["CARD"]
    assert department.json()["institution_id"] == network.pku.id
    assert missing.status_code == 404
    assert missing.json()["message_en"] == "Institution not found: 999999"


# ---------------------------------------------------------------- regions


def test_regions_by_parent_one_region_and_who_may_add_one(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    children = client.get(f"{API}/regions", params={"parent": "130000"},
                          headers=as_user["analyst"])
    huailai = client.get(f"{API}/regions/130730", headers=as_user["analyst"])
    nowhere = client.get(f"{API}/regions/999999", headers=as_user["analyst"])
    tangshan = {"code": "130200", "name": "唐山市", "name_en": "Tangshan", "level": "city",
                "parent_code": "130000"}
    by_hospital = client.post(f"{API}/regions", json=tangshan, headers=as_user["pku_admin"])
    by_root = client.post(f"{API}/regions", json=tangshan, headers=as_user["root"])

    assert [region["code"] for region in children.json()] == ["130600", "130700"]
    assert huailai.json()["name"] == "怀来县"
    assert nowhere.status_code == 404
    assert by_hospital.status_code == 403
    assert by_root.status_code == 201
    assert by_root.json()["parent_code"] == "130000"


# ---------------------------------------------------------------- registering institutions


def test_platform_admin_registers_a_campus_under_its_parent_hospital(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    campus = {
        "code": "BDFIRST-EAST", "name": "保定市第一中心医院东院", "region_code": "130602",
        "level": 3, "grade": "甲", "kind": "general_hospital", "parent_code": "BDFIRST",
        "beds": 600, "centres": ["stroke", "chest_pain", "stroke"],
    }

    created = client.post(f"{API}/institutions", json=campus, headers=as_user["root"])

    assert created.status_code == 201, created.text
    assert created.json()["parent_id"] == network.baoding.id
    assert created.json()["centres"] == ["chest_pain", "stroke"]
    campuses = client.get(f"{API}/institutions/{network.baoding.id}/campuses",
                          headers=as_user["bd_admin"])
    assert [c["code"] for c in campuses.json()] == ["BDFIRST-EAST"]
    # the Baoding administrator now runs the new campus: they may add its departments
    department = client.post(
        f"{API}/institutions/{created.json()['id']}/departments",
        json={"code": "NEURO", "name": "神经内科", "specialty": "neurology"},
        headers=as_user["bd_admin"],
    )
    assert department.status_code == 201, department.text


def test_only_platform_admins_register_institutions(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    body = {"code": "NEW1", "name": "新医院", "region_code": "130602", "level": 2,
            "kind": "general_hospital"}

    response = client.post(f"{API}/institutions", json=body, headers=as_user["bd_admin"])

    assert response.status_code == 403
    assert response.json()["message_zh"].startswith("医院管理员无权执行此操作")
    assert count_institutions(session) == 6


def test_duplicate_codes_are_409_and_the_refusal_is_audited(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    body = {"code": "PKUPH", "name": "重复", "region_code": "110102", "level": 3,
            "kind": "general_hospital"}

    institution = client.post(f"{API}/institutions", json=body, headers=as_user["root"])
    department = client.post(
        f"{API}/institutions/{network.pku.id}/departments",
        json={"code": "CARD", "name": "心内科", "specialty": "cardiology"},
        headers=as_user["pku_admin"],
    )

    assert institution.status_code == 409
    assert institution.json()["message_zh"] == "机构编码已存在：PKUPH"
    assert institution.json()["message_en"] == "Institution code already exists: PKUPH"
    assert department.status_code == 409
    assert department.json()["code"] == "department_exists"
    refusals = [event for event in audit_events(session, f"POST {API}/institutions")
                if event.outcome is AuditOutcome.FAILED]
    assert [event.actor for event in refusals] == ["root"]
    assert count_institutions(session) == 6


def test_bad_input_is_422_with_a_message_in_both_languages_per_field(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    body = {"code": "NEW 1", "name": "", "region_code": "130602", "level": 5,
            "kind": "general_hospital"}

    invalid = client.post(f"{API}/institutions", json=body, headers=as_user["root"])
    unknown_region = client.post(
        f"{API}/institutions",
        json={**body, "code": "NEW1", "name": "新医院", "level": 2, "region_code": "139999"},
        headers=as_user["root"],
    )

    assert invalid.status_code == 422
    errors = {error["field"]: error for error in invalid.json()["errors"]}
    assert set(errors) == {"code", "name", "level"}
    assert errors["level"]["message_zh"] == "太大"
    assert "less than or equal to 3" in errors["level"]["message_en"]
    assert unknown_region.status_code == 422
    assert unknown_region.json()["message_zh"] == "行政区划代码不存在：139999"
    assert unknown_region.json()["message_en"] == "Unknown region code: 139999"
    assert count_institutions(session) == 6
    failed = [e for e in audit_events(session, f"POST {API}/institutions")
              if e.outcome is AuditOutcome.FAILED]
    assert len(failed) == 2


def test_hospital_admin_updates_their_hospital_but_cannot_move_campuses(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    headers = as_user["pku_admin"]

    beds = client.patch(f"{API}/institutions/{network.pku.id}",
                        json={"beds": 1800, "centres": ["chest_pain", "trauma"]}, headers=headers)
    same_parent = client.patch(f"{API}/institutions/{network.huailai.id}",
                               json={"parent_code": "PKUPH", "beds": 300}, headers=headers)
    detach = client.patch(f"{API}/institutions/{network.huailai.id}",
                          json={"parent_code": None}, headers=headers)
    other = client.patch(f"{API}/institutions/{network.baoding.id}", json={"beds": 1},
                         headers=headers)
    by_root = client.patch(f"{API}/institutions/{network.huailai.id}",
                           json={"parent_code": None}, headers=as_user["root"])

    assert beds.status_code == 200, beds.text
    assert beds.json()["beds"] == 1800
    assert beds.json()["centres"] == ["chest_pain", "trauma"]
    assert same_parent.status_code == 200
    assert detach.status_code == 403
    assert other.status_code == 403
    assert by_root.status_code == 200
    assert by_root.json()["parent_id"] is None


# ---------------------------------------------------------------- practitioners and roles


def _practitioner(code: str, institution_code: str) -> dict[str, Any]:
    return {"code": code, "name": "王建国", "sex": "male", "title": "chief_physician",
            "specialty": "cardiology", "institution_code": institution_code,
            "department_code": "CARD", "license_number": "110000123"}


def test_hospital_admin_registers_own_staff_and_stations_them_at_the_campus(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    headers = as_user["pku_admin"]

    expert = client.post(f"{API}/practitioners", json=_practitioner("DR001", "PKUPH"),
                         headers=headers)
    elsewhere = client.post(f"{API}/practitioners", json=_practitioner("DR002", "BDFIRST"),
                            headers=headers)
    stationed = client.post(
        f"{API}/practitioner-roles",
        json={"practitioner_code": "DR001", "institution_code": "PKUPH-HL",
              "department_code": "CARD", "role": "stationed_expert",
              "start_date": "2023-03-01", "end_date": "2023-08-31"},
        headers=headers,
    )
    visiting = client.post(
        f"{API}/practitioner-roles",
        json={"practitioner_code": "DR001", "institution_code": "BDFIRST",
              "role": "visiting_expert", "start_date": "2024-01-01"},
        headers=as_user["bd_admin"],
    )
    not_theirs = client.post(
        f"{API}/practitioner-roles",
        json={"practitioner_code": "DR001", "institution_code": "BDCH",
              "role": "remote_consultant", "start_date": "2024-01-01"},
        headers=headers,
    )

    assert expert.status_code == 201, expert.text
    assert expert.json()["department_id"] == network.pku_cardiology.id
    assert elsewhere.status_code == 403
    assert stationed.status_code == 201, stationed.text
    assert stationed.json()["department_id"] == network.huailai_cardiology.id
    assert visiting.status_code == 201, visiting.text
    assert not_theirs.status_code == 403
    reader = as_user["analyst"]
    doctor_id = expert.json()["id"]
    all_roles = client.get(f"{API}/practitioners/{doctor_id}/roles", headers=reader).json()
    in_2024 = client.get(f"{API}/practitioners/{doctor_id}/roles",
                         params={"active_on": "2024-06-01"}, headers=reader).json()
    at_huailai = client.get(
        f"{API}/practitioner-roles",
        params={"institution_id": network.huailai.id, "active_on": "2023-05-01"}, headers=reader,
    ).json()
    after_the_stint = client.get(
        f"{API}/practitioner-roles",
        params={"institution_id": network.huailai.id, "active_on": "2023-09-01"}, headers=reader,
    ).json()
    assert [role["role"] for role in all_roles] == ["stationed_expert", "visiting_expert"]
    assert [role["role"] for role in in_2024] == ["visiting_expert"]
    assert [role["practitioner_id"] for role in at_huailai] == [doctor_id]
    assert after_the_stint == []


def test_practitioner_list_update_and_lookup(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    for code in ("DR001", "DR002", "DR003"):
        created = client.post(f"{API}/practitioners", json=_practitioner(code, "PKUPH"),
                              headers=as_user["pku_admin"])
        assert created.status_code == 201
    doctor = created.json()

    page = client.get(f"{API}/practitioners",
                      params={"institution_id": network.pku.id, "limit": 2},
                      headers=as_user["analyst"]).json()
    found = _codes(client.get(f"{API}/practitioners", params={"q": "DR002"},
                              headers=as_user["analyst"]))
    promoted = client.patch(f"{API}/practitioners/{doctor['id']}",
                            json={"title": "associate_chief_physician"},
                            headers=as_user["pku_admin"])
    refused = client.patch(f"{API}/practitioners/{doctor['id']}", json={"specialty": "x"},
                           headers=as_user["bd_admin"])
    duplicate = client.post(f"{API}/practitioners", json=_practitioner("DR001", "PKUPH"),
                            headers=as_user["pku_admin"])

    assert (page["total"], len(page["items"])) == (3, 2)
    assert found == ["DR002"]
    assert promoted.json()["title"] == "associate_chief_physician"
    assert client.get(f"{API}/practitioners/{doctor['id']}",
                      headers=as_user["analyst"]).json()["title"] == "associate_chief_physician"
    assert refused.status_code == 403
    assert duplicate.status_code == 409


# ---------------------------------------------------------------- agreements


def _trusteeship(code: str, lead: str, member: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "type": "trusteeship", "title": "北京大学人民医院托管怀来县医院",
            "title_en": "PKU People's Hospital runs Huailai County Hospital",
            "start_date": "2022-07-01",
            "parties": [{"institution_code": lead, "role": "lead"},
                        {"institution_code": member, "role": "member"}], **extra}


def test_hospital_admin_records_an_agreement_their_hospital_is_party_to(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    ours = client.post(f"{API}/agreements", json=_trusteeship("TG-2022-01", "PKUPH", "HLCOUNTY"),
                       headers=as_user["pku_admin"])
    not_ours = client.post(f"{API}/agreements",
                           json=_trusteeship("TG-2022-02", "PKUPH", "HLCOUNTY"),
                           headers=as_user["bd_admin"])
    three_parties = client.post(
        f"{API}/agreements",
        json={**_trusteeship("TG-2022-03", "PKUPH", "HLCOUNTY"),
              "parties": [{"institution_code": "PKUPH", "role": "lead"},
                          {"institution_code": "HLCOUNTY", "role": "member"},
                          {"institution_code": "HL-SHACHENG", "role": "member"}]},
        headers=as_user["root"],
    )
    duplicate = client.post(f"{API}/agreements",
                            json=_trusteeship("TG-2022-01", "PKUPH", "HLCOUNTY"),
                            headers=as_user["root"])

    assert ours.status_code == 201, ours.text
    assert {(p["institution_id"], p["role"]) for p in ours.json()["parties"]} == {
        (network.pku.id, "lead"), (network.county.id, "member")}
    assert not_ours.status_code == 403
    assert not_ours.json()["message_en"].endswith("for another institution: "
                                                  "registry.agreement.write")
    assert three_parties.status_code == 422
    assert three_parties.json()["message_zh"].startswith("托管协议须恰好一个托管方")
    assert duplicate.status_code == 409


def test_agreement_filters_and_who_may_change_its_terms(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    root = as_user["root"]
    for body in (
        _trusteeship("TG-1", "PKUPH", "HLCOUNTY"),
        {**_trusteeship("ZK-1", "BDFIRST", "BDCH"), "type": "specialty_alliance",
         "title": "保定心血管专科联盟", "start_date": "2021-01-01", "end_date": "2021-12-31",
         "status": "ended"},
    ):
        assert client.post(f"{API}/agreements", json=body, headers=root).status_code == 201

    def codes(**params: Any) -> list[str]:
        return _codes(client.get(f"{API}/agreements", params=params, headers=as_user["analyst"]))

    assert codes() == ["TG-1", "ZK-1"]  # newest first
    assert codes(type="trusteeship") == ["TG-1"]
    assert codes(status="ended") == ["ZK-1"]
    assert codes(institution_id=network.county.id) == ["TG-1"]
    assert codes(region="130700") == ["TG-1"]  # the Huailai county hospital is in Zhangjiakou
    assert codes(region="130600") == ["ZK-1"]
    assert codes(active_on="2023-01-01") == ["TG-1"]
    assert codes(active_on="2021-06-01") == []  # ZK-1 has ended
    assert codes(q="心血管") == ["ZK-1"]

    agreement_id = client.get(f"{API}/agreements", params={"type": "trusteeship"},
                              headers=root).json()["items"][0]["id"]
    suspended = client.patch(f"{API}/agreements/{agreement_id}", json={"status": "suspended"},
                             headers=as_user["pku_admin"])
    outsider = client.patch(f"{API}/agreements/{agreement_id}", json={"status": "active"},
                            headers=as_user["bd_admin"])
    unordered = client.patch(f"{API}/agreements/{agreement_id}", json={"end_date": "2020-01-01"},
                             headers=root)

    assert suspended.status_code == 200
    assert client.get(f"{API}/agreements/{agreement_id}",
                      headers=root).json()["status"] == "suspended"
    assert outsider.status_code == 403
    assert unordered.status_code == 422
    assert unordered.json()["message_en"] == "end_date is before start_date"
