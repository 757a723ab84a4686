"""MC samples: one lenet-all; MC test error against the number of passes ``T`` (2015, figure 4).

Each repetition draws ``max(t_values)`` passes once; the error at ``T`` is that of the mean of
its first ``T`` passes, so one draw gives the whole curve. Standard dropout is the reference.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics, plots
from ..data import as_float
from ..functional.checks import positive_int
from ..predict import mc_predict, standard_predict
from .common import (
    QUICK_TRAINING,
    Context,
    TrainingSettings,
    check_fractions,
    progress_bar,
    reuse_or_train,
    scores,
)
from .runner import Request, run_image, settings_from

NAME = "mc_samples"  # its key in the registry, its files' prefix

__all__ = ["FULL", "QUICK", "settings_for", "main", "MCSamplesSettings", "mc_error_curve",
           "experiment"]


@dataclass(frozen=True)
class MCSamplesSettings(TrainingSettings):
    """Settings of the MC-samples experiment (``seeds`` is the number of sampling repetitions)."""

    train_fraction: float = 0.25
    t_values: tuple[int, ...] = (1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 70, 100)
    seeds: int = 5

    def check(self) -> None:
        """Seeds positive, the fraction in (0, 1], every T a positive integer."""
        positive_int(self.seeds, "seeds")
        check_fractions([self.train_fraction])
        if not self.t_values or any(int(t) != t or t < 1 for t in self.t_values):
            raise ValueError(f"t_values must be positive integers, got {self.t_values}")


def mc_error_curve(sample_probs: np.ndarray, labels: np.ndarray,
                   t_values: Sequence[int]) -> dict[str, np.ndarray]:
    """Error and NLL of the mean of the first ``T`` passes, for every ``T`` in ``t_values``.

    The passes are nested (``T = 10`` uses the masks of ``T = 5`` plus five more), so one
    draw of ``max(t_values)`` passes gives the whole curve.

    Parameters
    ----------
    sample_probs : ndarray (T_max, N, K)
        Per-pass softmax outputs (``mc_predict(..., return_samples=True).sample_probs``).
    labels : ndarray (N,)
    t_values : increasing positive ints, at most ``T_max``

    Returns
    -------
    dict
        ``{"error": (len(t_values),), "nll": (len(t_values),)}``.
    """
    sample_probs = np.asarray(sample_probs, dtype=np.float64)
    t_values = [int(t) for t in t_values]
    if sample_probs.ndim != 3 or not t_values or max(t_values) > sample_probs.shape[0]:
        raise ValueError(f"need sample_probs (T, N, K) with T >= max(t_values); got shape "
                         f"{sample_probs.shape} and t_values {t_values}")
    if sorted(t_values) != t_values or t_values[0] < 1:
        raise ValueError(f"t_values must be increasing positive integers, got {t_values}")
    running = np.zeros(sample_probs.shape[1:])
    errors, nlls, done = [], [], 0
    for t in t_values:
        running += sample_probs[done:t].sum(axis=0)
        done = t
        probs = running / t
        errors.append(metrics.error(probs, labels))
        nlls.append(metrics.nll(probs, labels))
    return {"error": np.array(errors), "nll": np.array(nlls)}


def experiment(ctx: Context) -> dict[str, Any]:
    """Train (or reuse ``ctx.run_dir``), then draw the error-against-T curve ``seeds`` times."""
    s, data = ctx.settings, ctx.data
    t_values = sorted({int(t) for t in s.t_values})
    x_test, y_test = as_float(data.x_test), data.y_test
    model, run = reuse_or_train(ctx, ctx.run_dir, s.train_fraction)
    ctx.record["seeds"] = {"training": [run["seed"]],
                           "mc": [ctx.seed + r for r in range(ctx.seeds)]}
    std = standard_predict(model, x_test)
    reps = []
    bar = progress_bar(ctx.seeds, "mc-samples", ctx.progress)
    try:
        for r in range(ctx.seeds):
            mc_seed = ctx.seed + r
            start = time.perf_counter()
            pred = mc_predict(model, x_test, samples=t_values[-1], seed=mc_seed,
                              return_samples=True)
            curve = mc_error_curve(pred.sample_probs, y_test, t_values)
            reps.append({"seed": mc_seed, "error": curve["error"], "nll": curve["nll"],
                         "first_pass_error": metrics.error(pred.sample_probs[0], y_test),
                         "mean_error": metrics.error(pred.probs, y_test),
                         "seconds": time.perf_counter() - start})
            bar.update(1)
    finally:
        bar.close()
    err = np.array([r["error"] for r in reps])
    nll = np.array([r["nll"] for r in reps])
    std_scores = scores(std, y_test, uncertainty=True)
    below = np.flatnonzero(err.mean(axis=0) <= std_scores["error"])
    results = {"run": run, "n_test": len(y_test), "t_values": t_values,
               "standard": std_scores, "repetitions": reps,
               "mc_error_mean": err.mean(axis=0), "mc_error_std": err.std(axis=0),
               "mc_nll_mean": nll.mean(axis=0), "mc_nll_std": nll.std(axis=0),
               "first_t_at_or_below_standard": int(t_values[below[0]]) if below.size else None,
               "notes": ["each repetition draws max(t_values) passes once; the error at T is "
                         "that of the mean of its first T passes (nested masks)"]}
    plots.error_vs_samples(t_values, err.mean(axis=0), err.std(axis=0), std_scores["error"],
                           path=ctx.figure("error"),
                           title=f"MC dropout test error against T ({len(reps)} repetitions)")
    return results


# ---------------------------------------------------------------------------------------
# The protocol (tinybcnn.experiments.runner): settings and the entry point
# ---------------------------------------------------------------------------------------

#: Full-size settings.
FULL = MCSamplesSettings()
#: Quick settings: T up to 20, three repetitions.
QUICK = MCSamplesSettings(**QUICK_TRAINING, train_fraction=1.0, t_values=(1, 2, 3, 5, 10, 20),
                          seeds=3)


def settings_for(quick: bool = False, **overrides: Any) -> MCSamplesSettings:
    """``FULL`` (or ``QUICK``) with fields replaced by keyword (checked)."""
    return settings_from(NAME, FULL, QUICK, quick, overrides)


def main(request: Request) -> Path:
    """Train lenet-all (or score ``request.run_dir``) and draw the error-against-T curve;
    write ``mc_samples.json`` and the figure."""
    return run_image(request, experiment, settings_for, reuses_runs=True)
