"""Registry CSV import and export: whole files or nothing, every bad row named by its line,
and an export that imports back unchanged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.registry.checks import audit_events, count_agreements, count_institutions, detail_of
from tests.registry.conftest import Network
from yilian.audit.models import AuditOutcome
from yilian.errors import InvalidInput
from yilian.registry import agreements, csvio
from yilian.registry import service as registry
from yilian.registry.csvio import CsvKind, ImportReport, export_csv, import_csv, read_text
from yilian.registry.models import Agreement, EmergencyCentre, Institution, PartyRole
from yilian.registry.schemas import InstitutionUpdate

API = "/api/v1/registry"

Headers = dict[str, dict[str, str]]

INSTITUTION_HEADER = (
    "code,name,name_en,region_code,level,grade,kind,parent_code,beds,address,phone,centres\n"
)
AGREEMENT_HEADER = (
    "code,type,title,title_en,specialty,status,start_date,end_date,description,parties\n"
)


def _institution(session: Session, code: str) -> Institution:
    session.expire_all()
    found = registry.get_institution_by_code(session, code=code)
    assert found is not None
    return found


def _agreement(session: Session, code: str) -> Agreement:
    session.expire_all()
    found = agreements.get_agreement_by_code(session, code=code)
    assert found is not None
    return found


def _failure(session: Session, text: str, kind: CsvKind | None = None) -> InvalidInput:
    """Import expecting refusal; roll back as the request and the CLI do."""
    with pytest.raises(InvalidInput) as caught:
        import_csv(session, text=text, kind=kind)
    session.rollback()
    return caught.value


# ---------------------------------------------------------------- reading files


def test_read_text_accepts_utf8_with_or_without_bom_and_gb18030_from_chinese_excel() -> None:
    text = "code,name\nBDFIRST,保定市第一中心医院\n"

    assert read_text(text.encode("utf-8")) == text
    assert read_text(text.encode("utf-8-sig")) == text
    assert read_text(text.encode("gb18030")) == text


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"code,name\n\xff\xff\n", "unknown_encoding"),
        ("code,name".encode("utf-16"), "not_csv_text"),
        (b"PK\x03\x04\x00\x00workbook", "not_csv_text"),
    ],
)
def test_read_text_explains_files_it_cannot_read(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_text(data)

    assert caught.value.code == code
    assert "CSV" in caught.value.zh and "CSV" in caught.value.en


def test_csv_kind_is_parsed_from_its_name() -> None:
    assert CsvKind.parse(" Agreements ") is CsvKind.AGREEMENTS
    with pytest.raises(InvalidInput) as caught:
        CsvKind.parse("patients")
    assert caught.value.en == "Unknown CSV kind: patients (institutions or agreements)"


# ---------------------------------------------------------------- importing institutions


def test_import_creates_a_hospital_and_its_campus_defined_on_an_earlier_row(
    session: Session, network: Network
) -> None:
    text = INSTITUTION_HEADER + (
        "BDSECOND,保定市第二医院,Baoding No.2 Hospital,130602,3,甲,general_hospital,,800,"
        "保定市竞秀区,0312-5976000,chest_pain;stroke\n"
        "BDSECOND-W,保定市第二医院西院,,130602,2,乙,general_hospital,BDSECOND,200,,,"
        "trauma | neonatal\n"
    )

    report = import_csv(session, text=text)
    session.commit()

    assert report == ImportReport(kind=CsvKind.INSTITUTIONS, created=2, updated=0, unchanged=0)
    second = _institution(session, "BDSECOND")
    west = _institution(session, "BDSECOND-W")
    assert (second.level, second.beds, second.phone) == (3, 800, "0312-5976000")
    assert second.centre_kinds == [EmergencyCentre.CHEST_PAIN, EmergencyCentre.STROKE]
    assert west.parent_id == second.id
    assert west.centre_kinds == [EmergencyCentre.NEONATAL, EmergencyCentre.TRAUMA]


def test_three_bad_rows_among_good_ones_are_all_reported_and_nothing_is_imported(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    before = count_institutions(session)
    text = INSTITUTION_HEADER + (
        # line 2–3: good; the quoted address runs over two lines
        'GOOD1,保定市第三医院,,130602,2,甲,general_hospital,,300,"保定市\n竞秀区",,\n'
        "BAD-LEVEL,保定市第四医院,,130602,4,甲,general_hospital,,100,,,\n"  # line 4
        "GOOD2,保定市第五医院,,130602,2,乙,general_hospital,,100,,,\n"  # line 5
        "BAD-REGION,保定市第六医院,,139999,2,甲,general_hospital,,100,,,\n"  # line 6
        "BAD-PARENT,保定市第七医院,,130602,2,甲,general_hospital,NOPE,100,,,\n"  # line 7
        "GOOD3,保定市第三医院北院,,130602,1,甲,general_hospital,GOOD1,50,,,\n"  # line 8
    )

    response = client.post(f"{API}/import",
                           files={"file": ("hebei.csv", text.encode("utf-8-sig"), "text/csv")},
                           headers=as_user["root"])

    assert response.status_code == 422
    body = response.json()
    assert body["message_zh"] == "3 行有误，未导入任何数据"
    assert body["message_en"] == "3 row(s) have errors; nothing was imported"
    assert [(e["line"], e["field"]) for e in body["errors"]] == [
        (4, "level"), (6, "region_code"), (7, "parent_code")]
    assert body["errors"][0]["message_zh"] == "level：太大"
    assert body["errors"][1]["message_zh"] == "行政区划代码不存在：139999"
    assert body["errors"][1]["message_en"] == "Unknown region code: 139999"
    assert body["errors"][2]["message_en"] == "No institution with code NOPE"
    assert count_institutions(session) == before
    [refused] = audit_events(session, f"POST {API}/import")
    assert refused.outcome is AuditOutcome.FAILED
    assert detail_of(refused)["code"] == "csv_rows_invalid"


def test_row_messages_name_every_bad_field_and_the_allowed_values(
    session: Session, network: Network
) -> None:
    text = INSTITUTION_HEADER + "BAD 1,,,130602,3,A,hospital,,-5,,,chest_pain;heart\n"

    [problem] = _failure(session, text).details

    assert problem["line"] == 2
    assert problem["field"] == "code,name,grade,kind,beds,centres.1"
    assert "grade：不是允许的取值（可选：'甲', '乙', '丙' or '未定'）" in problem["message_zh"]
    assert "name：必填" in problem["message_zh"]
    assert "beds: Input should be greater than or equal to 0" in problem["message_en"]


def test_parents_must_come_first_and_codes_only_once(session: Session, network: Network) -> None:
    text = INSTITUTION_HEADER + (
        "NEW-CAMPUS,新院区,,130602,2,甲,general_hospital,NEW-MAIN,100,,,\n"  # line 2
        "NEW-MAIN,新医院,,130602,3,甲,general_hospital,,100,,,\n"  # line 3
        "NEW-MAIN,新医院（重复）,,130602,3,甲,general_hospital,,100,,,\n"  # line 4
        "BROKEN,坏行,,130602,9,甲,general_hospital,,100,,,\n"  # line 5
        "CHILD,子院区,,130602,1,甲,general_hospital,BROKEN,10,,,\n"  # line 6
    )

    problems = _failure(session, text).details

    assert [(p["line"], p["field"]) for p in problems] == [
        (2, "parent_code"), (4, "code"), (5, "level"), (6, "parent_code")]
    assert problems[0]["message_en"] == (
        "Parent NEW-MAIN must come before this row (it is on line 3)")
    assert problems[1]["message_zh"] == "编码 NEW-MAIN 在第 3 行已出现"
    assert problems[3]["message_zh"] == "上级机构 BROKEN 所在的第 5 行有误"


def test_import_updates_existing_institutions_only_in_the_columns_given(
    session: Session, network: Network
) -> None:
    text = (
        "code,name,region_code,level,kind,beds\n"
        "PKUPH,北京大学人民医院,110102,3,general_hospital,1900\n"
        "PKUPH-HL,北京大学人民医院怀来院区,130730,2,general_hospital,100\n"
        "NEWCLINIC,东花园村卫生室,130730,1,village_clinic,0\n"
    )

    report = import_csv(session, text=text)
    session.commit()

    assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
    pku = _institution(session, "PKUPH")
    assert pku.beds == 1900
    assert pku.centre_kinds == [EmergencyCentre.CHEST_PAIN, EmergencyCentre.STROKE]  # untouched
    assert _institution(session, "PKUPH-HL").parent_id == network.pku.id  # untouched
    [update] = [e for e in audit_events(session, "institution.update")
                if e.entity_id == str(network.pku.id)]
    assert detail_of(update)["fields"] == ["beds"]


@pytest.mark.parametrize(
    ("text", "code", "fields"),
    [
        ("", "csv_empty", []),
        ("\n \n", "csv_empty", []),
        ("code,name\nX,Y\n", "csv_header_invalid", ["kind", "level", "region_code"]),
        ("code,name,region_code,level,kind,colour\n", "csv_header_invalid", ["colour"]),
        ("code,name,name,region_code,level,kind\n", "csv_header_invalid", ["name"]),
        ("code,foo\n1,2\n", "csv_kind_unknown", ["-"]),
    ],
)
def test_files_with_a_bad_header_are_refused_clearly(
    session: Session, text: str, code: str, fields: list[str]
) -> None:
    error = _failure(session, text)

    assert error.code == code
    assert error.zh and error.en
    assert [detail["field"] for detail in error.details] == fields
    assert all(detail["line"] == 1 for detail in error.details)


def test_a_header_of_the_wrong_kind_names_the_columns_it_lacks(session: Session) -> None:
    error = _failure(session, "code,name,region_code,level,kind\n", kind=CsvKind.AGREEMENTS)

    assert [d["field"] for d in error.details] == [
        "name", "region_code", "level", "kind", "parties", "start_date", "title", "type"]
    assert error.details[0]["message_en"].startswith("Unknown column: name (agreements columns:")


def test_a_header_alone_imports_nothing_without_complaint(session: Session) -> None:
    assert import_csv(session, text=AGREEMENT_HEADER) == ImportReport(kind=CsvKind.AGREEMENTS)


# ---------------------------------------------------------------- agreements


def test_import_agreements_with_parties_departments_and_excel_dates(
    session: Session, network: Network
) -> None:
    text = AGREEMENT_HEADER + (
        "TG-HL,trusteeship,北京大学人民医院托管怀来县医院,,,active,2022/7/1,,"
        '"全面托管，\n派驻执行院长",PKUPH:lead;HLCOUNTY:member\n'
        "ZL-CARD,specialty_alliance,保定心血管专科联盟,,cardiology,,2021-03-01,,,"
        "BDFIRST:lead:CARD; BDCH:member | HL-SHACHENG:Member\n"
    )

    report = import_csv(session, text=text)
    session.commit()

    assert (report.kind, report.created) == (CsvKind.AGREEMENTS, 2)
    trusteeship = _agreement(session, "TG-HL")
    assert trusteeship.start_date.isoformat() == "2022-07-01"
    assert trusteeship.description == "全面托管，\n派驻执行院长"
    alliance = _agreement(session, "ZL-CARD")
    assert {(p.institution.code, p.role, p.department_id) for p in alliance.parties} == {
        ("BDFIRST", PartyRole.LEAD, network.baoding_cardiology.id),
        ("BDCH", PartyRole.MEMBER, None),
        ("HL-SHACHENG", PartyRole.MEMBER, None),
    }


def test_bad_agreement_rows_are_reported_by_line_and_nothing_is_imported(
    session: Session, network: Network
) -> None:
    text = AGREEMENT_HEADER + (
        "A1,trusteeship,托管,,,,2022-07-01,,,PKUPH:lead;HLCOUNTY:member;BDCH:member\n"  # 2
        "A2,city_group,城市医疗集团,,,,2022-07-01,,,PKUPH:lead;NOWHERE:member\n"  # 3
        "A3,city_group,城市医疗集团,,,,2022-07-01,,,PKUPH-lead;BDCH:member\n"  # 4
        "A4,city_group,城市医疗集团,,,ended,2022-07-01,2021-01-01,,PKUPH:lead;BDCH:member\n"
        "A5,city_group,好的协议,,,,2022-07-01,,,PKUPH:lead;BDCH:member:NOPE\n"  # 6
        "A6,city_group,好的协议,,,,2022-07-01,,,PKUPH:lead;BDCH:member\n"  # 7: good
    )

    problems = _failure(session, text).details

    assert [(p["line"], p["field"]) for p in problems] == [
        (2, "parties"), (3, "parties"), (4, "parties"), (5, "-"), (6, "parties")]
    assert problems[0]["message_en"].startswith("A trusteeship binds exactly one lead")
    assert problems[1]["message_zh"] == "机构编码不存在：NOWHERE"
    assert problems[2]["message_en"] == (
        "A party is written CODE:lead or CODE:member[:DEPT], not “PKUPH-lead”")
    assert problems[3]["message_zh"] == "结束日期早于开始日期"
    assert problems[4]["message_en"] == "The institution has no department with code NOPE"
    assert count_agreements(session) == 0


def test_reimporting_an_agreement_changes_its_terms_and_parties(
    session: Session, network: Network
) -> None:
    first = AGREEMENT_HEADER + (
        "TG-HL,trusteeship,托管怀来,,,active,2022-07-01,,,PKUPH:lead;HLCOUNTY:member\n")
    import_csv(session, text=first)
    session.commit()
    changed = AGREEMENT_HEADER + (
        "TG-HL,trusteeship,托管怀来,,,ended,2022-07-01,2025-06-30,,"
        "PKUPH:lead;HL-SHACHENG:member\n")

    report = import_csv(session, text=changed)
    session.commit()

    assert (report.created, report.updated) == (0, 1)
    agreement = _agreement(session, "TG-HL")
    assert agreement.status.value == "ended"
    assert {p.institution.code for p in agreement.parties} == {"PKUPH", "HL-SHACHENG"}


# ---------------------------------------------------------------- export and round trip


def test_export_then_import_round_trips_through_the_api(
    client: TestClient, network: Network, as_user: Headers, session: Session
) -> None:
    registry.update_institution(
        session, institution=_institution(session, "BDCH"),
        data=InstitutionUpdate(address='=HYPERLINK("http://evil.example")', phone="+86 312 1"),
    )
    import_csv(session, text=AGREEMENT_HEADER + (
        'TG-HL,trusteeship,"托管,怀来",,,active,2022-07-01,,"第一行\n第二行",'
        "PKUPH:lead;PKUPH-HL:member:CARD\n"))
    session.commit()
    headers = as_user["root"]

    institutions = client.get(f"{API}/institutions/export.csv", headers=headers)
    agreements = client.get(f"{API}/agreements/export.csv", headers=headers)

    assert institutions.status_code == 200
    assert institutions.headers["content-type"] == "text/csv; charset=utf-8"
    assert institutions.content.startswith(b"\xef\xbb\xbfcode,name,name_en,region_code,")
    lines = institutions.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 7
    codes = [line.split(",")[0] for line in lines[1:]]
    assert codes.index("PKUPH") < codes.index("PKUPH-HL")  # parents before campuses
    assert "'=HYPERLINK(" in institutions.text  # Excel will not run it as a formula
    for exported in (institutions, agreements):
        again = client.post(f"{API}/import", headers=headers,
                            files={"file": ("export.csv", exported.content, "text/csv")})
        assert again.status_code == 200, again.text
        assert (again.json()["created"], again.json()["updated"]) == (0, 0)
    assert client.post(f"{API}/import", headers=headers,
                       files={"file": ("i.csv", institutions.content, "text/csv")}
                       ).json()["unchanged"] == 6
    assert _institution(session, "BDCH").address == '=HYPERLINK("http://evil.example")'
    assert [e.actor for e in audit_events(session, "registry.export")] == ["root", "root"]


def test_export_lists_agreement_parties_as_codes(session: Session, network: Network) -> None:
    import_csv(session, text=AGREEMENT_HEADER + (
        "ZL-CARD,specialty_alliance,专科联盟,,cardiology,,2021-03-01,,,"
        "BDCH:member;BDFIRST:lead:CARD\n"))

    text = export_csv(session, kind=CsvKind.AGREEMENTS)

    assert text.splitlines()[1] == (
        "ZL-CARD,specialty_alliance,专科联盟,,cardiology,active,2021-03-01,,,"
        "BDFIRST:lead:CARD;BDCH:member")
    assert csvio.import_csv(session, text=text).unchanged == 1
    assert session.scalars(select(Agreement.code)).all() == ["ZL-CARD"]


def test_the_kind_given_with_the_upload_is_checked_against_the_header(
    client: TestClient, network: Network, as_user: Headers
) -> None:
    text = "code,name,region_code,level,kind\nNEW1,新医院,130602,2,general_hospital\n"
    upload = {"file": ("agreements.csv", text.encode("gb18030"), "text/csv")}

    wrong = client.post(f"{API}/import", files=upload, data={"kind": "agreements"},
                        headers=as_user["root"])
    right = client.post(f"{API}/import", files=upload, data={"kind": "institutions"},
                        headers=as_user["root"])

    assert wrong.status_code == 422
    assert wrong.json()["code"] == "csv_header_invalid"
    assert right.status_code == 200
    assert right.json() == {"kind": "institutions", "created": 1, "updated": 0, "unchanged": 0}
