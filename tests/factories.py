"""Factories for test data, built through the real services."""

from __future__ import annotations

from datetime import date
from itertools import count

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from yilian.auth import service as users
from yilian.auth.models import Role, User
from yilian.config import Settings
from yilian.patients.service import Registration
from yilian.registry import agreements as agreement_service
from yilian.registry import service as registry
from yilian.registry.models import (
    Agreement,
    AgreementType,
    Department,
    EmergencyCentre,
    Institution,
    InstitutionGrade,
    InstitutionKind,
    PartyRole,
    Region,
    RegionLevel,
)
from yilian.registry.schemas import (
    AgreementCreate,
    AgreementPartyIn,
    DepartmentCreate,
    InstitutionCreate,
    RegionCreate,
)

PASSWORD = "Passw0rd!test"
_sequence = count(1)

# A small slice of GB/T 2260: Beijing, Hebei, Zhangjiakou, Huailai, Baoding.
REGIONS: list[tuple[str, str, str, RegionLevel, str | None]] = [
    ("110000", "北京市", "Beijing", RegionLevel.PROVINCE, None),
    ("110100", "市辖区", "Beijing districts", RegionLevel.CITY, "110000"),
    ("110102", "西城区", "Xicheng", RegionLevel.COUNTY, "110100"),
    ("130000", "河北省", "Hebei", RegionLevel.PROVINCE, None),
    ("130600", "保定市", "Baoding", RegionLevel.CITY, "130000"),
    ("130602", "竞秀区", "Jingxiu", RegionLevel.COUNTY, "130600"),
    ("130700", "张家口市", "Zhangjiakou", RegionLevel.CITY, "130000"),
    ("130730", "怀来县", "Huailai", RegionLevel.COUNTY, "130700"),
]


def make_regions(session: Session) -> list[Region]:
    """The regions the tests use."""
    made = []
    for code, name, name_en, level, parent in REGIONS:
        found = registry.get_region(session, code=code)
        made.append(
            found
            or registry.create_region(
                session,
                data=RegionCreate(code=code, name=name, name_en=name_en, level=level,
                                  parent_code=parent),
            )
        )
    return made


def make_institution(
    session: Session,
    *,
    code: str | None = None,
    name: str | None = None,
    region_code: str = "130730",
    level: int = 2,
    grade: InstitutionGrade = InstitutionGrade.A,
    kind: InstitutionKind = InstitutionKind.GENERAL_HOSPITAL,
    parent_code: str | None = None,
    centres: list[EmergencyCentre] | None = None,
) -> Institution:
    """An institution (regions are created when missing)."""
    make_regions(session)
    number = next(_sequence)
    return registry.create_institution(
        session,
        data=InstitutionCreate(
            code=code or f"INST{number:04d}",
            name=name or f"测试医院{number}",
            name_en=f"Test Hospital {number}",
            region_code=region_code,
            level=level,
            grade=grade,
            kind=kind,
            parent_code=parent_code,
            beds=100,
            centres=centres or [],
        ),
    )


def make_department(
    session: Session, institution: Institution, *, code: str = "CARD", specialty: str = "cardiology"
) -> Department:
    """A department of the institution."""
    return registry.create_department(
        session,
        institution=institution,
        data=DepartmentCreate(code=code, name="心血管内科", name_en="Cardiology",
                              specialty=specialty, beds=40),
    )


def make_agreement(
    session: Session,
    lead: Institution,
    member: Institution,
    *,
    type: AgreementType = AgreementType.TRUSTEESHIP,
    start: date = date(2022, 7, 1),
) -> Agreement:
    """An agreement between two institutions."""
    number = next(_sequence)
    return agreement_service.create_agreement(
        session,
        data=AgreementCreate(
            code=f"AGR{number:04d}",
            type=type,
            title=f"测试协议{number}",
            start_date=start,
            parties=[
                AgreementPartyIn(institution_code=lead.code, role=PartyRole.LEAD),
                AgreementPartyIn(institution_code=member.code, role=PartyRole.MEMBER),
            ],
        ),
    )


def make_user(
    session: Session,
    *,
    role: Role,
    institution: Institution | None = None,
    username: str | None = None,
) -> User:
    """A user with the shared test password."""
    return users.create(
        session,
        username=username or f"{role.value}{next(_sequence)}",
        password=PASSWORD,
        role=role,
        institution_code=institution.code if institution else None,
    )


def bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Authorization header of a freshly issued token."""
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def resident_id_number(region: str, born: date, sequence: int, *, male: bool) -> str:
    """A valid 18-digit resident ID (sequence parity follows the sex)."""
    from yilian.patients.resident_id import check_digit

    last = sequence % 10
    if (last % 2 == 1) != male:
        last = (last + 1) % 10
    first17 = f"{region}{born:%Y%m%d}{sequence // 10 % 100:02d}{last}"
    return first17 + check_digit(first17)


def register(
    session: Session,
    settings: Settings,
    institution: Institution,
    local_id: str,
    **fields: object,
) -> Registration:
    """Register a patient record at an institution through the patient index."""
    from yilian.patients import service as patients
    from yilian.patients.schemas import RecordCreate

    data = RecordCreate.model_validate(
        {"institution_id": institution.id, "local_id": local_id, **fields}
    )
    return patients.register_record(session, settings, None, data=data)
