"""The network the analytics tests run on: Beijing Children's Hospital trustees its Baoding
hospital from 2022-07-01 (so the baseline year is 2021-07 … 2022-06); a Huailai hospital
stands outside; three patients of the Baoding hospital: insured in Baoding (local), in
Beijing (out of region) and with no insured region recorded (unknown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import (
    make_agreement,
    make_department,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.registry.models import AgreementType, Department, Institution

HL7 = "/hl7/v2"
TRUSTEESHIP_START = date(2022, 7, 1)


@dataclass
class Network:
    """Institutions, department and patients (person ids) of the tests."""

    bch: Institution  # 北京儿童医院, Beijing
    baoding: Institution  # 北京儿童医院保定医院, Baoding 竞秀区
    huailai: Institution  # 怀来县医院, Zhangjiakou
    paediatrics: Department  # the Baoding hospital's 儿科 PED
    local: int  # person insured in Baoding (130600)
    beijing: int  # person insured in Beijing (110000)
    unknown: int  # person without an insured region


@pytest.fixture
def network(session: Session, settings: Settings) -> Network:
    bch = make_institution(session, code="BCH", name="首都医科大学附属北京儿童医院",
                           region_code="110102", level=3)
    baoding = make_institution(session, code="BCHBD", name="北京儿童医院保定医院",
                               region_code="130602", level=3)
    huailai = make_institution(session, code="HLXYY", name="怀来县医院", region_code="130730")
    commission = make_institution(session, code="BDWJW", name="保定市卫生健康委员会",
                                  region_code="130600")
    paediatrics = make_department(session, baoding, code="PED", specialty="paediatrics")
    make_agreement(session, bch, baoding, type=AgreementType.TRUSTEESHIP, start=TRUSTEESHIP_START)
    local = register(session, settings, baoding, "BD0001", name="王小明", sex="male",
                     birth_date="2015-05-01", insured_region_code="130600",
                     id_number=resident_id_number("130602", date(2015, 5, 1), 11, male=True))
    beijing = register(session, settings, baoding, "BD0002", name="李小红", sex="female",
                       birth_date="2016-02-02", insured_region_code="110000")
    unknown = register(session, settings, baoding, "BD0003", name="赵小刚", sex="male",
                       birth_date="2017-03-03")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=baoding, username="bd_his")
    make_user(session, role=Role.CLINICIAN, institution=baoding, username="bd_doctor")
    make_user(session, role=Role.INSURANCE_CLERK, institution=baoding, username="bd_clerk")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=huailai, username="hl_admin")
    make_user(session, role=Role.COMMISSION_ANALYST, username="analyst")
    analyst_bd = make_user(session, role=Role.COMMISSION_ANALYST, username="analyst_bd")
    analyst_bd.institution_id = commission.id  # the analyst watches the commission's city
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()
    return Network(bch, baoding, huailai, paediatrics, local.person.id, beijing.person.id,
                   unknown.person.id)


def hl7_headers(client: TestClient, username: str = "bd_his") -> dict[str, str]:
    """Bearer token and the HL7 v2 media type."""
    from tests.factories import bearer

    return {**bearer(client, username), "Content-Type": "application/hl7-v2"}


def adt(event: str, control_id: str, *, patient: str = "BD0001", patient_class: str = "",
        department: str = "PED", visit: str = "", admitted: str = "", discharged: str = "",
        facility: str = "BCHBD", pv1: bool = True) -> str:
    """An ADT message of the Baoding hospital's HIS with PID and (unless pv1=False) PV1."""
    segments = [
        f"MSH|^~\\&|HIS|{facility}|YILIAN|YILIAN|20240105083000||ADT^{event}|{control_id}|P|2.5",
        f"EVN|{event}|20240105083000",
        f"PID|1||{patient}^^^{facility}^PI",
    ]
    if pv1:
        fields = [""] * 46
        fields[0], fields[1], fields[2] = "PV1", "1", patient_class
        fields[3], fields[19], fields[44], fields[45] = department, visit, admitted, discharged
        segments.append("|".join(fields).rstrip("|"))
    return "\r".join(segments) + "\r"


def msa(text: str) -> list[str]:
    """MSA-1, MSA-2 and the ERR-8 text of an ACK."""
    fields = {line.split("|")[0]: line.split("|") for line in text.split("\r") if line}
    return [fields["MSA"][1], fields["MSA"][2], fields.get("ERR", [""] * 9)[8]]
