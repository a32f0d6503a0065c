"""The recognition catalogue: a CSV the region maintains, loaded all or nothing.

Columns: ``code,name,name_en,category,item_group,loinc,specimen,modality,body_site,
validity_days,price,scopes`` (scopes ``|``-separated: national, province, city, consortium).
Every row is checked; when any is bad, :func:`load_csv` raises one :class:`InvalidInput`
naming every bad row by its line (the header is line 1) and nothing is stored. Known codes
are updated, new ones added. The shipped Jing-Jin-Ji catalogue is :data:`JINGJINJI_CSV`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.errors import InvalidInput
from yilian.registry.csvio import read_text
from yilian.results.models import RecognitionItem
from yilian.results.schemas import ItemCreate
from yilian.validation import describe_validation_errors

JINGJINJI_CSV = Path(__file__).with_name("jingjinji_catalogue.csv")
COLUMNS = ("code", "name", "name_en", "category", "item_group", "loinc", "specimen",
           "modality", "body_site", "validity_days", "price", "scopes")


def _row_problems(line: int, error: ValidationError) -> list[dict[str, Any]]:
    _, _, details = describe_validation_errors(error.errors())
    return [{"line": line, **detail} for detail in details]


def parse_csv(text: str) -> list[ItemCreate]:
    """Every row of a catalogue CSV, checked; InvalidInput listing each bad row's line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            "catalogue_columns", f"缺少列：{', '.join(missing)}",
            f"Missing columns: {', '.join(missing)}",
        )
    items: list[ItemCreate] = []
    problems: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        values = {column: (row.get(column) or "").strip() for column in COLUMNS}
        try:
            item = ItemCreate.model_validate(values)
        except ValidationError as error:
            problems.extend(_row_problems(line, error))
            continue
        if item.code in seen:
            problems.append({
                "line": line, "field": "code",
                "message_zh": f"编码 {item.code} 与第 {seen[item.code]} 行重复",
                "message_en": f"Code {item.code} repeats line {seen[item.code]}",
            })
            continue
        seen[item.code] = line
        items.append(item)
    if problems:
        lines = sorted({str(problem["line"]) for problem in problems}, key=int)
        raise InvalidInput(
            "catalogue_rows_invalid",
            f"目录有 {len(lines)} 行不正确（第 {'、'.join(lines)} 行），未导入任何项目",
            f"{len(lines)} catalogue rows are wrong (lines {', '.join(lines)}); nothing loaded",
            problems,
        )
    return items


def store(session: Session, *, items: Sequence[ItemCreate]) -> int:
    """Add new items and update known ones by code; how many rows were written."""
    known = {
        item.code: item
        for item in session.scalars(
            select(RecognitionItem).where(RecognitionItem.code.in_([i.code for i in items]))
        )
    }
    for data in items:
        values = data.model_dump()
        values["scopes"] = "|".join(scope.value for scope in data.scopes)
        found = known.get(data.code)
        if found is None:
            session.add(RecognitionItem(**values))
        else:
            for name, value in values.items():
                setattr(found, name, value)
    session.flush()
    return len(items)


def load_csv(session: Session, *, data: bytes) -> int:
    """Load a catalogue file all or nothing; the number of items stored."""
    return store(session, items=parse_csv(read_text(data)))


def load_jingjinji(session: Session) -> int:
    """Load the shipped Jing-Jin-Ji catalogue."""
    return load_csv(session, data=JINGJINJI_CSV.read_bytes())
