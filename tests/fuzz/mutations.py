"""Hypothesis strategies that break valid inputs a little: the inputs fuzzers learn most from.

A random document is almost always refused at the first check; a valid one with one field
changed, a segment dropped or a cell made too long reaches the deeper rules, where the
crashes and half-written imports hide.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

HUGE = "263651958173103546808255119360"  # beyond any database integer
# Values that have broken parsers before: empty, blank, huge, negative, control characters,
# impossible dates, references to nothing, very long text.
NASTY = st.sampled_from([
    "", " ", "0", "-1", HUGE, "-" + HUGE, "1e309", "NaN", "null", "\x00", "\ufeff", "\u202e",
    "2024-13-45", "2024-02-30T25:61", "99991231", "00000000", "Patient/", "Patient/" + HUGE,
    "Organization/" + HUGE, "Organization/dept-" + HUGE, "Organization/dept-x", "Patient/-1",
    "#", "^^^", "|", "~", "\\", "&", '"', "'", "😀", "宋" * 300, "x" * 5000,
])
TEXT = NASTY | st.text(max_size=24)
JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63)
                | st.floats(allow_nan=False, allow_infinity=False) | TEXT)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_json(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """The valid document with one to three of its nodes replaced or removed."""
    document: Any = copy.deepcopy(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(document))))
        value = draw(JSON_VALUES)
        if not path:
            document = value
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            parent[path[-1]] = value
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    return document


@st.composite
def mutated_text(draw: st.DrawFn, valid: str, *, line_end: str, separator: str) -> str:
    """The valid text (lines of separated fields) with one to three edits."""
    lines = valid.split(line_end)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        row = draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)))
        fields = lines[row].split(separator) if lines else [""]
        edit = draw(st.sampled_from(["field", "field", "field", "drop", "copy", "cut", "add"]))
        if edit == "field":
            column = draw(st.integers(min_value=0, max_value=len(fields) - 1))
            fields[column] = draw(TEXT)
            lines[row] = separator.join(fields)
        elif edit == "drop" and lines:
            lines.pop(row)
        elif edit == "copy" and lines:
            lines.insert(row, lines[row])
        elif edit == "cut":
            text = line_end.join(lines)
            lines = text[: draw(st.integers(min_value=0, max_value=len(text)))].split(line_end)
        else:
            lines[row] = separator.join([*fields, draw(TEXT)])
    return line_end.join(lines)
