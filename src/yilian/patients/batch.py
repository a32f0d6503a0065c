"""Link a whole file of patient records at once: `yilian patients link INPUT.csv -o OUT.csv`.

The batch path reaches the same decisions as registering the records one by one:
- features are computed in DuckDB with the same rules as `features.py` (a test holds the two
  equal), names through pypinyin once per distinct name;
- a valid resident ID decides by itself: equal IDs are one person, different IDs never are;
- other pairs come from `model.BLOCKING_RULES` and are scored by Splink with the trained
  model (`empi_model.json`); pairs at or above the link threshold join people, strongest
  first, never joining two people who hold different resident IDs.
Pairs between the review and link thresholds are listed for review (`--review FILE`).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker

from yilian.errors import InvalidInput
from yilian.patients import model
from yilian.patients.features import (
    ADDRESS_NOISE,
    ADDRESS_PUNCT,
    FULL_WIDTH,
    HALF_WIDTH,
    name_pinyin,
    normalise_name,
)
from yilian.patients.linkage import DEFAULT_MODEL_PATH
from yilian.patients.resident_id import CHECK_CHARACTERS, PROVINCES, WEIGHTS

__all__ = ["INPUT_COLUMNS", "BatchSummary", "Progress", "features_of_file", "link_csv", "train_csv"]

INPUT_COLUMNS = (
    "record_id", "source", "local_id", "name", "sex", "birth_date", "id_number", "phone",
    "address",
)
OUTPUT_COLUMNS = ("record_id", "person_id", "match_probability")

#: Called with a step's name, how far it is and how far it goes.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run did, for the command's last lines and the benchmark."""

    records: int
    people: int
    linked_by_id: int
    linked_by_model: int
    invalid_ids: int
    review_pairs: int
    seconds: float


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _features_sql(source: str, today: date) -> str:
    """DuckDB SQL computing the model's features from the raw input (see features.py)."""
    def fold(column: str) -> str:
        return f"translate(COALESCE({column}, ''), {_quote(FULL_WIDTH)}, {_quote(HALF_WIDTH)})"

    weights = " + ".join(
        f"CAST(substr(id17, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(WEIGHTS)
    )
    provinces = ", ".join(_quote(code) for code in PROVINCES)
    # Built from this module's constants and a table name, never from the file's content.
    return f"""
    WITH raw AS (
        SELECT row_number() OVER () AS row_no, record_id, source,
               upper(regexp_replace({fold("id_number")}, '\\s', '', 'g')) AS idn,
               regexp_replace({fold("phone")}, '[^0-9]', '', 'g') AS phone_digits,
               regexp_replace(
                   regexp_replace({fold("address")}, {_quote(ADDRESS_PUNCT)}, '', 'g'),
                   {_quote(ADDRESS_NOISE)}, '') AS address_key,
               CASE lower(trim(COALESCE(sex, '')))
                   WHEN 'male' THEN 'male' WHEN 'm' THEN 'male' WHEN '男' THEN 'male'
                   WHEN 'female' THEN 'female' WHEN 'f' THEN 'female' WHEN '女' THEN 'female'
               END AS sex,
               TRY_CAST(NULLIF(trim(birth_date), '') AS DATE) AS stated_birth_date,
               NULLIF(trim(name), '') AS name
        FROM {source}
    ), ids AS (
        SELECT *,
               CASE WHEN regexp_full_match(idn, '[0-9]{{15}}')
                        THEN substr(idn, 1, 6) || '19' || substr(idn, 7, 9)
                    WHEN regexp_full_match(idn, '[0-9]{{17}}[0-9X]') THEN substr(idn, 1, 17)
               END AS id17
        FROM raw
    ), checked AS (
        SELECT *,
               id17 || substr({_quote(CHECK_CHARACTERS)}, (({weights}) % 11) + 1, 1) AS id18,
               TRY_CAST(strptime(substr(id17, 7, 8), '%Y%m%d') AS DATE) AS id_birth_date
        FROM ids
    ), valid AS (
        SELECT *,
               CASE WHEN id17 IS NOT NULL
                     AND substr(id17, 1, 2) IN ({provinces})
                     AND id_birth_date BETWEEN DATE '1900-01-01' AND DATE '{today.isoformat()}'
                     AND (length(idn) = 15 OR idn = id18)
                    THEN id18 END AS id_key
        FROM checked
    ), dated AS (
        SELECT *, COALESCE(stated_birth_date,
                           CASE WHEN id_key IS NOT NULL THEN id_birth_date END) AS born
        FROM valid
    )
    SELECT row_no, CAST(row_no AS VARCHAR) AS unique_id, record_id, name, sex,
           strftime(born, '%Y-%m-%d') AS birth_date,
           CASE WHEN day(born) <= 12 AND day(born) <> month(born)
                THEN strftime(make_date(year(born), day(born), month(born)), '%Y-%m-%d')
           END AS birth_date_swapped,
           CASE WHEN length(phone_digits) = 13 AND starts_with(phone_digits, '86')
                THEN substr(phone_digits, 3)
                WHEN length(phone_digits) >= 7 THEN phone_digits END AS phone,
           NULLIF(address_key, '') AS address,
           id_key,
           idn <> '' AND id_key IS NULL AS invalid_id
    FROM dated
    """


def _read_input(connection: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Load the CSV as text into table `input`, refusing a file we cannot link."""
    if not path.is_file():
        raise InvalidInput("file_not_found", f"找不到文件：{path}", f"No such file: {path}")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    missing = [c for c in ("record_id", "source") if c not in header]
    unknown = [c for c in header if c not in INPUT_COLUMNS]
    if missing or unknown:
        raise InvalidInput(
            "bad_columns",
            f"列名不符：缺少 {missing or '无'}，多余 {unknown or '无'}；"
            f"应为 {','.join(INPUT_COLUMNS)}",
            f"Wrong columns: missing {missing or 'none'}, unexpected {unknown or 'none'}; "
            f"expected {','.join(INPUT_COLUMNS)}",
        )
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in header)  # names checked above
    connection.execute(
        f"CREATE TABLE input AS SELECT * FROM read_csv(?, header = true, columns = {{{columns}}},"
        " quote = '\"', escape = '\"', strict_mode = true)",
        [str(path)],
    )
    for column in INPUT_COLUMNS:
        if column not in header:
            connection.execute(f"ALTER TABLE input ADD COLUMN {column} VARCHAR")
    problems = connection.execute(
        "SELECT count(*) FILTER (WHERE NULLIF(trim(record_id), '') IS NULL),"
        " count(*) - count(DISTINCT record_id), count(*) FROM input"
    ).fetchall()[0]
    if problems[0] or problems[1]:
        raise InvalidInput(
            "bad_record_ids",
            f"record_id 必须填写且不重复：{problems[0]} 行为空，{problems[1]} 行重复",
            f"record_id must be present and unique: {problems[0]} empty, "
            f"{problems[1]} repeated",
        )
    return int(problems[2])


def _name_table(connection: duckdb.DuckDBPyConnection) -> None:
    """Pinyin for each distinct name, computed once in Python (pypinyin)."""
    names = [row[0] for row in connection.execute(
        "SELECT DISTINCT name FROM features WHERE name IS NOT NULL"
    ).fetchall()]
    name_zh, name_py, surname_py = [], [], []
    for name in names:
        clean = normalise_name(name)
        surname, full = name_pinyin(clean) if clean else ("", "")
        is_chinese = bool(clean) and any("\u3400" <= ch <= "\u9fff" for ch in clean or "")
        name_zh.append(clean if is_chinese else None)
        name_py.append(full or None)
        surname_py.append(surname or None)
    connection.register(
        "name_rows",
        pa.table({"name": names, "name_zh": name_zh, "name_py": name_py,
                  "surname_py": surname_py}),
    )
    connection.execute("CREATE TABLE names AS SELECT * FROM name_rows")
    connection.unregister("name_rows")


def features_of_file(path: Path, *, today: date | None = None) -> list[dict[str, str | None]]:
    """The model's input rows for a file, as the batch path computes them (for checking)."""
    connection = duckdb.connect()
    try:
        _prepare(connection, path, today or date.today())
        result = connection.execute(
            "SELECT f.record_id, l.* FROM linkage_input l JOIN features f USING (unique_id)"
            " ORDER BY f.row_no"
        )
        columns = [d[0] for d in result.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
    finally:
        connection.close()


def _prepare(connection: duckdb.DuckDBPyConnection, path: Path, today: date) -> int:
    """Read the file and compute table `linkage_input`, the model's input; return the count."""
    total = _read_input(connection, path)
    connection.execute("CREATE TABLE features AS " + _features_sql("input", today))
    _name_table(connection)
    connection.execute(
        """CREATE TABLE linkage_input AS
           SELECT f.unique_id, n.name_zh, n.name_py, n.surname_py, f.sex, f.birth_date,
                  f.birth_date_swapped, f.phone, f.address, f.id_key
           FROM features f LEFT JOIN names n USING (name) ORDER BY f.row_no"""
    )
    return total


def _linker(connection: duckdb.DuckDBPyConnection, model_path: Path) -> Linker:
    settings: dict[str, Any] = json.loads(model_path.read_text(encoding="utf-8"))
    settings["blocking_rules_to_generate_predictions"] = list(model.BLOCKING_RULES)
    settings["retain_matching_columns"] = False
    settings["retain_intermediate_calculation_columns"] = False
    db_api = DuckDBAPI(connection=connection)
    table = db_api.register("linkage_input")
    return Linker(table, settings, log_level=logging.WARNING)


class _People:
    """Union–find over records that never joins two different resident IDs."""

    def __init__(self, id_keys: list[str | None]) -> None:
        self.parent = list(range(len(id_keys)))
        self.id_key = list(id_keys)
        self.probability: list[float | None] = [None] * len(id_keys)

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def join(self, left: int, right: int, probability: float) -> bool:
        a, b = self.find(left), self.find(right)
        if a == b:
            return False
        key_a, key_b = self.id_key[a], self.id_key[b]
        if key_a is not None and key_b is not None and key_a != key_b:
            return False
        if b < a:
            a, b = b, a
        self.parent[b] = a
        self.id_key[a] = key_a or key_b
        for record in (left, right):
            if self.probability[record] is None or probability > (self.probability[record] or 0):
                self.probability[record] = probability
        return True


def link_csv(
    input_path: Path,
    output_path: Path,
    *,
    link_threshold: float = 0.95,
    review_threshold: float = 0.30,
    model_path: Path | None = None,
    review_path: Path | None = None,
    progress: Progress | None = None,
    today: date | None = None,
) -> BatchSummary:
    """Link every record of the input file to a person and write the output file."""
    started = time.perf_counter()
    step = progress or (lambda _name, _done, _total: None)
    connection = duckdb.connect()
    try:
        total = _prepare(connection, input_path, today or date.today())
        step("features", total, total)
        linker = _linker(connection, model_path or DEFAULT_MODEL_PATH)
        predictions = linker.inference.predict(threshold_match_probability=review_threshold)
        edges = connection.execute(
            f"""SELECT CAST(unique_id_l AS BIGINT) - 1, CAST(unique_id_r AS BIGINT) - 1,
                       match_probability
                FROM {predictions.physical_name} ORDER BY match_weight DESC"""
        ).fetchall()
        step("scored", len(edges), len(edges))
        rows = connection.execute(
            "SELECT record_id, id_key, invalid_id FROM features ORDER BY row_no"
        ).fetchall()
        people = _People([row[1] for row in rows])
        by_id = _join_same_ids(people, rows)
        by_model, review = 0, []
        for left, right, probability in edges:
            if probability >= link_threshold:
                by_model += people.join(int(left), int(right), float(probability))
            else:
                review.append((int(left), int(right), float(probability)))
        review = [(a, b, p) for a, b, p in review if people.find(a) != people.find(b)]
        person_count = _write_output(output_path, rows, people, step)
        if review_path is not None:
            _write_review(review_path, rows, review)
        summary = BatchSummary(
            records=total,
            people=person_count,
            linked_by_id=by_id,
            linked_by_model=by_model,
            invalid_ids=sum(1 for row in rows if row[2]),
            review_pairs=len(review),
            seconds=time.perf_counter() - started,
        )
        return summary
    finally:
        connection.close()


def _join_same_ids(people: _People, rows: list[tuple[Any, ...]]) -> int:
    first: dict[str, int] = {}
    joined = 0
    for index, (_, id_key, _) in enumerate(rows):
        if id_key is None:
            continue
        if id_key in first:
            joined += people.join(first[id_key], index, 1.0)
        else:
            first[id_key] = index
    return joined


def _write_output(
    path: Path, rows: list[tuple[Any, ...]], people: _People, step: Progress
) -> int:
    person_ids: dict[int, str] = {}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        for index, row in enumerate(rows):
            root = people.find(index)
            person = person_ids.setdefault(root, f"P{len(person_ids) + 1:07d}")
            probability = people.probability[index]
            writer.writerow((row[0], person, "" if probability is None else f"{probability:.6f}"))
            if index % 100_000 == 0:
                step("write", index, len(rows))
    step("write", len(rows), len(rows))
    return len(person_ids)


def _write_review(
    path: Path, rows: list[tuple[Any, ...]], review: list[tuple[int, int, float]]
) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("record_id_l", "record_id_r", "match_probability"))
        for left, right, probability in review:
            writer.writerow((rows[left][0], rows[right][0], f"{probability:.6f}"))


# The least m and u probability a trained level keeps: a level never seen among matches
# in training must not make a match impossible, only unlikely (at most about -10 bits).
_FLOORS = {"m_probability": 1e-3, "u_probability": 1e-6}


def train_csv(
    input_path: Path,
    output_path: Path,
    *,
    max_pairs: float = 5e6,
    progress: Progress | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Train the model's m and u probabilities on a file of records (unsupervised, EM)."""
    step = progress or (lambda _name, _done, _total: None)
    connection = duckdb.connect()
    try:
        total = _prepare(connection, input_path, today or date.today())
        step("features", total, total)
        db_api = DuckDBAPI(connection=connection)
        table = db_api.register("linkage_input")
        linker = Linker(table, model.settings(), log_level=logging.WARNING)
        training = linker.training
        training.estimate_probability_two_random_records_match(
            ["l.id_key = r.id_key", "l.phone = r.phone AND l.birth_date = r.birth_date"],
            recall=0.8,
        )
        training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=1)
        step("u", 1, 3)
        training.estimate_parameters_using_expectation_maximisation(
            "l.birth_date = r.birth_date", estimate_without_term_frequencies=True
        )
        step("em", 2, 3)
        training.estimate_parameters_using_expectation_maximisation(
            "l.name_py = r.name_py", estimate_without_term_frequencies=True
        )
        step("em", 3, 3)
        trained: dict[str, Any] = linker.misc.save_model_to_json()
    finally:
        connection.close()
    for comparison in trained["comparisons"]:
        for level in comparison["comparison_levels"]:
            for key in ("m_probability", "u_probability"):
                if key in level and level[key] is not None:
                    level[key] = max(float(level[key]), _FLOORS[key])
    trained.pop("linker_uid", None)
    output_path.write_text(json.dumps(trained, indent=2, ensure_ascii=False), encoding="utf-8")
    return trained
