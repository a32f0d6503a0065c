"""The network's edge table and the programme table as files (CSV or XLSX): the rows the
page shows, headed in Chinese and English, with the definitions under them."""

from __future__ import annotations

from typing import Any

from yilian.analytics.network_schemas import NetworkGraph, ProgrammeReport
from yilian.registry.labels import AGREEMENT_STATUSES, AGREEMENT_TYPES
from yilian.tables import Column, Table

EDGE_COLUMNS = tuple(Column(key, zh, key) for key, zh in (
    ("agreement_code", "协议编号"), ("type", "类型"), ("type_label", "类型名称"),
    ("title", "协议名称"), ("specialty", "专科"), ("status", "状态"),
    ("status_label", "状态名称"), ("start_date", "开始日期"), ("end_date", "结束日期"),
    ("lead_code", "牵头方编码"), ("lead_name", "牵头方"), ("lead_department", "牵头方科室"),
    ("member_code", "成员方编码"), ("member_name", "成员方"),
    ("member_department", "成员方科室"),
))


def edges_table(graph: NetworkGraph) -> Table:
    """One row per edge (an agreement's lead–member pair), as the page's edge table."""
    rows: list[dict[str, Any]] = []
    for edge in graph.edges:
        row = edge.model_dump()
        row["type_label"] = AGREEMENT_TYPES[edge.type][0]
        row["status_label"] = AGREEMENT_STATUSES[edge.status][0]
        row["start_date"] = edge.start_date.isoformat()
        row["end_date"] = edge.end_date.isoformat() if edge.end_date else None
        rows.append(row)
    return Table(title="network", columns=EDGE_COLUMNS, rows=rows,
                 definition=f"{graph.definition.zh} / {graph.definition.en}")


def programme_table(report: ProgrammeReport) -> Table:
    """One row per region and the total row, one column per figure."""
    columns = (Column("region_code", "地区编码", "region_code"),
               Column("region_name", "地区", "region_name"),
               *(Column(figure.code, figure.label_zh, figure.label_en)
                 for figure in report.figures))
    definitions = " ".join(f"{f.label_zh}：{f.zh}" for f in report.figures)
    definitions_en = " ".join(f"{f.label_en}: {f.en}" for f in report.figures)
    return Table(title="programme", columns=columns,
                 rows=[row.model_dump() for row in report.rows],
                 definition=(f"{report.definition.zh} {definitions} / "
                             f"{report.definition.en} {definitions_en}"))
