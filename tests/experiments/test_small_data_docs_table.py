"""The small-data run's record becomes the results page's table: the numbers in percent,
rounded as printed, each row's best model marked, and the columns the page has always shown."""

from __future__ import annotations

import json
from pathlib import Path

from tinybcnn.experiments.small_data import docs_table

ROOT = Path(__file__).resolve().parents[2]

# Two sizes, two seeds: final errors (fractions) per (model, predictor), written out by hand.
ERRORS = {("lenet-none", "standard"): [[0.30, 0.32], [0.20, 0.22]],
          ("lenet-ip", "standard"): [[0.28, 0.29], [0.19, 0.21]],
          ("lenet-ip", "mc"): [[0.281, 0.285], [0.18, 0.20]],
          ("lenet-all", "standard"): [[0.35, 0.36], [0.25, 0.25]],
          ("lenet-all", "mc"): [[0.29, 0.30], [0.171, 0.175]]}


def _record() -> dict:
    """A ``small_data.json`` record as the experiment writes it (summary: mean and
    population std over the seeds, per size)."""
    summary: dict = {}
    for (model, kind), per_size in ERRORS.items():
        means = [(a + b) / 2 for a, b in per_size]
        stds = [abs(a - b) / 2 for a, b in per_size]     # population std of two values
        summary.setdefault(model, {})[kind] = {"train_size": [188, 750], "mean": means,
                                               "std": stds}
    return {"results": {"summary": summary, "train_sizes": [188, 750], "seeds": [0, 1],
                        "n_test": 2000}}


def test_rows_are_percent_rounded_to_two_decimals_with_the_best_marked():
    table = docs_table(_record(), provenance="a test")
    first, second = table["rows"]
    assert first["n_train"] == 188 and second["n_train"] == 750
    assert first["none"] == {"mean": 31.0, "std": 1.0}
    assert first["ip_mc"] == {"mean": 28.3, "std": 0.2}
    assert first["all_std"] == {"mean": 35.5, "std": 0.5}
    assert second["all_mc"] == {"mean": 17.3, "std": 0.2}
    # lowest mean per row: lenet-ip standard (28.5) vs lenet-ip MC (28.3) at 188
    assert table["bold"] == [[0, "ip_mc"], [1, "all_mc"]]
    assert table["provenance"] == "a test"
    assert "2,000 test images" in table["units"] and "seeds 0 and 1" in table["units"]


def test_columns_are_those_the_results_page_shows():
    shipped = json.loads((ROOT / "docs" / "results" / "small_data_embedded.json").read_text())
    table = docs_table(_record(), provenance="a test")
    assert [(c["key"], c["label"], c.get("format")) for c in table["columns"]] == [
        (c["key"], c["label"], c.get("format")) for c in shipped["columns"]]
    assert table["section"] == shipped["section"]
