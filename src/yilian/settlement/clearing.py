"""清算: per insured region's fund and month, what it owes each treatment institution.

Computed in SQL from the slips of the month they were settled in. A month that may already
be paid is never rewritten: a reversal in the month of its settlement takes the settlement
out of that month, but a reversal in a later month leaves the earlier month as it was and
appears in the later month's clearing as a negative adjustment line (per fund, institution
and the month it adjusts). The totals are exactly the sum of the slips and adjustments.
"""

from __future__ import annotations

import csv
import enum
import io
from decimal import Decimal

from openpyxl import Workbook
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Principal
from yilian.registry.models import Institution
from yilian.settlement.engine import region_prefix
from yilian.settlement.models import Settlement, SettlementStatus
from yilian.settlement.schemas import ClearingLine, ClearingRow

AMOUNTS = ("medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt",
           "psn_part_amt")
HEADERS = (
    ("fund_region_code", "统筹区"), ("month", "月份"), ("institution_code", "机构编码"),
    ("institution_name", "机构名称"), ("line", "类型"), ("adjusts_month", "调整月份"),
    ("settlements", "结算笔数"),
    ("medfee_sumamt", "医疗费总额"), ("hifp_pay", "统筹基金支付"),
    ("hifmi_pay", "大病保险支付"), ("maf_pay", "医疗救助支付"),
    ("fund_pay_sumamt", "基金支付合计"),
    ("psn_part_amt", "个人负担"),
)


LINE_NAMES = {
    ClearingLine.SETTLEMENTS: "结算 settlements",
    ClearingLine.ADJUSTMENT: "冲正调整 reversal adjustment",
}


class ExportFormat(enum.StrEnum):
    """File formats of the clearing export."""

    CSV = "csv"
    XLSX = "xlsx"


def _fen(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def report(
    session: Session, *, principal: Principal, month: str, insured_region: str | None = None
) -> list[ClearingRow]:
    """The month's clearing rows the principal may see (clerks: their own institutions):
    per fund and institution the month's settlements, then the adjustment lines of
    reversals made this month of settlements cleared in an earlier month."""
    keys = (Settlement.fund_region_code, Institution.id, Institution.code, Institution.name)
    sums = (func.count(Settlement.id), *(func.sum(getattr(Settlement, name)) for name in AMOUNTS))
    settled = (
        select(*keys, *sums)
        .join(Institution, Institution.id == Settlement.institution_id)
        .where(Settlement.settled_month == month,
               or_(Settlement.status == SettlementStatus.SETTLED,
                   Settlement.reversed_month != month))  # reversed later: stays in its month
        .group_by(*keys)
        .order_by(Settlement.fund_region_code, Institution.code)
    )
    adjusted = (
        select(*keys, Settlement.settled_month, *sums)
        .join(Institution, Institution.id == Settlement.institution_id)
        .where(Settlement.reversed_month == month, Settlement.settled_month != month,
               Settlement.status == SettlementStatus.REVERSED)
        .group_by(*keys, Settlement.settled_month)
        .order_by(Settlement.fund_region_code, Institution.code, Settlement.settled_month)
    )
    if not principal.is_network_wide:
        settled = settled.where(Settlement.institution_id.in_(principal.institution_ids))
        adjusted = adjusted.where(Settlement.institution_id.in_(principal.institution_ids))
    if insured_region:
        in_region = Settlement.fund_region_code.startswith(region_prefix(insured_region))
        settled, adjusted = settled.where(in_region), adjusted.where(in_region)
    rows = [
        ClearingRow(
            fund_region_code=fund, month=month, institution_id=institution_id,
            institution_code=code, institution_name=name, settlements=count,
            **{key: _fen(value) for key, value in zip(AMOUNTS, amounts, strict=True)},
        )
        for fund, institution_id, code, name, count, *amounts in session.execute(settled)
    ]
    rows += [
        ClearingRow(
            fund_region_code=fund, month=month, institution_id=institution_id,
            institution_code=code, institution_name=name, line=ClearingLine.ADJUSTMENT,
            adjusts_month=adjusts, settlements=-count,
            **{key: -_fen(value) for key, value in zip(AMOUNTS, amounts, strict=True)},
        )
        for fund, institution_id, code, name, adjusts, count, *amounts
        in session.execute(adjusted)
    ]
    audit.record(session, action="settlement.clearing", entity_type="settlement",
                 institution_id=principal.institution_id,
                 detail={"month": month, "insured_region": insured_region, "rows": len(rows)})
    return rows


def _cells(row: ClearingRow) -> list[object]:
    cells: list[object] = [getattr(row, key) for key, _ in HEADERS]
    line = HEADERS.index(("line", "类型"))
    cells[line] = LINE_NAMES[row.line]
    cells[line + 1] = row.adjusts_month or ""
    return cells


def export(rows: list[ClearingRow], fmt: ExportFormat) -> tuple[bytes, str]:
    """The rows as a file: UTF-8 CSV with a BOM (Excel-friendly) or XLSX, with a total row."""
    header = [f"{zh} {key}" for key, zh in HEADERS]
    totals: list[object] = ["合计 total", "", "", "", "", "",
                            sum(row.settlements for row in rows)]
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
    for column in "HIJKLM":
        for cell in sheet[column][1:]:
            cell.number_format = "#,##0.00"
    out = io.BytesIO()
    book.save(out)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return out.getvalue(), media
