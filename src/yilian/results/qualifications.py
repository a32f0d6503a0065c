"""HR qualifications from a region's quality-control centre (质控中心): a CSV, all or nothing.

Columns: ``institution_code,item_code,item_group,scope,valid_from,valid_to,eqa_reference``.
Each row gives one institution an HR mark for one catalogue item (``item_code``) or a whole
item group (``item_group``; exactly one of the two), with its scope — ``national``,
``province``, ``city``, ``consortium`` or the mark as printed (全国HR, 本省HR, 市HR, 医联体HR)
— and its ISO dates. Every row is checked; when any is bad, :func:`parse_csv` raises one
:class:`InvalidInput` naming every bad row by its line (the header is line 1) and nothing
is stored.

A mark is known by institution, item or group and valid-from: importing the file again
changes nothing, and a corrected row (a later valid-to, another scope or EQA reference)
updates that mark in place. Marks the file does not name are left alone: a centre's file
covers its own region. :data:`DEMO_CSV` holds the demo hospitals' marks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.errors import InvalidInput
from yilian.registry.csvio import read_text
from yilian.registry.models import Institution
from yilian.results.models import HrScope, Qualification, RecognitionItem

DEMO_CSV = Path(__file__).with_name("demo_qualifications.csv")
COLUMNS = ("institution_code", "item_code", "item_group", "scope", "valid_from", "valid_to",
           "eqa_reference")
REQUIRED = ("institution_code", "scope", "valid_from", "valid_to")
MARKS = {"全国HR": HrScope.NATIONAL, "本省HR": HrScope.PROVINCE, "省HR": HrScope.PROVINCE,
         "市HR": HrScope.CITY, "医联体HR": HrScope.CONSORTIUM}


@dataclass(frozen=True)
class MarkRow:
    """One checked row of the file."""

    line: int
    institution_id: int
    item_code: str
    item_group: str
    scope: HrScope
    valid_from: date
    valid_to: date
    eqa_reference: str

    @property
    def key(self) -> tuple[int, str, str, date]:
        """What names a mark: institution, item or group, valid-from."""
        return (self.institution_id, self.item_code, self.item_group, self.valid_from)


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    added: int
    updated: int
    unchanged: int


def _problem(line: int, field: str, zh: str, en: str) -> dict[str, Any]:
    return {"line": line, "field": field, "message_zh": zh, "message_en": en}


def _scope(text: str) -> HrScope | None:
    try:
        return HrScope(text.lower())
    except ValueError:
        return MARKS.get(text.upper().replace("ＨＲ", "HR"))


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _check_row(line: int, values: dict[str, str], *, institutions: dict[str, int],
               codes: set[str], groups: set[str]) -> MarkRow | list[dict[str, Any]]:
    """The row as a mark, or what is wrong with it."""
    problems = [_problem(line, column, "必填", "required")
                for column in REQUIRED if not values[column]]
    institution_id = institutions.get(values["institution_code"])
    if values["institution_code"] and institution_id is None:
        problems.append(_problem(line, "institution_code",
                                 f"机构编码不存在：{values['institution_code']}",
                                 f"no institution with code {values['institution_code']}"))
    item_code, item_group = values["item_code"], values["item_group"]
    if bool(item_code) == bool(item_group):
        problems.append(_problem(line, "item_code", "须填项目编码或项目组之一（不能都填）",
                                 "give an item code or an item group (not both)"))
    elif item_code and item_code not in codes:
        problems.append(_problem(line, "item_code", f"互认目录中无此项目：{item_code}",
                                 f"no catalogue item {item_code}"))
    elif item_group and item_group not in groups:
        problems.append(_problem(line, "item_group", f"互认目录中无此项目组：{item_group}",
                                 f"no catalogue item group {item_group}"))
    scope = _scope(values["scope"])
    if values["scope"] and scope is None:
        problems.append(_problem(
            line, "scope", f"互认范围不正确：{values['scope']}（全国HR/本省HR/市HR/医联体HR）",
            f"unknown scope {values['scope']} (national, province, city, consortium)"))
    days: dict[str, date | None] = {}
    for column in ("valid_from", "valid_to"):
        days[column] = _day(values[column])
        if values[column] and days[column] is None:
            problems.append(_problem(line, column, f"日期应为 YYYY-MM-DD：{values[column]}",
                                     f"a date must be YYYY-MM-DD: {values[column]}"))
    valid_from, valid_to = days["valid_from"], days["valid_to"]
    if valid_from and valid_to and valid_to < valid_from:
        problems.append(_problem(line, "valid_to", "有效期止早于有效期起",
                                 "valid_to is before valid_from"))
    if len(values["eqa_reference"]) > 128:
        problems.append(_problem(line, "eqa_reference", "质评依据超过 128 个字符",
                                 "the EQA reference is longer than 128 characters"))
    if problems:
        return problems
    assert institution_id is not None and scope and valid_from and valid_to
    return MarkRow(line, institution_id, item_code, item_group, scope, valid_from, valid_to,
                   values["eqa_reference"])


def parse_csv(session: Session, text: str) -> list[MarkRow]:
    """Every row of a qualifications CSV, checked against the registry and catalogue;
    InvalidInput listing each bad row's line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput("qualification_columns", f"缺少列：{', '.join(missing)}",
                           f"Missing columns: {', '.join(missing)}")
    institutions = {code: id_ for code, id_ in session.execute(
        select(Institution.code, Institution.id))}
    catalogue = session.execute(select(RecognitionItem.code, RecognitionItem.item_group)).all()
    codes = {code for code, _ in catalogue}
    groups = {group for _, group in catalogue if group}
    rows: list[MarkRow] = []
    problems: list[dict[str, Any]] = []
    seen: dict[tuple[int, str, str, date], int] = {}
    for line, raw in enumerate(reader, start=2):
        values = {column: (raw.get(column) or "").strip() for column in COLUMNS}
        checked = _check_row(line, values, institutions=institutions, codes=codes,
                             groups=groups)
        if isinstance(checked, list):
            problems.extend(checked)
        elif checked.key in seen:
            earlier = seen[checked.key]
            problems.append(_problem(
                line, "valid_from", f"与第 {earlier} 行是同一资质（机构、项目、起始日相同）",
                f"the same mark as line {earlier} (institution, item and valid-from)"))
        else:
            seen[checked.key] = line
            rows.append(checked)
    if problems:
        lines = sorted({str(problem["line"]) for problem in problems}, key=int)
        first = problems[0]
        raise InvalidInput(
            "qualification_rows_invalid",
            f"第 {first['line']} 行 {first['field']}：{first['message_zh']}"
            f"（共 {len(lines)} 行有误：第 {'、'.join(lines)} 行）；未导入任何资质",
            f"line {first['line']}, {first['field']}: {first['message_en']} "
            f"({len(lines)} {'row' if len(lines) == 1 else 'rows'} wrong: "
            f"{'line' if len(lines) == 1 else 'lines'} {', '.join(lines)}); nothing imported",
            problems,
        )
    return rows


def store(session: Session, *, rows: Sequence[MarkRow]) -> ImportResult:
    """Add new marks, update changed ones by key; counts of each."""
    known: dict[tuple[int, str, str, date], Qualification] = {}
    if rows:
        for held in session.scalars(select(Qualification).where(
                Qualification.institution_id.in_(sorted({row.institution_id for row in rows})))
                .order_by(Qualification.id)):
            key = (held.institution_id, held.item_code, held.item_group, held.valid_from)
            known.setdefault(key, held)
    added = updated = 0
    for row in rows:
        mark = known.get(row.key)
        if mark is None:
            session.add(Qualification(
                institution_id=row.institution_id, item_code=row.item_code,
                item_group=row.item_group, scope=row.scope, valid_from=row.valid_from,
                valid_to=row.valid_to, eqa_reference=row.eqa_reference))
            added += 1
        elif (mark.scope, mark.valid_to, mark.eqa_reference) != (
                row.scope, row.valid_to, row.eqa_reference):
            mark.scope, mark.valid_to, mark.eqa_reference = (row.scope, row.valid_to,
                                                             row.eqa_reference)
            updated += 1
    session.flush()
    return ImportResult(added, updated, len(rows) - added - updated)


def import_csv(session: Session, *, data: bytes) -> ImportResult:
    """Import a qualifications file all or nothing (the caller commits)."""
    return store(session, rows=parse_csv(session, read_text(data)))
