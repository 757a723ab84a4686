"""Likelihood terms of the objective: softmax cross-entropy and the Gaussian NLL."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import xp_of
from .activations import log_softmax
from .checks import check_ndim, check_shape

__all__ = [
    "one_hot",
    "softmax_cross_entropy_forward",
    "softmax_cross_entropy_backward",
    "gaussian_nll_forward",
    "gaussian_nll_backward",
]


def one_hot(labels: Any, n_classes: int, like: Any) -> Any:
    """Boolean one-hot matrix, shape (N, n_classes), in the namespace of ``like``."""
    xp = xp_of(like)
    classes = xp.arange(n_classes, device=like.device)
    return xp.reshape(labels, (-1, 1)) == xp.reshape(classes, (1, -1))


def softmax_cross_entropy_forward(logits: Any, labels: Any,
                                  check_range: bool = True) -> tuple[Any, dict]:
    """Mean negative log-likelihood of integer labels under ``softmax(logits)``.

    Parameters
    ----------
    logits : array, shape (N, K)
    labels : int array, shape (N,), values in [0, K)
        Host labels (NumPy, lists) out of range raise ValueError; device labels make the
        loss NaN instead, so that no value is read back from the device.
    check_range : bool
        Check host labels against [0, K) (``False`` when the caller checked them once, as a
        training run does before its first step).

    Returns
    -------
    loss : 0-d array
        ``-(1/N) Σ_n log softmax(logits_n)[labels_n]``.
    cache : dict

    Notes
    -----
    Computed from :func:`log_softmax`, so it stays finite for logits of ±1e4.
    """
    xp = xp_of(logits)
    labels, on_host = check_labels(logits, labels, check_range)
    n, k = logits.shape
    log_p = log_softmax(logits)
    hit = one_hot(labels, k, logits)
    loss = -xp.sum(xp.where(hit, log_p, xp.zeros_like(log_p))) / n
    if not on_host:
        # reading device labels back to raise would stall the device (a host
        # synchronisation): a label outside [0, K) matches no class and makes the loss NaN
        missed = xp.any(xp.logical_not(xp.any(hit, axis=1)))
        # (NaN made by a fill kernel: asarray(nan) would copy 4 bytes from the host per step)
        loss = xp.where(missed, xp.full((), math.nan, dtype=loss.dtype, device=loss.device),
                        loss)
    return loss, {"log_p": log_p, "hit": hit}


def check_labels(logits: Any, labels: Any, check_range: bool = True) -> tuple[Any, bool]:
    """Validate ``logits`` (N, K) and ``labels`` (N,); return the labels in the logits'
    namespace and whether they came from the host (shared with the fast twin)."""
    check_ndim(logits, 2, "logits", "(N, K)")
    xp = xp_of(logits)
    n, k = logits.shape
    on_host = isinstance(labels, (np.ndarray, list, tuple))
    if on_host and check_range:  # host labels are checked here; device labels by the caller
        _check_host_labels(np.asarray(labels), k)
    if on_host or not hasattr(labels, "shape") or xp_of(labels) is not xp:
        labels = xp.asarray(labels, device=logits.device)   # (device labels: no kernel)
    check_shape(labels, (n,), "labels", "(N,)")
    if n == 0:
        raise ValueError("logits must hold at least one row, got shape (0, K)")
    if not xp.isdtype(labels.dtype, "integral"):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    return labels, on_host


def _check_host_labels(labels: np.ndarray, k: int) -> None:
    """Raise ValueError unless host ``labels`` are integers in ``[0, k)``."""
    if labels.size and np.issubdtype(labels.dtype, np.integer) and (
            labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}), got values outside that range")


def softmax_cross_entropy_backward(dloss: Any, cache: dict) -> Any:
    """Gradient with respect to the logits: ``dloss · (softmax(z) - onehot(y)) / N``."""
    xp = xp_of(cache["log_p"])
    log_p, hit = cache["log_p"], cache["hit"]
    p = xp.exp(log_p)
    grad = p - xp.astype(hit, p.dtype)
    return grad * (dloss / p.shape[0])


def gaussian_nll_forward(pred: Any, target: Any, tau: float) -> tuple[Any, dict]:
    """Mean over points of the negative log-density of ``target`` under ``N(pred, I/tau)``.

    Parameters
    ----------
    pred, target : arrays of the same shape, (N,) or (N, D)
    tau : float
        Model precision, > 0.

    Returns
    -------
    loss : 0-d array
        ``(1/N) Σ_n [ tau/2 ‖pred_n - target_n‖² ] + (D/2) (log 2π - log tau)``.
    cache : dict

    Notes
    -----
    The ``D`` outputs of a point are one joint (diagonal) Gaussian, so their log-densities
    are *summed* and only the ``N`` points are averaged, as in ``docs/objective.md`` and
    :func:`tinybcnn.metrics.gaussian_log_likelihood`. (Averaging over all ``N·D`` entries
    would divide the data term by ``D`` and so make every decay ``λ`` ``D`` times too strong
    relative to it.) A 1-d ``pred`` is ``D = 1``.
    """
    if not 0 < tau < math.inf:
        raise ValueError(f"tau is a precision and must be finite and > 0, got {tau}")
    check_shape(target, tuple(pred.shape), "target", "the shape of pred")
    if pred.ndim not in (1, 2) or pred.shape[0] == 0:
        raise ValueError(
            f"pred must have shape (N,) or (N, D) with N >= 1, got {tuple(pred.shape)}")
    xp = xp_of(pred)
    n = pred.shape[0]
    d = 1 if pred.ndim == 1 else pred.shape[1]
    resid = pred - target
    const = 0.5 * d * (math.log(2 * math.pi) - math.log(tau))
    loss = 0.5 * tau * xp.sum(resid * resid) / n + const
    return loss, {"resid": resid, "tau": float(tau)}


def gaussian_nll_backward(dloss: Any, cache: dict) -> Any:
    """Gradient with respect to ``pred``: ``dloss · tau (pred - target) / N`` (``N`` points)."""
    resid = cache["resid"]
    return resid * (dloss * cache["tau"] / resid.shape[0])
