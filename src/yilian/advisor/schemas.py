"""API shapes of the where-to-go advisor: what is asked (a patient and a need, the weights)
and the explained ranking it answers with. Money leaves as Decimal strings, to the fen."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, model_validator

from yilian.referrals.models import Urgency
from yilian.registry.models import EmergencyCentre
from yilian.schemas import ReadModel, WriteModel
from yilian.settlement.engine import Filing
from yilian.settlement.schemas import BillLineIn

ICD10 = r"^[A-Za-z]\d{2}(\.\w{1,4})?$"
Weight = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class CareKind(enum.StrEnum):
    """What the patient needs: a clinic visit or an admission."""

    OUTPATIENT = "outpatient"  # 门诊
    INPATIENT = "inpatient"  # 住院


class Factor(enum.StrEnum):
    """What a candidate is ranked on."""

    COST = "cost"  # 预计个人负担
    WAIT = "wait"  # 最早号源
    RESULTS = "results"  # 可互认结果
    DISTANCE = "distance"  # 路程


class RankMode(enum.StrEnum):
    """How the candidates were ordered."""

    WEIGHTED = "weighted"  # 加权排序
    NEAREST_CENTRE = "nearest_centre"  # 绿色通道：最近的具备资质的中心


class BillSource(enum.StrEnum):
    """Where the bill each candidate's cost is estimated on comes from."""

    PLANNED = "planned"  # 经办人给出的拟结算费用
    INSTITUTION = "institution"  # 该机构本病种已结算账单的中位数
    LEVEL = "level"  # 同级机构本病种已结算账单的中位数
    NETWORK = "network"  # 全网本病种已结算账单的中位数 (no bill at this level)
    VISIT_FEE = "visit_fee"  # 门诊：就医地目录的普通门诊诊查费


class Weights(WriteModel):
    """How much each factor counts (any non-negative numbers; they are used as shares)."""

    cost: Weight = 40
    wait: Weight = 25
    results: Weight = 15
    distance: Weight = 20

    @model_validator(mode="after")
    def _not_all_zero(self) -> Weights:
        if self.cost + self.wait + self.results + self.distance <= 0:
            raise ValueError("至少一项权重须大于零 / at least one weight must be above zero")
        return self

    def of(self, factor: Factor) -> float:
        """The weight of one factor."""
        return float(getattr(self, factor.value))


class RankRequest(WriteModel):
    """A patient and a need: where should they go?"""

    person_id: int | None = None
    patient_record_id: int | None = None
    specialty: Annotated[str | None, Field(min_length=1, max_length=32)] = None
    practitioner_id: int | None = None
    kind: CareKind = CareKind.OUTPATIENT
    urgency: Urgency = Urgency.ROUTINE
    green_channel: EmergencyCentre | None = None
    diagnosis_code: Annotated[str | None, Field(pattern=ICD10, max_length=16)] = None
    lines: Annotated[list[BillLineIn] | None, Field(max_length=2000)] = None
    filing: Filing | None = None
    weights: Weights = Weights()
    exclude_institution_ids: Annotated[list[int], Field(default_factory=list, max_length=100)]
    limit: Annotated[int, Field(ge=1, le=50)] = 10

    @model_validator(mode="after")
    def _one_patient_and_a_need(self) -> RankRequest:
        if (self.person_id is None) == (self.patient_record_id is None):
            raise ValueError("请给出患者编号或患者记录编号（二选一） / "
                             "give person_id or patient_record_id, one of them")
        if self.specialty is None and self.practitioner_id is None and self.green_channel is None:
            raise ValueError("请给出专科、专家或绿色通道 / "
                             "give a specialty, an expert or a green channel")
        if self.lines is not None and not self.lines:
            raise ValueError("拟结算费用至少一行 / a planned bill needs at least one line")
        return self

    @property
    def diagnosis_group(self) -> str | None:
        """The ICD-10 category (``I25``) typical bills are grouped by."""
        return self.diagnosis_code[:3].upper() if self.diagnosis_code else None


class BillLineRead(ReadModel):
    """A line of the bill a cost was estimated on."""

    code: str
    qty: Decimal
    unit_price: Decimal


class CostRead(ReadModel):
    """The settlement engine's estimate at one candidate, on the patient's own coverage."""

    bill_source: BillSource
    bill_settlements: int = 0  # how many settled bills the typical bill is the median of
    medfee_sumamt: Decimal  # 医疗费总额
    fulamt_ownpay_amt: Decimal  # 全自费
    overlmt_selfpay: Decimal  # 超限价自付
    preselfpay_amt: Decimal  # 乙类先行自付
    act_pay_dedc: Decimal  # 起付线
    hifp_pay: Decimal  # 统筹基金
    hifmi_pay: Decimal  # 大病保险
    maf_pay: Decimal  # 医疗救助
    fund_pay_sumamt: Decimal  # 基金支付合计
    psn_part_amt: Decimal  # 个人负担 (the out-of-pocket the ranking uses)
    psn_cash_pay: Decimal  # 现金支付
    difference_to_cheapest: Decimal  # psn_part_amt above the cheapest candidate's
    filing: Filing
    out_of_region: bool
    policy_version: str
    catalogue_version: str
    lines: list[BillLineRead]


class SlotRead(ReadModel):
    """The earliest free clinic slot with a suitable expert."""

    slot_id: int
    start_at: datetime
    practitioner_id: int
    practitioner_name: str
    department_id: int
    clinic_institution_id: int


class FactorRead(ReadModel):
    """One factor of a candidate: the raw value, its score from 0 to 1, and its weight."""

    factor: Factor
    raw: str  # the value as measured: yuan, hours, results, km ("" when unknown)
    score: float  # 1 = best of the candidates, 0 = worst or unknown
    weight: float  # the share of the total this factor carries (weights sum to 1)
    contribution: float  # score × weight
    note_zh: str
    note_en: str


class OptionRead(ReadModel):
    """One candidate place, with every factor shown."""

    rank: int
    institution_id: int
    institution_code: str
    institution_name: str
    institution_name_en: str
    level: int
    grade: str
    region_code: str
    centres: list[EmergencyCentre]
    department_id: int | None
    department_name: str
    department_name_en: str
    cost: CostRead | None
    earliest_slot: SlotRead | None
    recognisable_results: int
    distance_km: float | None
    factors: list[FactorRead]
    total_score: float
    cheapest: bool
    soonest: bool
    nearest: bool
    explanation_zh: str
    explanation_en: str


class RankRead(ReadModel):
    """The explained ranking."""

    person_id: int
    mode: RankMode
    kind: CareKind
    urgency: Urgency
    specialty: str | None
    practitioner_id: int | None
    green_channel: EmergencyCentre | None
    diagnosis_group: str | None
    home_region_code: str
    home_region_name: str
    weights: Weights
    options: list[OptionRead]
    cheapest_institution_id: int | None
    soonest_institution_id: int | None
    nearest_institution_id: int | None
    explanation_zh: str
    explanation_en: str
