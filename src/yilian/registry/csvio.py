"""Registry CSV files: institutions and agreements, in the columns hospital staff keep in Excel.

Import is all or nothing. Every row is checked — by the API schemas and by the registry
rules (the region exists, the parent campus exists or is defined on an earlier row, the
party institutions exist, a trusteeship binds one lead and one member) — and when any row
is bad, :func:`import_csv` raises one :class:`InvalidInput` listing every bad row by its
line in the file (the header is line 1), and the caller's transaction is rolled back.
Rows are matched by code: new codes are created, known ones updated (see ``upsert``).

Export writes the same columns, parents before their campuses, so an exported file
imports back unchanged. Cells that Excel would run as a formula are prefixed with ``'``
on export, and the prefix is dropped again on import.
"""

from __future__ import annotations

import codecs
import csv
import enum
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.errors import InvalidInput, YilianError
from yilian.registry import upsert
from yilian.registry.models import Agreement, Institution, PartyRole
from yilian.registry.schemas import AgreementCreate, InstitutionCreate
from yilian.validation import describe_validation_errors

__all__ = [
    "MAX_FILE_BYTES",
    "CsvKind",
    "ImportReport",
    "export_csv",
    "import_csv",
    "read_text",
]

MAX_FILE_BYTES = 20 * 1024 * 1024
LIST_SEPARATORS = re.compile(r"[;|]")
# What Chinese Excel writes for a date cell it has reformatted: 2022/7/1, 2022-7-1, 2022.7.1.
LOOSE_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
# A cell starting with one of these runs as a formula when the file is opened in Excel.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvKind(enum.StrEnum):
    """What a registry CSV file holds."""

    INSTITUTIONS = "institutions"
    AGREEMENTS = "agreements"

    @classmethod
    def parse(cls, text: str) -> CsvKind:
        """The kind named by ``text`` (``institutions`` or ``agreements``)."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                "unknown_csv_kind",
                f"未知的文件类型：{text}（应为 institutions 或 agreements）",
                f"Unknown CSV kind: {text} (institutions or agreements)",
            ) from None


@dataclass(frozen=True)
class Layout:
    """The columns of one kind of file, in export order, and those a file must have."""

    columns: tuple[str, ...]
    required: frozenset[str]


LAYOUTS: Mapping[CsvKind, Layout] = {
    CsvKind.INSTITUTIONS: Layout(
        columns=("code", "name", "name_en", "region_code", "level", "grade", "kind",
                 "parent_code", "beds", "address", "phone", "centres"),
        required=frozenset({"code", "name", "region_code", "level", "kind"}),
    ),
    CsvKind.AGREEMENTS: Layout(
        columns=("code", "type", "title", "title_en", "specialty", "status", "start_date",
                 "end_date", "description", "parties"),
        required=frozenset({"code", "type", "title", "start_date", "parties"}),
    ),
}

# The column to blame when a registry rule refuses a row, by the rule's error code.
_FIELD_OF_RULE: Mapping[CsvKind, Mapping[str, str]] = {
    CsvKind.INSTITUTIONS: {
        "unknown_region": "region_code",
        "unknown_institution": "parent_code",
        "campus_cycle": "parent_code",
    },
    CsvKind.AGREEMENTS: {
        "unknown_institution": "parties",
        "unknown_department": "parties",
        "no_lead_party": "parties",
        "trusteeship_parties": "parties",
        "duplicate_party": "parties",
        "dates_unordered": "end_date",
        "ended_without_end_date": "end_date",
    },
}


@dataclass(frozen=True)
class ImportReport:
    """What an import did: rows created, updated, and already up to date."""

    kind: CsvKind
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class RowError(Exception):
    """One bad row, with the column at fault and a message in both languages."""

    def __init__(self, field: str, zh: str, en: str) -> None:
        super().__init__(f"{field}: {zh} / {en}")
        self.field, self.zh, self.en = field, zh, en

    def detail(self, line: int) -> dict[str, Any]:
        """The row's entry in the error list of the import."""
        return {"line": line, "field": self.field, "message_zh": self.zh, "message_en": self.en}


# ---------------------------------------------------------------- reading the file


def read_text(data: bytes) -> str:
    """The file's text: UTF-8 with or without BOM, else GB18030 (what Chinese Excel saves)."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(
            "file_too_large",
            f"文件过大（上限 {MAX_FILE_BYTES // (1024 * 1024)} MB）",
            f"The file is too large (limit {MAX_FILE_BYTES // (1024 * 1024)} MB)",
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data:
        raise InvalidInput(
            "not_csv_text",
            "不是 CSV 文本文件：请在 Excel 中“另存为” CSV UTF-8（逗号分隔）",
            "Not a CSV text file: in Excel use Save As “CSV UTF-8 (Comma delimited)”",
        )
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(
        "unknown_encoding",
        "无法识别文件编码：请保存为 UTF-8 或 GB18030（GBK）编码的 CSV",
        "Cannot read the file's encoding: save the CSV as UTF-8 or GB18030 (GBK)",
    )


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the file line each starts on (1-based)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(
                "csv_malformed",
                f"第 {line} 行 CSV 格式错误：{exc}",
                f"Malformed CSV at line {line}: {exc}",
                [{"line": line, "field": "-", "message_zh": f"CSV 格式错误：{exc}",
                  "message_en": f"Malformed CSV: {exc}"}],
            ) from None
        if any(cell.strip() for cell in cells):
            yield line, cells
        line = reader.line_num + 1


def _header_problem(line: int, column: str, zh: str, en: str) -> dict[str, Any]:
    return {"line": line, "field": column, "message_zh": zh, "message_en": en}


def detect_kind(header: Sequence[str], *, line: int = 1) -> CsvKind:
    """The kind of file whose own columns the header names (``code`` is shared)."""
    hits = {
        kind: len(set(header) & (set(layout.columns) - {"code"}))
        for kind, layout in LAYOUTS.items()
    }
    best = max(hits.values())
    found = [kind for kind, count in hits.items() if count == best]
    if best == 0 or len(found) > 1:
        raise InvalidInput(
            "csv_kind_unknown",
            "无法从表头判断是机构还是协议文件",
            "Cannot tell from the header whether the file holds institutions or agreements",
            [_header_problem(line, "-", "表头：" + ",".join(header),
                             "Header: " + ",".join(header))],
        )
    return found[0]


def _check_header(header: Sequence[str], kind: CsvKind, *, line: int) -> None:
    layout = LAYOUTS[kind]
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for column in header:
        if column in seen:
            problems.append(_header_problem(line, column, f"列重复：{column}",
                                            f"Column appears twice: {column}"))
        elif column not in layout.columns:
            problems.append(_header_problem(
                line,
                column,
                f"未知列：{column}（{kind.value} 文件可用的列：{','.join(layout.columns)}）",
                f"Unknown column: {column} ({kind.value} columns: {','.join(layout.columns)})",
            ))
        seen.add(column)
    for column in sorted(layout.required - seen):
        problems.append(_header_problem(line, column, f"缺少必需的列：{column}",
                                        f"Required column missing: {column}"))
    if problems:
        raise InvalidInput(
            "csv_header_invalid",
            f"表头有误（{len(problems)} 处），未导入任何数据",
            f"The header has {len(problems)} problem(s); nothing was imported",
            problems,
        )


def _cell_in(raw: str) -> str:
    """A cell's value: the anti-formula ``'`` of an export dropped, whitespace trimmed."""
    if len(raw) > 1 and raw[0] == "'" and raw[1] in "=+-@\t\r":
        raw = raw[1:]
    return raw.strip()


# ---------------------------------------------------------------- rows to schemas


def _loose_date(value: str) -> str:
    match = LOOSE_DATE.match(value)
    if match is None:
        return value
    year, month, day = (int(part) for part in match.groups())
    return f"{year:04d}-{month:02d}-{day:02d}"


def _parties(text: str) -> list[dict[str, Any]]:
    """``CODE:lead;CODE:member[:DEPT]`` as party fields."""
    parties: list[dict[str, Any]] = []
    for item in (part.strip() for part in LIST_SEPARATORS.split(text)):
        if not item:
            continue
        pieces = [piece.strip() for piece in item.split(":")]
        roles = [role.value for role in PartyRole]
        if len(pieces) not in (2, 3) or not pieces[0] or pieces[1].lower() not in roles:
            raise RowError(
                "parties",
                f"协议方格式应为 机构编码:lead 或 机构编码:member[:科室编码]，而不是“{item}”",
                f"A party is written CODE:lead or CODE:member[:DEPT], not “{item}”",
            )
        party: dict[str, Any] = {"institution_code": pieces[0], "role": pieces[1].lower()}
        if len(pieces) == 3 and pieces[2]:
            party["department_code"] = pieces[2]
        parties.append(party)
    return parties


def _schema_of(kind: CsvKind, values: dict[str, str]) -> InstitutionCreate | AgreementCreate:
    """The row as the API's create schema; empty cells take the schema's defaults."""
    given: dict[str, Any] = {column: value for column, value in values.items() if value}
    if kind is CsvKind.INSTITUTIONS:
        if "centres" in given:
            given["centres"] = [c.strip() for c in LIST_SEPARATORS.split(given["centres"])
                                if c.strip()]
        return InstitutionCreate.model_validate(given)
    for column in ("start_date", "end_date"):
        if column in given:
            given[column] = _loose_date(given[column])
    given["parties"] = _parties(given.get("parties", ""))
    return AgreementCreate.model_validate(given)


def _schema_problem(exc: ValidationError) -> RowError:
    """All of a row's schema failures as one bilingual message."""
    fields: list[str] = []
    zh_parts: list[str] = []
    en_parts: list[str] = []
    for error in exc.errors():
        _zh, _en, details = describe_validation_errors([error])
        field, zh, en = details[0]["field"], details[0]["message_zh"], details[0]["message_en"]
        expected = (error.get("ctx") or {}).get("expected")
        if error.get("type") == "enum" and expected:
            zh = f"{zh}（可选：{expected}）"
        if field not in fields:
            fields.append(field)
        zh_parts.append(zh if field == "-" else f"{field}：{zh}")
        en_parts.append(en if field == "-" else f"{field}: {en}")
    return RowError(",".join(fields), "；".join(zh_parts), "; ".join(en_parts))


# ---------------------------------------------------------------- import


@dataclass
class _Import:
    """The state of one import as it goes through the rows."""

    kind: CsvKind
    columns: list[str]
    first_line: dict[str, int]  # the line each code first appears on
    bad_lines: set[int]
    problems: list[dict[str, Any]]

    def parent_hint(self, line: int, parent_code: str) -> RowError | None:
        """Why a parent named in the file was not found when this row was reached."""
        parent_line = self.first_line.get(parent_code)
        if parent_line is None:
            return None
        if parent_line > line:
            return RowError(
                "parent_code",
                f"上级机构 {parent_code} 须写在本行之前（它在第 {parent_line} 行）",
                f"Parent {parent_code} must come before this row (it is on line {parent_line})",
            )
        if parent_line in self.bad_lines:
            return RowError(
                "parent_code",
                f"上级机构 {parent_code} 所在的第 {parent_line} 行有误",
                f"Parent {parent_code} is on line {parent_line}, which has errors",
            )
        return None

    def rule_problem(self, line: int, error: YilianError, data: Any) -> RowError:
        """A registry rule's refusal as the row's problem."""
        if (
            error.code == "unknown_institution"
            and isinstance(data, InstitutionCreate)
            and data.parent_code
        ):
            hint = self.parent_hint(line, data.parent_code)
            if hint is not None:
                return hint
        field = _FIELD_OF_RULE[self.kind].get(error.code, "-")
        return RowError(field, error.zh, error.en)


def _apply_row(
    session: Session, state: _Import, line: int, cells: list[str]
) -> upsert.UpsertOutcome:
    if len(cells) > len(state.columns) and any(c.strip() for c in cells[len(state.columns):]):
        raise RowError("-", f"本行有 {len(cells)} 列，多于表头的 {len(state.columns)} 列",
                       f"The row has {len(cells)} cells, more than the "
                       f"{len(state.columns)} columns of the header")
    values = {column: _cell_in(cell) for column, cell in zip(state.columns, cells, strict=False)}
    code = values.get("code", "")
    if code and state.first_line.get(code, line) < line:
        raise RowError("code", f"编码 {code} 在第 {state.first_line[code]} 行已出现",
                       f"Code {code} already appears on line {state.first_line[code]}")
    try:
        data = _schema_of(state.kind, values)
    except ValidationError as exc:
        raise _schema_problem(exc) from None
    try:
        if isinstance(data, InstitutionCreate):
            return upsert.upsert_institution(session, data=data, fields=state.columns)
        return upsert.upsert_agreement(session, data=data, fields=state.columns)
    except YilianError as error:
        raise state.rule_problem(line, error, data) from None


def import_csv(session: Session, *, text: str, kind: CsvKind | None = None) -> ImportReport:
    """Create or update every row of the file, or raise listing every bad row (all or none).

    ``kind`` is read from the header when not given. On failure some rows may already be
    flushed: the caller must roll back, as the request and CLI units of work do.
    """
    records = list(_records(text))
    if not records:
        raise InvalidInput("csv_empty", "文件为空", "The file is empty")
    (header_line, raw_header), rows = records[0], records[1:]
    header = [cell.strip().lower() for cell in raw_header]
    kind = kind or detect_kind(header, line=header_line)
    _check_header(header, kind, line=header_line)
    state = _Import(kind=kind, columns=header, first_line={}, bad_lines=set(), problems=[])
    code_at = header.index("code")
    for line, cells in rows:
        code = _cell_in(cells[code_at]) if code_at < len(cells) else ""
        if code:
            state.first_line.setdefault(code, line)
    counts = dict.fromkeys(upsert.UpsertOutcome, 0)
    for line, cells in rows:
        try:
            counts[_apply_row(session, state, line, cells)] += 1
        except RowError as problem:
            state.bad_lines.add(line)
            state.problems.append(problem.detail(line))
    if state.problems:
        count = len(state.problems)
        raise InvalidInput(
            "csv_rows_invalid",
            f"{count} 行有误，未导入任何数据",
            f"{count} row(s) have errors; nothing was imported",
            state.problems,
        )
    return ImportReport(
        kind=kind,
        created=counts[upsert.UpsertOutcome.CREATED],
        updated=counts[upsert.UpsertOutcome.UPDATED],
        unchanged=counts[upsert.UpsertOutcome.UNCHANGED],
    )


# ---------------------------------------------------------------- export


def _cell_out(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        text = str(value.value)
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, list):
        text = ";".join(_cell_out(item) for item in value)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _party_cell(parties: Iterable[upsert.PartyKey]) -> str:
    return ";".join(
        ":".join([code, role.value] + ([department] if department else []))
        for code, role, department in parties
    )


def _campus_depth(institution: Institution) -> int:
    depth, parent = 0, institution.parent
    while parent is not None:
        depth, parent = depth + 1, parent.parent
    return depth


def _institution_rows(session: Session) -> Iterator[dict[str, Any]]:
    institutions = session.scalars(select(Institution).order_by(Institution.code)).all()
    # Parents before their campuses, so the file imports into an empty registry.
    for institution in sorted(institutions, key=lambda i: (_campus_depth(i), i.code)):
        yield upsert.institution_values(institution)


def _agreement_rows(session: Session) -> Iterator[dict[str, Any]]:
    for agreement in session.scalars(select(Agreement).order_by(Agreement.code)):
        values = upsert.agreement_values(agreement)
        values["parties"] = _party_cell(values["parties"])
        yield values


def export_csv(session: Session, *, kind: CsvKind) -> str:
    """Every institution or agreement as CSV text (no BOM; the caller adds one for Excel)."""
    layout = LAYOUTS[kind]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(layout.columns)
    rows = _institution_rows(session) if kind is CsvKind.INSTITUTIONS else _agreement_rows(session)
    for values in rows:
        writer.writerow([_cell_out(values[column]) for column in layout.columns])
    return buffer.getvalue()
