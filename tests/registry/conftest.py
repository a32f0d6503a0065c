"""A small Jing-Jin-Ji network for the registry tests, and its users."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import bearer, make_department, make_institution, make_user
from yilian.auth.models import Role
from yilian.registry.models import (
    Department,
    EmergencyCentre,
    Institution,
    InstitutionGrade,
    InstitutionKind,
)


@dataclass
class Network:
    """Beijing and Hebei hospitals, a campus, departments and one user per kind of actor."""

    pku: Institution  # PKU People's Hospital, Beijing, level 3 甲
    huailai: Institution  # its Huailai campus (parent: pku), Hebei county
    baoding: Institution  # Baoding No.1 Central Hospital, level 3 甲, Hebei
    children: Institution  # Baoding children's hospital, level 3 乙
    county: Institution  # a level 2 county hospital in Huailai
    township: Institution  # a township health centre in Huailai
    pku_cardiology: Department
    huailai_cardiology: Department
    baoding_cardiology: Department


@pytest.fixture
def network(session: Session) -> Network:
    """The network, committed (users are made on first use by ``as_user``)."""
    pku = make_institution(session, code="PKUPH", name="北京大学人民医院", region_code="110102",
                           level=3, centres=[EmergencyCentre.CHEST_PAIN, EmergencyCentre.STROKE])
    huailai = make_institution(session, code="PKUPH-HL", name="北京大学人民医院怀来院区",
                               region_code="130730", level=2, parent_code="PKUPH")
    baoding = make_institution(session, code="BDFIRST", name="保定市第一中心医院",
                               region_code="130602", level=3,
                               centres=[EmergencyCentre.CHEST_PAIN])
    children = make_institution(session, code="BDCH", name="保定市儿童医院",
                                region_code="130602", level=3, grade=InstitutionGrade.B,
                                kind=InstitutionKind.CHILDREN_HOSPITAL)
    county = make_institution(session, code="HLCOUNTY", name="怀来县医院", level=2)
    township = make_institution(session, code="HL-SHACHENG", name="沙城镇卫生院", level=1,
                                grade=InstitutionGrade.UNGRADED,
                                kind=InstitutionKind.TOWNSHIP_HEALTH_CENTRE)
    made = Network(
        pku=pku, huailai=huailai, baoding=baoding, children=children, county=county,
        township=township,
        pku_cardiology=make_department(session, pku),
        huailai_cardiology=make_department(session, huailai),
        baoding_cardiology=make_department(session, baoding),
    )
    session.commit()
    return made


# The users of the network: role and the Network attribute of their institution.
USERS: dict[str, tuple[Role, str | None]] = {
    "root": (Role.PLATFORM_ADMIN, None),
    "analyst": (Role.COMMISSION_ANALYST, None),
    "pku_admin": (Role.HOSPITAL_ADMIN, "pku"),
    "bd_admin": (Role.HOSPITAL_ADMIN, "baoding"),
    "bd_doctor": (Role.CLINICIAN, "baoding"),
}


@pytest.fixture
def as_user(
    client: TestClient, session: Session, network: Network
) -> dict[str, dict[str, str]]:
    """Bearer headers by username (see USERS); each user is made and signed in on first use,
    since password hashing is most of a test's set-up time."""

    class Headers(dict[str, dict[str, str]]):
        def __missing__(self, username: str) -> dict[str, str]:
            role, where = USERS[username]
            institution = getattr(network, where) if where else None
            make_user(session, role=role, institution=institution, username=username)
            session.commit()
            self[username] = bearer(client, username)
            return self[username]

    return Headers()

