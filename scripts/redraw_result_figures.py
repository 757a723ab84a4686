"""Redraw the results page's figures that its shipped JSON holds enough numbers to draw.

    python scripts/redraw_result_figures.py                  # into docs/figures/
    python scripts/redraw_result_figures.py --out /tmp/figs  # somewhere else

``docs/results/*.json`` keep the tables of ``docs/results.md``, not the runs' result files,
so only the figures drawn from table numbers can be redrawn without training, with the
figure code of :mod:`tinybcnn.experiments.figures`:

* ``small_data_final.png`` from ``small_data_embedded.json`` (final error, mean ± std over
  the two seeds, per training-set size);
* ``ood_auroc.png`` from ``ood.json`` (one seed, so no error bars; standard dropout's mutual
  information and variation ratio are the same for every image, drawn as notes, not bars).

The other figures of those sections need what the tables leave out: per-iteration test
errors of every run (``small_data_curves.png``), the sampled outputs of the rotated image and
the test set's ECE and entropy at every 15° (``rotation_image.png``,
``rotation_test_set.png``), and every image's scores (``ood_scores.png``). This script names
the experiment command that redraws each of them; it trains nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tinybcnn.experiments.small_data import DOCS_COLUMNS  # the table's key -> (model, predictor)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
FIGURES = ROOT / "docs" / "figures"

#: ood.json's row labels -> the experiment's score names (tinybcnn.experiments.OOD_SCORES).
OOD_ROWS = {"1 − max probability": "1-max_prob", "predictive entropy": "entropy",
            "mutual information": "mutual_info", "variation ratio": "variation_ratio"}
#: What only a rerun redraws: figure -> (what the JSON lacks, the command, from results.md).
NEED_A_RERUN = {
    "small_data_curves.png": (
        "every run's test error per iteration",
        "tinybcnn experiment small-data --dataset embedded --seeds 2 --iterations 1000 "
        "--out results/embedded"),
    "rotation_image.png": (
        "the rotated image's sampled softmax outputs at every angle",
        "tinybcnn experiment rotation --dataset embedded --out results/embedded"),
    "rotation_test_set.png": (
        "ECE and mean entropy, and the angles 60, 75, 105, 120, 150, 165 (the table has 7 "
        "of 13)",
        "tinybcnn experiment rotation --dataset embedded --out results/embedded"),
    "ood_scores.png": (
        "every image's scores",
        "tinybcnn experiment ood --dataset embedded --out results/embedded"),
}


def load(name: str) -> dict[str, Any]:
    """``docs/results/<name>.json``."""
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def small_data_summary(table: dict[str, Any]) -> dict[str, Any]:
    """``small_data_final``'s summary (errors as fractions) from the table in percent."""
    rows = table["rows"]
    sizes = [row["n_train"] for row in rows]
    summary: dict[str, Any] = {}
    for column, (model, kind) in DOCS_COLUMNS.items():
        summary.setdefault(model, {})[kind] = {
            "train_size": sizes,
            "mean": [row[column]["mean"] / 100 for row in rows],
            "std": [row[column]["std"] / 100 for row in rows]}
    return summary


def ood_summary(table: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``ood_auroc``'s summary and its constant (predictor, score) pairs, from the table.

    A score with no AUROC in the table (null) is one that is the same for every image.
    """
    summary: dict[str, Any] = {"standard": {}, "mc": {}}
    constant = []
    for row in table["rows"]:
        name = OOD_ROWS[row["score"]]
        for kind, key in (("standard", "auroc_std"), ("mc", "auroc_mc")):
            auroc = row[key]
            if auroc is None:
                constant.append((kind, name))
            summary[kind][name] = {"auroc": {"mean": 0.5 if auroc is None else auroc,
                                             "std": 0.0}}    # one seed: no spread
    return summary, constant


def redraw(out: Path) -> list[Path]:
    """Draw the two figures into ``out``; their paths."""
    from tinybcnn.experiments import figures

    out.mkdir(parents=True, exist_ok=True)
    figures.small_data_final(small_data_summary(load("small_data_embedded")),
                             out / "small_data_final.png")
    summary, constant = ood_summary(load("ood"))
    figures.ood_auroc(summary, out / "ood_auroc.png", constant=constant)
    return [out / "small_data_final.png", out / "ood_auroc.png"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the PNGs")
    args = parser.parse_args(argv)
    for path in redraw(args.out):
        print("redrawn:", path)
    for name, (missing, command) in NEED_A_RERUN.items():
        print(f"not redrawn: {name} (the JSON lacks {missing}); rerun: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
