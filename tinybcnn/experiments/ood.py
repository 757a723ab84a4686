"""Out of distribution: lenet-all trained on classes 0–4; classes 5–9 of the test split are
out of distribution. AUROC and FPR at 95% TPR of 1 − max p̄, entropy, MI and variation ratio,
standard against MC dropout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..data import as_float
from ..functional.checks import positive_int
from ..predict import Prediction, mc_predict, standard_predict
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

NAME = "ood"  # its key in the registry, its files' prefix

__all__ = ["FULL", "QUICK", "settings_for", "main", "OODSettings", "OOD_SCORES", "ood_scores",
           "experiment"]


@dataclass(frozen=True)
class OODSettings(TrainingSettings):
    """Settings of the out-of-distribution experiment (``seeds``: number of training seeds)."""

    in_classes: int = 5                 # classes 0 .. in_classes-1 in distribution
    train_fraction: float = 1.0
    samples: int = 50
    tpr: float = 0.95
    seeds: int = 1

    def check(self) -> None:
        """Seeds and samples positive, the fraction in (0, 1], the TPR in (0, 1]."""
        positive_int(self.seeds, "seeds")
        positive_int(self.samples, "samples")
        check_fractions([self.train_fraction])
        if not 0 < self.tpr <= 1:
            raise ValueError(f"tpr must lie in (0, 1], got {self.tpr}")


#: Out-of-distribution scores: higher means "more likely out of distribution".
OOD_SCORES: dict[str, Callable[[Prediction], np.ndarray]] = {
    "1-max_prob": lambda pred: 1.0 - pred.confidence,
    "entropy": lambda pred: pred.entropy,
    "mutual_info": lambda pred: pred.mutual_info,
    "variation_ratio": lambda pred: pred.variation_ratio,
}


def ood_scores(pred_in: Prediction, pred_out: Prediction,
               tpr: float = 0.95) -> dict[str, dict[str, float]]:
    """AUROC and FPR at ``tpr`` TPR of each uncertainty score, out-of-distribution positive.

    Identical scores (MI and variation ratio of one deterministic pass are all 0) give an
    AUROC of exactly 0.5 and an FPR of 1.
    """
    result = {}
    is_out = np.r_[np.zeros(len(pred_in.probs), bool), np.ones(len(pred_out.probs), bool)]
    for name, score in OOD_SCORES.items():
        s_in, s_out = score(pred_in), score(pred_out)
        s = np.concatenate([s_in, s_out])
        result[name] = {"auroc": metrics.auroc(s, is_out),
                        "fpr_at_tpr": metrics.fpr_at_tpr(s, is_out, tpr),
                        "mean_in": float(np.mean(s_in)), "mean_out": float(np.mean(s_out))}
    return result


def _split(pred: Prediction, n: int) -> tuple[Prediction, Prediction]:
    """The first ``n`` inputs' prediction and the rest's."""
    def part(s: slice) -> Prediction:
        """The prediction restricted to the inputs ``s``."""
        return Prediction(probs=pred.probs[s], entropy=pred.entropy[s],
                          mutual_info=pred.mutual_info[s],
                          variation_ratio=pred.variation_ratio[s], samples=pred.samples)

    return part(slice(0, n)), part(slice(n, None))


def _summary(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """AUROC and FPR of each score and predictor: mean and std over seeds."""
    summary: dict[str, Any] = {}
    for kind in ("standard", "mc"):
        summary[kind] = {}
        for score in OOD_SCORES:
            for key in ("auroc", "fpr_at_tpr"):
                vals = np.array([r["scores"][kind][score][key] for r in per_seed])
                summary[kind].setdefault(score, {})[key] = {"mean": vals.mean(),
                                                            "std": vals.std()}
    return summary


def experiment(ctx: Context) -> dict[str, Any]:
    """Train on the in-distribution classes per seed, score both halves, draw the figures."""
    s, data = ctx.settings, ctx.data
    k_in = int(s.in_classes)
    if not 2 <= k_in < data.n_classes:
        raise ValueError(f"in_classes must lie in [2, {data.n_classes - 1}] for "
                         f"{data.n_classes} classes, got {k_in}")
    tr = data.y_train < k_in
    te_in, te_out = data.y_test < k_in, data.y_test >= k_in
    x_in, y_in = as_float(data.x_test[te_in]), data.y_test[te_in]
    x_out = as_float(data.x_test[te_out])
    x_all = np.concatenate([x_in, x_out])
    eval_split = subset(data.x_test[te_in], data.y_test[te_in], s.eval_size, ctx.seed)
    per_seed, hist_preds = [], None
    seeds = [ctx.seed + i for i in range(ctx.seeds)]
    ctx.record["seeds"] = {"training": seeds, "mc": seeds, "eval_subset": ctx.seed}
    bar = progress_bar(ctx.seeds, "ood", ctx.progress)
    try:
        for run_seed in seeds:
            x_tr, y_tr = subset(data.x_train[tr], data.y_train[tr],
                                fraction_size(int(tr.sum()), s.train_fraction), run_seed)
            trained = train(ctx, "lenet-all", x_tr, y_tr, run_seed,
                            f"lenet-all_in{k_in}_n{len(y_tr)}_s{run_seed}", n_classes=k_in,
                            eval_split=eval_split)
            model = trained["model"]
            preds = {"standard": _split(standard_predict(model, x_all), len(y_in)),
                     "mc": _split(mc_predict(model, x_all, samples=s.samples, seed=run_seed),
                                  len(y_in))}
            hist_preds = hist_preds or preds
            per_seed.append({**run_record(trained), "history": trained["history"],
                             "in_distribution": {k: scores(p[0], y_in, uncertainty=True)
                                                 for k, p in preds.items()},
                             "scores": {k: ood_scores(*p, tpr=s.tpr) for k, p in preds.items()}})
            bar.update(1)
    finally:
        bar.close()
    summary = _summary(per_seed)
    results = {"in_classes": list(range(k_in)), "out_classes": list(range(k_in, data.n_classes)),
               "n_in": len(y_in), "n_out": len(x_out), "samples": s.samples, "tpr": s.tpr,
               "seeds": [r["seed"] for r in per_seed], "per_seed": per_seed, "summary": summary,
               "notes": ["out-of-distribution images are the positives; a higher score means "
                         "more uncertain",
                         "standard dropout is one deterministic pass: its mutual information "
                         "and variation ratio are all 0, so their AUROC is 0.5 (FPR 1) by "
                         "construction"]}
    histogram_scores = {kind: {name: (score(p_in), score(p_out))
                               for name, score in OOD_SCORES.items()}
                        for kind, (p_in, p_out) in hist_preds.items()}
    figures.ood_histograms(histogram_scores, ctx.figure("scores"))
    constant = [(kind, name) for kind, per in histogram_scores.items()
                for name, (s_in, s_out) in per.items()
                if np.ptp(np.concatenate([s_in, s_out])) < 1e-12]   # the same for every image
    figures.ood_auroc(summary, ctx.figure("auroc"), constant=constant)
    return results


# ---------------------------------------------------------------------------------------
# The protocol (tinybcnn.experiments.runner): settings and the entry point
# ---------------------------------------------------------------------------------------

#: Full-size settings.
FULL = OODSettings()
#: Quick settings: T = 10.
QUICK = OODSettings(**QUICK_TRAINING, samples=10)


def settings_for(quick: bool = False, **overrides: Any) -> OODSettings:
    """``FULL`` (or ``QUICK``) with fields replaced by keyword (checked)."""
    return settings_from(NAME, FULL, QUICK, quick, overrides)


def main(request: Request) -> Path:
    """Train on classes 0-4 with every seed and score 5-9 as out of distribution; write
    ``ood.json`` and the figures."""
    return run_image(request, experiment, settings_for)
