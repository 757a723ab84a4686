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
           "experiment", "draw_figure", "docs_table", "trained_iterations"]

#: The methods whose mutual information is followed: fixed-p MC dropout, Concrete dropout,
#: the deep ensemble (MI across its members).
METHODS = ("mc_dropout", "concrete", "ensemble")
#: The methods' names in the figure and the docs tables (MC dropout's p and the ensemble's K
#: filled in).
DOCS_LABELS = {"mc_dropout": "MC dropout (p = {p:g})", "concrete": "Concrete dropout",
               "ensemble": "deep ensemble (K = {members})"}


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


def draw_figure(results: dict[str, Any], p: float, path: str | Path | None = None) -> Any:
    """``critique_mutual_info.png`` from a record's ``results`` (its ``sizes``, ``members`` and
    ``curves``) and the fixed drop probability ``p``: the experiment draws it, and
    ``scripts/ship_critique.py`` redraws it for the docs from the shipped record."""
    methods = [m for m in METHODS if m in results["curves"]]
    labels = {m: DOCS_LABELS[m].format(p=p, members=results["members"]) for m in methods}
    return figures.critique_curves({labels[m]: results["curves"][m] for m in methods},
                                   results["sizes"], path)


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
    draw_figure({"sizes": sizes, "members": s.members, "curves": curves}, s.p,
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
# The docs table: docs/results/critique.json, rendered into docs/critique.md
# ---------------------------------------------------------------------------------------

def _shown(curve: dict[str, list[float]], i: int, scale: float, digits: int) -> dict[str, float]:
    """Mean and std over the seeds at size index ``i``, rounded as the table shows them (the
    docs tests read the rendered cells back against these numbers)."""
    return {k: round(scale * curve[k][i], digits) for k in ("mean", "std")}


def _ratio(curve: dict[str, list[float]]) -> float | None:
    """Mean at the largest size over the mean at the smallest (``None`` when that is 0)."""
    first, last = curve["mean"][0], curve["mean"][-1]
    return round(last / first, 2) if first else None


def _learnt_p_rows(runs: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    """Concrete dropout's learnt drop probability per size and layer, mean ± std over seeds
    (no rows when no run recorded one)."""
    rows = []
    for n in sizes:
        learnt = [r["learnt_p"] for r in runs if r["train_size"] == n and r.get("learnt_p")]
        if not learnt:
            return []
        row: dict[str, Any] = {"n_train": n}
        for layer in learnt[0]:
            v = [p[layer] for p in learnt]
            row[layer] = {"mean": round(float(np.mean(v)), 3), "std": round(float(np.std(v)), 3)}
        rows.append(row)
    return rows


def trained_iterations(record: dict[str, Any]) -> int | None:
    """The iterations every network of ``record`` trained: ``--iterations`` (the request's,
    which wins, as in :func:`.common.train`), else the settings' field; None when they
    followed the size (:func:`.common.default_iterations`)."""
    return record["arguments"].get("iterations") or record["settings"].get("iterations")


def docs_table(record: dict[str, Any], provenance: str) -> dict[str, Any]:
    """The tables of ``docs/results/critique.json`` (rendered into docs/critique.md by the
    results hook, docs/_hooks/results_tables.py) from the ``critique.json`` record a run writes.

    ``columns``/``rows``: one row per method and training-set size (the method's name on its
    first row only; ``_method``, not shown, is its key in :data:`METHODS`): the mean mutual
    information (nats) on the test images and on their inverted versions, and the test error
    in percent, each mean ± std (population std, as the record's curves) over the seeds.
    ``tables["shrink"]``: per method, the mean MI at the largest size over that at the
    smallest, in and out of distribution. ``tables["learnt_p"]`` (when Concrete dropout ran):
    its learnt p per size and layer. ``settings``: what decided the numbers.
    """
    results, s = record["results"], record["settings"]
    sizes, curves = results["sizes"], results["curves"]
    methods = [m for m in METHODS if m in curves]
    names = {m: DOCS_LABELS[m].format(p=s["p"], members=results["members"]) for m in methods}
    rows = [{"_method": m, "method": names[m] if i == 0 else "", "n_train": n,
             "mi_in": _shown(curves[m]["in"], i, 1, 3),
             "mi_out": _shown(curves[m]["out"], i, 1, 3),
             "error": _shown(curves[m]["error"], i, 100, 1)}
            for m in methods for i, n in enumerate(sizes)]
    ms = "{mean:.3f} ± {std:.3f}"
    span = f"{sizes[-1]:,} / {sizes[0]:,}"
    tables: dict[str, Any] = {"shrink": {
        "columns": [{"key": "method", "label": "method"},
                    {"key": "in", "label": f"MI on the test set, {span}", "format": "{:.2f}"},
                    {"key": "out", "label": f"MI on inverted images, {span}",
                     "format": "{:.2f}"}],
        "rows": [{"_method": m, "method": names[m], "in": _ratio(curves[m]["in"]),
                  "out": _ratio(curves[m]["out"])} for m in methods]}}
    learnt = _learnt_p_rows(results["runs"], sizes) if "concrete" in methods else []
    if learnt:
        tables["learnt_p"] = {
            "columns": [{"key": "n_train", "label": "training images", "format": "{:,}"},
                        *({"key": layer, "label": f"learnt p, {layer}", "format": ms}
                          for layer in learnt[0] if layer != "n_train")],
            "rows": learnt}
    seeds = results["seeds"]
    return {"provenance": provenance,
            "section": "The critique, measured",
            "units": "mutual information in nats, mean over the test images (test set) and "
                     "over the same images with inverted intensities (inverted); error in "
                     "percent of the test images; each mean ± std over the seeds",
            "command": record["arguments"],
            "settings": {"dataset": record["dataset"]["name"], "sizes": sizes, "seeds": seeds,
                         "samples": results["samples"], "members": results["members"],
                         "iterations": trained_iterations(record),
                         "batch_size": s["batch_size"],
                         "p": s["p"], "concrete_p": s["concrete_p"],
                         "n_test": results["n_test"],
                         "test_split": record["dataset"]["split_sizes"]["test"],
                         "methods": methods},
            "machine": record.get("machine"), "wall_seconds": record.get("wall_seconds"),
            "started": record.get("started"),
            "columns": [{"key": "method", "label": "method"},
                        {"key": "n_train", "label": "training images", "format": "{:,}"},
                        {"key": "mi_in", "label": "MI, test set", "format": ms},
                        {"key": "mi_out", "label": "MI, inverted", "format": ms},
                        {"key": "error", "label": "error %", "format": "{mean:.1f} ± {std:.1f}"}],
            "rows": rows, "tables": tables}


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
