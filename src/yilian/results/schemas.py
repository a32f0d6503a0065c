"""API shapes of shared results and mutual recognition."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, Field, field_validator, model_validator

from yilian.results.models import (
    AbnormalFlag,
    Decision,
    HrScope,
    ItemCategory,
    Refusal,
    ReportStatus,
    RetestReason,
)
from yilian.schemas import ReadModel, WriteModel

ItemCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")]


class ItemCreate(WriteModel):
    """One catalogue row as the region keeps it."""

    code: ItemCode
    name: str = Field(min_length=1, max_length=64)
    name_en: str = Field(default="", max_length=128)
    category: ItemCategory
    item_group: str = Field(default="", max_length=32)
    loinc: str = Field(default="", max_length=16, pattern=r"^(\d{1,7}-\d)?$")
    specimen: str = Field(default="", max_length=32)
    modality: str = Field(default="", max_length=16)
    body_site: str = Field(default="", max_length=32)
    validity_days: int = Field(ge=0, le=36500)
    price: Decimal = Field(ge=0, max_digits=10, decimal_places=2)
    scopes: list[HrScope] = Field(min_length=1)

    @field_validator("scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", "|").split("|") if part.strip()]
        return value

    @model_validator(mode="after")
    def _exam_has_modality(self) -> ItemCreate:
        if self.category is ItemCategory.EXAM and not self.modality:
            raise ValueError("检查项目须填写设备类型 / an exam item needs its modality (CT, MR…)")
        if self.category is ItemCategory.LAB and not self.specimen:
            raise ValueError("检验项目须填写标本类型 / a lab item needs its specimen (血清, 全血…)")
        return self


class ItemRead(ReadModel):
    """A catalogue item."""

    code: str
    name: str
    name_en: str
    category: ItemCategory
    item_group: str
    loinc: str
    specimen: str
    modality: str
    body_site: str
    validity_days: int
    price: Decimal
    scopes: str


class QualificationCreate(WriteModel):
    """An HR mark from an EQA result: for one item, or for a whole item group."""

    institution_id: int
    item_code: str = Field(default="", max_length=32)
    item_group: str = Field(default="", max_length=32)
    scope: HrScope
    valid_from: date
    valid_to: date
    eqa_reference: str = Field(default="", max_length=128)

    @model_validator(mode="after")
    def _one_target(self) -> QualificationCreate:
        if bool(self.item_code) == bool(self.item_group):
            raise ValueError("须填项目编码或项目组之一 / give an item code or an item group")
        if self.valid_to < self.valid_from:
            raise ValueError("有效期止早于有效期起 / valid_to is before valid_from")
        return self


class QualificationRead(ReadModel):
    """An HR mark."""

    id: int
    institution_id: int
    item_code: str
    item_group: str
    scope: HrScope
    valid_from: date
    valid_to: date
    eqa_reference: str


class ObservationIn(WriteModel):
    """One lab value as a sender reports it."""

    code: str = Field(min_length=1, max_length=32)
    code_system: str = Field(default="", max_length=16)
    name: str = Field(default="", max_length=64)
    value: str = Field(default="", max_length=256)
    unit: str = Field(default="", max_length=32)
    reference_range: str = Field(default="", max_length=64)
    abnormal_flag: AbnormalFlag | None = None


class ImagingStudyIn(WriteModel):
    """The images of an exam."""

    study_uid: str = Field(min_length=1, max_length=64, pattern=r"^[0-9]+(\.[0-9]+)*$")
    modality: str = Field(default="", max_length=16)
    body_site: str = Field(default="", max_length=32)
    viewer_url: str = Field(default="", max_length=512)


class ReportCreate(WriteModel):
    """A result as it arrives (HL7 ORU, FHIR DiagnosticReport or the API)."""

    person_id: int
    institution_id: int
    department_name: str = Field(default="", max_length=64)
    item_code: str = Field(min_length=1, max_length=32)
    accession: str = Field(default="", max_length=64)
    performed_at: AwareDatetime
    status: ReportStatus = ReportStatus.FINAL
    conclusion: str = Field(default="", max_length=20000)
    observations: list[ObservationIn] = Field(default_factory=list)
    imaging_studies: list[ImagingStudyIn] = Field(default_factory=list)


class ObservationRead(ReadModel):
    """A lab value."""

    code: str
    code_system: str
    name: str
    value: str
    unit: str
    reference_range: str
    abnormal_flag: AbnormalFlag | None


class ImagingStudyRead(ReadModel):
    """The images of an exam."""

    study_uid: str
    modality: str
    body_site: str
    viewer_url: str


class ReportRead(ReadModel):
    """A result."""

    id: int
    person_id: int
    institution_id: int
    department_name: str
    item_code: str
    category: ItemCategory
    accession: str
    performed_at: datetime
    status: ReportStatus
    conclusion: str
    supersedes_id: int | None
    observations: list[ObservationRead]
    imaging_studies: list[ImagingStudyRead]


class CheckRequest(WriteModel):
    """Before ordering: does the patient already hold recognisable results of these items?"""

    person_id: int
    ordering_institution_id: int
    item_codes: list[ItemCode] = Field(min_length=1, max_length=50)
    at: AwareDatetime | None = None  # default: now


class HeldResult(ReadModel):
    """A held result and what the rules say about it."""

    report_id: int
    institution_id: int
    performed_at: datetime
    age_days: int
    validity_days: int
    days_left: int
    hr_scope: HrScope | None
    recognisable: bool
    refusal: Refusal | None
    explanation_zh: str
    explanation_en: str
    conclusion: str  # shown for information; never counts as recognised


class ItemCheck(ReadModel):
    """The answer for one item: recognisable results (newest first) or why none."""

    item_code: str
    item_name: str
    recognisable: list[HeldResult]
    refused: list[HeldResult]
    refusal: Refusal | None  # why nothing is recognisable (None when something is)
    explanation_zh: str
    explanation_en: str


class CheckRead(ReadModel):
    """The whole answer."""

    person_id: int
    ordering_institution_id: int
    at: datetime
    items: list[ItemCheck]


class DecisionCreate(WriteModel):
    """Accept a recognisable result, or order the item again with a coded reason."""

    person_id: int
    ordering_institution_id: int
    item_code: ItemCode
    decision: Decision
    report_id: int | None = None  # the recognised result, for an acceptance
    reason: RetestReason | None = None
    reason_text: str = Field(default="", max_length=500)


class DecisionRead(ReadModel):
    """A recorded decision."""

    id: int
    person_id: int
    ordering_institution_id: int
    item_code: str
    decision: Decision
    report_id: int | None
    reason: RetestReason | None
    reason_text: str
    decided_by: str
    decided_at: datetime


class SavingsTotal(ReadModel):
    """Avoided tests and money saved for one institution, item and month."""

    institution_id: int
    item_code: str
    month: str
    tests_avoided: int
    amount: Decimal
