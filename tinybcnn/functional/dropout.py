"""Inverted Bernoulli dropout, and the map between patch-layout and NCHW masks.

``p`` is the **drop** probability (PyTorch/Keras convention); ``keep = 1 - p``. The paper
writes ``p_i`` for the *keep* probability. Masks are inverted, ``z / keep``, so a pass with
no mask ("standard dropout", weight averaging) is the identity.

For convolutions the mask can also live in the patch layout ``(N·OH·OW, C_out)`` of ``x* · W``
(see ``conv2d_forward(..., mask=...)``): one ``z`` per patch and kernel. The two layouts
hold the same numbers; :func:`patch_mask_to_nchw` rearranges one into the other.

This is the textbook version; the layers run :mod:`tinybcnn.functional.fast.dropout`, which
draws the same mask and multiplies in the input's memory order.
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from ..random import bernoulli_mask, check_drop_probability
from .checks import check_ndim, check_same_dtype, check_shape

__all__ = ["dropout_forward", "dropout_backward", "patch_mask_to_nchw", "nchw_mask_to_patch"]


def dropout_forward(x: Any, p: float, rng: Any = None, mask: Any = None) -> tuple[Any, dict]:
    """Multiply ``x`` by an inverted Bernoulli mask.

    Parameters
    ----------
    x : array, any shape
    p : float
        Drop probability in [0, 1).
    rng : generator, optional
        Draws a fresh mask (:func:`tinybcnn.random.bernoulli_mask`) when ``mask`` is not given,
        in logical (C) order of ``x``'s shape, whatever its strides.
    mask : array, shape of ``x``, optional
        An injected mask (entries ``0`` or ``1/keep``), used as is.

    Returns
    -------
    y : array, shape of ``x``
        ``x ⊙ mask``; ``x`` itself when there is no mask (no ``rng``, or ``p == 0``).
    cache : dict
        ``cache["mask"]`` is the mask used (``None`` for the identity), readable for tests.
    """
    p = check_dropout_input(x, p)
    xp = xp_of(x)
    if mask is None and rng is not None and p > 0:
        # drawn in logical (C) order: a seed gives the same mask whatever x's strides
        mask = bernoulli_mask(rng, tuple(x.shape), p, dtype=x.dtype, xp=xp)
    if mask is None:
        return x, {"mask": None}
    check_shape(mask, tuple(x.shape), "mask", "the shape of x")
    check_same_dtype(x=x, mask=mask)
    return x * mask, {"mask": mask}


def check_dropout_input(x: Any, p: float) -> float:
    """Return ``p`` as a float if it is a drop probability and ``x`` is floating, else raise."""
    p = check_drop_probability(p)
    if not xp_of(x).isdtype(x.dtype, "real floating"):
        raise ValueError(f"x must be a floating array (an inverted mask scales by 1/keep), "
                         f"got dtype {x.dtype}")
    return p


def dropout_backward(dy: Any, cache: dict) -> Any:
    """``dx = dy ⊙ mask`` (the identity where the forward pass had no mask)."""
    mask = cache["mask"]
    return dy if mask is None else dy * mask


def patch_mask_to_nchw(mask: Any, n: int, oh: int, ow: int) -> Any:
    """Rearrange a patch-layout mask ``(N·OH·OW, C)`` into the NCHW mask ``(N, C, OH, OW)``.

    ``out[n, j, a, b] = mask[(n·OH + a)·OW + b, j]``: the same rule that turns ``x* · W`` into
    the conv output ``y``, which is why patch masking *is* dropout on ``y``.
    """
    check_ndim(mask, 2, "mask", "(N*OH*OW, C)")
    if mask.shape[0] != n * oh * ow:
        raise ValueError(f"mask must have N*OH*OW = {n * oh * ow} rows, got {mask.shape[0]}")
    xp = xp_of(mask)
    return xp.permute_dims(xp.reshape(mask, (n, oh, ow, mask.shape[1])), (0, 3, 1, 2))


def nchw_mask_to_patch(mask: Any) -> Any:
    """Inverse of :func:`patch_mask_to_nchw`: ``(N, C, OH, OW)`` to ``(N·OH·OW, C)``."""
    check_ndim(mask, 4, "mask", "(N, C, OH, OW)")
    xp = xp_of(mask)
    n, c, oh, ow = mask.shape
    return xp.reshape(xp.permute_dims(mask, (0, 2, 3, 1)), (n * oh * ow, c))
