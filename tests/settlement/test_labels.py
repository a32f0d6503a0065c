"""Every settlement enum member has a Chinese and an English name."""

from __future__ import annotations

import pytest

from yilian.settlement import labels


@pytest.mark.parametrize("names", labels.ALL_LABELS)
def test_every_member_has_both_names(names: dict[object, tuple[str, str]]) -> None:
    enum_type = type(next(iter(names)))
    assert set(names) == set(enum_type)  # type: ignore[call-overload]
    for member, (zh, en) in names.items():
        assert zh and en
        assert labels.name_of(member, "zh") == zh  # type: ignore[arg-type]
        assert labels.name_of(member, "en") == en  # type: ignore[arg-type]


def test_slip_amounts_print_with_separators() -> None:
    assert labels.yuan("1250") == "1,250.00"
    assert labels.field_name("hifp_pay", "zh") == "统筹基金支出"
