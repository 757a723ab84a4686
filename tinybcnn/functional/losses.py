"""Likelihood terms of the objective: softmax cross-entropy and the Gaussian NLL."""

from __future__ import annotations

import math
from typing import Any

from ..backend import xp_of
from ._checks import check_ndim, check_shape
from .activations import log_softmax

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
    check_range : bool
        Check that the labels lie in [0, K). On a GPU that reads two numbers back and waits
        for the device, so a training step that checked its labels once passes ``False``.

    Returns
    -------
    loss : 0-d array
        ``-(1/N) Σ_n log softmax(logits_n)[labels_n]``.
    cache : dict

    Notes
    -----
    Computed from :func:`log_softmax`, so it stays finite for logits of ±1e4.
    """
    check_ndim(logits, 2, "logits", "(N, K)")
    xp = xp_of(logits)
    labels = xp.asarray(labels, device=logits.device)
    check_shape(labels, (logits.shape[0],), "labels", "(N,)")
    n, k = logits.shape
    if n == 0:
        raise ValueError("logits must hold at least one row, got shape (0, K)")
    if not xp.isdtype(labels.dtype, "integral"):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if check_range and (int(xp.min(labels)) < 0 or int(xp.max(labels)) >= k):
        raise ValueError(f"labels must lie in [0, {k}), got values outside that range")
    log_p = log_softmax(logits)
    hit = one_hot(labels, k, logits)
    loss = -xp.sum(xp.where(hit, log_p, xp.zeros_like(log_p))) / n
    return loss, {"log_p": log_p, "hit": hit}


def softmax_cross_entropy_backward(dloss: Any, cache: dict) -> Any:
    """Gradient with respect to the logits: ``dloss · (softmax(z) - onehot(y)) / N``."""
    xp = xp_of(cache["log_p"])
    log_p, hit = cache["log_p"], cache["hit"]
    p = xp.exp(log_p)
    grad = p - xp.astype(hit, p.dtype)
    return grad * (dloss / p.shape[0])


def gaussian_nll_forward(pred: Any, target: Any, tau: float) -> tuple[Any, dict]:
    """Mean negative log-density of ``target`` under ``N(pred, 1/tau)``.

    Parameters
    ----------
    pred, target : arrays of the same shape, (N,) or (N, D)
    tau : float
        Model precision, > 0.

    Returns
    -------
    loss : 0-d array
        ``mean[ tau/2 (pred - target)² ] - ½ log tau + ½ log 2π``.
    cache : dict
    """
    if not 0 < tau < math.inf:
        raise ValueError(f"tau is a precision and must be finite and > 0, got {tau}")
    check_shape(target, tuple(pred.shape), "target", "the shape of pred")
    xp = xp_of(pred)
    resid = pred - target
    const = -0.5 * math.log(tau) + 0.5 * math.log(2 * math.pi)
    loss = 0.5 * tau * xp.mean(resid * resid) + const
    return loss, {"resid": resid, "tau": float(tau)}


def gaussian_nll_backward(dloss: Any, cache: dict) -> Any:
    """Gradient with respect to ``pred``: ``dloss · tau (pred - target) / size``."""
    resid = cache["resid"]
    size = math.prod(resid.shape)
    return resid * (dloss * cache["tau"] / size)
