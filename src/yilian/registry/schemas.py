"""API shapes of the registry."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from yilian.registry.models import (
    AgreementStatus,
    AgreementType,
    EmergencyCentre,
    InstitutionGrade,
    InstitutionKind,
    PartyRole,
    PractitionerRoleKind,
    PractitionerTitle,
    RegionLevel,
)
from yilian.schemas import ReadModel, WriteModel

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
RegionCode = Annotated[str, Field(pattern=r"^[1-9]\d{5}$", description="GB/T 2260 code, 6 digits")]
Level = Annotated[int, Field(ge=1, le=3, description="1 = 一级, 2 = 二级, 3 = 三级")]
Sex = Annotated[str, Field(pattern=r"^(male|female)$")]


class RegionCreate(WriteModel):
    """A GB/T 2260 division."""

    code: RegionCode
    name: str = Field(min_length=1, max_length=64)
    name_en: str = Field(default="", max_length=128)
    level: RegionLevel
    parent_code: RegionCode | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class RegionRead(ReadModel):
    """A GB/T 2260 division."""

    code: str
    name: str
    name_en: str
    level: RegionLevel
    parent_code: str | None
    latitude: float | None
    longitude: float | None


class InstitutionCreate(WriteModel):
    """A new institution of the network."""

    code: Code
    name: str = Field(min_length=1, max_length=128)
    name_en: str = Field(default="", max_length=256)
    region_code: RegionCode
    level: Level
    grade: InstitutionGrade = InstitutionGrade.UNGRADED
    kind: InstitutionKind
    parent_code: Code | None = Field(
        default=None, description="Code of the institution this is a campus of"
    )
    beds: int = Field(default=0, ge=0, le=20000)
    address: str = Field(default="", max_length=256)
    phone: str = Field(default="", max_length=32)
    centres: list[EmergencyCentre] = Field(default_factory=list)

    @field_validator("centres")
    @classmethod
    def _unique_centres(cls, value: list[EmergencyCentre]) -> list[EmergencyCentre]:
        return sorted(set(value))


class InstitutionUpdate(WriteModel):
    """Changes to an institution; fields left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=128)
    name_en: str | None = Field(default=None, max_length=256)
    region_code: RegionCode | None = None
    level: Level | None = None
    grade: InstitutionGrade | None = None
    kind: InstitutionKind | None = None
    parent_code: Code | None = None
    beds: int | None = Field(default=None, ge=0, le=20000)
    address: str | None = Field(default=None, max_length=256)
    phone: str | None = Field(default=None, max_length=32)
    centres: list[EmergencyCentre] | None = None


class InstitutionRead(ReadModel):
    """An institution as the API shows it."""

    id: int
    code: str
    name: str
    name_en: str
    region_code: str
    level: int
    grade: InstitutionGrade
    kind: InstitutionKind
    parent_id: int | None
    beds: int
    address: str
    phone: str
    centres: list[EmergencyCentre] = Field(validation_alias="centre_kinds")


class DepartmentCreate(WriteModel):
    """A new department of an institution."""

    code: Code
    name: str = Field(min_length=1, max_length=64)
    name_en: str = Field(default="", max_length=128)
    specialty: str = Field(min_length=1, max_length=32)
    beds: int = Field(default=0, ge=0, le=5000)


class DepartmentUpdate(WriteModel):
    """Changes to a department; fields left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    name_en: str | None = Field(default=None, max_length=128)
    specialty: str | None = Field(default=None, min_length=1, max_length=32)
    beds: int | None = Field(default=None, ge=0, le=5000)


class DepartmentRead(ReadModel):
    """A department as the API shows it."""

    id: int
    institution_id: int
    code: str
    name: str
    name_en: str
    specialty: str
    beds: int


class PractitionerCreate(WriteModel):
    """A new practitioner, at home in one institution."""

    code: Code
    name: str = Field(min_length=1, max_length=64)
    sex: Sex
    title: PractitionerTitle
    specialty: str = Field(min_length=1, max_length=32)
    institution_code: Code
    department_code: Code | None = None
    license_number: str = Field(default="", max_length=32)


class PractitionerUpdate(WriteModel):
    """Changes to a practitioner; fields left out stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=64)
    title: PractitionerTitle | None = None
    specialty: str | None = Field(default=None, min_length=1, max_length=32)
    department_code: Code | None = None
    license_number: str | None = Field(default=None, max_length=32)


class PractitionerRead(ReadModel):
    """A practitioner as the API shows it."""

    id: int
    code: str
    name: str
    sex: str
    title: PractitionerTitle
    specialty: str
    institution_id: int
    department_id: int | None
    license_number: str


class PractitionerRoleCreate(WriteModel):
    """A role a practitioner takes up at an institution."""

    practitioner_code: Code
    institution_code: Code
    department_code: Code | None = None
    role: PractitionerRoleKind
    start_date: date
    end_date: date | None = None

    @model_validator(mode="after")
    def _dates_ordered(self) -> PractitionerRoleCreate:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("结束日期早于开始日期 / end_date is before start_date")
        return self


class PractitionerRoleRead(ReadModel):
    """A practitioner's role at an institution."""

    id: int
    practitioner_id: int
    institution_id: int
    department_id: int | None
    role: PractitionerRoleKind
    start_date: date
    end_date: date | None


class AgreementPartyIn(WriteModel):
    """An institution bound by an agreement."""

    institution_code: Code
    role: PartyRole
    department_code: Code | None = None


class AgreementPartyRead(ReadModel):
    """An institution bound by an agreement."""

    institution_id: int
    role: PartyRole
    department_id: int | None


class AgreementCreate(WriteModel):
    """A new collaboration agreement."""

    code: Code
    type: AgreementType
    title: str = Field(min_length=1, max_length=256)
    title_en: str = Field(default="", max_length=256)
    specialty: str = Field(default="", max_length=32)
    status: AgreementStatus = AgreementStatus.ACTIVE
    start_date: date
    end_date: date | None = None
    description: str = Field(default="", max_length=4000)
    parties: list[AgreementPartyIn] = Field(min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> AgreementCreate:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("结束日期早于开始日期 / end_date is before start_date")
        if self.status is AgreementStatus.ENDED and self.end_date is None:
            raise ValueError("已终止的协议须有结束日期 / an ended agreement needs an end_date")
        return self


class AgreementUpdate(WriteModel):
    """Changes to an agreement; fields left out stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=256)
    title_en: str | None = Field(default=None, max_length=256)
    specialty: str | None = Field(default=None, max_length=32)
    status: AgreementStatus | None = None
    start_date: date | None = None
    end_date: date | None = None
    description: str | None = Field(default=None, max_length=4000)


class AgreementRead(ReadModel):
    """A collaboration agreement as the API shows it."""

    id: int
    code: str
    type: AgreementType
    title: str
    title_en: str
    specialty: str
    status: AgreementStatus
    start_date: date
    end_date: date | None
    description: str
    parties: list[AgreementPartyRead]
