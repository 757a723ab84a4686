"""Fully connected (inner-product) layer: ``y = x · W + b``."""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from .checks import check_ndim, check_same_dtype, check_shape

__all__ = ["dense_forward", "dense_backward"]


def dense_forward(x: Any, W: Any, b: Any) -> tuple[Any, dict]:
    """Affine map.

    Parameters
    ----------
    x : array, shape (N, in_features)
    W : array, shape (in_features, out_features)
    b : array, shape (out_features,)

    Returns
    -------
    y : array, shape (N, out_features)
    cache : dict

    Notes
    -----
    ``y = x W + b``.
    """
    check_dense_inputs(x, W, b)
    return x @ W + b, {"x": x, "W": W}


def check_dense_inputs(x: Any, W: Any, b: Any) -> None:
    """Raise ValueError unless ``x`` (N, in), ``W`` (in, out) and ``b`` (out,) fit together
    and share one dtype (shared with the fast twin)."""
    check_ndim(x, 2, "x", "(N, in_features)")
    check_ndim(W, 2, "W", "(in_features, out_features)")
    if x.shape[1] != W.shape[0]:
        raise ValueError(
            f"x has {x.shape[1]} features but W expects in_features = {W.shape[0]} "
            f"(W shape {tuple(W.shape)})"
        )
    check_shape(b, (W.shape[1],), "b", "(out_features,)")
    check_same_dtype(x=x, W=W, b=b)


def dense_backward(dy: Any, cache: dict, input_grad: bool = True) -> tuple[Any, Any, Any]:
    """Gradients of :func:`dense_forward` (``input_grad=False`` skips ``dx``).

    Returns
    -------
    dx : array, shape (N, in_features), or None
        ``dy Wᵀ``
    dW : array, shape (in_features, out_features)
        ``xᵀ dy``
    db : array, shape (out_features,)
        ``Σ_n dy[n]``
    """
    x, W = cache["x"], cache["W"]
    check_shape(dy, (x.shape[0], W.shape[1]), "dy", "(N, out_features)")
    xp = xp_of(dy)
    return (dy @ W.T if input_grad else None), x.T @ dy, xp.sum(dy, axis=0)
