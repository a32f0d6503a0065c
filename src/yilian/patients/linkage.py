"""Score record pairs with the trained Splink model, one registration at a time.

Splink builds the SQL that turns a pair of records into comparison levels and a match
probability; we ask it once per process (through its real-time `compare_records`, with the
SQL cached) and then run that SQL in an in-process DuckDB against the handful of candidate
records the database found. That keeps an online registration in milliseconds while the
scoring stays Splink's, with the trained m and u probabilities from `empi_model.json`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI
from splink.internals.realtime import compare_records

from yilian.patients import model

__all__ = [
    "COMPARISONS",
    "DEFAULT_MODEL_PATH",
    "FieldEvidence",
    "PairScore",
    "Scorer",
    "scorer_for",
]

DEFAULT_MODEL_PATH = Path(__file__).with_name("empi_model.json")

#: Output columns of the model's comparisons, in the order evidence is shown.
COMPARISONS = ("name", "sex", "birth_date", "phone", "address", "id_key")

_LEFT = "empi_new_record"
_RIGHT = "empi_candidate"


@dataclass(frozen=True, slots=True)
class FieldEvidence:
    """How one field of a pair compared: the level's label and its weight of evidence."""

    comparison: str
    level: int
    label: str
    match_weight: float


@dataclass(frozen=True, slots=True)
class PairScore:
    """A candidate record scored against a new one."""

    candidate_id: str
    match_probability: float
    match_weight: float
    evidence: tuple[FieldEvidence, ...]


def _arrow(rows: Sequence[Mapping[str, str | None]]) -> pa.Table:
    schema = pa.schema([(column, pa.string()) for column in model.COLUMNS])
    return pa.Table.from_pylist([dict(row) for row in rows], schema=schema)


class Scorer:
    """The trained model's scoring SQL, compiled once, run on candidate pairs."""

    def __init__(self, model_path: Path = DEFAULT_MODEL_PATH) -> None:
        self.model_path = model_path
        self.model: dict[str, Any] = json.loads(model_path.read_text(encoding="utf-8"))
        # One thread: a handful of pairs gains nothing from more, and idle DuckDB workers
        # would compete with the request threads for the CPU.
        self._connection = duckdb.connect(config={"threads": 1})
        self._sql = self._compile()
        self._labels = self._level_labels()
        self._local = threading.local()

    def _compile(self) -> str:
        """Ask Splink for the pair-scoring SQL, with our own table names in it."""
        probe = {column: None for column in model.COLUMNS} | {"unique_id": "probe"}
        db_api = DuckDBAPI(connection=self._connection)
        frame = compare_records(
            _arrow([probe]), _arrow([probe]), self.model, db_api, sql_cache_key=None
        )
        sql = frame.sql_used_to_create
        if sql is None:  # pragma: no cover - Splink always records it
            raise RuntimeError("Splink did not return its scoring SQL")
        frame.drop_table_from_database_and_remove_from_cache()
        sql = re.sub(r"__splink__compare_records_left_\w+", _LEFT, sql)
        return re.sub(r"__splink__compare_records_right_\w+", _RIGHT, sql)

    def _level_labels(self) -> dict[tuple[str, int], str]:
        labels: dict[tuple[str, int], str] = {}
        for comparison in self.model["comparisons"]:
            levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
            # Splink numbers the non-null levels from the highest, ending at the else level 0.
            for gamma, level in zip(range(len(levels) - 1, -1, -1), levels, strict=True):
                labels[(comparison["output_column_name"], gamma)] = str(
                    level.get("label_for_charts") or level.get("sql_condition")
                )
            labels[(comparison["output_column_name"], -1)] = "missing"
        return labels

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's DuckDB cursor, with its two scratch tables and the prepared SQL."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._connection.cursor()
            columns = ", ".join(f"{column} VARCHAR" for column in model.COLUMNS)
            cursor.execute(f"CREATE TEMP TABLE {_LEFT} ({columns})")
            cursor.execute(f"CREATE TEMP TABLE {_RIGHT} ({columns})")
            cursor.execute(f"PREPARE score_pairs AS {self._sql}")
            self._local.cursor = cursor
        return cursor

    def score(
        self,
        record: Mapping[str, str | None],
        candidates: Sequence[Mapping[str, str | None]],
    ) -> list[PairScore]:
        """Score `record` against each candidate, best first."""
        if not candidates:
            return []
        cursor = self._cursor()
        # Table names are this module's constants; values go in as parameters.
        placeholders = ", ".join("?" * len(model.COLUMNS))
        cursor.execute(f"DELETE FROM {_LEFT}")  # noqa: S608
        cursor.execute(f"DELETE FROM {_RIGHT}")  # noqa: S608
        cursor.execute(
            f"INSERT INTO {_LEFT} VALUES ({placeholders})",  # noqa: S608
            [record.get(column) for column in model.COLUMNS],
        )
        value_rows = ", ".join(f"({placeholders})" for _ in candidates)
        cursor.execute(
            f"INSERT INTO {_RIGHT} VALUES {value_rows}",  # noqa: S608
            [candidate.get(column) for candidate in candidates for column in model.COLUMNS],
        )
        result = cursor.execute("EXECUTE score_pairs")
        columns = [d[0] for d in result.description or ()]
        scores = [self._pair(dict(zip(columns, row, strict=True))) for row in result.fetchall()]
        return sorted(scores, key=lambda s: (-s.match_weight, s.candidate_id))

    def _pair(self, row: dict[str, Any]) -> PairScore:
        evidence = []
        for comparison in COMPARISONS:
            gamma = int(row[f"gamma_{comparison}"])
            evidence.append(
                FieldEvidence(
                    comparison=comparison,
                    level=gamma,
                    label=self._labels.get((comparison, gamma), str(gamma)),
                    match_weight=float(row[f"mw_{comparison}"]),
                )
            )
        return PairScore(
            candidate_id=str(row["unique_id_r"]),
            match_probability=float(row["match_probability"]),
            match_weight=float(row["match_weight"]),
            evidence=tuple(evidence),
        )


@lru_cache(maxsize=4)
def scorer_for(model_path: Path = DEFAULT_MODEL_PATH) -> Scorer:
    """The process's scorer for a model file, compiled on first use."""
    return Scorer(model_path)
