"""API shapes of the patient index."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

from yilian.patients.models import (
    InsuranceScheme,
    LinkEventKind,
    LinkMethod,
    PersonStatus,
    ReviewStatus,
    Sex,
    SharingReason,
)
from yilian.schemas import ReadModel, WriteModel

RegionCode = Annotated[str, Field(pattern=r"^[1-9]\d{5}$", description="GB/T 2260 code")]
LocalId = Annotated[
    str, Field(min_length=1, max_length=64, description="The institution's own patient number")
]


class RecordFields(WriteModel):
    """What an institution knows about its patient."""

    name: str = Field(default="", max_length=64, description="Name in characters (or pinyin)")
    sex: Sex = Sex.UNKNOWN
    birth_date: date | None = None
    id_number: str | None = Field(
        default=None, max_length=32, description="Resident ID (18 or legacy 15 digits)"
    )
    phone: str | None = Field(default=None, max_length=32)
    address: str = Field(default="", max_length=200)
    insured_region_code: RegionCode | None = None
    insurance_scheme: InsuranceScheme | None = None


class RecordCreate(RecordFields):
    """Register a patient at an institution (the signed-in user's, unless given)."""

    institution_id: int | None = Field(
        default=None, description="Defaults to the signed-in user's institution"
    )
    local_id: LocalId


class RecordUpdate(WriteModel):
    """Change what an institution knows about its patient (absent fields stay)."""

    name: str | None = Field(default=None, max_length=64)
    sex: Sex | None = None
    birth_date: date | None = None
    id_number: str | None = Field(default=None, max_length=32)
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=200)
    insured_region_code: RegionCode | None = None
    insurance_scheme: InsuranceScheme | None = None


class RecordRead(ReadModel):
    """A source record as its institution registered it; the ID number is masked."""

    id: int
    institution_id: int
    local_id: str
    person_id: int
    name: str
    sex: Sex
    birth_date: date | None
    id_number_masked: str
    phone_masked: str = ""
    address: str
    insured_region_code: str | None
    insurance_scheme: InsuranceScheme | None
    flags: list[str]
    superseded_by_id: int | None = None
    link_method: LinkMethod
    match_probability: float | None
    linked_at: datetime


class PersonRead(ReadModel):
    """A person (golden record) with the source records the reader may see."""

    id: int
    status: PersonStatus
    merged_into_id: int | None
    name: str
    sex: Sex
    birth_date: date | None
    records: list[RecordRead]


class PersonSummary(ReadModel):
    """One row of a person search."""

    id: int
    name: str
    sex: Sex
    birth_date: date | None
    record_count: int
    institution_ids: list[int]


class RegistrationRead(ReadModel):
    """What registering a record did: the record, its person and how it was linked."""

    record: RecordRead
    person_id: int
    outcome: LinkMethod
    match_probability: float | None
    review_ids: list[int]


class FieldEvidenceRead(ReadModel):
    """How one field of a pair compared."""

    comparison: str
    level: int
    label: str
    match_weight: float


class ReviewRead(ReadModel):
    """A possible duplicate in the review queue."""

    id: int
    record_id: int
    candidate_record_id: int
    candidate_person_id: int
    match_probability: float
    match_weight: float
    evidence: list[FieldEvidenceRead]
    status: ReviewStatus
    opened_at: datetime
    decided_at: datetime | None
    decided_by: str
    decision_reason: str


class ReviewDetailRead(ReviewRead):
    """A review item with its two records side by side (ID and phone masked)."""

    record: RecordRead
    candidate_record: RecordRead


class ReviewDecision(WriteModel):
    """A reviewer's answer: the same person (merge) or not."""

    same_person: bool
    reason: str = Field(default="", max_length=500)


class MergeRequest(WriteModel):
    """Merge one person into another; the retired person's records move to the survivor."""

    survivor_id: int
    retired_id: int
    reason: str = Field(min_length=1, max_length=500)


class UnmergeRequest(WriteModel):
    """Undo a merge, putting back the records it moved."""

    reason: str = Field(min_length=1, max_length=500)


class DetachRequest(WriteModel):
    """Take a wrongly linked record out of its person, into a new person of its own."""

    reason: str = Field(min_length=1, max_length=500)


class LinkEventRead(ReadModel):
    """One entry in a person's link history."""

    id: int
    kind: LinkEventKind
    person_id: int
    other_person_id: int | None
    record_ids: list[int]
    match_probability: float | None
    actor: str
    reason: str
    reversed_by_id: int | None
    reverses_id: int | None
    created_at: datetime


class ShareCreate(WriteModel):
    """Let another institution see a person's records (with the patient's consent)."""

    institution_id: int
    reason: SharingReason = SharingReason.CONSENT
    source_ref: str = Field(default="", max_length=64)
    expires_at: AwareDatetime | None = Field(
        default=None, description="With a time zone, e.g. 2026-12-31T23:59:59+08:00"
    )


class ShareRead(ReadModel):
    """An institution's right to see a person's records."""

    id: int
    person_id: int
    institution_id: int
    reason: SharingReason
    source_ref: str
    granted_by: str
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class MatchCandidateRead(ReadModel):
    """A person the index thinks an incoming description may be."""

    person: PersonRead
    match_probability: float
    grade: str
