"""The network the results tests run on: the Huailai campus of PKU People's Hospital sends a
CT and a blood panel; the Beijing hospital orders; a Baoding hospital stands outside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.factories import (
    make_agreement,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.patients.models import Person
from yilian.registry.models import AgreementType, Institution
from yilian.results import catalogue
from yilian.results import service as results
from yilian.results.models import HrScope
from yilian.results.recognition import BEIJING
from yilian.results.schemas import QualificationCreate

# When the doctors at PKU People's Hospital order: now (decisions are taken at the present).
TODAY = datetime.now(UTC)


def days_ago(days: int) -> datetime:
    """An instant ``days`` calendar days before TODAY."""
    return TODAY - timedelta(days=days)


def beijing_date(instant: datetime) -> date:
    """The calendar day of an instant in Beijing, as FHIR date searches read a bare date."""
    return instant.astimezone(BEIJING).date()


@dataclass
class Network:
    """The institutions, the patient and the accounts the tests use."""

    pkuph: Institution  # 北京大学人民医院, Beijing
    campus: Institution  # its Huailai campus PKUPH-HL, Hebei
    baoding: Institution  # a Baoding hospital, Hebei, no agreement with either
    zhangjiakou: Institution  # a Zhangjiakou city hospital, in a consortium with the campus
    song: Person


def qualify(session: Session, institution: Institution, scope: HrScope, *,
            item_code: str = "", item_group: str = "", valid_from: date = date(2025, 1, 1),
            valid_to: date = date(2027, 12, 31)) -> None:
    """Give an institution an HR mark."""
    results.create_qualification(session, data=QualificationCreate(
        institution_id=institution.id, item_code=item_code, item_group=item_group, scope=scope,
        valid_from=valid_from, valid_to=valid_to, eqa_reference="京津冀临检中心 2025-EQA"))


@pytest.fixture
def network(session: Session, settings: Settings) -> Network:
    pkuph = make_institution(session, code="PKUPH", name="北京大学人民医院", region_code="110102",
                             level=3)
    campus = make_institution(session, code="PKUPH-HL", name="北京大学人民医院怀来院区",
                              parent_code="PKUPH")
    baoding = make_institution(session, code="BDFIRST", name="保定市第一医院",
                               region_code="130602", level=3)
    zhangjiakou = make_institution(session, code="ZJKFIRST", name="张家口市第一医院",
                                   region_code="130700", level=3)
    make_agreement(session, zhangjiakou, campus, type=AgreementType.CITY_GROUP)
    catalogue.load_jingjinji(session)
    # The campus: CT and haematology marked 医联体HR (its lead hospital and consortium).
    qualify(session, campus, HrScope.CONSORTIUM, item_group="CT")
    qualify(session, campus, HrScope.CONSORTIUM, item_group="HEMATOLOGY")
    # Baoding: lipids only 市HR; CT only for the last five days (its EQA came later).
    qualify(session, baoding, HrScope.CITY, item_code="JJJ-L008")
    qualify(session, baoding, HrScope.NATIONAL, item_group="CT",
            valid_from=(TODAY - timedelta(days=5)).astimezone(BEIJING).date())
    song_id = resident_id_number("130730", date(1962, 3, 14), 123, male=False)
    song = register(session, settings, campus, "HL000123", name="宋桂兰", sex="female",
                    birth_date="1962-03-14", id_number=song_id).person
    for username, institution in (("pk_doctor", pkuph), ("hl_doctor", campus),
                                  ("bd_doctor", baoding)):
        make_user(session, role=Role.CLINICIAN, institution=institution, username=username)
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=campus, username="hl_lis")
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()
    return Network(pkuph, campus, baoding, zhangjiakou, song)
