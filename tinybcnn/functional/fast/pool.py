"""Fast twin of max pooling: whole reshaped arrays when the windows tile the input.

:func:`maxpool2d_forward_fast` and :func:`maxpool2d_backward_fast` return exactly what
:func:`~tinybcnn.functional.maxpool2d_forward` and :func:`~tinybcnn.functional.maxpool2d_backward`
return, bit for bit (a maximum and a choice of one input per window involve no rounding;
one exception on CuPy, a window of several NaNs: see :func:`window_max_and_first`). When
the windows tile the input (``stride == size`` dividing ``H`` and ``W``, LeNet's 2×2
case), the input is viewed as ``(N, OH, s, OW, s, C)`` through its channels-last view (free
for channels-last memory, which is what a conv returns, ``docs/architecture.md``), copied
once so that each window offset is a contiguous block, and reduced with a running argmax
(:func:`window_max_and_first`). The forward keeps the offset of each window's first
maximum in its cache (one byte per window on NumPy, ``cache["first"]``, beside the textbook
function's keys), so the backward never reads ``x`` again: in a LeNet step ``x`` has long
left the cache by then, and this took pool1's backward from about 1.9 to 0.8 ms for 0.2 ms
more in the forward. The backward also takes the textbook forward's cache (it then finds
the offsets itself). Other geometries fall back to the textbook loops. No step reads a
value back to the host.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ...backend import is_numpy, numpy_dtype, xp_of
from ..checks import check_shape
from ..pool import maxpool2d_backward, maxpool2d_forward, pool_geometry
from .im2col import device_index

__all__ = ["maxpool2d_forward_fast", "maxpool2d_backward_fast"]


def maxpool2d_forward_fast(x: Any, size: int = 2, stride: int | None = None) -> tuple[Any, dict]:
    """:func:`~tinybcnn.functional.maxpool2d_forward`, on a reshaped view when windows tile.

    Returns ``y`` (N, C, OH, OW), an NCHW view of channels-last memory when the windows tile
    the input, and the textbook function's cache plus ``first``: the offset ``i · size + j``
    of each window's first maximum (N, OH, OW, C), which the backward routes ``dy`` to.
    """
    size, stride, _, _ = pool_geometry(x, size, stride)
    if not _tiles(x, size, stride):
        return maxpool2d_forward(x, size, stride)
    xp = xp_of(x)
    best, first = window_max_and_first(x, size)                  # (N, OH, OW, C) each
    y = xp.permute_dims(best, (0, 3, 1, 2))
    return y, {"x": x, "y": y, "size": size, "stride": stride, "first": first}


def maxpool2d_backward_fast(dy: Any, cache: dict) -> Any:
    """:func:`~tinybcnn.functional.maxpool2d_backward`, on a reshaped view when windows tile.

    Same rule: each window's gradient goes to its first maximum in row-major window order,
    or its first NaN. Returns ``dx`` (N, C, H, W), an NCHW view of channels-last memory.
    """
    x, y, size, stride = cache["x"], cache["y"], cache["size"], cache["stride"]
    if not _tiles(x, size, stride):
        return maxpool2d_backward(dy, cache)
    check_shape(dy, tuple(y.shape), "dy", "(N, C, OH, OW)")
    xp = xp_of(dy)
    n, c, h, w = x.shape
    oh, ow = h // size, w // size
    first = cache.get("first")  # recorded by the forward while x was still in cache
    if first is None:           # a cache of the textbook forward
        _, first = window_max_and_first(x, size)
    first6 = xp.reshape(first, (n, oh, 1, ow, 1, c))
    dy6 = xp.reshape(_channels_last(dy), (n, oh, 1, ow, 1, c))
    if not is_numpy(xp):
        # one comparison and one select, straight into (N, OH, s, OW, s, C) = NHWC memory:
        # offset code (i, j) of each window position against the window's first maximum
        codes = device_index(_offset_codes(size, numpy_dtype(first.dtype)), first)
        dx = xp.where(first6 == codes, dy6, 0.0)
        return xp.permute_dims(xp.reshape(dx, (n, h, w, c)), (0, 3, 1, 2))
    dx = xp.empty((n, oh, size, ow, size, c), dtype=dy.dtype, device=dy.device)
    for k in range(size * size):
        i, j = divmod(k, size)
        at = (slice(None), slice(None), slice(i, i + 1), slice(None), slice(j, j + 1), ...)
        np.multiply(dy6, first6 == k, out=dx[at])  # straight into dx (a bool is 0 or 1)
    return xp.permute_dims(xp.reshape(dx, (n, h, w, c)), (0, 3, 1, 2))


def window_max_and_first(x: Any, size: int) -> tuple[Any, Any]:
    """Each tiling window's maximum and the row-major offset of its first maximum.

    Parameters
    ----------
    x : array, shape (N, C, H, W), with ``size`` dividing H and W
    size : int

    Returns
    -------
    best : array, shape (N, OH, OW, C)
        The window maxima (NaN where a window holds one), C-contiguous: ``y`` in channels-last
        memory.
    first : array of integers, shape (N, OH, OW, C)
        ``i · size + j`` of the first maximum of the window, or of its first NaN (small
        unsigned integers on NumPy, argmax's default integers elsewhere).

    Notes
    -----
    One strided copy puts the window offsets in contiguous ``(N, OH, OW, C)`` blocks, so that
    every later pass streams. Then (on NumPy) a running argmax: offset ``k`` takes over from
    the best so far where it is strictly larger (a tie keeps the earlier offset) or NaN while
    the best is not (the first NaN wins; ``maximum`` keeps the best NaN and nothing takes over
    from it).
    The last offset that took over is the largest such ``k``, so a running ``maximum`` of
    ``k · takes`` records it: no scatter, no read-back. The forward pass records ``first``
    while ``x`` is in cache, so the backward reads one byte per window instead of ``x``
    (as PyTorch's ``max_pool2d_with_indices`` and Caffe's pooling mask do).
    """
    xp = xp_of(x)
    n, c, h, w = x.shape
    oh, ow = h // size, w // size
    moved = xp.permute_dims(_windows(x, size), (2, 4, 0, 1, 3, 5))   # (s, s, N, OH, OW, C)
    if is_numpy(xp):  # the running argmax in place, on a copy of our own (never a view of x)
        code_type = np.uint8 if size * size <= 256 else np.int32
        first = np.zeros((n, oh, ow, c), dtype=code_type)
        by_offset = np.empty(moved.shape, dtype=x.dtype)
        by_offset[...] = moved
        return _window_max_and_first_numpy(by_offset.reshape(size * size, n, oh, ow, c), first)
    # other namespaces: two whole-array reductions over each window's offsets, put on the
    # last axis (one copy). argmax of the floats gives the first maximum: ties go to the
    # lowest index (CuPy's my_argmax_float in cupy/_core/_routines_statistics.pyx takes
    # min(a.index, b.index) on equal values, as NumPy does), and a NaN beats any number.
    # Of several NaNs NumPy (and so array_api_strict) takes the first; CuPy takes whichever
    # its reduction tree meets first. Such a window's maximum, and so the loss, is NaN then,
    # and every gradient of the step NaN wherever its NaN goes: two launches, not six (a
    # 0/1 code of "equal to the maximum or NaN", whose argmax is always the first).
    by_window = xp.reshape(xp.permute_dims(moved, (2, 3, 4, 5, 0, 1)),
                           (n, oh, ow, c, size * size))
    return xp.max(by_window, axis=-1), xp.argmax(by_window, axis=-1)


def _window_max_and_first_numpy(by_offset: np.ndarray, first: np.ndarray) -> tuple[Any, Any]:
    """:func:`window_max_and_first`'s loop with ``out=``: no temporaries.

    Without NaN, offset ``k`` takes over exactly where ``v > best``: four passes per offset.
    NaN propagates through ``maximum``, so a NaN anywhere shows in ``best`` at the end; only
    then is the loop run again with the NaN rule (three more passes per offset to find where
    ``k`` takes over). On pool1's input (batch 64) this took the loop from 1.1 to 0.23 ms
    (``np.copyto(first, k, where=takes)`` in place of the last two passes: 3.1 ms).
    ``best`` is a copy, not a view of ``by_offset``: the pooled output would otherwise keep
    the four-times-larger block of all offsets alive (and out of MC prediction's budget,
    which counts an array's own bytes).
    """
    best = by_offset[0].copy()
    takes = np.empty(best.shape, dtype=bool)
    for k in range(1, by_offset.shape[0]):
        v = by_offset[k]
        np.greater(v, best, out=takes)
        _record(first, takes, k)
        np.maximum(best, v, out=best)
    if not np.isnan(best).any():
        return best, first
    best[...] = by_offset[0]
    first[...] = 0
    not_nan = np.empty(best.shape, dtype=bool)
    for k in range(1, by_offset.shape[0]):
        v = by_offset[k]
        np.less_equal(v, best, out=takes)
        np.logical_not(takes, out=takes)
        np.equal(best, best, out=not_nan)
        takes &= not_nan        # v > best, or v NaN and best not
        _record(first, takes, k)
        np.maximum(best, v, out=best)
    return best, first


def _record(first: np.ndarray, takes: np.ndarray, k: int) -> None:
    """``first = k`` where ``takes``: a running maximum of ``k · takes`` (``k`` grows, so the
    last offset to take over wins). ``takes`` may be overwritten."""
    if first.dtype == np.uint8:   # k < 256: k · takes in the bool's own bytes
        code = takes.view(np.uint8)
        np.multiply(code, np.uint8(k), out=code)
        np.maximum(first, code, out=first)
    else:
        np.maximum(first, takes * first.dtype.type(k), out=first)


def _tiles(x: Any, size: int, stride: int) -> bool:
    """True when the windows cover the input exactly once (the common 2×2, stride 2 case)."""
    return stride == size and x.shape[2] % size == 0 and x.shape[3] % size == 0


def _channels_last(x: Any) -> Any:
    """The NHWC view of an NCHW array (contiguous when x is a view of channels-last memory)."""
    return xp_of(x).permute_dims(x, (0, 2, 3, 1))


def _windows(x: Any, size: int) -> Any:
    """Tiling windows of ``x`` (N, C, H, W) as ``(N, OH, s, OW, s, C)``."""
    n, c, h, w = x.shape
    return xp_of(x).reshape(_channels_last(x), (n, h // size, size, w // size, size, c))


@functools.lru_cache(maxsize=16)
def _offset_codes(size: int, dtype: np.dtype) -> np.ndarray:
    """``i · size + j`` at position ``(0, 0, i, 0, j, 0)``: the offset code of each position
    of a window laid out as ``(N, OH, s, OW, s, C)``. Host memory, cached."""
    codes = np.arange(size * size, dtype=dtype).reshape(1, 1, size, 1, size, 1)
    codes.flags.writeable = False
    return codes
