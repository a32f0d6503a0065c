"""A table as a file: the same rows a page shows, as CSV or as an XLSX workbook.

Both carry bilingual column headings (Chinese first) and end with the definition of what
the table counts, so a file forwarded by e-mail still says what its numbers mean. CSV is
UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese; XLSX is written by
XlsxWriter with numbers as numbers (``Decimal`` money keeps two places).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import xlsxwriter
from fastapi import Response

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    """One column: the key in each row, and its heading in Chinese and English."""

    key: str
    zh: str
    en: str

    @property
    def heading(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class Table:
    """Rows (mappings from column key to value) under headings, with their definition."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[dict[str, Any]]
    definition: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def to_csv(table: Table) -> bytes:
    """The table as CSV: heading row, one line per row, then a definition line."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([column.heading for column in table.columns])
    for row in table.rows:
        writer.writerow([_text(row.get(column.key)) for column in table.columns])
    if table.definition:
        writer.writerow([])
        writer.writerow([f"口径 / Definition: {table.definition}"])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    """The table as a one-sheet workbook: bold headings, numbers as numbers, frozen top row,
    the definition two rows under the last one."""
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = workbook.add_worksheet(table.title[:31] or "Sheet1")
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": "0.00"})
    for index, column in enumerate(table.columns):
        sheet.write_string(0, index, column.heading, bold)
        sheet.set_column(index, index, max(10, len(column.heading) + 2))
    line = 0
    for line, row in enumerate(table.rows, start=1):
        for index, column in enumerate(table.columns):
            value = row.get(column.key)
            if isinstance(value, bool) or value is None:
                sheet.write_string(line, index, _text(value))
            elif isinstance(value, Decimal):
                sheet.write_number(line, index, float(value), money)
            elif isinstance(value, int | float):
                sheet.write_number(line, index, value)
            else:
                sheet.write_string(line, index, _text(value))
    if table.definition:
        sheet.write_string(line + 2, 0, f"口径 / Definition: {table.definition}")
    sheet.freeze_panes(1, 0)
    workbook.close()
    return out.getvalue()


def download(table: Table, filename: str, fmt: str) -> Response:
    """The table as an attachment: ``fmt`` is ``csv`` or ``xlsx``."""
    if fmt == "xlsx":
        body, media_type = to_xlsx(table), XLSX_TYPE
    else:
        body, media_type = to_csv(table), CSV_TYPE
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}.{fmt}"'})
