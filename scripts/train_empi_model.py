"""Re-train the shipped linkage model (src/yilian/patients/empi_model.json) reproducibly.

    python scripts/train_empi_model.py [--records 200000] [--seed 7]

Generates synthetic Jing-Jin-Ji records (yilian.patients.synthetic) and runs the same
unsupervised training a hospital runs on its own file with `yilian patients train`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from yilian.patients import batch, synthetic
from yilian.patients.linkage import DEFAULT_MODEL_PATH

SOURCES = tuple(f"H{number:02d}" for number in range(20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_MODEL_PATH)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "records.csv"
        synthetic.write_csv(synthetic.generate(args.records, sources=SOURCES, seed=args.seed),
                            source)
        trained = batch.train_csv(source, args.output)
    print(f"{args.output}: λ = {trained['probability_two_random_records_match']:.3g}")


if __name__ == "__main__":
    main()
