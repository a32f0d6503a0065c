"""The metrics' tables as files (CSV or XLSX): the rows each chart draws, headed in Chinese
and English, with the metric's definition under them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from yilian.analytics.metric_schemas import (
    ClinicReport,
    ConsultationReport,
    GreenChannelReport,
    OutflowReport,
    RecognitionReport,
    ReferralReport,
    SettlementReport,
)
from yilian.analytics.overview import InstitutionReport
from yilian.analytics.schemas import Definition
from yilian.tables import Column, Table


def _columns(*pairs: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(key, zh, key) for key, zh in pairs)


def _table(title: str, columns: Sequence[Column], rows: Sequence[BaseModel],
           definition: Definition) -> Table:
    return Table(title=title, columns=columns, rows=[row.model_dump() for row in rows],
                 definition=f"{definition.zh} / {definition.en}")


def outflow_table(report: OutflowReport) -> Table:
    """Month by month: insured admissions, treated outside, the share."""
    return _table("outflow", _columns(
        ("month", "月份"), ("admissions", "参保患者入院人次"), ("outside", "地区外住院人次"),
        ("outside_percent", "外流占比%")), report.months, report.definition)


def referral_months_table(report: ReferralReport) -> Table:
    """Referrals per month by direction."""
    return _table("referrals", _columns(
        ("month", "月份"), ("up", "上转"), ("down", "下转"), ("lateral", "平转")),
        report.months, report.definition)


def referral_flows_table(report: ReferralReport) -> Table:
    """Referrals between pairs of institutions."""
    return _table("referral_flows", _columns(
        ("from_name", "转出机构"), ("to_name", "转入机构"), ("direction", "方向"),
        ("count", "转诊数")), report.flows, report.definition)


def green_channel_table(report: GreenChannelReport) -> Table:
    """Green-channel intervals against their targets."""
    return _table("green_channel", _columns(
        ("interval", "时间指标"), ("target_minutes", "目标（分钟）"), ("cases", "病例数"),
        ("median_minutes", "中位数（分钟）"), ("within_target", "达标数"),
        ("within_target_percent", "达标率%")), report.rows, report.definition)


def consultation_table(report: ConsultationReport) -> Table:
    """Consultations per month."""
    return _table("consultations", _columns(("key", "月份"), ("count", "会诊数")),
                  report.months, report.definition)


def clinic_table(report: ClinicReport) -> Table:
    """Visiting-expert clinics and expert days per institution."""
    return _table("clinics", _columns(
        ("institution_code", "机构编码"), ("institution_name", "机构"), ("booked", "预约"),
        ("attended", "到诊"), ("noshow", "爽约"), ("cancelled", "取消"),
        ("expert_days", "专家在岗天数")), report.rows, report.definition)


def recognition_table(report: RecognitionReport) -> Table:
    """Tests avoided and money saved per ordering institution."""
    return _table("recognition", _columns(
        ("institution_code", "机构编码"), ("institution_name", "机构"),
        ("tests_avoided", "免检项目数"), ("money_saved", "节省金额（元）")),
        report.rows, report.definition)


def settlement_table(report: SettlementReport) -> Table:
    """Settlement totals by fund per treating institution."""
    return _table("settlement", _columns(
        ("institution_code", "机构编码"), ("institution_name", "机构"), ("fund", "基金"),
        ("settlements", "结算笔数"), ("amount", "金额（元）")), report.rows, report.definition)


def institution_series_table(report: InstitutionReport) -> Table:
    """The institution's months, baseline year then period, by kind."""
    return _table("institution_series", _columns(
        ("month", "月份"), ("kind", "类别"), ("total", "总量"), ("local", "本地参保"),
        ("out_of_region", "异地参保"), ("unknown_region", "参保地未知")),
        [*report.baseline_months, *report.volumes.months], report.volumes.definition)


TABLES: dict[str, Callable[[Any], Table]] = {
    "outflow": outflow_table, "referrals": referral_months_table,
    "referral-flows": referral_flows_table, "green-channel": green_channel_table,
    "consultations": consultation_table, "clinics": clinic_table,
    "recognition": recognition_table, "settlement": settlement_table,
}
