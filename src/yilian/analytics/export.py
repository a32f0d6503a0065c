"""The volume table as CSV: the rows a page shows, headed in Chinese and English."""

from __future__ import annotations

import csv
import io

from yilian.analytics.schemas import VolumeReport

HEADER = (
    ("institution_code", "机构编码"), ("institution_name", "机构"),
    ("department_id", "科室"), ("kind", "类别"), ("period_from", "起始月"),
    ("period_to", "截止月"), ("period_total", "统计期总量"), ("local", "本地参保"),
    ("out_of_region", "异地参保"), ("unknown_region", "参保地未知"),
    ("baseline_from", "基线起始月"), ("baseline_to", "基线截止月"),
    ("baseline_total", "基线期总量"), ("ratio", "倍数"), ("baseline_source", "基线依据"),
)


def volumes_csv(report: VolumeReport) -> bytes:
    """The report's rows, one per institution (or department) and kind, with a definition
    line at the end so the file says what it counts."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"{zh} {name}" for name, zh in HEADER])
    for row in report.rows:
        values = row.model_dump()
        writer.writerow(["" if values[name] is None else str(values[name]) for name, _ in HEADER])
    writer.writerow([])
    writer.writerow([f"口径 / Definition: {report.definition.zh} / {report.definition.en}"])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
