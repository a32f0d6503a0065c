"""The volume table as a file (CSV or XLSX): the rows a page shows, headed in Chinese and
English, with the definition under them."""

from __future__ import annotations

from yilian.analytics.schemas import VolumeReport
from yilian.tables import Column, Table

COLUMNS = tuple(Column(key, zh, key) for key, zh in (
    ("institution_code", "机构编码"), ("institution_name", "机构"),
    ("department_id", "科室"), ("kind", "类别"), ("period_from", "起始月"),
    ("period_to", "截止月"), ("period_total", "统计期总量"), ("local", "本地参保"),
    ("out_of_region", "异地参保"), ("unknown_region", "参保地未知"),
    ("baseline_from", "基线起始月"), ("baseline_to", "基线截止月"),
    ("baseline_total", "基线期总量"), ("ratio", "倍数"), ("baseline_source", "基线依据"),
))


def volumes_table(report: VolumeReport) -> Table:
    """The report's rows, one per institution (or department) and kind."""
    return Table(title="volumes", columns=COLUMNS,
                 rows=[row.model_dump() for row in report.rows],
                 definition=f"{report.definition.zh} / {report.definition.en}")
