"""Small data: lenet-none, lenet-ip and lenet-all on shrinking training sets (2015, figure 3).

Each model is trained on stratified subsets of the training split (1/32, 1/8, 1/4 and all of
it) with several seeds; the results are the test error against iterations and the final
standard- and MC-dropout errors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import as_float
from ..functional.checks import positive_int
from ..predict import mc_predict, standard_predict
from . import figures
from .common import (
    QUICK_TRAINING,
    Context,
    TrainingSettings,
    check_fractions,
    fraction_size,
    progress_bar,
    run_record,
    scores,
    subset,
    train,
)
from .runner import Request, run_image, settings_from

NAME = "small_data"  # its key in the registry, its files' prefix

__all__ = ["FULL", "QUICK", "settings_for", "main", "SmallDataSettings", "MODELS", "experiment",
           "DOCS_COLUMNS", "docs_table"]

#: The three dropout placements the paper compares.
MODELS = ("lenet-none", "lenet-ip", "lenet-all")


@dataclass(frozen=True)
class SmallDataSettings(TrainingSettings):
    """Settings of the small-data experiment (``seeds`` is the number of training seeds)."""

    models: tuple[str, ...] = MODELS
    fractions: tuple[float, ...] = (1 / 32, 1 / 8, 1 / 4, 1.0)
    seeds: int = 3
    samples: int = 50                   # MC passes T of the final evaluation

    def check(self) -> None:
        """Seeds and samples positive, fractions in (0, 1], models known."""
        positive_int(self.seeds, "seeds")
        positive_int(self.samples, "samples")
        check_fractions(self.fractions)
        bad = [m for m in self.models if m not in MODELS]
        if bad or not self.models:
            raise ValueError(f"models must be lenet-none, lenet-ip or lenet-all, got {self.models}")


def _summary(runs: list[dict[str, Any]], models: tuple[str, ...],
             sizes: list[int]) -> dict[str, Any]:
    """Final error per model and predictor: mean, std, min and max over seeds, per size."""
    summary: dict[str, Any] = {}
    for model in models:
        summary[model] = {}
        for kind in ("standard", "mc"):
            if model == "lenet-none" and kind == "mc":
                continue
            per_size = [[r["final"][kind]["error"] for r in runs
                         if r["model"] == model and r["train_size"] == n] for n in sizes]
            arr = np.array(per_size)                                   # (sizes, seeds)
            summary[model][kind] = {"train_size": sizes, "mean": arr.mean(axis=1),
                                    "std": arr.std(axis=1), "min": arr.min(axis=1),
                                    "max": arr.max(axis=1)}
    return summary


def experiment(ctx: Context) -> dict[str, Any]:
    """Train every (size, seed, model), score it on the test pool, draw the two figures."""
    s, data = ctx.settings, ctx.data
    seeds = [ctx.seed + i for i in range(ctx.seeds)]
    ctx.record["seeds"] = {"training": seeds, "mc": seeds, "test_subset": ctx.seed}
    sizes = [fraction_size(len(data.y_train), f) for f in s.fractions]
    x_test, y_test = as_float(data.x_test), data.y_test
    runs: list[dict[str, Any]] = []
    bar = progress_bar(len(s.models) * len(sizes) * len(seeds), "small-data", ctx.progress)
    try:
        for size, fraction in zip(sizes, s.fractions, strict=True):
            for run_seed in seeds:
                x_tr, y_tr = subset(data.x_train, data.y_train, size, run_seed)
                for model in s.models:
                    bar.set_postfix_str(f"{model} n={size} seed={run_seed}")
                    trained = train(ctx, model, x_tr, y_tr, run_seed,
                                    f"{model}_n{size}_s{run_seed}")
                    start = time.perf_counter()
                    final = {"standard": scores(standard_predict(trained["model"], x_test),
                                                y_test, uncertainty=True)}
                    if model != "lenet-none":  # without dropout MC equals standard: once
                        mc = mc_predict(trained["model"], x_test, samples=s.samples,
                                        seed=run_seed)
                        final["mc"] = scores(mc, y_test, uncertainty=True)
                    runs.append({"model": model, "fraction": fraction, **run_record(trained),
                                 "history": trained["history"], "final": final,
                                 "eval_seconds": time.perf_counter() - start})
                    bar.update(1)
    finally:
        bar.close()

    summary = _summary(runs, s.models, sizes)
    results = {"train_sizes": sizes, "fractions": list(s.fractions), "seeds": seeds,
               "n_test": len(y_test), "samples": s.samples, "runs": runs,
               "summary": summary,
               "notes": ["errors are fractions in [0, 1]",
                         "lenet-none has no dropout, so its MC prediction equals the standard "
                         "one: it is recorded once, under 'standard'",
                         "history rows evaluate on 'eval_size' test images with "
                         "'eval_samples' MC passes; 'final' uses the whole test pool"]}
    figures.small_data_curves(runs, sizes, s.models, ctx.figure("curves"))
    figures.small_data_final(summary, ctx.figure("final"))
    return results


#: The columns of docs/results.md's table (section 2): key -> (model, predictor).
DOCS_COLUMNS = {"none": ("lenet-none", "standard"), "ip_std": ("lenet-ip", "standard"),
                "ip_mc": ("lenet-ip", "mc"), "all_std": ("lenet-all", "standard"),
                "all_mc": ("lenet-all", "mc")}


def docs_table(record: dict[str, Any], provenance: str) -> dict[str, Any]:
    """The table of ``docs/results/small_data_embedded.json`` (rendered into docs/results.md
    by the results hook) from the ``small_data.json`` record a run writes.

    One row per training-set size: each model's final test error in percent, mean ± std
    (population std, as the summary's) over the seeds, rounded to two decimals as printed;
    ``bold`` marks each row's lowest mean (the first on a tie).
    """
    results = record["results"]
    summary, sizes = results["summary"], results["train_sizes"]
    rows, bold = [], []
    for i, n in enumerate(sizes):
        row: dict[str, Any] = {"n_train": n}
        for key, (model, kind) in DOCS_COLUMNS.items():
            cell = summary[model][kind]
            row[key] = {k: round(100 * cell[k][i], 2) for k in ("mean", "std")}
        rows.append(row)
        bold.append([i, min(DOCS_COLUMNS, key=lambda k, row=row: row[k]["mean"])])
    pct = "{mean:.2f} ± {std:.2f}%"
    seeds = results["seeds"]
    return {"provenance": provenance,
            "section": "2. Small data over training-set sizes (embedded subset)",
            "units": f"test error in percent of the {results['n_test']:,} test images, mean "
                     f"± std over seeds {', '.join(map(str, seeds[:-1]))} and {seeds[-1]}"
                     if len(seeds) > 1 else f"test error in percent, seed {seeds[0]}",
            "columns": [{"key": "n_train", "label": "training images", "format": "{:,}"},
                        *({"key": key, "label": f"{model} {'MC' if kind == 'mc' else kind}"
                           if model != "lenet-none" else model, "format": pct}
                          for key, (model, kind) in DOCS_COLUMNS.items())],
            "bold": bold, "rows": rows}


# ---------------------------------------------------------------------------------------
# The protocol (tinybcnn.experiments.runner): settings and the entry point
# ---------------------------------------------------------------------------------------

#: Full-size settings.
FULL = SmallDataSettings()
#: Quick settings: two fractions, two seeds, tens of iterations.
QUICK = SmallDataSettings(**{**QUICK_TRAINING, "iterations": 12, "batch_size": 16},
                          fractions=(1 / 4, 1.0), seeds=2, samples=5)


def settings_for(quick: bool = False, **overrides: Any) -> SmallDataSettings:
    """``FULL`` (or ``QUICK``) with fields replaced by keyword (checked)."""
    return settings_from(NAME, FULL, QUICK, quick, overrides)


def main(request: Request) -> Path:
    """Train every model on every fraction with every seed; write ``small_data.json`` and
    the figures."""
    return run_image(request, experiment, settings_for)
