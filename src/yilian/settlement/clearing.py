"""清算: per insured region's fund and month, what it owes each treatment institution.

Computed in SQL from the settled (not reversed) slips of the month they were settled in, so
the totals are exactly the sum of those slips. A reversal takes its settlement out of the
month it was settled in (no cross-month adjustment rows yet).
"""

from __future__ import annotations

import csv
import enum
import io
from decimal import Decimal

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Principal
from yilian.registry.models import Institution
from yilian.settlement.engine import region_prefix
from yilian.settlement.models import Settlement, SettlementStatus
from yilian.settlement.schemas import ClearingRow

AMOUNTS = ("medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt",
           "psn_part_amt")
HEADERS = (
    ("fund_region_code", "统筹区"), ("month", "月份"), ("institution_code", "机构编码"),
    ("institution_name", "机构名称"), ("settlements", "结算笔数"),
    ("medfee_sumamt", "医疗费总额"), ("hifp_pay", "统筹基金支付"),
    ("hifmi_pay", "大病保险支付"), ("maf_pay", "医疗救助支付"),
    ("fund_pay_sumamt", "基金支付合计"),
    ("psn_part_amt", "个人负担"),
)


class ExportFormat(enum.StrEnum):
    """File formats of the clearing export."""

    CSV = "csv"
    XLSX = "xlsx"


def report(
    session: Session, *, principal: Principal, month: str, insured_region: str | None = None
) -> list[ClearingRow]:
    """The month's clearing rows the principal may see (clerks: their own institutions)."""
    statement = (
        select(Settlement.fund_region_code, Institution.id, Institution.code, Institution.name,
               func.count(Settlement.id),
               *(func.sum(getattr(Settlement, name)) for name in AMOUNTS))
        .join(Institution, Institution.id == Settlement.institution_id)
        .where(Settlement.settled_month == month,
               Settlement.status == SettlementStatus.SETTLED)
        .group_by(Settlement.fund_region_code, Institution.id, Institution.code,
                  Institution.name)
        .order_by(Settlement.fund_region_code, Institution.code)
    )
    if not principal.is_network_wide:
        statement = statement.where(Settlement.institution_id.in_(principal.institution_ids))
    if insured_region:
        statement = statement.where(
            Settlement.fund_region_code.startswith(region_prefix(insured_region)))
    rows = [
        ClearingRow(
            fund_region_code=fund, month=month, institution_id=institution_id,
            institution_code=code, institution_name=name, settlements=count,
            **{key: Decimal(value).quantize(Decimal("0.01")) for key, value in
               zip(AMOUNTS, amounts, strict=True)},
        )
        for fund, institution_id, code, name, count, *amounts in session.execute(statement)
    ]
    audit.record(session, action="settlement.clearing", entity_type="settlement",
                 institution_id=principal.institution_id,
                 detail={"month": month, "insured_region": insured_region, "rows": len(rows)})
    return rows


def _cells(row: ClearingRow) -> list[object]:
    return [getattr(row, key) for key, _ in HEADERS]


def export(rows: list[ClearingRow], fmt: ExportFormat) -> tuple[bytes, str]:
    """The rows as a file: UTF-8 CSV with a BOM (Excel-friendly) or XLSX, with a total row."""
    header = [f"{zh} {key}" for key, zh in HEADERS]
    totals: list[object] = ["合计 total", "", "", "", sum(row.settlements for row in rows)]
    totals += [sum((getattr(row, key) for row in rows), Decimal("0.00")) for key in AMOUNTS]
    if fmt is ExportFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([_cells(row) for row in rows])
        writer.writerow(totals)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8"), "text/csv; charset=utf-8"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "清算 clearing"
    sheet.append(header)
    for row in rows:  # openpyxl writes Decimal cells as numbers, exactly
        sheet.append(_cells(row))
    sheet.append(totals)
    for column in "FGHIJK":
        for cell in sheet[column][1:]:
            cell.number_format = "#,##0.00"
    out = io.BytesIO()
    book.save(out)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return out.getvalue(), media
