"""Reading ER7 and PID fields, and writing ACKs: worked examples, no database."""

from __future__ import annotations

from datetime import date

import pytest

from yilian.hl7v2.messages import (
    AckCode,
    ErrorCode,
    ErrorLocation,
    Field,
    Hl7Error,
    build_ack,
    decode,
    escape,
    parse,
)
from yilian.patients import hl7 as adt
from yilian.patients.models import InsuranceScheme, Sex

MSH = "MSH|^~\\&|HIS|HLCOUNTY|YILIAN|YILIAN|20240315083000||ADT^A04^ADT_A01|C1|P|2.4"


def field(er7: str) -> Field:
    """One PID field as the parser reads it."""
    pid = parse(f"{MSH}\rPID|{er7}").segment("PID")
    assert pid is not None
    return pid.field(1)


def test_escapes_are_undone_and_null_and_empty_are_told_apart() -> None:
    pid = parse(f"{MSH}\rPID|1||A\\S\\1^^^HLCOUNTY&1.2.156&ISO^PI|\"\"").segment("PID")

    assert pid is not None
    assert pid.value(3) == "A^1"
    assert pid.value(3, 4, subcomponent=2) == "1.2.156"
    assert pid.field(4).is_null and not pid.field(4).is_empty
    assert pid.field(2).is_empty and not pid.field(2).is_null
    assert pid.field(40).is_empty  # beyond the end of the segment
    assert escape("宋|秀^兰&~\\") == "宋\\F\\秀\\S\\兰\\T\\\\R\\\\E\\"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"\x0b" + MSH.encode() + b"\n" + b"PID|1\x1c\r", MSH + "\nPID|1"),
        ("MSH|^~\\&|||||||ADT^A04|C1|P|2.4||||||GB 18030-2000\rPID|1||||宋".encode("gb18030"),
         None),
    ],
)
def test_framing_is_dropped_and_the_declared_character_set_is_used(
    body: bytes, text: str | None
) -> None:
    decoded, codec = decode(body)
    if text is not None:
        assert (decoded, codec) == (text, "utf-8")
    else:
        assert codec == "gb18030" and decoded.endswith("宋")


def test_undeclared_gbk_is_read_as_gb18030() -> None:
    body = f"{MSH}\rPID|1||||宋^秀兰".encode("gbk")

    assert decode(body) == (f"{MSH}\rPID|1||||宋^秀兰", "gb18030")


def test_one_message_per_request() -> None:
    with pytest.raises(Hl7Error) as refused:
        parse(f"{MSH}\rPID|1\r{MSH}\rPID|2")
    assert (refused.value.ack, refused.value.code) == (AckCode.REJECTED, ErrorCode.SEGMENT_SEQUENCE)


@pytest.mark.parametrize(
    ("er7", "name"),
    [
        ("宋^秀兰", "宋秀兰"),
        ("宋秀兰", "宋秀兰"),
        ("欧阳^娜娜", "欧阳娜娜"),
        ("SONG^XIULAN~宋^秀兰^^^^^L", "宋秀兰"),  # the characters win over pinyin
        ("SONG^XIULAN", "SONG XIULAN"),
        ("~宋^秀兰", "宋秀兰"),
    ],
)
def test_names(er7: str, name: str) -> None:
    assert adt.person_name(field(er7)) == name


@pytest.mark.parametrize(
    ("er7", "born"),
    [("19680314", date(1968, 3, 14)), ("196803140830", date(1968, 3, 14)),
     ("19680314083000.0000+0800", date(1968, 3, 14)), ("19680314^D", date(1968, 3, 14))],
)
def test_birth_dates(er7: str, born: date) -> None:
    assert adt.birth_date(field(er7)) == born


@pytest.mark.parametrize("er7", ["1968", "19680230", "1968-03-14"])
def test_a_birth_date_that_is_not_a_date(er7: str) -> None:
    with pytest.raises(adt.Unreadable) as unreadable:
        adt.birth_date(field(er7))
    assert unreadable.value.code is ErrorCode.DATA_TYPE


def test_sex_codes_of_hl7_and_of_gb_t_2261() -> None:
    read = [adt.administrative_sex(field(code)) for code in ("M", "f", "1", "2", "0", "9", "O")]

    assert read == [Sex.MALE, Sex.FEMALE, Sex.MALE, Sex.FEMALE, Sex.UNKNOWN, Sex.UNKNOWN,
                    Sex.OTHER]
    with pytest.raises(adt.Unreadable) as unreadable:
        adt.administrative_sex(field("男"))
    assert unreadable.value.code is ErrorCode.TABLE_VALUE_NOT_FOUND


@pytest.mark.parametrize(
    ("er7", "address"),
    [
        ("沙城镇东大街12号^3单元^张家口市^河北省^075400^CHN^H^^130730",
         "河北省张家口市沙城镇东大街12号3单元"),
        # Written whole in the street: the divisions are not repeated.
        ("河北省张家口市怀来县沙城镇东大街12号^^张家口市^河北省^^CHN^H",
         "河北省张家口市怀来县沙城镇东大街12号"),
        # The county as a name is kept; the business address gives way to the home one.
        ("西城区西直门南大街11号^^北京市^^^CHN^B~沙城镇^^张家口市^河北省^^^H^^怀来县",
         "河北省张家口市怀来县沙城镇"),
    ],
)
def test_addresses_read_largest_division_first(er7: str, address: str) -> None:
    assert adt.address_text(field(er7)) == address


@pytest.mark.parametrize(
    ("er7", "phone"),
    [
        ("^PRN^CP^^^^^^^^^13812345678", "13812345678"),
        ("13812345678", "13812345678"),
        ("^PRN^PH^^^0313^6812345~^PRN^CP^^^^^^^^^13812345678", "13812345678"),
        ("^PRN^PH^^^0313^6812345", "03136812345"),
        ("^NET^Internet^song@example.cn", None),
    ],
)
def test_phones_mobile_first(er7: str, phone: str | None) -> None:
    assert adt.phone_number(field(er7)) == phone


@pytest.mark.parametrize(
    ("er7", "is_resident_id"),
    [
        ("130730196803141234^^^CHN^NNCHN", True),
        ("130730196803141234^^^CHN", True),
        ("130730196803141234^^^公安部居民身份证", True),
        ("130730196803141234^^^^ID", True),
        ("G12345678^^^CHN^PPN", False),  # a passport of China, not a resident ID
        ("RM-2024-001^^^LIS^RI", False),  # an ID of another kind
        ("000123^^^HLCOUNTY^PI", False),
    ],
)
def test_which_identifier_is_the_resident_id(er7: str, is_resident_id: bool) -> None:
    assert adt.is_resident_id(field(er7)) is is_resident_id


@pytest.mark.parametrize(
    ("er7", "local_id"),
    [
        ("130730196803141234^^^CHN^NNCHN~000123^^^HLCOUNTY^PI", "000123"),
        ("JZK88^^^HIS^JZK~000123^^^HLCOUNTY", "000123"),  # assigned by the facility
        ("JZK88^^^HIS^JZK~000123^^^HIS^MR", "000123"),  # else of type MR or PI
        ("000123", "000123"),  # else a bare number
        ("130730196803141234^^^CHN^NNCHN", None),
    ],
)
def test_which_identifier_is_the_local_patient_number(er7: str, local_id: str | None) -> None:
    assert adt.local_patient_number(field(er7), "HLCOUNTY") == local_id


def test_insurance_plan_types_and_regions() -> None:
    assert adt.insurance_scheme(field("职工基本医疗保险")) is InsuranceScheme.EMPLOYEE
    assert adt.insurance_scheme(field("RESIDENT")) is InsuranceScheme.RESIDENT
    assert adt.insurance_scheme(field("商业保险")) is None
    assert adt.insured_region(field("130730^^^HBYB")) == "130730"
    assert adt.insured_region(field("HBYB001")) is None


def test_an_ack_for_garbage_still_names_itself_and_says_why() -> None:
    error = Hl7Error(AckCode.REJECTED, ErrorCode.SEGMENT_SEQUENCE, "消息必须以 MSH 段开头",
                     "A message must begin with MSH", location=ErrorLocation("MSH"))

    msh, msa, err = build_ack(None, error=error, control_id="A1").rstrip("\r").split("\r")

    assert msh.startswith("MSH|^~\\&|YILIAN|YILIAN|||") and "|ACK|A1|P|2.5|" in msh
    assert msa == "MSA|AR|"
    assert err == ("ERR||MSH^1|100^Segment sequence error^HL70357|E||||"
                   "消息必须以 MSH 段开头 / A message must begin with MSH")
