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

import functools
import threading
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...backend import is_numpy, to_namespace, xp_of
from ..checks import check_ndim
from ..im2col import check_cols, conv_output_shape, span, zero_pad

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

    On other namespaces (CuPy, array_api_strict) the matrix is one gather, row-major:
    ``take`` of the channels-last image rows through a cached index (:func:`patch_index`),
    one kernel on a GPU instead of ``kh·kw`` slice copies.
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
    if not is_numpy(xp):
        rows = _image_rows(x, pad)                                 # (N, H·W·C [+ 1])
        index = device_index(patch_index(h, w, c, kh, kw, stride, pad), rows)
        return xp.reshape(xp.take(rows, index, axis=1), shape)
    # one strided copy, not one per kernel offset: in a training step that runs two halves
    # of a batch in two threads, each NumPy call is a point where a thread may have to wait
    # for the other to hand over the GIL
    windows = sliding_window_view(zero_pad(x, pad), (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    cols = _reusable(reuse, shape, x.dtype, row_major=False)
    if cols is None:
        cols = np.empty(shape[::-1], dtype=x.dtype).T
    # (N, C, OH, OW, kh, kw) view, copied into (kh, kw, C, N, OH, OW) memory
    cols.T.reshape(kh, kw, c, n, oh, ow)[...] = np.transpose(windows, (4, 5, 1, 0, 2, 3))
    return cols


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
        On NumPy its memory is channels-first-batch-second ``(C, N, H, W)``, on other
        namespaces channels-last ``(N, H, W, C)``; either is seen as an NCHW view.
    """
    n, c, h, w, oh, ow = check_cols(cols, x_shape, kh, kw, stride, pad, "kh*kw*C")
    xp = xp_of(cols)
    if not is_numpy(xp):
        # one gather and one sum: each image value is the sum of the (at most kh·kw) entries
        # of x* that copied it (:func:`scatter_index`), absent ones read as 0 from a zero slot
        rows = xp.concat([xp.reshape(cols, (n, oh * ow * kh * kw * c)), zero_column(n, cols)],
                         axis=1)
        index = device_index(scatter_index(h, w, c, kh, kw, stride, pad), rows)
        sums = xp.sum(xp.reshape(xp.take(rows, index, axis=1), (n, h * w * c, kh * kw)), axis=2)
        return xp.permute_dims(xp.reshape(sums, (n, h, w, c)), (0, 3, 1, 2))
    cols_t = xp.reshape(cols.T, (kh, kw, c, n, oh, ow))
    x_pad = xp.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=cols.dtype, device=cols.device)
    for i in range(kh):
        for j in range(kw):
            x_pad[:, :, span(i, oh, stride), span(j, ow, stride)] += cols_t[i, j, ...]
    return xp.permute_dims(x_pad[:, :, pad:pad + h, pad:pad + w], (1, 0, 2, 3))


# ---------------------------------------------------------------------------------------
# Gather indices for the device path (CuPy, array_api_strict): one kernel per im2col/col2im
# ---------------------------------------------------------------------------------------

def _image_rows(x: Any, pad: int) -> Any:
    """``x`` (N, C, H, W) as rows of its channels-last image, ``(N, H·W·C)``, plus one zero
    column (the slot padded positions read) when ``pad > 0``.

    A view when ``x`` is an NCHW view of channels-last memory (what a conv or pool returns)
    or has one channel; otherwise one copy.
    """
    xp = xp_of(x)
    n, c, h, w = x.shape
    rows = xp.reshape(xp.permute_dims(x, (0, 2, 3, 1)), (n, h * w * c))
    if pad == 0:
        return rows
    return xp.concat([rows, zero_column(n, x)], axis=1)


def zero_column(n: int, like: Any) -> Any:
    """An ``(n, 1)`` array of zeros in ``like``'s namespace, device and dtype: the zero slot
    that gathers read for absent entries. Made once and shared (it is only ever read)."""
    xp = xp_of(like)
    # keyed by the namespace module itself: one made anew (a test double) gets its own arrays
    key = ("zeros", n, str(like.dtype), xp, str(like.device))
    found = _DEVICE_INDICES.get(key)
    if found is None:
        found = (None, xp.zeros((n, 1), dtype=like.dtype, device=like.device))
        with _DEVICE_INDICES_LOCK:
            if len(_DEVICE_INDICES) > 256:
                _DEVICE_INDICES.clear()
            _DEVICE_INDICES[key] = found
    return found[1]


@functools.lru_cache(maxsize=64)
def patch_index(h: int, w: int, c: int, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """Where each entry of a patch row of :func:`im2col_ijc` comes from, in image rows.

    Returns
    -------
    index : ndarray of int64, shape (OH·OW·kh·kw·C,)
        ``index[(((oh·OW + ow)·kh + i)·kw + j)·C + c]`` is ``(y·W + x)·C + c`` with
        ``y = oh·stride + i − pad`` and ``x = ow·stride + j − pad``, or ``H·W·C`` (the zero
        slot of :func:`_image_rows`) where that falls in the padding. Host memory, cached.
    """
    oh, ow = conv_output_shape(h, w, kh, kw, stride, pad)
    y = (np.arange(oh) * stride)[:, None, None, None, None] + np.arange(kh)[:, None, None] - pad
    x = (np.arange(ow) * stride)[:, None, None, None] + np.arange(kw)[:, None] - pad
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)           # (OH, OW, kh, kw, 1)
    index = np.where(inside, (y * w + x) * c + np.arange(c), h * w * c)
    index = np.broadcast_to(index, (oh, ow, kh, kw, c)).reshape(-1).astype(np.int64)
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=64)
def scatter_index(h: int, w: int, c: int, kh: int, kw: int, stride: int,
                  pad: int) -> np.ndarray:
    """The inverse of :func:`patch_index`: which entries of a sample's ``x*`` copied each
    image value.

    Returns
    -------
    index : ndarray of int64, shape (H·W·C·kh·kw,)
        ``index[((y·W + x)·C + c)·kh·kw + i·kw + j]`` is the position in the sample's
        flattened ``x*`` (``OH·OW·kh·kw·C`` entries) of the copy of image value ``(y, x, c)``
        made for kernel offset ``(i, j)``, or ``OH·OW·kh·kw·C`` (a zero slot) where offset
        ``(i, j)`` made none. Each value is copied at most once per offset, so summing over
        the last ``kh·kw`` entries is col2im. Host memory, cached.
    """
    forward = patch_index(h, w, c, kh, kw, stride, pad)
    size = forward.size
    positions = np.arange(size)
    offset = (positions // c) % (kh * kw)                      # i·kw + j of each x* entry
    real = forward < h * w * c
    index = np.full((h * w * c, kh * kw), size, dtype=np.int64)
    index[forward[real], offset[real]] = positions[real]
    index = index.reshape(-1)
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=64)
def gradient_patch_index(h: int, w: int, c_out: int, kh: int, kw: int, stride: int,
                         pad: int) -> np.ndarray:
    """For the input gradient as one GEMM: which entry of a sample's output gradient each
    entry of a row of its *gradient patch matrix* is.

    ``dx[n, c, y, x] = Σ_{o, i, j} dY[n, o, oy, ox] · W[o, c, i, j]`` over the ``(i, j)``
    with ``y = oy·stride + i − pad`` and ``x = ox·stride + j − pad`` inside the output: so
    with ``G`` holding, in row ``(n, y, x)`` and column ``(o, i, j)``, that ``dY`` entry (0
    where there is none), ``dx`` in channels-last rows is ``G · W`` with ``W`` as the
    ``(C_out·kh·kw, C_in)`` matrix of its ``(o, i, j)`` rows (a view of
    :func:`~tinybcnn.functional.fast.conv.kernel_matrix_ijc`'s matrix).

    Returns
    -------
    index : ndarray of int64, shape (H·W·C_out·kh·kw,)
        ``index[((y·W + x)·C_out + o)·kh·kw + i·kw + j]`` is ``(oy·OW + ox)·C_out + o``, the
        position of ``dY[n, o, oy, ox]`` in the sample's patch-layout row (``OH·OW·C_out``
        entries), or ``OH·OW·C_out`` (a zero slot) where there is none. Host memory, cached.
    """
    oh, ow = conv_output_shape(h, w, kh, kw, stride, pad)
    # (H, W, 1, kh, kw) grids of the output position each kernel offset reads, if any
    ry = np.arange(h)[:, None, None, None, None] + pad - np.arange(kh)[:, None]
    rx = np.arange(w)[:, None, None, None] + pad - np.arange(kw)
    oy, ox = ry // stride, rx // stride
    inside = ((ry % stride == 0) & (oy >= 0) & (oy < oh)
              & (rx % stride == 0) & (ox >= 0) & (ox < ow))
    o = np.arange(c_out)[:, None, None]
    index = np.where(inside, (oy * ow + ox) * c_out + o, oh * ow * c_out)
    index = np.broadcast_to(index, (h, w, c_out, kh, kw)).reshape(-1).astype(np.int64)
    index.flags.writeable = False
    return index


_DEVICE_INDICES: dict[tuple[Any, ...], Any] = {}
_DEVICE_INDICES_LOCK = threading.Lock()


def device_index(index: np.ndarray, like: Any) -> Any:
    """``index`` (a cached host array) as an array of ``like``'s namespace and device, copied
    there once per (index, device) and then reused: no host-to-device copy in a step."""
    xp = xp_of(like)
    key = (id(index), xp, str(like.device))
    found = _DEVICE_INDICES.get(key)
    if found is None or found[0] is not index:
        with _DEVICE_INDICES_LOCK:
            found = (index, to_namespace(index, xp))
            if len(_DEVICE_INDICES) > 256:
                _DEVICE_INDICES.clear()
            _DEVICE_INDICES[key] = found
    return found[1]
