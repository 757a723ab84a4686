"""Fast twin of :mod:`tinybcnn.functional.conv`: the same convolution on ``(i, j, c)`` columns.

:func:`conv2d_forward_fast` and :func:`conv2d_backward_fast` return what
:func:`~tinybcnn.functional.conv2d_forward` and :func:`~tinybcnn.functional.conv2d_backward`
return (equal up to float rounding: the GEMMs sum in another order). They build ``x*`` with
:func:`im2col_ijc` (contiguous copies) and permute ``W`` to match; ``dx*`` comes out of the
GEMM column-major, so :func:`col2im_ijc` reads one contiguous block per kernel offset.
The caches of the two versions are not interchangeable (a backward checks which it got).
"""

from __future__ import annotations

from typing import Any

from ...backend import xp_of
from ..conv import check_conv_inputs, patch_gradient
from .im2col import col2im_ijc, im2col_ijc

__all__ = ["conv2d_forward_fast", "conv2d_backward_fast"]


def conv2d_forward_fast(x: Any, W: Any, b: Any, stride: int = 1, pad: int = 0,
                        mask: Any = None) -> tuple[Any, dict]:
    """:func:`~tinybcnn.functional.conv2d_forward` computed on ``(i, j, c)``-ordered ``x*``.

    Parameters and return values as there: ``y`` (N, C_out, OH, OW) is an NCHW view of
    patch-layout, channels-last memory (``docs/architecture.md``).
    """
    n, oh, ow = check_conv_inputs(x, W, b, stride, pad, mask)
    xp = xp_of(x, W)
    c_out, _, kh, kw = W.shape
    cols = im2col_ijc(x, kh, kw, stride, pad)                 # (N·OH·OW, kh·kw·C_in)
    y_patch = cols @ kernel_matrix_ijc(W).T + b                # (N·OH·OW, C_out)
    if mask is not None:
        y_patch = y_patch * mask
    y = xp.permute_dims(xp.reshape(y_patch, (n, oh, ow, c_out)), (0, 3, 1, 2))
    cache = {"cols": cols, "W": W, "x_shape": tuple(x.shape), "stride": stride, "pad": pad,
             "mask": mask, "columns": "ijc"}
    return y, cache


def conv2d_backward_fast(dy: Any, cache: dict, input_grad: bool = True) -> tuple[Any, Any, Any]:
    """:func:`~tinybcnn.functional.conv2d_backward` for a cache of :func:`conv2d_forward_fast`.

    Returns ``dx`` (N, C_in, H, W) or ``None``, ``dW`` (C_out, C_in, kh, kw), ``db`` (C_out,).
    """
    d_patch = patch_gradient(dy, cache, "ijc")
    xp = xp_of(d_patch)
    cols, W = cache["cols"], cache["W"]
    c_out, c_in, kh, kw = W.shape
    db = xp.sum(d_patch, axis=0)
    dW = xp.permute_dims(xp.reshape(d_patch.T @ cols, (c_out, kh, kw, c_in)), (0, 3, 1, 2))
    if not input_grad:
        return None, dW, db
    # dx* = dY · W_mat, computed as (W_matᵀ · dYᵀ)ᵀ so it comes out column-major: offset-major
    # memory, which col2im_ijc reads one contiguous block per kernel offset
    d_cols = (kernel_matrix_ijc(W).T @ d_patch.T).T
    dx = col2im_ijc(d_cols, cache["x_shape"], kh, kw, cache["stride"], cache["pad"])
    return dx, dW, db


def kernel_matrix_ijc(W: Any) -> Any:
    """``W`` (C_out, C_in, kh, kw) as the matrix (C_out, kh·kw·C_in) matching x*'s (i, j, c)."""
    xp = xp_of(W)
    c_out, c_in, kh, kw = W.shape
    return xp.reshape(xp.permute_dims(W, (0, 2, 3, 1)), (c_out, kh * kw * c_in))
