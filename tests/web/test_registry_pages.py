"""Registry pages: the filtered directory, details, agreements and the department form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_institution
from tests.web.conftest import Network, csrf_of, sign_in
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.registry.models import Department

ROW_LINK = re.compile(r'<td class="primary">\s*<a href="/registry/institutions/(\d+)">')


def listed_ids(html: str) -> set[int]:
    """Ids of the institutions in a results table."""
    return {int(found) for found in ROW_LINK.findall(html)}


def test_hebei_level_3_filter_takes_in_every_hebei_city(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "analyst")

    page = client.get("/registry/institutions?region_code=130000&level=3")

    assert page.status_code == 200
    # Huailai (Zhangjiakou) and Baoding are both in Hebei; Beijing and the level 1/2 are not
    assert listed_ids(page.text) == {network.huailai.id, network.baoding_children.id}
    assert '<option value="130000" selected>河北省</option>' in page.text
    assert "共 2 家机构" in page.text


def test_filters_by_city_kind_centre_agreement_and_text(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "analyst")

    def ids(query: str) -> set[int]:
        return listed_ids(client.get(f"/registry/institutions?{query}").text)

    assert ids("region_code=130600") == {network.baoding_children.id, network.baoding_township.id}
    assert ids("kind=children_hospital") == {network.baoding_children.id}
    assert ids("centre=chest_pain") == {network.beijing.id, network.huailai.id}
    assert ids("agreement_type=specialty_alliance") == {
        network.baoding_children.id, network.baoding_township.id}
    assert ids("grade=未定") == {network.baoding_township.id}
    assert ids("text=怀来院区") == {network.huailai.id}
    # a value no form offers is ignored rather than failing the page
    assert len(ids("level=9&kind=spaceship")) == 5


def test_htmx_request_gets_only_the_results(client: TestClient, network: Network) -> None:
    sign_in(client, "analyst")

    fragment = client.get(
        "/registry/institutions?level=1",
        headers={"HX-Request": "true", "HX-Target": "results"},
    )

    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="filters"' not in fragment.text
    assert listed_ids(fragment.text) == {network.baoding_township.id}
    assert 'hx-swap-oob="true"' in fragment.text  # the language links follow the filters
    assert "HX-Request" in fragment.headers["vary"]


def test_directory_pages_through_long_lists(
    client: TestClient, session: Session, network: Network
) -> None:
    for number in range(30):
        make_institution(session, code=f"VC{number:02d}", region_code="130602", level=1)
    session.commit()
    sign_in(client, "analyst")

    first = client.get("/registry/institutions?level=1")
    second = client.get("/registry/institutions?level=1&page=2")

    assert len(listed_ids(first.text)) == 25
    assert len(listed_ids(second.text)) == 6
    assert "第 1 / 2 页" in first.text
    assert 'href="/registry/institutions?level=1&amp;page=2"' in first.text
    assert listed_ids(first.text).isdisjoint(listed_ids(second.text))


def test_lists_link_to_the_csv_exports(client: TestClient, network: Network) -> None:
    sign_in(client, "analyst")

    institutions = client.get("/registry/institutions?region_code=130000&level=3").text
    agreements = client.get("/registry/agreements").text

    assert 'href="/api/v1/registry/institutions/export.csv"' in institutions
    assert 'href="/api/v1/registry/agreements/export.csv"' in agreements
    assert "全部导出（CSV）" in institutions


def test_institution_detail_shows_facts_campuses_departments_and_agreements(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "doctor")

    beijing = client.get(f"/registry/institutions/{network.beijing.id}")
    huailai = client.get(f"/registry/institutions/{network.huailai.id}")

    assert beijing.status_code == 200
    assert re.search(r"北京市</span> <span[^>]*>西城区.*110102", beijing.text)
    assert "胸痛中心" in beijing.text and "卒中中心" in beijing.text
    assert "下属院区" in beijing.text
    assert f'href="/registry/institutions/{network.huailai.id}"' in beijing.text
    assert "心血管内科" in beijing.text and "CARD" in beijing.text
    assert "托管" in beijing.text and "牵头方" in beijing.text
    assert "隶属于" in huailai.text
    assert f'href="/registry/institutions/{network.beijing.id}"' in huailai.text
    assert "成员方" in huailai.text
    assert "/edit" not in huailai.text  # a clinician may not edit departments


def test_agreement_list_filters_and_detail_shows_parties(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "admin")

    everything = client.get("/registry/agreements")
    alliances = client.get("/registry/agreements?type=specialty_alliance")
    in_beijing = client.get("/registry/agreements?region_code=110000&status=active")
    ended = client.get("/registry/agreements?status=ended")

    assert everything.text.count('href="/registry/agreements/') == 2
    assert alliances.text.count('href="/registry/agreements/') == 1
    assert "保定市儿童医院" in alliances.text
    assert in_beijing.text.count('href="/registry/agreements/') == 1
    assert "没有符合筛选条件的协议" in ended.text
    of_huailai = client.get(f"/registry/agreements?institution_id={network.huailai.id}")
    assert of_huailai.text.count('href="/registry/agreements/') == 1
    assert "北京大学人民医院怀来院区参与的协议" in of_huailai.text

    agreement_id = int(re.findall(r'href="/registry/agreements/(\d+)"', alliances.text)[0])
    detail = client.get(f"/registry/agreements/{agreement_id}")
    assert detail.status_code == 200
    assert "专科联盟" in detail.text and "生效" in detail.text
    assert "保定市儿童医院" in detail.text and "竞秀区乡镇卫生院" in detail.text
    assert "牵头方" in detail.text and "成员方" in detail.text

    english = client.get(f"/registry/agreements/{agreement_id}?lang=en")
    assert "Specialty alliance" in english.text and "Lead" in english.text


def test_hospital_admin_edits_their_own_department(
    client: TestClient, session: Session, network: Network
) -> None:
    sign_in(client, "hladmin")
    department_id = network.huailai_cardiology.id
    form = client.get(f"/registry/departments/{department_id}/edit")
    assert form.status_code == 200
    assert 'value="心血管内科"' in form.text

    response = client.post(
        f"/registry/departments/{department_id}/edit",
        data={"name": "心内科", "name_en": "Cardiology", "specialty": "cardiology",
              "beds": "55", "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"].startswith(
        f"/registry/institutions/{network.huailai.id}")
    session.expire_all()
    department = session.get(Department, department_id)
    assert department is not None and (department.name, department.beds) == ("心内科", 55)
    audited = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "department.update")
    ).all()
    assert [event.actor for event in audited] == ["hladmin"]
    detail = client.get(response.headers["location"])
    assert "科室信息已保存" in detail.text
    assert "科室信息已保存" not in client.get(response.headers["location"]).text  # shown once


def test_lead_hospital_admin_edits_a_department_of_its_campus(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "bjadmin")
    department_id = network.huailai_cardiology.id
    form = client.get(f"/registry/departments/{department_id}/edit")

    response = client.post(
        f"/registry/departments/{department_id}/edit",
        data={"name": "心血管内科", "specialty": "cardiology", "beds": "42",
              "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )

    assert response.status_code == 303


def test_bad_input_shows_the_form_again_with_a_bilingual_error(
    client: TestClient, session: Session, network: Network
) -> None:
    sign_in(client, "hladmin")
    url = f"/registry/departments/{network.huailai_cardiology.id}/edit"
    token = csrf_of(client.get(url).text)
    bad = {"name": "", "specialty": "cardiology", "beds": "lots", "csrf_token": token}

    chinese = client.post(url, data=bad)
    english = client.post(f"{url}?lang=en", data=bad)

    assert chinese.status_code == 422
    assert "科室名称（中文）：太短" in chinese.text
    assert "床位：应为整数" in chinese.text
    assert 'value="lots"' in chinese.text  # what the user typed is kept
    assert english.status_code == 422
    assert "Name (Chinese): String should have at least 1 character" in english.text
    assert "Beds: Input should be a valid integer" in english.text
    session.expire_all()
    department = session.get(Department, network.huailai_cardiology.id)
    assert department is not None and department.beds == 40
    refused = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "department.update", AuditEvent.outcome == AuditOutcome.FAILED
        )
    ).all()
    assert len(refused) == 2  # both attempts are on the trail
    assert refused[0].entity_id == str(department.id)


def test_clinician_editing_another_hospitals_department_gets_403_and_is_audited(
    client: TestClient, session: Session, network: Network
) -> None:
    sign_in(client, "doctor")
    url = f"/registry/departments/{network.beijing_cardiology.id}/edit"
    token = csrf_of(client.get("/").text)

    response = client.post(
        url, data={"name": "改名", "specialty": "cardiology", "beds": "1", "csrf_token": token}
    )

    assert response.status_code == 403
    assert "无权访问" in response.text
    assert "临床医生无权执行此操作" in response.text
    denied = session.scalars(
        select(AuditEvent).where(AuditEvent.outcome == AuditOutcome.DENIED)
    ).all()
    assert [(event.actor, event.action) for event in denied] == [
        ("doctor", "registry.department.write")
    ]
    session.expire_all()
    department = session.get(Department, network.beijing_cardiology.id)
    assert department is not None and department.name == "心血管内科"
    assert client.get(url).status_code == 403  # the form itself is refused too


def test_hospital_admin_may_not_edit_an_unrelated_hospital(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "hladmin")  # runs Huailai only, not its Beijing parent

    assert client.get(f"/registry/departments/{network.beijing_cardiology.id}/edit"
                      ).status_code == 403


def test_post_without_csrf_token_is_refused(
    client: TestClient, session: Session, network: Network
) -> None:
    sign_in(client, "hladmin")

    response = client.post(
        f"/registry/departments/{network.huailai_cardiology.id}/edit",
        data={"name": "心内科", "specialty": "cardiology", "beds": "1"},
    )

    assert response.status_code == 403
    assert "表单已失效" in response.text
    session.expire_all()
    department = session.get(Department, network.huailai_cardiology.id)
    assert department is not None and department.name == "心血管内科"
