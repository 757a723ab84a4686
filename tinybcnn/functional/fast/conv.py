"""Fast twin of :mod:`tinybcnn.functional.conv`: the same convolution on ``(i, j, c)`` columns.

:func:`conv2d_forward_fast` and :func:`conv2d_backward_fast` return what
:func:`~tinybcnn.functional.conv2d_forward` and :func:`~tinybcnn.functional.conv2d_backward`
return (equal up to float rounding: the GEMMs sum in another order). They build ``x*`` with
:func:`im2col_ijc` (contiguous copies) and permute ``W`` to match; ``dx*`` comes out of the
GEMM column-major for :func:`col2im_ijc`, or, with many input channels, block by block
(:func:`input_gradient`); on a device it is one gather of ``dY`` and one GEMM.
The caches of the two versions are not interchangeable (a backward checks which it got).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...backend import is_numpy, xp_of
from ..conv import check_conv_inputs, patch_gradient
from ..im2col import conv_output_shape, span
from .im2col import (
    col2im_ijc,
    device_index,
    gradient_patch_index,
    im2col_ijc,
    zero_column,
)

__all__ = ["conv2d_forward_fast", "conv2d_backward_fast"]


def conv2d_forward_fast(x: Any, W: Any, b: Any, stride: int = 1, pad: int = 0,
                        mask: Any = None, reuse: dict | None = None) -> tuple[Any, dict]:
    """:func:`~tinybcnn.functional.conv2d_forward` computed on ``(i, j, c)``-ordered ``x*``.

    Parameters and return values as there: ``y`` (N, C_out, OH, OW) is an NCHW view of
    patch-layout, channels-last memory (``docs/architecture.md``). ``reuse`` is an earlier
    cache of this function whose backward is done: its ``x*`` is written over when it fits
    (see :func:`im2col_ijc`), so that cache must not be used again.
    """
    n, oh, ow = check_conv_inputs(x, W, b, stride, pad, mask)
    xp = xp_of(x, W)
    c_out, _, kh, kw = W.shape
    spare = reuse.get("cols") if reuse is not None else None
    cols = im2col_ijc(x, kh, kw, stride, pad, reuse=spare)    # (N·OH·OW, kh·kw·C_in)
    w_mat = kernel_matrix_ijc(W)      # (C_out, kh·kw·C_in): a copy when C_in > 1, kept for
    y_patch = cols @ w_mat.T          # the backward's input gradient       (N·OH·OW, C_out)
    # in place: a second output-sized array would be freshly mapped, and page-faulted in
    y_patch += b
    if mask is not None:
        y_patch *= mask
    y = xp.permute_dims(xp.reshape(y_patch, (n, oh, ow, c_out)), (0, 3, 1, 2))
    cache = {"cols": cols, "W": W, "x_shape": tuple(x.shape), "stride": stride, "pad": pad,
             "mask": mask, "columns": "ijc", "w_mat": w_mat}
    return y, cache


def conv2d_backward_fast(dy: Any, cache: dict, input_grad: bool = True) -> tuple[Any, Any, Any]:
    """:func:`~tinybcnn.functional.conv2d_backward` for a cache of :func:`conv2d_forward_fast`.

    Returns ``dx`` (N, C_in, H, W) or ``None``, ``dW`` (C_out, C_in, kh, kw), ``db`` (C_out,).
    """
    d_patch = patch_gradient(dy, cache, "ijc")
    xp = xp_of(d_patch)
    cols, W = cache["cols"], cache["W"]
    c_out, c_in, kh, kw = W.shape
    # Σ_rows dY as a matrix-vector product: on conv1's (36864, 20) about 15× faster than a
    # sum over axis 0, which NumPy walks column by column; on a device one reduction kernel
    # (the product would need a vector of ones made first: two launches)
    db = (np.ones(d_patch.shape[0], dtype=d_patch.dtype) @ d_patch if is_numpy(xp)
          else xp.sum(d_patch, axis=0))
    # dWᵀ = x*ᵀ · dY when x* is offset-major: x*ᵀ is then C-contiguous, and BLAS runs this
    # long, thin product (inner dimension N·OH·OW) faster that way round
    dW_mat = (cols.T @ d_patch).T if _column_major(cols) else d_patch.T @ cols
    dW = xp.permute_dims(xp.reshape(dW_mat, (c_out, kh, kw, c_in)), (0, 3, 1, 2))
    if not input_grad:
        return None, dW, db
    dx = input_gradient(d_patch, W, cache["x_shape"], cache["stride"], cache["pad"],
                        w_mat=cache.get("w_mat"))
    return dx, dW, db


# Below this many input channels the input gradient is one GEMM and col2im_ijc; from it on,
# one small GEMM per kernel offset whose (N·OH·OW, C_in) product, small enough to stay in
# cache, is added straight into a channels-last image. On LeNet's conv2 (C_in = 20) the
# second way took 25% less time; with C_in = 1 (conv1) the small GEMMs are too thin.
PER_OFFSET_MIN_CHANNELS = 8


def input_gradient(d_patch: Any, W: Any, x_shape: tuple[int, int, int, int], stride: int,
                   pad: int, w_mat: Any = None) -> Any:
    """``col2im(d_patch @ W.reshape(C_out, -1))``: the input gradient of a convolution.

    Parameters
    ----------
    d_patch : array, shape (N·OH·OW, C_out)
        Gradient of the loss with respect to the patch-layout output (mask applied).
    W : array, shape (C_out, C_in, kh, kw)
    x_shape : tuple (N, C_in, H, W)
    stride, pad : int
    w_mat : array, shape (C_out, kh·kw·C_in), optional
        ``kernel_matrix_ijc(W)`` when the forward made it already (it is a copy of ``W``).

    Returns
    -------
    dx : array, shape (N, C_in, H, W)
        On NumPy an NCHW view of channels-last memory when ``C_in >=
        PER_OFFSET_MIN_CHANNELS``, otherwise of ``(C, N, H, W)`` memory (see
        :func:`col2im_ijc`); on other namespaces an NCHW view of channels-last memory, made
        by one gather (:func:`~tinybcnn.functional.fast.im2col.gradient_patch_index`) and
        one GEMM, equal to the others up to the rounding of its sums.

    Notes
    -----
    ``dx*`` has one block of ``C_in`` columns per kernel offset ``(i, j)``: ``dY · W[:, :, i, j]``.
    col2im adds block ``(i, j)`` into the image shifted by ``(i, j)``; so each block can be
    computed and added in turn, without ever holding the whole ``dx*``.
    """
    xp = xp_of(d_patch, W)
    c_out, c_in, kh, kw = W.shape
    n, _, h, w = x_shape
    oh, ow = conv_output_shape(h, w, kh, kw, stride, pad)
    if w_mat is None and (not is_numpy(xp) or c_in < PER_OFFSET_MIN_CHANNELS):
        w_mat = kernel_matrix_ijc(W)
    if not is_numpy(xp):
        # on a device, launches count more than passes: the transposed convolution as one
        # gather of dY's entries (:func:`gradient_patch_index`) and one GEMM, three launches
        # where dY·W_mat and col2im_ijc's gather and sum make four
        rows = xp.concat([xp.reshape(d_patch, (n, oh * ow * c_out)), zero_column(n, d_patch)],
                         axis=1)
        index = device_index(gradient_patch_index(h, w, c_out, kh, kw, stride, pad), rows)
        patches = xp.reshape(xp.take(rows, index, axis=1), (n * h * w, c_out * kh * kw))
        dx_rows = patches @ xp.reshape(w_mat, (c_out * kh * kw, c_in))       # (N·H·W, C_in)
        return xp.permute_dims(xp.reshape(dx_rows, (n, h, w, c_in)), (0, 3, 1, 2))
    if c_in < PER_OFFSET_MIN_CHANNELS:
        # dx* = dY · W_mat, computed as (W_matᵀ · dYᵀ)ᵀ so it comes out column-major:
        # offset-major memory, which col2im_ijc reads one contiguous block per kernel offset
        d_cols = (w_mat.T @ d_patch.T).T
        return col2im_ijc(d_cols, x_shape, kh, kw, stride, pad)
    dx_pad = xp.zeros((n, h + 2 * pad, w + 2 * pad, c_in), dtype=d_patch.dtype,
                      device=d_patch.device)
    block = np.empty((n * oh * ow, c_in), dtype=d_patch.dtype) if is_numpy(xp) else None
    for i in range(kh):
        for j in range(kw):
            w_ij = W[:, :, i, j]                                   # (C_out, C_in)
            if block is not None:
                np.matmul(d_patch, w_ij, out=block)                # reuse one cached buffer
                d_block = block
            else:
                d_block = d_patch @ w_ij
            shifted = (slice(None), span(i, oh, stride), span(j, ow, stride), ...)
            dx_pad[shifted] += xp.reshape(d_block, (n, oh, ow, c_in))
    return xp.permute_dims(dx_pad[:, pad:pad + h, pad:pad + w, :], (0, 3, 1, 2))


def _column_major(a: Any) -> bool:
    """True for a NumPy/CuPy matrix stored column-major (False where strides are unknown)."""
    flags = getattr(a, "flags", None)
    return bool(flags is not None and flags.f_contiguous and not flags.c_contiguous)


def kernel_matrix_ijc(W: Any) -> Any:
    """``W`` (C_out, C_in, kh, kw) as the matrix (C_out, kh·kw·C_in) matching x*'s (i, j, c)."""
    xp = xp_of(W)
    c_out, c_in, kh, kw = W.shape
    return xp.reshape(xp.permute_dims(W, (0, 2, 3, 1)), (c_out, kh * kw * c_in))
