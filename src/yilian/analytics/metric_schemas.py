"""API shapes of the metrics beyond volumes: each report carries its definition, the
period it covers, its headline figures and the rows its table and chart show."""

from __future__ import annotations

from decimal import Decimal

from yilian.analytics.schemas import Definition, VolumeReport
from yilian.schemas import ReadModel


class Span(ReadModel):
    """The months a report covers (both included)."""

    period_from: str
    period_to: str


class KeyCount(ReadModel):
    """A count under a key (a kind, a mode, a fund…)."""

    key: str
    count: int
    amount: Decimal | None = None


class OutflowMonthRow(ReadModel):
    """One month of a region's insured admissions: all, those treated outside, the share."""

    month: str
    admissions: int
    outside: int
    outside_percent: Decimal | None


class OutflowSummary(ReadModel):
    """A period of the outflow: totals, monthly mean treated outside, and the share."""

    period_from: str
    period_to: str
    months: int
    admissions: int
    outside: int
    outside_per_month: Decimal
    outside_percent: Decimal | None


class OutflowReport(ReadModel):
    """``GET /api/v1/analytics/outflow``: a region's out-of-region admissions."""

    definition: Definition
    region_code: str
    specialty: str | None
    agreement_code: str | None
    baseline_source: str
    period: OutflowSummary
    baseline: OutflowSummary
    outside_change_percent: Decimal | None  # change of the monthly mean treated outside
    outside_per_month_change: Decimal  # monthly mean outside: period minus baseline
    share_change_points: Decimal | None  # share treated outside: period minus baseline
    months: list[OutflowMonthRow]


class ReferralMonth(ReadModel):
    """Referrals submitted in one month, by direction."""

    month: str
    up: int
    down: int
    lateral: int


class ReferralFlow(ReadModel):
    """Referrals from one institution to another in the period."""

    from_institution_id: int
    from_name: str
    to_institution_id: int
    to_name: str
    direction: str
    count: int


class ReferralReport(Span):
    """``GET /api/v1/analytics/referrals``: directions, down share, response and deadlines."""

    definition: Definition
    up: int
    down: int
    lateral: int
    total: int
    down_percent: Decimal | None
    answered: int
    median_response_minutes: Decimal | None
    with_deadline: int
    overdue: int  # answered late or still unanswered past the deadline
    overdue_percent: Decimal | None
    months: list[ReferralMonth]
    flows: list[ReferralFlow]


class GreenChannelRow(ReadModel):
    """One green-channel interval against its national target."""

    interval: str
    target_minutes: int
    cases: int
    median_minutes: Decimal | None
    within_target: int
    within_target_percent: Decimal | None


class GreenChannelReport(Span):
    """``GET /api/v1/analytics/green-channel``."""

    definition: Definition
    rows: list[GreenChannelRow]


class ConsultationReport(Span):
    """``GET /api/v1/analytics/consultations``."""

    definition: Definition
    total: int
    by_kind: list[KeyCount]
    reported: int
    kept_local: int
    referred_up: int
    kept_local_percent: Decimal | None
    months: list[KeyCount]  # key: the month


class ClinicRow(ReadModel):
    """Visiting-expert clinics and expert days at one institution."""

    institution_id: int
    institution_code: str
    institution_name: str
    booked: int
    attended: int
    noshow: int
    cancelled: int
    expert_days: int


class ClinicReport(Span):
    """``GET /api/v1/analytics/clinics``: booked vs attended, expert days on site."""

    definition: Definition
    booked: int
    attended: int
    noshow: int
    cancelled: int
    attended_percent: Decimal | None  # of the appointments whose day came, not cancelled
    expert_days: int
    expert_days_by_mode: list[KeyCount]
    rows: list[ClinicRow]


class RecognitionRow(ReadModel):
    """Tests avoided and money saved at one ordering institution."""

    institution_id: int
    institution_code: str
    institution_name: str
    tests_avoided: int
    money_saved: Decimal


class RecognitionReport(Span):
    """``GET /api/v1/analytics/recognition``."""

    definition: Definition
    tests_avoided: int
    money_saved: Decimal
    months: list[KeyCount]  # key: the month; amount: money saved
    rows: list[RecognitionRow]


class FundRow(ReadModel):
    """One fund column of the settlement slips at one treating institution."""

    institution_id: int
    institution_code: str
    institution_name: str
    fund: str
    settlements: int
    amount: Decimal


class SettlementReport(Span):
    """``GET /api/v1/analytics/settlement``: totals by fund (net of reversals)."""

    definition: Definition
    settlements: int
    funds: list[KeyCount]  # key: the slip field; amount: yuan
    rows: list[FundRow]


class OverviewReport(Span):
    """``GET /api/v1/analytics/overview``: a region's headline of every metric."""

    region_code: str
    region_name: str
    volumes: VolumeReport
    outflow: OutflowReport
    referrals: ReferralReport
    green_channel: GreenChannelReport
    consultations: ConsultationReport
    clinics: ClinicReport
    recognition: RecognitionReport
    settlement: SettlementReport
