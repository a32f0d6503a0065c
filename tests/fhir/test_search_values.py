"""Reading FHIR search values: date precision and prefixes, escapes, tokens (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from yilian.fhir.dates import CHINA_STANDARD_TIME, DateValueError, instant_bounds, parse_date
from yilian.fhir.search import (
    BadSearch,
    ParamType,
    SearchParam,
    Token,
    parse_search,
    strings,
    tokens,
)

CST = CHINA_STANDARD_TIME


def test_a_date_covers_its_whole_precision_in_beijing_time() -> None:
    year = parse_date("2024")
    december = parse_date("ge2024-12")
    minute = parse_date("lt2024-03-01T08:00Z")

    assert (year.prefix, year.start, year.end) == (
        "eq", datetime(2024, 1, 1, tzinfo=CST), datetime(2025, 1, 1, tzinfo=CST)
    )
    assert (december.prefix, december.end) == ("ge", datetime(2025, 1, 1, tzinfo=CST))
    assert (minute.start, minute.end) == (
        datetime(2024, 3, 1, 8, 0, tzinfo=UTC), datetime(2024, 3, 1, 8, 1, tzinfo=UTC)
    )


@pytest.mark.parametrize("value", ["2024-13", "2023-02-29", "ne2024", "2024/01/01", "soon"])
def test_unreadable_dates_are_refused(value: str) -> None:
    with pytest.raises(DateValueError):
        parse_date(value)


def test_repeated_date_prefixes_make_one_window() -> None:
    since, until = instant_bounds([parse_date("ge2024-01-01"), parse_date("le2024-01-31"),
                                   parse_date("gt2023-06")])

    assert since == datetime(2024, 1, 1, tzinfo=CST)
    assert until == datetime(2024, 2, 1, tzinfo=CST)  # le includes the whole 31st


def test_escaped_commas_and_pipes_stay_in_the_value() -> None:
    params = [SearchParam("identifier", ParamType.TOKEN, ""),
              SearchParam("name", ParamType.STRING, "")]

    query = parse_search([("identifier", r"sys|A\|1,B2"), ("name", r"甲\,乙")], params)

    assert tokens(query.clauses[0]) == [Token("sys", "A|1"), Token(None, "B2")]
    assert strings(query.clauses[1]) == ["甲,乙"]


def test_paging_is_clamped_and_checked() -> None:
    assert parse_search([("_count", "5000")], []).count == 200
    assert parse_search([], []).count == 50
    with pytest.raises(BadSearch):
        parse_search([("_offset", "１")], [])  # a full-width digit is not a number here
