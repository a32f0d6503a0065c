"""FHIR search: parsing the query string strictly, and turning clauses into SQL conditions.

The rules below are the ones the CapabilityStatement documents (see :data:`SEARCH_RULES`):

- a repeated parameter is an AND; comma-separated values are an OR (``\\,`` is a comma);
- strings match case-insensitively from the start; ``:contains`` and ``:exact`` as in FHIR;
- tokens are ``code``, ``system|code``, ``system|`` or ``|code``;
- references are ``Type/id``, ``id`` or an absolute URL ending in ``Type/id``;
- dates take the prefixes eq (default), ge, gt, le, lt and any FHIR precision; a value
  without a time zone is read in China Standard Time (UTC+8), the network's local time;
- ``_count`` (default 50, at most 200, ``0`` for the total only) and ``_offset`` page.

Handling is strict: an unknown parameter or modifier, or a malformed value, is a 400
OperationOutcome rather than a silently wider result. A client that prefers FHIR's
lenient handling sends ``Prefer: handling=lenient``; unknown parameters are then ignored
and left out of the self link, and an OperationOutcome entry names them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from yilian.errors import YilianError
from yilian.fhir.dates import DateRange, DateValueError, parse_date

DEFAULT_COUNT = 50
MAX_COUNT = 200

SEARCH_RULES = (
    "Search handling is strict by default: an unknown parameter or modifier, or a malformed "
    "value, is answered with HTTP 400 and an OperationOutcome. Send the header "
    "`Prefer: handling=lenient` to have unknown parameters ignored instead: the Bundle's self "
    "link then shows only the parameters applied, and an OperationOutcome entry (search mode "
    "outcome) names the ones ignored. A repeated parameter means AND, "
    "comma-separated values mean OR. Strings match case-insensitively from the start "
    "(modifiers :contains and :exact). Dates take the prefixes eq, ge, gt, le and lt; a value "
    "without a time zone is read in China Standard Time (UTC+8). Paging: _count (default "
    f"{DEFAULT_COUNT}, at most {MAX_COUNT}; 0 returns only the total) and _offset, with "
    "self, next and previous links."
)


class BadSearch(YilianError):
    """A search the server will not guess at (HTTP 400, as FHIR asks)."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(code, zh, en, 400)


class ParamType(enum.StrEnum):
    """FHIR search parameter types the facade supports."""

    STRING = "string"
    TOKEN = "token"  # noqa: S105 - a FHIR parameter type, not a secret
    REFERENCE = "reference"
    DATE = "date"
    NUMBER = "number"


_MODIFIERS: dict[ParamType, frozenset[str]] = {
    ParamType.STRING: frozenset({"exact", "contains"}),
}
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})


@dataclass(frozen=True)
class SearchParam:
    """One search parameter a resource type supports.

    ``definition`` names the standard SearchParameter when Yilian's meaning is the
    standard one; it stays empty for parameters with Yilian-specific semantics.
    """

    name: str
    type: ParamType
    documentation: str
    definition: str = ""
    or_values: bool = True  # "a,b" allowed
    repeatable: bool = True  # "p=a&p=b" allowed


def standard(resource_type: str, name: str) -> str:
    """Canonical URL of a search parameter defined by FHIR R4."""
    return f"http://hl7.org/fhir/SearchParameter/{resource_type}-{name}"


ID_PARAM = SearchParam(
    "_id", ParamType.TOKEN, "Logical id of the resource (comma-separate for several).",
    "http://hl7.org/fhir/SearchParameter/Resource-id",
)


@dataclass(frozen=True)
class Clause:
    """One occurrence of a parameter in the query: its values are alternatives (OR)."""

    name: str
    modifier: str
    values: tuple[str, ...]  # still FHIR-escaped; read them with the helpers below
    raw: str  # the value as given, for the self link

    @property
    def key(self) -> str:
        """The parameter as written, with its modifier."""
        return f"{self.name}:{self.modifier}" if self.modifier else self.name


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: its clauses (AND) and the page asked for."""

    clauses: tuple[Clause, ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0
    ignored: tuple[str, ...] = field(default=())

    def clauses_for(self, name: str) -> list[Clause]:
        """Every clause of this parameter."""
        return [clause for clause in self.clauses if clause.name == name]

    def link_params(self, *, offset: int | None = None) -> list[tuple[str, str]]:
        """The query string that reproduces this search (at another offset if given)."""
        pairs = [(clause.key, clause.raw) for clause in self.clauses]
        pairs.append(("_count", str(self.count)))
        pairs.append(("_offset", str(self.offset if offset is None else offset)))
        return pairs


@dataclass(frozen=True)
class SearchResult:
    """One page of matching resources, with the total number of matches."""

    resources: list[dict[str, Any]]
    total: int


# ---------------------------------------------------------------- parsing


def _split(text: str, separator: str) -> list[str]:
    """Split on unescaped separators, keeping escapes for the next step."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    """A FHIR search value with its backslash escapes resolved."""
    return re.sub(r"\\(.)", r"\1", text)


def _non_negative_int(name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise BadSearch(
            "invalid_search_value",
            f"参数 {name} 须为非负整数：{value}",
            f"Parameter {name} must be a non-negative integer: {value}",
        )
    number = int(value)
    if number > _LARGEST_KEY:  # the database cannot skip or count that far
        raise BadSearch(
            "invalid_search_value",
            f"参数 {name} 太大：{value}",
            f"Parameter {name} is too large: {value}",
        )
    return number


def _bad_value(name: str, value: str, why_zh: str, why_en: str) -> BadSearch:
    return BadSearch(
        "invalid_search_value",
        f"参数 {name} 的值无效（{why_zh}）：{value}",
        f"Invalid value for {name} ({why_en}): {value}",
    )


def _check_clause(param: SearchParam, clause: Clause, earlier: list[Clause]) -> None:
    if clause.modifier and clause.modifier not in _MODIFIERS.get(param.type, frozenset()):
        raise BadSearch(
            "unsupported_modifier",
            f"不支持的修饰符：{clause.key}",
            f"Unsupported search modifier: {clause.key}",
        )
    if len(clause.values) > 1 and not param.or_values:
        raise _bad_value(clause.key, clause.raw, "只能给一个值", "one value only")
    if earlier and not param.repeatable:
        raise _bad_value(clause.key, clause.raw, "该参数只能出现一次", "may appear only once")
    for value in clause.values:
        if param.type is ParamType.DATE:
            dates(clause)
        elif param.type is ParamType.NUMBER:
            _non_negative_int(param.name, value)


def parse_search(
    items: Iterable[tuple[str, str]],
    params: Sequence[SearchParam],
    *,
    lenient: bool = False,
    max_count: int = MAX_COUNT,
) -> SearchQuery:
    """The search these query-string pairs ask for, checked against ``params``."""
    known = {param.name: param for param in params}
    clauses: list[Clause] = []
    ignored: list[str] = []
    count, offset = DEFAULT_COUNT, 0
    for key, raw in items:
        name, _, modifier = key.partition(":")
        if name == "_count":
            count = min(_non_negative_int(name, raw), max_count)
            continue
        if name == "_offset":
            offset = _non_negative_int(name, raw)
            continue
        if name == "_format":
            if raw not in _JSON_FORMATS:
                raise BadSearch("unsupported_format", f"仅支持 JSON 格式：{raw}",
                                f"Only JSON is supported: {raw}")
            continue
        param = known.get(name)
        if param is None:
            if lenient:
                ignored.append(key)
                continue
            supported = ", ".join(sorted([*known, "_count", "_offset", "_format"]))
            raise BadSearch(
                "unknown_search_parameter",
                f"不支持的查询参数：{key}（支持：{supported}）",
                f"Unknown search parameter: {key} (supported: {supported})",
            )
        values = tuple(value for value in _split(raw, ",") if value)
        if not values:  # FHIR: a parameter without a value is ignored
            continue
        clause = Clause(name=name, modifier=modifier, values=values, raw=raw)
        _check_clause(param, clause, [c for c in clauses if c.name == name])
        clauses.append(clause)
    return SearchQuery(tuple(clauses), count=count, offset=offset, ignored=tuple(ignored))


# ---------------------------------------------------------------- value types


@dataclass(frozen=True)
class Token:
    """A token search value: ``system`` None means any system, "" means no system."""

    system: str | None
    code: str

    def names(self, system: str) -> bool:
        """Whether this token may match a code of ``system``."""
        return self.system is None or self.system == system


def tokens(clause: Clause) -> list[Token]:
    """The clause's values read as tokens."""
    found = []
    for value in clause.values:
        parts = _split(value, "|")
        if len(parts) == 1:
            found.append(Token(None, unescape(parts[0])))
        else:
            found.append(Token(unescape(parts[0]), unescape("|".join(parts[1:]))))
    return found


def strings(clause: Clause) -> list[str]:
    """The clause's values read as strings."""
    return [unescape(value) for value in clause.values]


def reference_ids(clause: Clause, resource_type: str) -> list[str]:
    """Ids named by the clause's references to ``resource_type`` (other types are dropped)."""
    ids = []
    for value in strings(clause):
        parts = value.rstrip("/").split("/")
        if len(parts) == 1:
            ids.append(parts[0])
        elif parts[-2] == resource_type:
            ids.append(parts[-1])
    return ids


_LARGEST_KEY = 2**31 - 1  # beyond an integer column (PostgreSQL's INTEGER): no such id


def prefixed_id(resource_id: str, prefix: str = "") -> int | None:
    """The number of a logical id written ``<prefix><digits>``, else None."""
    found = int_ids([resource_id], prefix)
    return found[0] if found else None


def int_ids(values: Iterable[str], prefix: str = "") -> list[int]:
    """The integers of ids written ``<prefix><digits>``; other ids match nothing."""
    found = []
    for value in values:
        digits = value[len(prefix):]
        if value.startswith(prefix) and digits.isascii() and digits.isdigit():
            number = int(digits)
            if number <= _LARGEST_KEY:
                found.append(number)
    return found


def dates(clause: Clause) -> list[DateRange]:
    """The clause's values read as dates; a malformed one is a 400."""
    try:
        return [parse_date(value) for value in clause.values]
    except DateValueError as exc:
        raise _bad_value(clause.key, exc.value, exc.zh, exc.en) from exc


# ---------------------------------------------------------------- SQL helpers


def string_matches(text: str, value: str, modifier: str) -> bool:
    """FHIR string matching in Python (for values resolved outside SQL)."""
    text, value = text.casefold(), value.casefold()
    if modifier == "exact":
        return text == value
    if modifier == "contains":
        return value in text
    return text.startswith(value)


def string_condition(
    columns: Sequence[QueryableAttribute[str]], clause: Clause
) -> ColumnElement[bool]:
    """Any of the columns matches any of the clause's values, FHIR string style."""
    conditions: list[ColumnElement[bool]] = []
    for value in strings(clause):
        for column in columns:
            if clause.modifier == "exact":
                conditions.append(column == value)
            elif clause.modifier == "contains":
                conditions.append(column.icontains(value, autoescape=True))
            else:
                conditions.append(column.istartswith(value, autoescape=True))
    return or_(*conditions) if conditions else false()


def any_of(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool]:
    """OR of the conditions; false when there are none (nothing can match)."""
    return or_(*conditions) if conditions else false()


def page_statements(
    session: Session, statements: Sequence[Select[Any]], *, offset: int, count: int
) -> tuple[list[Sequence[Any]], int]:
    """One page over several statements read one after the other, and the total.

    Used where one FHIR type comes from several tables (institutions and departments are
    both Organizations). Each statement must be ordered for stable paging.
    """
    totals = [
        session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
        or 0
        for statement in statements
    ]
    pages: list[Sequence[Any]] = []
    skip, wanted = offset, count
    for statement, total in zip(statements, totals, strict=True):
        if wanted <= 0 or skip >= total:
            pages.append([])
            skip = max(0, skip - total)
            continue
        rows = session.scalars(statement.offset(skip).limit(wanted)).unique().all()
        pages.append(rows)
        wanted -= len(rows)
        skip = 0
    return pages, sum(totals)
