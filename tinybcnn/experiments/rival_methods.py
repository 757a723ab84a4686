"""MC dropout's rivals as the experiments train and score them (the ``rivals`` and
``critique`` experiments share this module; neither imports the other).

Every method sees the same training images and the same solver budget (the iterations of one
network, SGD with Caffe's LeNet recipe): the MC-dropout networks and the ensemble's members
train through :func:`tinybcnn.experiments.common.train` (run folders, resumable); the
Concrete-dropout network, whose ``p`` is a parameter that :class:`~tinybcnn.runs.RunConfig`
does not describe, trains in memory with the same recipe and is trained again on a rerun.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import metrics
from ..backend import get_backend
from ..concrete import ConcreteObjective, concrete_lenet
from ..ensembles import member_seeds
from ..optim import SGD, inv
from ..predict import Prediction, entropy
from ..train import Trainer
from .common import Context, default_iterations, run_record, train

__all__ = ["WEIGHT_DECAY", "concrete_length_scale", "train_concrete", "train_members",
           "with_temperature", "ood_auroc", "inverted", "timed", "split"]

#: The Caffe weight decay every network of the comparison trains with.
WEIGHT_DECAY = 5e-4


def concrete_length_scale(n_train: int, p: float = 0.5,
                          weight_decay: float = WEIGHT_DECAY) -> float:
    """The prior length-scale ``l`` at which Concrete dropout's weight term equals the Caffe
    ``weight_decay`` the other networks train with, at drop probability ``p``.

    The kernel term ``l² ‖W‖² / (2 N (1 − p))`` has gradient ``l² W / (N (1 − p))``; the
    Caffe decay's is ``weight_decay · W``; equal when ``l² = weight_decay · N · (1 − p)``.
    """
    return math.sqrt(weight_decay * n_train * (1.0 - p))


def _iterations(ctx: Context, n: int, batch: int) -> int:
    """The iterations of one network: the command line's, the settings', or the default."""
    return ctx.iterations or ctx.settings.iterations or default_iterations(n, batch)


def train_concrete(ctx: Context, x_train: np.ndarray, y_train: np.ndarray,
                   seed: int) -> dict[str, Any]:
    """A Concrete-dropout lenet-all (``p`` learnt from ``ctx.settings.concrete_p``) trained
    with the other networks' solver and budget.

    Returns
    -------
    dict
        ``model``, ``learnt_p`` (per layer), ``train_seconds``, ``iterations``, ``seed``.
    """
    from ..data import as_float

    s = ctx.settings
    n = len(y_train)
    batch = min(s.batch_size, n)
    iterations = _iterations(ctx, n, batch)
    shape = tuple(x_train.shape[1:]) if x_train.ndim == 4 else (1, *x_train.shape[1:])
    model = concrete_lenet("all", p=s.concrete_p, in_shape=shape,
                           n_classes=ctx.data.n_classes, seed=seed)
    objective = ConcreteObjective.for_model(model, n_train=n,
                                            length_scale=concrete_length_scale(n))
    trainer = Trainer(model, objective, SGD(model, lr=0.01, momentum=0.9, schedule=inv()),
                      seed=seed)
    start = time.perf_counter()
    trainer.fit(as_float(x_train), y_train, iterations=iterations, batch_size=batch,
                mc_samples=0, progress=ctx.progress and f"concrete s{seed}")
    return {"model": model, "learnt_p": model.learnt_p(), "iterations": iterations,
            "seed": seed, "train_seconds": time.perf_counter() - start,
            "backend": get_backend()}


def train_members(ctx: Context, x_train: np.ndarray, y_train: np.ndarray, seed: int,
                  members: int, tag: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """A deep ensemble of ``members`` lenet-all networks (member ``k`` seeded by
    :func:`tinybcnn.ensembles.member_seeds` ``(seed, members)[k]``), each a resumable run
    folder ``<tag>_m<k>`` of ``ctx.runs_dir``."""
    models, records = [], []
    for k, member_seed in enumerate(member_seeds(seed, members)):
        trained = train(ctx, "lenet-all", x_train, y_train, member_seed, f"{tag}_m{k}")
        models.append(trained["model"])
        records.append(run_record(trained))
    return models, records


def with_temperature(pred: Prediction, temperature: float) -> Prediction:
    """``pred`` with its mean probabilities scaled on their log (``p̄^(1/T)``, renormalised);
    the entropy recomputed, mutual information and votes not defined (NaN)."""
    from ..calibration import apply_temperature_probs

    probs = apply_temperature_probs(pred.probs, temperature)
    nan = np.full(len(probs), np.nan)
    return Prediction(probs=probs, entropy=entropy(probs), mutual_info=nan,
                      variation_ratio=nan, samples=pred.samples)


def ood_auroc(pred_in: Prediction, pred_out: Prediction) -> dict[str, float | None]:
    """AUROC of the predictive entropy and of the mutual information, out of distribution
    positive; None where the score is the same for every image (one deterministic pass has
    MI 0 everywhere: an AUROC of 0.5 by construction, not a result)."""
    is_out = np.r_[np.zeros(len(pred_in.probs), bool), np.ones(len(pred_out.probs), bool)]
    out: dict[str, float | None] = {}
    for name in ("entropy", "mutual_info"):
        s = np.concatenate([getattr(pred_in, name), getattr(pred_out, name)])
        out[name] = (None if not np.all(np.isfinite(s)) or np.ptp(s) < 1e-12
                     else metrics.auroc(s, is_out))
    return out


def inverted(images: np.ndarray) -> np.ndarray:
    """uint8 images with their intensities inverted (``255 − x``): the out-of-distribution set
    of the comparison, light objects on a dark ground made dark on light. It costs no training;
    it is a far shift (all methods should find it), unlike the held-out classes of the ``ood``
    experiment."""
    return (255 - images.astype(np.int16)).astype(np.uint8)


def timed(predict: Any, *args: Any, **kwargs: Any) -> tuple[Prediction, float]:
    """``predict(*args, **kwargs)`` and the seconds it took."""
    start = time.perf_counter()
    pred = predict(*args, **kwargs)
    return pred, time.perf_counter() - start


def split(pred: Prediction, sizes: Sequence[int]) -> list[Prediction]:
    """``pred`` cut into consecutive parts of ``sizes`` inputs."""
    edges = np.cumsum([0, *sizes])
    return [Prediction(probs=pred.probs[a:b], entropy=pred.entropy[a:b],
                       mutual_info=pred.mutual_info[a:b],
                       variation_ratio=pred.variation_ratio[a:b], samples=pred.samples)
            for a, b in zip(edges[:-1], edges[1:], strict=True)]
