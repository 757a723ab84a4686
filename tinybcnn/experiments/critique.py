"""The critique, measured (Osband 2016; Hron et al. 2018; Folgoc et al. 2021): does the
epistemic part of MC dropout's uncertainty shrink as the training set grows?

A posterior over the weights concentrates as data arrive, so the mutual information between
the prediction and the weights, ``MI = H[p̄] − mean_t H[p_t]``, should fall towards zero on
in-distribution inputs while staying high away from the data. With a *fixed* drop
probability the dropout distribution does not concentrate: its spread is set by ``p``, not by
``N``. For each training-set size and seed this experiment trains lenet-all with fixed ``p``
(MC dropout), Concrete dropout (``p`` learnt, its regulariser weighted by ``1/N``) and a deep
ensemble, and records the mean MI on the test set and on its inverted images (out of
distribution), with the test error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import as_float
from ..ensembles import ensemble_predict
from ..functional.checks import positive_int
from ..predict import mc_predict
from . import figures
from .common import (
    QUICK_TRAINING,
    Context,
    TrainingSettings,
    progress_bar,
    subset,
    train,
)
from .rival_methods import inverted, split, train_concrete, train_members
from .runner import Request, run_image, settings_from

NAME = "critique"  # its key in the registry, its files' prefix

__all__ = ["FULL", "QUICK", "settings_for", "main", "CritiqueSettings", "METHODS",
           "experiment"]

#: The methods whose mutual information is followed: fixed-p MC dropout, Concrete dropout,
#: the deep ensemble (MI across its members).
METHODS = ("mc_dropout", "concrete", "ensemble")


@dataclass(frozen=True)
class CritiqueSettings(TrainingSettings):
    """Settings of the critique (``sizes``: training-set sizes; ``seeds``: seeds per size)."""

    sizes: tuple[int, ...] = (250, 500, 1000, 2000, 4000)
    seeds: int = 3
    samples: int = 50
    members: int = 5
    concrete_p: float = 0.1
    methods: tuple[str, ...] = METHODS

    def check(self) -> None:
        """Sizes, seeds, samples and members positive; methods known."""
        if not self.sizes:
            raise ValueError("sizes must name at least one training-set size")
        for n in self.sizes:
            positive_int(n, "sizes")
        for name in ("seeds", "samples", "members"):
            positive_int(getattr(self, name), name)
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"methods must be some of {', '.join(METHODS)}, got {self.methods}")
        if not 0 < self.concrete_p < 1:
            raise ValueError(f"concrete_p must lie in (0, 1), got {self.concrete_p!r}")


def _one(ctx: Context, n: int, seed: int) -> dict[str, Any]:
    """Train every method on ``n`` images with ``seed``; mean MI in and out, and the error."""
    s, data = ctx.settings, ctx.data
    x_tr, y_tr = subset(data.x_train, data.y_train, n, seed)
    x = as_float(np.concatenate([data.x_test, inverted(data.x_test)]))
    sizes = [len(data.y_test), len(data.y_test)]
    out: dict[str, Any] = {"train_size": len(y_tr), "seed": seed}
    for method in s.methods:
        if method == "mc_dropout":
            model = train(ctx, "lenet-all", x_tr, y_tr, seed, f"lenet-all_n{n}_s{seed}")["model"]
            pred = mc_predict(model, x, samples=s.samples, seed=seed)
        elif method == "concrete":
            trained = train_concrete(ctx, x_tr, y_tr, seed)
            pred = mc_predict(trained["model"], x, samples=s.samples, seed=seed)
            out["learnt_p"] = trained["learnt_p"]
        else:
            members, _ = train_members(ctx, x_tr, y_tr, seed, s.members, f"ens_n{n}_s{seed}")
            pred = ensemble_predict(members, x)
        p_in, p_out = split(pred, sizes)
        out[method] = {"mi_in": float(np.mean(p_in.mutual_info)),
                       "mi_out": float(np.mean(p_out.mutual_info)),
                       "entropy_in": float(np.mean(p_in.entropy)),
                       "error": float(np.mean(p_in.labels != data.y_test))}
    return out


def _curves(runs: list[dict[str, Any]], sizes: list[int],
            methods: tuple[str, ...]) -> dict[str, Any]:
    """Per method: mean and std over seeds of MI in and out, and of the error, per size; and
    ``shrink``, the mean in-distribution MI at the largest size over that at the smallest."""
    curves: dict[str, Any] = {}
    for method in methods:
        c: dict[str, Any] = {}
        for key, name in (("mi_in", "in"), ("mi_out", "out"), ("error", "error")):
            per = np.array([[r[method][key] for r in runs if r["train_size"] == n]
                            for n in sizes])                         # (sizes, seeds)
            c[name] = {"mean": per.mean(axis=1).tolist(), "std": per.std(axis=1).tolist()}
        c["shrink"] = c["in"]["mean"][-1] / c["in"]["mean"][0] if c["in"]["mean"][0] else None
        curves[method] = c
    return curves


def experiment(ctx: Context) -> dict[str, Any]:
    """Every size and seed, the curves, the figure."""
    s = ctx.settings
    sizes = sorted({min(n, len(ctx.data.y_train)) for n in s.sizes})
    seeds = [ctx.seed + i for i in range(ctx.seeds)]
    ctx.record["seeds"] = {"training": seeds, "subsets": seeds, "mc": seeds}
    runs = []
    bar = progress_bar(len(sizes) * len(seeds), "critique", ctx.progress)
    try:
        for n in sizes:
            for seed in seeds:
                runs.append(_one(ctx, n, seed))
                bar.update(1)
    finally:
        bar.close()
    curves = _curves(runs, sizes, s.methods)
    labels = {"mc_dropout": f"MC dropout (p = {s.p:g})", "concrete": "Concrete dropout",
              "ensemble": f"deep ensemble (K = {s.members})"}
    figures.critique_curves({labels[m]: curves[m] for m in s.methods}, sizes,
                            ctx.figure("mutual_info"))
    return {"sizes": sizes, "seeds": seeds, "samples": s.samples, "members": s.members,
            "n_test": len(ctx.data.y_test), "runs": runs, "curves": curves,
            "notes": ["mutual information in nats, mean over the test images (in) and over "
                      "the same images with inverted intensities (out)",
                      "a posterior's in-distribution MI falls towards 0 as N grows: "
                      "shrink = MI at the largest size / MI at the smallest",
                      "iterations per network follow the size (default_iterations: 30 "
                      "epochs, 1,000 to 10,000) unless --iterations fixes them"]}


# ---------------------------------------------------------------------------------------
# The protocol (tinybcnn.experiments.runner): settings and the entry point
# ---------------------------------------------------------------------------------------

#: Full-size settings: five sizes from 250 to 4,000 images, 3 seeds.
FULL = CritiqueSettings()
#: Quick settings: three small sizes, one seed, two members (seconds).
QUICK = CritiqueSettings(**{**QUICK_TRAINING, "train_pool": 200}, sizes=(50, 100, 200),
                         seeds=1, samples=10, members=2)


def settings_for(quick: bool = False, **overrides: Any) -> CritiqueSettings:
    """``FULL`` (or ``QUICK``) with fields replaced by keyword (checked)."""
    return settings_from(NAME, FULL, QUICK, quick, overrides)


def main(request: Request) -> Path:
    """Train every method at every size and seed; write ``critique.json`` and the figure."""
    return run_image(request, experiment, settings_for)
