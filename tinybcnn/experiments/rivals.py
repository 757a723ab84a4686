"""MC dropout among its rivals: standard dropout, MC dropout, Concrete dropout, a deep ensemble
and an MC-dropout ensemble, each with and without temperature scaling where it applies, on the
same training images with the same solver budget per network.

Per seed: a seeded split of the training pool into ``train_size`` training images and
``val_size`` validation images (held out from training; the temperatures are fitted there,
never on the test set); lenet-all and lenet-ip (fixed ``p``), ``members`` lenet-all members
and a Concrete-dropout lenet-all trained on the training images; every method scored on the
test set (error, NLL, Brier, ECE) and on its inverted images (out of distribution: AUROC of
the predictive entropy and of the mutual information), with the networks it trains and the
forward passes it makes per image as its cost, beside the measured seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..calibration import fit_temperature_probs
from ..data import as_float
from ..ensembles import ensemble_predict
from ..functional.checks import positive_int
from ..predict import Prediction, mc_predict, standard_predict
from ..random import stream
from . import figures
from .common import (
    QUICK_TRAINING,
    Context,
    TrainingSettings,
    progress_bar,
    run_record,
    scores,
    train,
)
from .rival_methods import (
    inverted,
    ood_auroc,
    split,
    timed,
    train_concrete,
    train_members,
    with_temperature,
)
from .runner import Request, run_image, settings_from

NAME = "rivals"  # its key in the registry, its files' prefix

__all__ = ["FULL", "QUICK", "settings_for", "main", "RivalsSettings", "METHODS", "experiment",
           "docs_table"]


@dataclass(frozen=True)
class RivalsSettings(TrainingSettings):
    """Settings of the comparison (``seeds``: training seeds; ``samples``: MC passes T of
    MC dropout and Concrete dropout; ``ensemble_samples``: passes per member of the
    MC-dropout ensemble, ``members × ensemble_samples`` in all)."""

    train_size: int = 2000
    val_size: int = 500
    seeds: int = 3
    members: int = 5
    samples: int = 50
    ensemble_samples: int = 10
    concrete_p: float = 0.1

    def check(self) -> None:
        """Counts positive, the Concrete initial p in (0, 1)."""
        for name in ("train_size", "val_size", "seeds", "members", "samples",
                     "ensemble_samples"):
            positive_int(getattr(self, name), name)
        if not 0 < self.concrete_p < 1:
            raise ValueError(f"concrete_p must lie in (0, 1), got {self.concrete_p!r}")


#: The methods compared: name -> (networks it uses, how it predicts, whether a temperature is
#: fitted for it too). ``nets`` holds "lenet-all", "lenet-ip", "members", "concrete".
Predictor = Callable[[dict[str, Any], Any, RivalsSettings, int], Prediction]
METHODS: dict[str, tuple[str, Predictor, bool]] = {
    "standard lenet-ip": ("lenet-ip", lambda n, x, s, seed: standard_predict(n["lenet-ip"], x),
                          True),
    "standard lenet-all": ("lenet-all",
                           lambda n, x, s, seed: standard_predict(n["lenet-all"], x), True),
    "MC lenet-ip": ("lenet-ip", lambda n, x, s, seed: mc_predict(
        n["lenet-ip"], x, samples=s.samples, seed=seed), True),
    "MC lenet-all": ("lenet-all", lambda n, x, s, seed: mc_predict(
        n["lenet-all"], x, samples=s.samples, seed=seed), True),
    "Concrete lenet-all": ("concrete", lambda n, x, s, seed: mc_predict(
        n["concrete"], x, samples=s.samples, seed=seed), False),
    "deep ensemble": ("members", lambda n, x, s, seed: ensemble_predict(n["members"], x),
                      False),
    "MC-dropout ensemble": ("members", lambda n, x, s, seed: ensemble_predict(
        n["members"], x, samples=s.ensemble_samples, seed=seed), False),
}


def _passes(method: str, s: RivalsSettings) -> int:
    """Forward passes per test image (the prediction cost, one network's pass = 1)."""
    return {"standard lenet-ip": 1, "standard lenet-all": 1, "MC lenet-ip": s.samples,
            "MC lenet-all": s.samples, "Concrete lenet-all": s.samples,
            "deep ensemble": s.members,
            "MC-dropout ensemble": s.members * s.ensemble_samples}[method]


def _train_all(ctx: Context, x_tr: np.ndarray, y_tr: np.ndarray,
               seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every network of one seed; (networks, their records with training seconds)."""
    nets, records = {}, {}
    for model in ("lenet-all", "lenet-ip"):
        trained = train(ctx, model, x_tr, y_tr, seed, f"{model}_s{seed}")
        nets[model], records[model] = trained["model"], run_record(trained)
    nets["members"], records["members"] = train_members(ctx, x_tr, y_tr, seed,
                                                        ctx.settings.members, f"ens_s{seed}")
    concrete = train_concrete(ctx, x_tr, y_tr, seed)
    nets["concrete"] = concrete.pop("model")
    records["concrete"] = concrete
    return nets, records


def _train_seconds(records: dict[str, Any]) -> dict[str, float]:
    """Seconds of training behind each kind of network set."""
    return {"lenet-all": records["lenet-all"]["train_seconds"],
            "lenet-ip": records["lenet-ip"]["train_seconds"],
            "members": sum(r["train_seconds"] for r in records["members"]),
            "concrete": records["concrete"]["train_seconds"]}


def _one_seed(ctx: Context, seed: int) -> dict[str, Any]:
    """Split, train, predict and score every method for one seed."""
    s, data = ctx.settings, ctx.data
    order = stream(seed, "split").permutation(len(data.y_train))
    if s.train_size + s.val_size > len(order):
        raise ValueError(f"train_size {s.train_size} + val_size {s.val_size} is more than the "
                         f"{len(order):,} training images of the pool")
    val, tr = order[:s.val_size], order[s.val_size:s.val_size + s.train_size]
    nets, records = _train_all(ctx, data.x_train[tr], data.y_train[tr], seed)
    x_test, y_test = data.x_test, data.y_test
    x = as_float(np.concatenate([x_test, data.x_train[val], inverted(x_test)]))
    sizes = [len(y_test), len(val), len(y_test)]
    y_val = data.y_train[val]
    seconds = _train_seconds(records)
    methods: dict[str, Any] = {}
    for name, (nets_key, predict, calibrate) in METHODS.items():
        pred, took = timed(predict, nets, x, s, seed)
        p_test, p_val, p_ood = split(pred, sizes)
        row = {**scores(p_test, y_test, uncertainty=True), "ood_auroc": ood_auroc(p_test, p_ood),
               "passes": _passes(name, s), "predict_seconds": took * len(y_test) / len(x),
               "networks": s.members if nets_key == "members" else 1,
               "train_seconds": seconds[nets_key]}
        methods[name] = row
        if calibrate:
            temperature = fit_temperature_probs(p_val.probs, y_val)
            t_test, t_ood = (with_temperature(p, temperature) for p in (p_test, p_ood))
            methods[name + " + TS"] = {**scores(t_test, y_test), "temperature": temperature,
                                       "ood_auroc": ood_auroc(t_test, t_ood),
                                       "passes": row["passes"],
                                       "predict_seconds": row["predict_seconds"],
                                       "networks": row["networks"],
                                       "train_seconds": row["train_seconds"]}
    return {"seed": seed, "train_size": len(tr), "val_size": len(val),
            "learnt_p": records["concrete"]["learnt_p"], "runs": records, "methods": methods}


_METRICS = ("error", "nll", "brier", "ece")


def _summary(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: mean and std over seeds of each score, AUROC and cost (relative to one
    standard lenet-all: its training seconds and its one pass)."""
    summary: dict[str, Any] = {}
    for name in per_seed[0]["methods"]:
        rows = [r["methods"][name] for r in per_seed]
        base = [r["methods"]["standard lenet-all"] for r in per_seed]
        out: dict[str, Any] = {}
        for key in _METRICS:
            v = np.array([row[key] for row in rows])
            out[key] = {"mean": float(v.mean()), "std": float(v.std())}
        for score in ("entropy", "mutual_info"):
            v = [row["ood_auroc"][score] for row in rows]
            out[f"auroc_{score}"] = (None if any(a is None for a in v) else
                                     {"mean": float(np.mean(v)), "std": float(np.std(v))})
        out["train_cost"] = float(np.mean([row["train_seconds"] / b["train_seconds"]
                                           for row, b in zip(rows, base, strict=True)]))
        out["predict_cost"] = float(np.mean([row["predict_seconds"] / b["predict_seconds"]
                                             for row, b in zip(rows, base, strict=True)]))
        out["networks"], out["passes"] = rows[0]["networks"], rows[0]["passes"]
        summary[name] = out
    return summary


def experiment(ctx: Context) -> dict[str, Any]:
    """Every seed, the summary, the figure."""
    s = ctx.settings
    seeds = [ctx.seed + i for i in range(ctx.seeds)]
    ctx.record["seeds"] = {"training": seeds, "split": seeds, "mc": seeds,
                           "members": "tinybcnn.ensembles.member_seeds(seed, members)"}
    per_seed = []
    bar = progress_bar(len(seeds), "rivals", ctx.progress)
    try:
        for seed in seeds:
            per_seed.append(_one_seed(ctx, seed))
            bar.update(1)
    finally:
        bar.close()
    summary = _summary(per_seed)
    figures.rivals_bars(summary, ctx.figure("scores"))
    return {"samples": s.samples, "members": s.members, "ensemble_samples": s.ensemble_samples,
            "train_size": s.train_size, "val_size": s.val_size,
            "n_test": len(ctx.data.y_test), "seeds": seeds, "per_seed": per_seed,
            "summary": summary,
            "notes": ["every network trains the same iterations on the same images; the deep "
                      "ensemble and the MC-dropout ensemble train `members` networks",
                      "TS: temperature scaling fitted on the validation split (held out from "
                      "training), on the log of the mean probabilities",
                      "out of distribution: the test images with inverted intensities "
                      "(255 - x), scored by predictive entropy and mutual information; MI is "
                      "not defined after temperature scaling, and zero for one deterministic "
                      "pass (null)",
                      "train_cost and predict_cost: measured seconds relative to standard "
                      "lenet-all's (training; one deterministic pass), on a shared machine; "
                      "networks and passes are the counts"]}


def docs_table(record: dict[str, Any], provenance: str) -> dict[str, Any]:
    """The table of ``docs/results/rivals.json`` (rendered into docs/results.md by the
    results hook) from the results record the experiment writes."""
    summary = record["results"]["summary"]

    def shown(v: dict[str, float] | None, scale: float = 1.0, digits: int = 3) -> Any:
        """Mean and std rounded as the table shows them (the docs test reads them back)."""
        return None if v is None else {k: round(scale * v[k], digits) for k in ("mean", "std")}

    rows = []
    for name, v in summary.items():
        rows.append({"method": name, "error": shown(v["error"], 100, 1),
                     **{k: shown(v[k]) for k in ("nll", "brier", "ece")},
                     "auroc_entropy": shown(v["auroc_entropy"]),
                     "auroc_mi": shown(v["auroc_mutual_info"]),
                     "networks": v["networks"], "passes": v["passes"],
                     "train_cost": round(v["train_cost"], 1),
                     "predict_cost": round(v["predict_cost"], 1)})
    ms = "{mean:.3f} ± {std:.3f}"
    columns = [{"key": "method", "label": "method"},
               {"key": "error", "label": "error %", "format": "{mean:.1f} ± {std:.1f}"},
               {"key": "nll", "label": "NLL", "format": ms},
               {"key": "brier", "label": "Brier", "format": ms},
               {"key": "ece", "label": "ECE", "format": ms},
               {"key": "auroc_entropy", "label": "OOD AUROC (entropy)", "format": ms},
               {"key": "auroc_mi", "label": "OOD AUROC (MI)", "format": ms,
                "null": "— (no MI)"},
               {"key": "networks", "label": "networks trained"},
               {"key": "passes", "label": "passes per image"},
               {"key": "train_cost", "label": "train time ×", "format": "{:.1f}"},
               {"key": "predict_cost", "label": "predict time ×", "format": "{:.1f}"}]
    s = record["settings"]
    return {"provenance": provenance,
            "section": "9. MC dropout among its rivals",
            "units": "error, NLL, Brier, ECE: mean ± std over seeds on the test set; AUROC: "
                     "inverted test images as positives; costs relative to one standard "
                     "lenet-all",
            "command": record["arguments"],
            "settings": {k: s[k] for k in ("train_size", "val_size", "seeds", "members",
                                           "samples", "ensemble_samples", "iterations")},
            "machine": record["machine"], "wall_seconds": record["wall_seconds"],
            "learnt_p": _mean_learnt_p(record["results"]["per_seed"]),
            "columns": columns, "rows": rows}


def _mean_learnt_p(per_seed: list[dict[str, Any]]) -> dict[str, float]:
    """Concrete dropout's learnt drop probability per layer, the mean over the seeds."""
    learnt = [seed["learnt_p"] for seed in per_seed if seed.get("learnt_p")]
    return {layer: round(float(np.mean([p[layer] for p in learnt])), 3)
            for layer in (learnt[0] if learnt else {})}


# ---------------------------------------------------------------------------------------
# The protocol (tinybcnn.experiments.runner): settings and the entry point
# ---------------------------------------------------------------------------------------

#: Full-size settings: the small-data protocol (2,000 training images, 3 seeds), K = 5.
FULL = RivalsSettings()
#: Quick settings: a few hundred images, tens of iterations, two members (seconds).
QUICK = RivalsSettings(**{**QUICK_TRAINING, "train_pool": 300, "test_size": 100},
                       train_size=150, val_size=100, seeds=1, members=2, samples=10,
                       ensemble_samples=5)


def settings_for(quick: bool = False, **overrides: Any) -> RivalsSettings:
    """``FULL`` (or ``QUICK``) with fields replaced by keyword (checked)."""
    return settings_from(NAME, FULL, QUICK, quick, overrides)


def main(request: Request) -> Path:
    """Train every method with every seed and score them; write ``rivals.json`` and the
    figure."""
    return run_image(request, experiment, settings_for)
