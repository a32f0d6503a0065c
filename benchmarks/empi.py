"""EMPI benchmark: how fast and how well the patient index links one file of source records.

It generates N synthetic patient records over 20 institutions with known truth
(``yilian.patients.synthetic``), writes the batch input CSV and the truth CSV (timed apart,
not counted as linking), then links the same file three ways and times each end to end,
from reading the CSV to having a cluster for every record:

  yilian          ``yilian.patients.batch.link_csv(input, output)``, clusters from its output
  splink          plain Splink 5 on DuckDB as a competent user writes it: pinyin name column,
                  blocking, comparisons, u by random sampling, m by EM, predict, cluster at 0.95
  recordlinkage   the recordlinkage toolkit: the same blocking, binary comparisons, the ECM
                  classifier, connected components

Accuracy is pairwise against the truth: precision, recall and F1 of the record pairs that
share a predicted cluster, counted from the cluster contingency table (no pair is listed, so
it works at a million records). Speed is wall-clock seconds and records per second; report
Yilian's speed as its ratio to plain Splink measured in the same run, since machines are noisy.

Run from the repository root (recordlinkage: ``pip install -e '.[bench]'``):

    python benchmarks/empi.py --records 100000
    python benchmarks/empi.py --records 1000000 --seed 1 --skip recordlinkage --workdir /tmp/empi

Blocking for both baselines is on birth date, resident ID, phone, and pinyin name with birth
year: pinyin name alone puts every 王伟 beside every other (171 million pairs at a million
records), which no competent user would run.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from pypinyin import lazy_pinyin
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from yilian.patients import synthetic

# Imported here, not while timed. The engine under test may not exist yet, and
# recordlinkage is an optional extra ('.[bench]'): the benchmark runs without either.
try:
    from yilian.patients import batch
except ModuleNotFoundError as missing:
    if missing.name != "yilian.patients.batch":
        raise  # the engine exists but something it needs does not: say so
    batch = None
try:
    import recordlinkage
except ImportError:
    recordlinkage = None

SOURCES = [f"H{number:02d}" for number in range(1, 21)]
METHODS = ("yilian", "splink", "recordlinkage")


@dataclass(frozen=True)
class Scores:
    """Pairwise accuracy of a clustering against the truth."""

    precision: float
    recall: float
    f1: float
    predicted_pairs: int
    true_pairs: int


@dataclass(frozen=True)
class Result:
    """One method's run: its time, end to end, and its accuracy."""

    method: str
    seconds: float
    scores: Scores


def main(argv: list[str] | None = None) -> int:
    """Generate, link three ways, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, required=True, help="how many source records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--skip", action="append", choices=METHODS, default=[], help="leave a method out"
    )
    parser.add_argument("--workdir", type=Path, help="keep the CSV files here (default: temp)")
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be at least 1")

    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="empi-bench-") as workdir:
            return run(args.records, args.seed, set(args.skip), Path(workdir))
    args.workdir.mkdir(parents=True, exist_ok=True)
    return run(args.records, args.seed, set(args.skip), args.workdir)


def run(n_records: int, seed: int, skip: set[str], workdir: Path) -> int:
    """The whole benchmark in one working directory."""
    input_path, truth_path = workdir / "input.csv", workdir / "truth.csv"
    started = time.perf_counter()
    records = synthetic.generate(n_records, sources=SOURCES, seed=seed)
    generated = time.perf_counter() - started
    synthetic.write_csv(records, input_path)
    synthetic.write_truth(records, truth_path)
    written = time.perf_counter() - started - generated
    people = len({record.person_key for record in records})
    del records
    print(
        f"{n_records:,} records of {people:,} people over {len(SOURCES)} sources (seed {seed}): "
        f"generated in {generated:.1f} s, CSVs written in {written:.1f} s -> {workdir}",
        flush=True,
    )
    truth = pd.read_csv(truth_path, dtype=str).set_index("record_id")["person_key"]

    linkers: dict[str, Callable[[Path, Path], pd.Series | None]] = {
        "yilian": link_with_yilian,
        "splink": link_with_splink,
        "recordlinkage": link_with_recordlinkage,
    }
    results: list[Result] = []
    for method, link in linkers.items():
        if method in skip:
            print(f"{method}: skipped (--skip {method})", flush=True)
            continue
        print(f"{method}: linking …", flush=True)
        started = time.perf_counter()
        clusters = link(input_path, workdir / f"{method}_clusters.csv")
        seconds = time.perf_counter() - started
        if clusters is None:
            continue
        result = Result(method, seconds, pairwise_scores(truth, clusters))
        results.append(result)
        print(f"{method}: {seconds:.1f} s, F1 {result.scores.f1:.4f}", flush=True)
    print_table(n_records, results)
    return 0


def pairwise_scores(truth: pd.Series, clusters: pd.Series) -> Scores:
    """Pairwise precision and recall from cluster sizes; records left out are singletons."""
    frame = pd.DataFrame({"person": truth})
    cluster_codes, _ = pd.factorize(clusters.reindex(frame.index))  # -1 where left out
    unclustered = cluster_codes == -1
    cluster_codes[unclustered] = cluster_codes.max() + 1 + np.arange(unclustered.sum())
    frame["cluster"] = cluster_codes

    def pairs(sizes: pd.Series) -> int:
        counts = sizes.to_numpy(dtype=np.int64)
        return int((counts * (counts - 1) // 2).sum())

    true_positive = pairs(frame.groupby(["cluster", "person"]).size())
    predicted = pairs(frame.groupby("cluster").size())
    actual = pairs(frame.groupby("person").size())
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, predicted, actual)


def print_table(n_records: int, results: list[Result]) -> None:
    """The figures, one line a method, and Yilian's speed against plain Splink."""
    print()
    header = (
        f"{'method':<14}{'seconds':>9}{'records/s':>12}{'precision':>11}{'recall':>9}"
        f"{'F1':>9}{'pred pairs':>13}"
    )
    true_pairs = f"; {results[0].scores.true_pairs:,} true pairs" if results else ""
    print(f"N = {n_records:,} records{true_pairs}")
    print(header)
    print("-" * len(header))
    for result in results:
        scores = result.scores
        print(
            f"{result.method:<14}{result.seconds:>9.1f}{n_records / result.seconds:>12,.0f}"
            f"{scores.precision:>11.4f}{scores.recall:>9.4f}{scores.f1:>9.4f}"
            f"{scores.predicted_pairs:>13,}"
        )
    by_method = {result.method: result for result in results}
    if "yilian" in by_method and "splink" in by_method:
        ratio = by_method["splink"].seconds / by_method["yilian"].seconds
        print(f"\nYilian speed vs plain Splink, same run: {ratio:.2f}x")


def link_with_yilian(input_path: Path, output_path: Path) -> pd.Series | None:
    """The engine under test: its output CSV names each record's person."""
    if batch is None:
        print("yilian: not available (yilian.patients.batch cannot be imported yet)")
        return None
    batch.link_csv(input_path, output_path)
    output = pd.read_csv(output_path, dtype=str, usecols=["record_id", "person_id"])
    return output.set_index("record_id")["person_id"]


def read_input(input_path: Path) -> pd.DataFrame:
    """The batch input with empty fields as nulls, a pinyin name and a birth year added."""
    frame = pd.read_csv(input_path, dtype=str, keep_default_na=False, na_values=[""])
    frame = frame.astype(object).where(frame.notna(), None)
    readings: dict[str, str] = {}

    def pinyin_of(name: str) -> str:
        reading = readings.get(name)
        if reading is None:
            if name.isascii():  # a pinyin-only record: "Zhang Wei"
                reading = name.replace(" ", "").lower()
            else:
                reading = "".join(lazy_pinyin(name)).lower()
            readings[name] = reading
        return reading

    frame["name_pinyin"] = [pinyin_of(name) if name else None for name in frame["name"]]
    frame["birth_year"] = [date[:4] if date else None for date in frame["birth_date"]]
    return frame


def link_with_splink(input_path: Path, output_path: Path) -> pd.Series:
    """Plain Splink 5 on DuckDB; every step, training included, is timed."""
    frame = read_input(input_path)
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        blocking_rules_to_generate_predictions=[
            block_on("birth_date"),
            block_on("id_number"),
            block_on("name_pinyin", "birth_year"),
            block_on("phone"),
        ],
        comparisons=[
            cl.CustomComparison(
                output_column_name="name",
                comparison_levels=[
                    cll.NullLevel("name_pinyin"),
                    cll.ExactMatchLevel("name", term_frequency_adjustments=True),
                    cll.ExactMatchLevel("name_pinyin"),
                    cll.JaroWinklerLevel("name_pinyin", 0.92),
                    cll.JaroWinklerLevel("name_pinyin", 0.80),
                    cll.ElseLevel(),
                ],
            ),
            cl.DateOfBirthComparison(
                "birth_date", input_is_string=True, datetime_format="%Y-%m-%d"
            ),
            cl.LevenshteinAtThresholds("phone", [1, 2]),
            cl.JaccardAtThresholds("address", [0.9, 0.7]),
            cl.ExactMatch("id_number"),
            cl.ExactMatch("sex"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(frame), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number"), block_on("name", "birth_date", "phone")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    for rule in (block_on("birth_date"), block_on("phone")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=5e6)
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.95)
    clusters = clustered.as_pandas_dataframe()[["record_id", "cluster_id"]]
    clusters.to_csv(output_path, index=False)
    return clusters.set_index("record_id")["cluster_id"].astype(str)


def link_with_recordlinkage(input_path: Path, output_path: Path) -> pd.Series | None:
    """The recordlinkage toolkit: blocking, binary comparisons, ECM, connected components."""
    if recordlinkage is None:
        print("recordlinkage: not installed (pip install -e '.[bench]')")
        return None
    frame = read_input(input_path).set_index("record_id")
    indexer = recordlinkage.Index()
    indexer.block("birth_date")
    indexer.block("id_number")
    indexer.block(["name_pinyin", "birth_year"])
    indexer.block("phone")
    candidates = indexer.index(frame)

    compare = recordlinkage.Compare()
    compare.exact("name", "name", label="name")
    compare.string("name_pinyin", "name_pinyin", method="jarowinkler", threshold=0.9,
                   label="name_pinyin")  # fmt: skip
    compare.exact("birth_date", "birth_date", label="birth_date")
    compare.string("phone", "phone", method="levenshtein", threshold=0.8, label="phone")
    compare.string("address", "address", method="qgram", threshold=0.7, label="address")
    compare.exact("id_number", "id_number", label="id_number")
    compare.exact("sex", "sex", label="sex")
    features = compare.compute(candidates, frame).astype(int)

    matches = recordlinkage.ECMClassifier(binarize=None).fit_predict(features)

    position = pd.Series(np.arange(len(frame)), index=frame.index)
    left = position.loc[matches.get_level_values(0)].to_numpy()
    right = position.loc[matches.get_level_values(1)].to_numpy()
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(len(frame), len(frame)))
    _, labels = connected_components(graph, directed=False)
    clusters = pd.Series(labels.astype(str), index=frame.index, name="cluster_id")
    clusters.rename_axis("record_id").to_csv(output_path)
    return clusters


if __name__ == "__main__":
    sys.exit(main())
