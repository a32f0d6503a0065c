"""API shapes of analytics: an encounter as intake takes it and as reads return it, and the
volume metric's answer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field, model_validator

from yilian.analytics.models import EncounterKind, EncounterStatus, PatientOrigin, VolumeKind
from yilian.schemas import ReadModel, WriteModel

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class EncounterCreate(WriteModel):
    """One encounter from any channel (FHIR, HL7 v2, CSV), in the platform's terms."""

    resource_type: str = "Encounter"  # Encounter | Procedure: the sender's id space
    source_id: str = Field(min_length=1, max_length=64)
    kind: EncounterKind
    status: EncounterStatus = EncounterStatus.FINISHED
    person_id: int
    institution_id: int
    department_id: int | None = None
    started_at: datetime
    ended_at: datetime | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> EncounterCreate:
        if self.started_at.tzinfo is None or (
                self.ended_at is not None and self.ended_at.tzinfo is None):
            raise ValueError("时间须带时区 / times need a UTC offset")
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("结束时间早于开始时间 / ended_at is before started_at")
        return self


class EncounterRead(ReadModel):
    """A stored encounter."""

    id: int
    resource_type: str
    source_id: str
    kind: EncounterKind
    status: EncounterStatus
    person_id: int
    institution_id: int
    department_id: int | None
    started_at: datetime
    ended_at: datetime | None
    insured_region_code: str | None
    residence_region_code: str | None
    origin: PatientOrigin


class Definition(ReadModel):
    """What a metric counts, shown beside it."""

    code: str
    zh: str
    en: str


class VolumeRow(ReadModel):
    """One institution's (or department's) volume of one kind: period against baseline."""

    institution_id: int
    institution_code: str
    institution_name: str
    department_id: int | None = None
    kind: VolumeKind
    period_from: str
    period_to: str
    period_total: int
    local: int
    out_of_region: int
    unknown_region: int
    baseline_from: str | None = None
    baseline_to: str | None = None
    baseline_total: int | None = None
    baseline_source: str = ""  # the agreement whose start fixed the baseline, or "explicit"
    ratio: Decimal | None = None  # monthly mean of the period / monthly mean of the baseline


class VolumeMonthRead(ReadModel):
    """One month of the series behind a row."""

    institution_id: int
    department_id: int | None
    kind: VolumeKind
    month: str
    total: int
    local: int
    out_of_region: int
    unknown_region: int


class VolumeReport(ReadModel):
    """``GET /api/v1/analytics/volumes``: the definition, the rows and their months."""

    definition: Definition
    rows: list[VolumeRow]
    months: list[VolumeMonthRead]
