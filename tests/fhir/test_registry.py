"""Organization, Location, Practitioner and PractitionerRole: read, search, paging."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_institution
from tests.fhir.conftest import Network, assert_valid, entry_ids, fhir_json, link
from yilian.fhir import systems


def search(client: TestClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    bundle = fhir_json(client.get(f"/fhir/r4/{query}", headers=headers))
    assert bundle["type"] == "searchset"
    assert_valid(bundle)
    return bundle


def test_institution_reads_as_organization_with_campus_parent_and_address(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    campus = fhir_json(
        client.get(f"/fhir/r4/Organization/{network.huailai.id}", headers=reader)
    )

    assert_valid(campus)
    assert campus["name"] == "北京大学人民医院怀来院区"
    assert campus["identifier"][0] == {
        "use": "official", "system": systems.INSTITUTION_CODE, "value": "PKUPH-HL"
    }
    assert campus["partOf"]["reference"] == f"Organization/{network.pkuph.id}"
    assert campus["address"][0]["state"] == "河北省"
    assert campus["address"][0]["city"] == "张家口市"
    assert campus["address"][0]["district"] == "怀来县"
    codes = {c["coding"][0]["system"]: c["coding"][0]["code"] for c in campus["type"]}
    assert codes[systems.INSTITUTION_LEVEL] == "2"
    assert codes[systems.HL7_ORGANIZATION_TYPE] == "prov"


def test_department_reads_as_organization_part_of_its_institution(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    department = fhir_json(client.get(
        f"/fhir/r4/Organization/dept-{network.cardiology.id}", headers=reader
    ))

    assert_valid(department)
    assert department["partOf"]["reference"] == f"Organization/{network.pkuph.id}"
    assert department["identifier"][0]["value"] == "PKUPH/CARD"
    assert department["type"][0]["coding"][0]["code"] == "dept"


def test_organization_search_by_name(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    starts_with = search(client, reader, "Organization?name=北京大学人民医院")
    exact = search(client, reader, "Organization?name:exact=北京大学人民医院")
    contains = search(client, reader, "Organization?name:contains=怀来")
    either = search(client, reader, "Organization?name=北京儿童,北京大学人民医院怀来")

    assert starts_with["total"] == 2
    assert set(entry_ids(starts_with)) == {str(network.pkuph.id), str(network.huailai.id)}
    assert entry_ids(exact) == [str(network.pkuph.id)]
    assert entry_ids(contains) == [str(network.huailai.id)]
    assert set(entry_ids(either)) == {str(network.baoding.id), str(network.huailai.id)}


def test_partof_finds_the_campuses_and_departments_of_an_institution(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    bundle = search(client, reader, f"Organization?partof=Organization/{network.pkuph.id}")

    assert bundle["total"] == 2
    assert entry_ids(bundle) == [str(network.huailai.id), f"dept-{network.cardiology.id}"]


def test_address_state_and_city_by_name_or_region_code(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    hebei = {str(network.huailai.id), str(network.baoding.id)}

    by_name = search(client, reader, "Organization?address-state=河北")
    by_code = search(client, reader, "Organization?address-state=130000")
    by_english = search(client, reader, "Organization?address-state=hebei")
    beijing = search(client, reader, "Organization?address-city=北京")
    zhangjiakou = search(client, reader, "Organization?address-city=130700")

    assert by_name["total"] == 2
    assert set(entry_ids(by_name)) == set(entry_ids(by_code)) == set(entry_ids(by_english)) == hebei
    assert entry_ids(beijing) == [str(network.pkuph.id)]
    assert entry_ids(zhangjiakou) == [str(network.huailai.id)]


def test_type_and_identifier_search(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    departments = search(client, reader, f"Organization?type={systems.HL7_ORGANIZATION_TYPE}|dept")
    childrens = search(client, reader, "Organization?type=children_hospital")
    tertiary_in_hebei = search(
        client, reader, f"Organization?type={systems.INSTITUTION_LEVEL}|3&address-state=河北"
    )
    by_code = search(client, reader, f"Organization?identifier={systems.INSTITUTION_CODE}|BCH-BD")
    by_dept_code = search(client, reader, "Organization?identifier=PKUPH-HL/CARD")

    assert entry_ids(departments) == [
        f"dept-{network.cardiology.id}", f"dept-{network.huailai_cardiology.id}"
    ]
    assert entry_ids(childrens) == [str(network.baoding.id)]
    assert entry_ids(tertiary_in_hebei) == [str(network.baoding.id)]
    assert entry_ids(by_code) == [str(network.baoding.id)]
    assert entry_ids(by_dept_code) == [f"dept-{network.huailai_cardiology.id}"]


def test_paging_walks_every_match_once_with_next_and_previous_links(
    client: TestClient, session: Session, network: Network, reader: dict[str, str]
) -> None:
    centres = [
        make_institution(session, code=f"TWP{number}", name=f"怀来县乡镇卫生院{number}")
        for number in range(4)
    ]
    session.commit()
    expected = [str(i.id) for i in (network.huailai, network.baoding, *centres)]

    seen: list[str] = []
    url: str | None = "/fhir/r4/Organization?address-state=130000&_count=2"
    pages = []
    while url:
        bundle = fhir_json(client.get(url, headers=reader))
        assert bundle["total"] == 6
        pages.append(bundle)
        seen += entry_ids(bundle)
        url = link(bundle, "next")

    assert len(pages) == 3
    assert sorted(seen) == sorted(expected)
    assert link(pages[0], "previous") is None
    assert "_offset=0" in (link(pages[1], "previous") or "")
    assert "address-state=130000" in (link(pages[2], "self") or "")
    only_total = fhir_json(client.get("/fhir/r4/Organization?_count=0", headers=reader))
    assert only_total["total"] == 9  # 7 institutions and 2 departments
    assert "entry" not in only_total


def test_location_per_institution(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    site = fhir_json(client.get(f"/fhir/r4/Location/{network.baoding.id}", headers=reader))
    managed = search(client, reader, f"Location?organization=Organization/{network.pkuph.id}")
    in_baoding = search(client, reader, "Location?address=保定")

    assert_valid(site)
    assert site["managingOrganization"]["reference"] == f"Organization/{network.baoding.id}"
    assert site["address"]["city"] == "保定市"
    assert entry_ids(managed) == [str(network.pkuph.id)]
    assert entry_ids(in_baoding) == [str(network.baoding.id)]


def test_practitioner_identifiers_and_title(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    by_licence = search(
        client, reader, f"Practitioner?identifier={systems.PRACTITIONER_LICENCE}|110000201812345"
    )
    by_name = search(client, reader, "Practitioner?name=李")

    expert = by_licence["entry"][0]["resource"]
    assert expert["id"] == str(network.expert.id)
    assert {i["value"] for i in expert["identifier"]} == {"D001", "110000201812345"}
    assert expert["qualification"][0]["code"]["text"] == "主任医师"
    assert entry_ids(by_name) == [str(network.local_doctor.id)]


def test_practitioner_roles_home_post_and_roles_elsewhere(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    expert = f"Practitioner/{network.expert.id}"

    every_role = search(client, reader, f"PractitionerRole?practitioner={expert}")
    active = search(client, reader, f"PractitionerRole?practitioner={expert}&active=true")
    stationed = search(client, reader, "PractitionerRole?role=stationed_expert")
    at_huailai = search(
        client, reader, f"PractitionerRole?organization=Organization/{network.huailai.id}"
    )
    during_2023 = search(
        client, reader,
        f"PractitionerRole?practitioner={expert}&date=ge2023-06-01&date=le2023-06-30",
    )
    within_2023 = search(client, reader, "PractitionerRole?date=2023")

    home = f"home-{network.expert.id}"
    assert entry_ids(every_role) == [home, str(network.stationed.id), str(network.past_visit.id)]
    assert entry_ids(active) == [home, str(network.stationed.id)]
    assert entry_ids(stationed) == [str(network.stationed.id)]
    assert entry_ids(at_huailai) == [f"home-{network.local_doctor.id}", str(network.stationed.id)]
    assert entry_ids(during_2023) == [home, str(network.past_visit.id)]
    assert entry_ids(within_2023) == [str(network.past_visit.id)]
    role = stationed["entry"][0]["resource"]
    assert role["organization"]["reference"] == f"Organization/{network.huailai.id}"
    assert role["period"] == {"start": "2024-03-01"}
    assert role["code"][0]["coding"][0]["display"] == "派驻专家"


def test_every_resource_searched_reads_back_the_same_and_validates(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    for resource_type in ("Organization", "Location", "Practitioner", "PractitionerRole"):
        bundle = search(client, reader, resource_type)
        assert bundle["total"] > 0
        for entry in bundle["entry"]:
            assert entry["fullUrl"].endswith(f"/fhir/r4/{resource_type}/{entry['resource']['id']}")
            read = fhir_json(client.get(entry["fullUrl"], headers=reader))
            assert_valid(read)
            assert read == entry["resource"]
