"""Elementwise nonlinearities and the softmax family."""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from .checks import check_shape

__all__ = ["relu_forward", "relu_backward", "softmax", "log_softmax"]


def relu_forward(x: Any) -> tuple[Any, dict]:
    """``y = max(x, 0)``, any shape. The cache keeps the boolean mask ``x > 0``."""
    xp = xp_of(x)
    # maximum propagates NaN (where(x > 0, x, 0) would hide it from the NaN-loss check)
    return xp.maximum(x, 0.0), {"positive": x > 0}


def relu_backward(dy: Any, cache: dict) -> Any:
    """``dx = dy ⊙ [x > 0]`` (the subgradient at 0 is taken to be 0)."""
    check_shape(dy, tuple(cache["positive"].shape), "dy", "the shape of x")
    xp = xp_of(dy)
    return xp.where(cache["positive"], dy, 0.0)


def log_softmax(logits: Any) -> Any:
    """Log-probabilities over the last axis, stable for any finite logits.

    Notes
    -----
    ``log softmax(z)_k = (z_k - m) - log Σ_j exp(z_j - m)`` with ``m = max_j z_j``, so no
    ``exp`` overflows and the largest term of the sum is exactly 1.
    """
    xp = xp_of(logits)
    shifted = logits - xp.max(logits, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def softmax(logits: Any) -> Any:
    """Probabilities over the last axis: ``exp(z_k - m) / Σ_j exp(z_j - m)``."""
    xp = xp_of(logits)
    e = xp.exp(logits - xp.max(logits, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)
