"""ADT messages from hospital systems into the patient index, over ``POST /hl7/v2``.

The interface account of 怀来县医院 (HLCOUNTY) registers 宋秀兰, Beijing's PKU People's
Hospital registers her again under its own number, the county hospital corrects her
address, then merges two of its numbers that turned out to be her. Refused messages
are answered AE or AR, change nothing, and are audited all the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import bearer, make_institution, make_user, resident_id_number
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role
from yilian.auth.permissions import Principal
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.hl7v2 import AckCode, ErrorCode, HandlerRegistry, MessageHandler
from yilian.hl7v2.handlers import Accepted, Inbound, dispatch
from yilian.patients import matching, merging
from yilian.patients import service as patients
from yilian.patients.models import (
    InsuranceScheme,
    LinkEvent,
    LinkEventKind,
    LinkMethod,
    PatientRecord,
    Person,
    PersonStatus,
    Sex,
)
from yilian.registry.models import Institution

URL = "/hl7/v2"
BORN = date(1968, 3, 14)
SONG_ID = resident_id_number("130730", BORN, 123, male=False)
BAD_CHECK_DIGIT = SONG_ID[:-1] + ("0" if SONG_ID[-1] != "0" else "1")


@dataclass
class Network:
    county: Institution  # 怀来县医院 HLCOUNTY
    pku: Institution  # 北京大学人民医院 PKUPH
    campus: Institution  # its Huailai campus PKUPH-HL


@pytest.fixture
def network(session: Session) -> Network:
    county = make_institution(session, code="HLCOUNTY", name="怀来县医院")
    pku = make_institution(session, code="PKUPH", name="北京大学人民医院", region_code="110102",
                           level=3)
    campus = make_institution(session, code="PKUPH-HL", name="北京大学人民医院怀来院区",
                              parent_code="PKUPH")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=county, username="hl_his")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=pku, username="pk_his")
    session.commit()
    return Network(county, pku, campus)


@pytest.fixture
def county_his(client: TestClient, network: Network) -> dict[str, str]:
    """The county hospital's interface account."""
    return {**bearer(client, "hl_his"), "Content-Type": "application/hl7-v2"}


# ---------------------------------------------------------------- building messages


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment with the given fields by number, the others empty."""
    return "|".join([name, *(fields.get(n, "") for n in range(1, max(fields) + 1))])


def message(
    event: str, control_id: str, *segments: str, facility: str = "HLCOUNTY",
    version: str = "2.4", charset: str = "",
) -> str:
    """An ADT (or other) message from the sender's HIS, CR-separated."""
    kind, trigger = event.split("^")
    msh = (f"MSH|^~\\&|HIS|{facility}|YILIAN|YILIAN|20240315083000||{event}^{kind}_{trigger}"
           f"|{control_id}|P|{version}" + (f"||||||{charset}" if charset else ""))
    return "\r".join([msh, f"EVN|{trigger}|20240315083000", *segments]) + "\r"


def pid(
    local_id: str = "000123", *, facility: str = "HLCOUNTY", id_number: str | None = SONG_ID,
    **fields: str,
) -> str:
    """A PID for 宋秀兰 of 怀来 unless told otherwise; keyword ``f<n>`` sets PID-n."""
    identifiers = [f"{local_id}^^^{facility}^PI"]
    if id_number is not None:
        identifiers.append(f"{id_number}^^^CHN^NNCHN")
    values = {
        1: "1",
        3: "~".join(identifiers),
        5: "宋^秀兰",
        7: "19680314",
        8: "F",
        11: "沙城镇东大街12号^3单元^张家口市^河北省^075400^CHN^H^^130730",
        13: "^PRN^CP^^^^^^^^^13812345678",
    }
    values |= {int(key[1:]): value for key, value in fields.items()}
    return segment("PID", {n: v for n, v in values.items() if v is not None})


RESIDENT_INSURANCE = segment("IN1", {1: "1", 2: "CXJM", 3: "130730^^^HBYB",
                                     4: "怀来县医疗保障局", 15: "resident"})


def a04(control_id: str = "HL7A04000123", *extra: str, **pid_fields: str) -> str:
    return message("ADT^A04", control_id, pid(**pid_fields), "PV1|1|O|NEIKE^^^HLCOUNTY",
                   RESIDENT_INSURANCE, *extra)


# ---------------------------------------------------------------- reading answers


@dataclass
class Ack:
    """An ACK read naively: segment name → its fields, numbered as the standard does."""

    segments: dict[str, list[str]]

    def field(self, name: str, number: int) -> str:
        fields = self.segments.get(name, [])
        index = number - 1 if name == "MSH" else number  # MSH-1 is the separator itself
        return fields[index] if index < len(fields) else ""


def ack_of(response: object) -> Ack:
    status = getattr(response, "status_code", None)
    assert status == 200, getattr(response, "text", "")
    headers = getattr(response, "headers", {})
    assert headers["content-type"].startswith("application/hl7-v2")
    text: str = getattr(response, "text", "")
    assert text.startswith("MSH|^~\\&|") and text.endswith("\r")
    return Ack({line.split("|")[0]: line.split("|") for line in text.split("\r") if line})


def post(client: TestClient, headers: dict[str, str], body: str | bytes) -> Ack:
    content = body.encode() if isinstance(body, str) else body
    return ack_of(client.post(URL, content=content, headers=headers))


def record_at(session: Session, institution: Institution, local_id: str) -> PatientRecord:
    session.expire_all()
    found = patients.get_record_by_local_id(
        session, institution_id=institution.id, local_id=local_id
    )
    assert found is not None
    return found


def counts(session: Session) -> tuple[int, ...]:
    """Rows of the patient index and audit records other than message receipts."""
    session.expire_all()
    index = [
        session.scalar(select(func.count()).select_from(table)) or 0
        for table in (PatientRecord, Person, LinkEvent)
    ]
    trail = session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action != "hl7.receive")
    )
    return (*index, trail or 0)


def receipts(session: Session) -> list[tuple[AuditOutcome, dict[str, object]]]:
    session.expire_all()
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "hl7.receive").order_by(AuditEvent.id)
    )
    return [(row.outcome, json.loads(row.detail)) for row in rows]


# ---------------------------------------------------------------- A04


def test_a04_from_huailai_registers_the_patient_and_answers_aa(
    client: TestClient, session: Session, settings: Settings, network: Network,
    county_his: dict[str, str],
) -> None:
    ack = post(client, county_his, a04("HL7A04000123"))

    assert ack.field("MSA", 1) == "AA"
    assert ack.field("MSA", 2) == "HL7A04000123"
    assert "ERR" not in ack.segments
    # Sender and receiver swapped, a new control id, the version echoed.
    assert [ack.field("MSH", n) for n in (3, 4, 5, 6)] == ["YILIAN", "YILIAN", "HIS", "HLCOUNTY"]
    assert ack.field("MSH", 9) == "ACK^A04^ACK"
    assert ack.field("MSH", 10) not in ("", "HL7A04000123")
    assert ack.field("MSH", 12) == "2.4"

    record = record_at(session, network.county, "000123")
    assert (record.name, record.sex, record.birth_date) == ("宋秀兰", Sex.FEMALE, BORN)
    assert record.id_number_masked == SONG_ID[:6] + "********" + SONG_ID[-4:]
    assert record.address == "河北省张家口市沙城镇东大街12号3单元"
    cipher = cipher_from_settings(settings)
    assert record.phone_cipher is not None
    assert cipher.decrypt(matching.PHONE_FIELD, record.phone_cipher) == "13812345678"
    assert record.insured_region_code == "130730"
    assert record.insurance_scheme is InsuranceScheme.RESIDENT
    assert record.link_method is LinkMethod.NEW_PERSON

    [(outcome, detail)] = receipts(session)
    assert outcome is AuditOutcome.SUCCESS
    assert detail["message_type"] == "ADT^A04" and detail["control_id"] == "HL7A04000123"
    assert detail["result"] == "registered" and detail["record_id"] == record.id
    assert SONG_ID not in json.dumps(detail)


def test_a04_from_beijing_with_the_same_resident_id_links_to_the_same_person(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    post(client, county_his, a04())
    beijing = {**bearer(client, "pk_his"), "Content-Type": "text/plain"}
    # PKU's HIS sends the full name as family name, the ID as 居民身份证, sex as GB/T 2261.1.
    body = message("ADT^A04", "PK20240316-0001", segment("PID", {
        1: "1",
        3: f"A-88^^^PKUPH^MR~{SONG_ID.lower()}^^^居民身份证^ID",
        5: "宋秀兰",
        7: "196803140000",
        8: "2",
    }), facility="PKUPH", version="2.5")

    ack = post(client, beijing, body)

    assert ack.field("MSA", 1) == "AA" and ack.field("MSH", 12) == "2.5"
    first = record_at(session, network.county, "000123")
    second = record_at(session, network.pku, "A-88")
    assert second.person_id == first.person_id
    assert second.link_method is LinkMethod.RESIDENT_ID


def test_a04_for_a_number_already_registered_updates_it(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    post(client, county_his, a04("C1"))
    ack = post(client, county_his, a04("C2", f13="^PRN^CP^^^^^^^^^13900001111"))

    assert ack.field("MSA", 1) == "AA"
    assert counts(session)[0] == 1
    assert receipts(session)[-1][1]["result"] == "updated"


# ---------------------------------------------------------------- A08


def test_a08_changes_the_address_keeps_what_is_not_sent_and_clears_the_null(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    post(client, county_his, a04())
    update = message("ADT^A08", "HL7A08000124", pid(
        id_number=None, f5="", f7="", f8="",
        f11="存瑞镇存瑞街8号^^张家口市^河北省^^CHN^H",
        f13='""',
    ))

    ack = post(client, county_his, update)

    assert ack.field("MSA", 1) == "AA" and ack.field("MSH", 9) == "ACK^A08^ACK"
    record = record_at(session, network.county, "000123")
    assert record.address == "河北省张家口市存瑞镇存瑞街8号"
    assert record.phone_cipher is None and record.phone_hash is None  # "" clears
    assert record.name == "宋秀兰" and record.birth_date == BORN  # empty: unchanged
    assert record.id_number_masked.startswith("130730")  # no ID repetition: unchanged


def test_a08_for_an_unknown_number_is_an_application_error(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    ack = post(client, county_his, message("ADT^A08", "U1", pid("999999")))

    assert ack.field("MSA", 1) == "AE" and ack.field("MSA", 2) == "U1"
    assert ack.field("ERR", 2) == "PID^1^3"
    assert ack.field("ERR", 3) == "204^Unknown key identifier^HL70357"
    assert "999999" in ack.field("ERR", 8)
    assert counts(session)[0] == 0


# ---------------------------------------------------------------- A40


def a40(control_id: str, *pairs: tuple[str, str]) -> str:
    segments = []
    for survivor, prior in pairs:
        segments += [segment("PID", {1: "1", 3: f"{survivor}^^^HLCOUNTY^PI", 5: "宋^秀兰"}),
                     segment("MRG", {1: f"{prior}^^^HLCOUNTY^PI"})]
    return message("ADT^A40", control_id, *segments)


def _register_duplicate(client: TestClient, headers: dict[str, str], local_id: str) -> None:
    # The clerk mistyped her on another visit: no ID, no phone, another birth date.
    ack = post(client, headers, message("ADT^A04", f"DUP{local_id}", pid(
        local_id, id_number=None, f5="宋^兰", f7="19700101", f11="", f13="",
    )))
    assert ack.field("MSA", 1) == "AA"


def test_a40_merges_the_two_people_with_history_and_a_resent_a40_does_nothing(
    client: TestClient, session: Session, settings: Settings, network: Network,
    county_his: dict[str, str],
) -> None:
    post(client, county_his, a04())
    _register_duplicate(client, county_his, "000456")
    survivor = record_at(session, network.county, "000123").person_id
    retired = record_at(session, network.county, "000456").person_id
    assert survivor != retired

    ack = post(client, county_his, a40("HL7A40000125", ("000123", "000456")))

    assert ack.field("MSA", 1) == "AA" and ack.field("MSH", 9) == "ACK^A40^ACK"
    assert record_at(session, network.county, "000456").person_id == survivor
    person = session.get(Person, survivor)
    assert person is not None
    [merge] = [e for e in merging.history(session, person=person)
               if e.kind is LinkEventKind.MERGED]
    assert merge.other_person_id == retired and merge.reason == "HL7 ADT^A40 HL7A40000125"
    assert merge.actor == "hl_his"
    retired_person = session.get(Person, retired)
    assert retired_person is not None and retired_person.status is PersonStatus.MERGED

    again = post(client, county_his, a40("HL7A40000126", ("000123", "000456")))

    assert again.field("MSA", 1) == "AA"
    assert receipts(session)[-1][1]["result"] == "already_one_person"
    assert session.scalar(select(func.count(LinkEvent.id)).where(
        LinkEvent.kind == LinkEventKind.MERGED)) == 1

    # The prior number is retired: the HIS can no longer update it, and is told which to use.
    assert record_at(session, network.county, "000456").superseded_by_id == record_at(
        session, network.county, "000123").id
    late = post(client, county_his, message("ADT^A08", "HL7A08000127",
                                            pid("000456", id_number=None, f5="宋^兰")))
    assert late.field("MSA", 1) == "AE"
    assert "000123" in late.field("ERR", 8)
    # Undoing the merge gives the number back.
    merging.unmerge(session, settings, None, merge_event_id=merge.id,
                    reason="two sisters after all")
    session.commit()
    assert record_at(session, network.county, "000456").superseded_by_id is None


def test_a40_fails_whole_when_one_pair_names_an_unknown_number(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    post(client, county_his, a04())
    _register_duplicate(client, county_his, "000456")
    before = counts(session)

    # The first pair would merge; the second names a number never registered.
    ack = post(client, county_his, a40("M2", ("000123", "000456"), ("000123", "000789")))

    assert ack.field("MSA", 1) == "AE"
    assert ack.field("ERR", 2) == "MRG^2^1"
    assert ack.field("ERR", 3).startswith("204^")
    assert counts(session) == before  # the first merge was rolled back with the rest
    assert record_at(session, network.county, "000456").person_id != record_at(
        session, network.county, "000123").person_id


# ---------------------------------------------------------------- refused messages


def test_a_bad_check_digit_is_an_application_error_and_writes_nothing(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    before = counts(session)

    ack = post(client, county_his, a04("HL7A04000999", id_number=BAD_CHECK_DIGIT))

    assert ack.field("MSA", 1) == "AE" and ack.field("MSA", 2) == "HL7A04000999"
    assert ack.field("ERR", 2) == "PID^1^3^2^1"
    assert ack.field("ERR", 3) == "102^Data type error^HL70357"
    assert ack.field("ERR", 4) == "E"
    assert ack.field("ERR", 5) == "resident_id_bad_check_digit"
    zh, en = ack.field("ERR", 8).split(" / ")
    assert "校验码" in zh and "check digit" in en
    # A v2.4 sender reads the error in MSA-3 and ERR-1 as well.
    assert "check digit" in ack.field("MSA", 3)
    assert ack.field("ERR", 1) == "PID^1^3^102&Data type error&HL70357"
    assert counts(session) == before
    [(outcome, detail)] = receipts(session)
    assert outcome is AuditOutcome.FAILED
    assert detail["reason"] == "resident_id_bad_check_digit" and detail["ack"] == "AE"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"hello, this is not HL7", "100"),
        (b"", "100"),
        (b"PID|1||000123^^^HLCOUNTY^PI", "100"),
        ("MSH|^~\\&|HIS|HLCOUNTY|||20240315||ADT^A04|C1|P|2.4\r这不是一个段".encode(), "100"),
        (b"MSH|^~\\&|HIS|HLCOUNTY|||20240315||ADT^A04||P|2.4\rPID|1", "101"),
    ],
)
def test_what_cannot_be_read_is_rejected(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
    body: bytes, code: str,
) -> None:
    ack = post(client, county_his, body)

    assert ack.field("MSA", 1) == "AR"
    assert ack.field("ERR", 3).startswith(f"{code}^")
    assert " / " in ack.field("ERR", 8)
    assert counts(session)[0] == 0
    assert [outcome for outcome, _ in receipts(session)] == [AuditOutcome.FAILED]


def test_unsupported_message_types_events_and_versions_are_rejected(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    order = post(client, county_his, message("ORM^O01", "ORD1", "ORC|NW|1"))
    transfer = post(client, county_his, message("ADT^A02", "TRF1", pid()))
    old = post(client, county_his, a04("OLD1").replace("|P|2.4", "|P|2.2"))

    assert (order.field("MSA", 1), order.field("MSA", 2)) == ("AR", "ORD1")
    assert order.field("ERR", 3) == "200^Unsupported message type^HL70357"
    assert order.field("MSH", 9) == "ACK^O01^ACK"
    assert transfer.field("ERR", 3) == "201^Unsupported event code^HL70357"
    assert old.field("ERR", 3) == "203^Unsupported version id^HL70357"
    assert old.field("MSH", 12) == "2.2"
    assert counts(session)[0] == 0


def test_an_account_sends_only_for_its_own_institution_and_campuses(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    before = counts(session)

    # The county hospital's account sending as PKU People's: refused (AR), nothing written.
    refused = post(client, county_his, message("ADT^A04", "X1", pid(facility="PKUPH"),
                                               facility="PKUPH"))

    assert refused.field("MSA", 1) == "AR"
    assert refused.field("ERR", 2) == "MSH^1^4"
    assert refused.field("ERR", 3) == "207^Application internal error^HL70357"
    assert refused.field("ERR", 5) == "forbidden"
    assert counts(session) == before
    assert receipts(session)[-1][0] is AuditOutcome.DENIED

    # PKU's account sends for the Huailai campus it runs; the platform administrator for any.
    pku = {**bearer(client, "pk_his"), "Content-Type": "application/hl7-v2"}
    campus = post(client, pku, message("ADT^A04", "X2", pid("C-1", facility="PKUPH-HL"),
                                       facility="PKUPH-HL"))
    assert campus.field("MSA", 1) == "AA"
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()
    root = {**bearer(client, "root"), "Content-Type": "application/hl7-v2"}
    assert post(client, root, a04("X3")).field("MSA", 1) == "AA"

    # A facility code nobody has is an application error on MSH-4.
    unknown = post(client, root, a04("X4").replace("|HIS|HLCOUNTY|", "|HIS|NOSUCH|"))
    assert (unknown.field("MSA", 1), unknown.field("ERR", 2)) == ("AE", "MSH^1^4")
    assert unknown.field("ERR", 3).startswith("204^")


def test_merging_needs_an_account_that_may_steward_patients(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    post(client, county_his, a04())
    _register_duplicate(client, county_his, "000456")
    make_user(session, role=Role.CLINICIAN, institution=network.county, username="hl_doctor")
    session.commit()
    doctor = {**bearer(client, "hl_doctor"), "Content-Type": "application/hl7-v2"}

    ack = post(client, doctor, a40("M9", ("000123", "000456")))

    assert (ack.field("MSA", 1), ack.field("ERR", 5)) == ("AR", "forbidden")
    assert "patient.link" in ack.field("ERR", 8)


# ---------------------------------------------------------------- transport


def test_mllp_framing_and_any_line_ends_are_accepted(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    framed = b"\x0b" + a04("F1").replace("\r", "\n").encode() + b"\x1c\r"
    windows = a04("F2", local_id="000124").replace("\r", "\r\n")

    assert post(client, county_his, framed).field("MSA", 1) == "AA"
    assert post(client, county_his, windows).field("MSA", 1) == "AA"
    assert counts(session)[0] == 2


def test_a_gb18030_message_is_read_and_answered_in_gb18030(
    client: TestClient, session: Session, network: Network, county_his: dict[str, str],
) -> None:
    body = message("ADT^A04", "GB1", pid(), charset="GB 18030-2000").encode("gb18030")

    response = client.post(URL, content=body, headers=county_his)

    assert response.headers["content-type"] == "application/hl7-v2; charset=gb18030"
    assert "|GB 18030-2000" in response.content.decode("gb18030")
    assert ack_of(response).field("MSA", 1) == "AA"
    assert record_at(session, network.county, "000123").name == "宋秀兰"


def test_an_unauthenticated_message_is_401_not_an_ack(
    client: TestClient, session: Session, network: Network,
) -> None:
    anonymous = client.post(URL, content=a04().encode(),
                            headers={"Content-Type": "application/hl7-v2"})
    forged = client.post(URL, content=a04().encode(),
                         headers={"Authorization": "Bearer not-a-token"})

    assert anonymous.status_code == 401 and forged.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert counts(session)[0] == 0


def test_a_handler_that_breaks_is_answered_ae_207_and_one_event_has_one_handler(
    session: Session, settings: Settings, network: Network,
) -> None:
    def broken(session: Session, inbound: Inbound) -> Accepted:
        raise RuntimeError("a bug, not the sender's fault")

    handlers = HandlerRegistry([MessageHandler("ADT", "A04", broken)])
    root = Principal(user_id=1, username="root", role=Role.PLATFORM_ADMIN, institution_id=None,
                     institution_ids=frozenset())

    receipt = dispatch(session, settings, root, handlers, body=a04("B1").encode())

    assert receipt.ack is AckCode.ERROR
    assert receipt.error is not None and receipt.error.code is ErrorCode.INTERNAL
    assert receipt.institution_id == network.county.id
    with pytest.raises(ValueError, match="ADT\\^A04"):
        handlers.add(MessageHandler("ADT", "A04", broken))
