"""Resident ID numbers (GB 11643): worked examples, every refusal, and the check's guarantee."""

from __future__ import annotations

import csv
from datetime import date
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yilian.errors import InvalidInput
from yilian.patients.resident_id import (
    PROVINCES,
    IdMismatch,
    IdRejection,
    ResidentId,
    ResidentIdError,
    check_digit,
    mask,
    mismatches,
    parse,
    region_known,
    region_name,
)

TODAY = date(2026, 11, 1)

# The example of GB 11643-1999 itself, worked by hand:
#   digits   1  1  0  1  0  5  1  9  4  9  1  2  3  1  0  0  2
#   weights  7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
#   products 7  9  0  5  0 20  2  9 24 27  7 18 30  5  0  0  4   sum 167
#   167 mod 11 = 2, and position 2 of "1 0 X 9 8 7 6 5 4 3 2" is X.
STANDARD_EXAMPLE = "11010519491231002X"


def rejection(raw: str) -> IdRejection:
    with pytest.raises(ResidentIdError) as caught:
        parse(raw, today=TODAY)
    return caught.value.reason


def test_check_digit_of_worked_examples() -> None:
    assert check_digit("11010519491231002") == "X"  # sum 167, mod 11 = 2
    assert check_digit("13073019780512031") == "5"  # sum 249, mod 11 = 7
    assert check_digit("11010119900307663") == "2"  # sum 230, mod 11 = 10
    assert check_digit("13060219960229004") == "8"  # sum 246, mod 11 = 4


def test_check_digit_needs_seventeen_digits() -> None:
    with pytest.raises(ValueError, match="17"):
        check_digit("1101051949123100")
    with pytest.raises(ValueError, match="17"):
        check_digit("1101051949123100X")


def test_standard_example_parses() -> None:
    assert parse(STANDARD_EXAMPLE, today=TODAY) == ResidentId(
        number=STANDARD_EXAMPLE,
        region_code="110105",
        birth_date=date(1949, 12, 31),
        sex="female",  # sequence digit 2 is even
        legacy=False,
    )


def test_male_from_an_odd_sequence_digit() -> None:
    resident_id = parse("130730197805120315", today=TODAY)
    assert resident_id.sex == "male"
    assert resident_id.region_code == "130730"  # 怀来县


def test_fifteen_digit_number_is_upgraded() -> None:
    # 130730 780512 031: "19" goes before the year, then the check digit 5 worked above.
    resident_id = parse("130730780512031", today=TODAY)
    assert resident_id.number == "130730197805120315"
    assert resident_id.birth_date == date(1978, 5, 12)
    assert resident_id.sex == "male"  # the 15th digit, 1, is odd
    assert resident_id.legacy
    assert parse(resident_id.number, today=TODAY) == ResidentId(
        number="130730197805120315", region_code="130730", birth_date=date(1978, 5, 12),
        sex="male", legacy=False,
    )


def test_spaces_lower_case_x_and_full_width_digits_are_accepted() -> None:
    assert parse(" 110105 19491231 002x ", today=TODAY).number == STANDARD_EXAMPLE
    assert parse("１１０１０５１９４９１２３１００２ｘ", today=TODAY).number == STANDARD_EXAMPLE


def test_february_29_only_in_a_leap_year() -> None:
    assert parse("11010120000229123X", today=TODAY).birth_date == date(2000, 2, 29)
    assert parse("130602199602290048", today=TODAY).birth_date == date(1996, 2, 29)
    # 2023 and 1900 (divisible by 100, not by 400) are not leap years.
    number_2023 = "11010120230229123"
    assert rejection(number_2023 + check_digit(number_2023)) == IdRejection.NO_SUCH_DATE
    assert rejection("110101000229123") == IdRejection.NO_SUCH_DATE  # 15 digits: 1900-02-29


def test_wrong_length() -> None:
    assert rejection("11010519491231002") == IdRejection.WRONG_LENGTH
    assert rejection("11010519491231002X1") == IdRejection.WRONG_LENGTH
    assert rejection("") == IdRejection.WRONG_LENGTH


def test_bad_characters() -> None:
    assert rejection("1101051949123100X2") == IdRejection.BAD_CHARACTERS  # X not last
    assert rejection("11010578051200X") == IdRejection.BAD_CHARACTERS  # 15 digits take no X
    assert rejection("11010519491231002Y") == IdRejection.BAD_CHARACTERS
    assert rejection("110105-949123100-X") == IdRejection.BAD_CHARACTERS


def test_bad_check_digit_names_the_expected_one() -> None:
    with pytest.raises(ResidentIdError) as caught:
        parse("110105194912310021", today=TODAY)
    error = caught.value
    assert error.reason == IdRejection.BAD_CHECK_DIGIT
    assert "应为 X" in error.message_zh
    assert "should be X" in error.message_en
    assert "110105194912310021" not in str(error)  # safe to log


def test_unknown_province() -> None:
    for province in ("00", "10", "16", "20", "38", "47", "55", "66", "72", "83", "91"):
        prefix = province + "010119900307663"
        assert rejection(prefix + check_digit(prefix)) == IdRejection.UNKNOWN_PROVINCE


def test_thirty_four_provinces() -> None:
    assert len(PROVINCES) == 34
    assert PROVINCES["13"] == "河北省"


def test_birth_date_in_the_future() -> None:
    prefix = "11010120261102123"
    assert rejection(prefix + check_digit(prefix)) == IdRejection.BIRTH_IN_FUTURE
    born_today = "11010120261101123"
    assert parse(born_today + check_digit(born_today), today=TODAY).birth_date == TODAY


def test_birth_date_before_1900() -> None:
    # The standard's other example: 440524 18800101 001 4, valid but born in 1880.
    assert check_digit("44052418800101001") == "4"
    assert rejection("440524188001010014") == IdRejection.BIRTH_TOO_EARLY


def test_error_is_an_invalid_input_and_a_value_error() -> None:
    with pytest.raises(ResidentIdError) as caught:
        parse("110105194912310021", today=TODAY)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.status_code == 422
    assert caught.value.code == "resident_id_bad_check_digit"


def test_region_table() -> None:
    assert region_known("130730")
    assert region_name("130730") == "怀来县"
    beijing_districts = (1, 2, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19)
    assert all(region_known(f"1101{district:02d}") for district in beijing_districts)
    assert region_known("110103")  # 崇文区, merged into 东城区 in 2010: still on IDs
    assert not region_known("110110")  # never existed
    assert not region_known("440524")  # real, but outside the bundled table


def test_region_table_agrees_with_the_demo_regions() -> None:
    demo = resources.files("yilian.demo").joinpath("regions.csv").read_text(encoding="utf-8")
    for row in csv.DictReader(demo.splitlines()):
        if row["level"] == "county" and row["code"][:2] in ("11", "12", "13"):
            assert region_name(row["code"]) == row["name"]


def test_no_mismatch_when_record_agrees() -> None:
    resident_id = parse("130730197805120315", today=TODAY)
    assert mismatches(resident_id, birth_date=date(1978, 5, 12), sex="male") == []
    assert mismatches(resident_id, birth_date=None, sex=None) == []
    assert mismatches(resident_id, birth_date=None, sex="unknown") == []


def test_mismatches_are_flagged() -> None:
    resident_id = parse("130730197805120315", today=TODAY)
    assert mismatches(resident_id, birth_date=date(1978, 12, 5), sex="female") == [
        IdMismatch.BIRTH_DATE_DIFFERS,
        IdMismatch.SEX_DIFFERS,
    ]
    assert mismatches(resident_id, birth_date=None, sex="女") == [IdMismatch.SEX_DIFFERS]


def test_unknown_region_is_flagged_not_refused() -> None:
    resident_id = parse("440524199003076635", today=TODAY)  # 7 = 326 mod 11 → 5
    assert resident_id.region_code == "440524"
    assert mismatches(resident_id, birth_date=date(1990, 3, 7), sex="male") == [
        IdMismatch.REGION_UNKNOWN
    ]


def test_mask() -> None:
    assert mask(STANDARD_EXAMPLE) == "110105********002X"
    assert mask("11010519491231002x") == "110105********002X"
    assert mask("130730780512031") == "130730*****2031"
    assert mask("1234567890") == "**********"


# Any single substituted character is caught: the weights 2^(18-i) mod 11 are all non-zero,
# 11 is prime, and two different digits differ by 1..9, never a multiple of 11; so the
# weighted sum mod 11, and with it the check character, changes.
# (Not every adjacent transposition is caught, so none is asserted here.)
valid_prefixes = st.builds(
    lambda province, county, born, sequence: f"{province}{county}{born:%Y%m%d}{sequence}",
    st.sampled_from(sorted(PROVINCES)),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
)


@given(prefix=valid_prefixes)
def test_any_real_prefix_with_its_check_digit_parses(prefix: str) -> None:
    number = prefix + check_digit(prefix)
    assert parse(number, today=TODAY).number == number


@given(prefix=valid_prefixes, position=st.integers(0, 17), data=st.data())
def test_any_single_substitution_is_refused(
    prefix: str, position: int, data: st.DataObject
) -> None:
    number = prefix + check_digit(prefix)
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    assert check_digit(changed[:17]) != changed[17]
    with pytest.raises(ResidentIdError):
        parse(changed, today=TODAY)


def test_every_single_substitution_of_one_number_is_refused() -> None:
    for position in range(18):
        for replacement in "0123456789X" if position == 17 else "0123456789":
            changed = STANDARD_EXAMPLE[:position] + replacement + STANDARD_EXAMPLE[position + 1 :]
            if changed != STANDARD_EXAMPLE:
                assert check_digit(changed[:17]) != changed[17], changed
