"""The Fellegi–Sunter linkage model: what Splink compares and how pairs are found.

The comparisons and blocking rules live here as code; the trained m and u probabilities
live in `empi_model.json` beside this file (written by `yilian patients train`), so a
hospital can retrain on its own records without touching the code.
"""

from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator

__all__ = ["BLOCKING_RULES", "COLUMNS", "settings"]

#: The feature columns of `features.LinkFeatures`, in the order the model reads them.
COLUMNS = (
    "unique_id",
    "name_zh",
    "name_py",
    "surname_py",
    "sex",
    "birth_date",
    "birth_date_swapped",
    "phone",
    "address",
    "id_key",
)

# Two records that both carry a valid resident ID are the same person exactly when the
# IDs are equal; that is decided without the model, so no rule pairs them here.
_NOT_BOTH_ID = "(l.id_key IS NULL OR r.id_key IS NULL)"

#: Ways to find candidate pairs: each finds a person whose other fields were mistyped.
BLOCKING_RULES = (
    f"l.name_py = r.name_py AND l.birth_date = r.birth_date AND {_NOT_BOTH_ID}",
    f"l.name_py = r.name_py AND l.birth_date = r.birth_date_swapped AND {_NOT_BOTH_ID}",
    f"l.phone = r.phone AND {_NOT_BOTH_ID}",
    f"l.surname_py = r.surname_py AND l.birth_date = r.birth_date AND {_NOT_BOTH_ID}",
    f"l.name_py = r.name_py AND substr(l.birth_date, 1, 7) = substr(r.birth_date, 1, 7)"
    f" AND {_NOT_BOTH_ID}",
)


def _name() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_py"),
            cll.ExactMatchLevel("name_zh").configure(label_for_charts="same characters"),
            cll.ExactMatchLevel("name_py").configure(label_for_charts="same pinyin"),
            cll.JaroWinklerLevel("name_py", 0.92),
            cll.CustomLevel(
                "surname_py_l = surname_py_r", label_for_charts="same surname"
            ),
            cll.ElseLevel(),
        ],
    )


def _birth_date() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(
                "birth_date_l = birth_date_swapped_r", label_for_charts="day and month swapped"
            ),
            cll.CustomLevel(
                "substr(birth_date_l, 1, 7) = substr(birth_date_r, 1, 7)"
                " OR (substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)"
                " AND substr(birth_date_l, 9, 2) = substr(birth_date_r, 9, 2))",
                label_for_charts="one of day or month differs",
            ),
            cll.ElseLevel(),
        ],
    )


def _phone() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone"),
            cll.ExactMatchLevel("phone"),
            cll.DamerauLevenshteinLevel("phone", 1),
            cll.ElseLevel(),
        ],
    )


def _address() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.NullLevel("address"),
            cll.ExactMatchLevel("address"),
            cll.JaroWinklerLevel("address", 0.9),
            cll.ElseLevel(),
        ],
    )


def settings(*, blocking: bool = True) -> SettingsCreator:
    """The model's settings, untrained: comparisons, blocking rules and columns kept."""
    creator_args: dict[str, Any] = {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": [
            _name(),
            cl.ExactMatch("sex"),
            _birth_date(),
            _phone(),
            _address(),
            cl.ExactMatch("id_key"),
        ],
        "blocking_rules_to_generate_predictions": list(BLOCKING_RULES) if blocking else [],
        "retain_intermediate_calculation_columns": False,
        "retain_matching_columns": False,
    }
    return SettingsCreator(**creator_args)
