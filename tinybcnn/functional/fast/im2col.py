"""Fast twin of :mod:`tinybcnn.functional.im2col`: ``x*`` with columns ``(i, j, c)``, offset-major.

``x*`` is only defined up to the order of its columns, as long as the kernels are reshaped to
match, and a matrix can sit in memory row- or column-major: BLAS multiplies either without a
copy. :func:`im2col_ijc` orders the columns ``(i, j, c)``, so that a patch row of a
channels-last image is ``kh·kw`` contiguous runs of ``C`` values, and picks the memory order
that makes its copies contiguous. On LeNet (batch 64, float32) this took conv2's im2col from
about 7 ms to about 0.3 ms and conv1's from about 5 ms to 0.2 ms. The textbook versions are
:func:`tinybcnn.functional.im2col` and :func:`tinybcnn.functional.col2im`;
``docs/architecture.md`` gives the layout contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...backend import is_numpy, xp_of
from .._checks import check_ndim
from ..im2col import _pad, _window, check_cols, conv_output_shape

__all__ = ["im2col_ijc", "col2im_ijc"]


def im2col_ijc(x: Any, kh: int, kw: int, stride: int = 1, pad: int = 0,
               reuse: Any = None) -> Any:
    """``im2col(x)`` with columns permuted from ``(c, i, j)`` to ``(i, j, c)``.

    Parameters
    ----------
    x : array, shape (N, C, H, W)
    kh, kw, stride, pad : int
        As in :func:`tinybcnn.functional.im2col`.
    reuse : ndarray, optional
        An earlier result whose values are no longer needed (a layer's ``x*`` of its previous
        pass): written over when it has this call's shape, dtype and memory order, instead of
        allocating a new matrix. NumPy only; otherwise ignored. It matters for speed: a
        freshly allocated matrix of several MB often comes from pages the system has to map
        again, one page fault per 4 kB (conv2's ``x*`` at batch 32 is 4 MB).

    Returns
    -------
    cols : array, shape (N·OH·OW, kh·kw·C)
        ``cols[r, (i·kw + j)·C + c] == im2col(x)[r, (c·kh + i)·kw + j]``, so
        ``cols @ W.transpose(0, 2, 3, 1).reshape(C_out, -1).T`` is the same convolution as
        ``im2col(x) @ W.reshape(C_out, -1).T``.

    Notes
    -----
    The memory order follows the input. A channels-last NumPy input with several channels
    (a pooled conv output) is copied once, through a sliding-window view, into a row-major
    matrix: every patch row is ``kh·kw`` runs of ``C`` contiguous values. Otherwise the matrix
    is built offset-major, the transpose of a C-contiguous ``(kh·kw·C, N·OH·OW)`` array, one
    contiguous block per kernel offset. BLAS multiplies either without a copy.
    """
    check_ndim(x, 4, "x", "(N, C, H, W)")
    n, c, h, w = x.shape
    oh, ow = conv_output_shape(h, w, kh, kw, stride, pad)
    xp = xp_of(x)
    shape = (n * oh * ow, kh * kw * c)
    if is_numpy(xp) and c > 1 and _channels_last_memory(x):
        x_nhwc = _pad_channels_last(np.transpose(x, (0, 2, 3, 1)), pad)
        windows = sliding_window_view(x_nhwc, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
        cols = _reusable(reuse, shape, x.dtype, row_major=True)
        if cols is None:
            cols = np.empty(shape, dtype=x.dtype)
        # (N, OH, OW, C, kh, kw) view, copied into (N, OH, OW, kh, kw, C) memory
        cols.reshape(n, oh, ow, kh, kw, c)[...] = np.transpose(windows, (0, 1, 2, 4, 5, 3))
        return cols
    x_pad = _pad(x, pad)
    if is_numpy(xp):
        # one strided copy, not one per kernel offset: in a training step that runs two
        # halves of a batch in two threads, each NumPy call is a point where a thread may
        # have to wait for the other to hand over the GIL
        windows = sliding_window_view(x_pad, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
        cols = _reusable(reuse, shape, x.dtype, row_major=False)
        if cols is None:
            cols = np.empty(shape[::-1], dtype=x.dtype).T
        # (N, C, OH, OW, kh, kw) view, copied into (kh, kw, C, N, OH, OW) memory
        cols.T.reshape(kh, kw, c, n, oh, ow)[...] = np.transpose(windows, (4, 5, 1, 0, 2, 3))
        return cols
    cols_t = xp.empty((kh, kw, c, n, oh, ow), dtype=x.dtype, device=x.device)
    for i in range(kh):
        for j in range(kw):
            tap = x_pad[:, :, _window(i, oh, stride), _window(j, ow, stride)]  # (N, C, OH, OW)
            cols_t[i, j, ...] = xp.permute_dims(tap, (1, 0, 2, 3))
    return xp.reshape(cols_t, (kh * kw * c, n * oh * ow)).T


def _reusable(a: Any, shape: tuple[int, int], dtype: Any, row_major: bool) -> Any:
    """``a`` if it is a NumPy matrix of ``shape`` and ``dtype`` stored row-major (or, with
    ``row_major=False``, column-major: its transpose C-contiguous), else None."""
    if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
        return None
    return a if (a if row_major else a.T).flags.c_contiguous else None


def _pad_channels_last(x_nhwc: np.ndarray, pad: int) -> np.ndarray:
    """Zero-pad the spatial axes of an NHWC array, keeping it channels-last."""
    if pad == 0:
        return x_nhwc
    n, h, w, c = x_nhwc.shape
    out = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=x_nhwc.dtype)
    out[:, pad:pad + h, pad:pad + w, :] = x_nhwc
    return out


def _channels_last_memory(x: Any) -> bool:
    """True if the NCHW NumPy array ``x`` is a view of C-contiguous NHWC memory."""
    return bool(np.transpose(x, (0, 2, 3, 1)).flags.c_contiguous)


def col2im_ijc(cols: Any, x_shape: tuple[int, int, int, int], kh: int, kw: int,
               stride: int = 1, pad: int = 0) -> Any:
    """Adjoint of :func:`im2col_ijc`: ``col2im`` of the ``(c, i, j)``-ordered matrix.

    Parameters
    ----------
    cols : array, shape (N·OH·OW, kh·kw·C)
        Columns ordered ``(i, j, c)``. Fastest when column-major (the transpose of a
        C-contiguous array), as :func:`conv2d_backward_fast` makes it: then no copy is needed.
    x_shape : tuple (N, C, H, W)
    kh, kw, stride, pad : int

    Returns
    -------
    x : array, shape (N, C, H, W)
        Equal to ``col2im(P(cols))`` with ``P`` the column permutation back to ``(c, i, j)``.
        Its memory is channels-first-batch-second ``(C, N, H, W)``, seen as an NCHW view.
    """
    n, c, h, w, oh, ow = check_cols(cols, x_shape, kh, kw, stride, pad, "kh*kw*C")
    xp = xp_of(cols)
    cols_t = xp.reshape(cols.T, (kh, kw, c, n, oh, ow))
    x_pad = xp.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=cols.dtype, device=cols.device)
    for i in range(kh):
        for j in range(kw):
            x_pad[:, :, _window(i, oh, stride), _window(j, ow, stride)] += cols_t[i, j, ...]
    return xp.permute_dims(x_pad[:, :, pad:pad + h, pad:pad + w], (1, 0, 2, 3))
