"""Max and average pooling over ``size × size`` windows, forward and backward.

Like im2col, the general case is a loop over the ``size²`` window offsets with one strided
slice each, so it runs on any array namespace and handles windows that overlap
(``stride < size``) or do not tile the input (the leftover rows and columns are ignored and
get zero gradient). When the windows tile the input, the forward max is one reduction.
"""

from __future__ import annotations

from typing import Any

from ..backend import is_numpy, xp_of
from ._checks import check_ndim, check_positive_int, check_shape, output_size
from .im2col import _window

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"]


def _pool_geometry(x: Any, size: int, stride: int | None) -> tuple[int, int, int, int]:
    check_ndim(x, 4, "x", "(N, C, H, W)")
    size = check_positive_int(size, "size")
    stride = size if stride is None else check_positive_int(stride, "stride")
    oh = output_size(x.shape[2], size, stride, 0, "height")
    ow = output_size(x.shape[3], size, stride, 0, "width")
    return size, stride, oh, ow


def _channels_last(x: Any) -> Any:
    """The NHWC view of an NCHW array (contiguous when x is a view of channels-last memory)."""
    return xp_of(x).permute_dims(x, (0, 2, 3, 1))


def _tiles(x: Any, size: int, stride: int) -> bool:
    """True when the windows cover the input exactly once (the common 2×2, stride 2 case)."""
    return stride == size and x.shape[2] % size == 0 and x.shape[3] % size == 0


def maxpool2d_forward(x: Any, size: int = 2, stride: int | None = None) -> tuple[Any, dict]:
    """Max pooling.

    Parameters
    ----------
    x : array, shape (N, C, H, W)
    size : int
        Window height and width.
    stride : int, optional
        Defaults to ``size`` (non-overlapping windows).

    Returns
    -------
    y : array, shape (N, C, OH, OW), ``OH = (H - size) // stride + 1``
    cache : dict
        ``x`` and ``y``: the backward pass finds each window's maximum again.

    Notes
    -----
    ``y[n, c, a, b] = max_{i,j} x[n, c, a·stride + i, b·stride + j]``; a NaN in a window
    makes its maximum NaN. It is a running ``maximum`` over the ``size²`` window offsets; when
    the windows tile the input, over a reshaped channels-last view (no copies when ``x`` is a
    view of channels-last memory, as conv outputs are).
    """
    size, stride, oh, ow = _pool_geometry(x, size, stride)
    xp = xp_of(x)
    if _tiles(x, size, stride):
        n, c = x.shape[:2]
        windows = xp.reshape(_channels_last(x), (n, oh, size, ow, size, c))
        y = _window_max(windows, size)
        y = xp.permute_dims(xp.reshape(y, (n, oh, ow, c)), (0, 3, 1, 2))
    else:
        y = None
        for i in range(size):
            for j in range(size):
                tap = x[:, :, _window(i, oh, stride), _window(j, ow, stride)]
                y = tap if y is None else xp.maximum(y, tap)   # maximum propagates NaN
    return y, {"x": x, "y": y, "size": size, "stride": stride}


def maxpool2d_backward(dy: Any, cache: dict) -> Any:
    """Gradient of :func:`maxpool2d_forward`: each window's gradient goes to one maximum.

    Parameters
    ----------
    dy : array, shape (N, C, OH, OW)
    cache : dict

    Returns
    -------
    dx : array, shape (N, C, H, W)
        Overlapping windows accumulate; inputs that won no window get zero.

    Notes
    -----
    On ties the whole gradient of a window goes to exactly one input: the **first** maximum in
    row-major window order (smallest ``i``, then smallest ``j``). The window offsets are visited
    in that order (or ranked, when the windows tile the input). A NaN window sends its
    gradient to its first NaN.
    """
    x, y, size, stride = cache["x"], cache["y"], cache["size"], cache["stride"]
    check_shape(dy, tuple(y.shape), "dy", "(N, C, OH, OW)")
    if _tiles(x, size, stride):
        return _tiled_max_backward(dy, x, y, size)
    xp = xp_of(dy)
    _, _, oh, ow = y.shape
    dx = xp.zeros(tuple(x.shape), dtype=dy.dtype, device=dy.device)
    y_nan = xp.isnan(y)
    zero = xp.zeros_like(dy)
    left = dy  # the gradient of each window not yet handed to an input
    for i in range(size):
        for j in range(size):
            window = (slice(None), slice(None), _window(i, oh, stride), _window(j, ow, stride))
            tap = x[window]
            hit = (tap == y) | (xp.isnan(tap) & y_nan)  # a NaN window: its first NaN
            dx[window] += xp.where(hit, left, zero)
            left = xp.where(hit, zero, left)   # taken: later ties of this window get nothing
    return dx


def _window_max(windows: Any, size: int) -> Any:
    """Maximum over the window axes of ``(N, OH, s, OW, s, C)``, keeping them as size 1.

    A running ``maximum`` over the ``s²`` positions: it propagates NaN, and on NumPy it is
    several times faster than ``max(axis=(2, 4))`` over these short, strided axes.
    """
    xp = xp_of(windows)
    best = windows[:, :, :1, :, :1, :]
    for i in range(size):
        for j in range(size):
            if i or j:  # position (0, 0) is where best starts
                best = xp.maximum(best, windows[:, :, i:i + 1, :, j:j + 1, :])
    return best


def _tiled_max_backward(dy: Any, x: Any, y: Any, size: int) -> Any:
    """Max-pool backward when the windows tile the input, on whole reshaped arrays.

    With the input viewed as ``(N, OH, s, OW, s, C)`` (free for channels-last memory, as conv
    outputs are), each element is compared with its window's maximum. Ties are broken by a
    rank, ``s²`` for the first window position down to 1 for the last: the hit with the
    highest rank in its window is the first maximum in row-major order. Every step streams
    through memory; the loop over strided window offsets was about three times slower on
    LeNet's pool1.
    """
    xp = xp_of(dy)
    n, c, h, w = x.shape
    oh, ow = h // size, w // size
    windows = xp.reshape(_channels_last(x), (n, oh, size, ow, size, c))
    y = xp.reshape(_channels_last(y), (n, oh, 1, ow, 1, c))
    hit = windows == y
    # a NaN window sends its gradient to its NaNs; asking first whether there is one is free on
    # NumPy but a device-to-host wait on a GPU, so there the NaN term is always computed
    if not is_numpy(xp) or bool(xp.any(xp.isnan(y))):
        hit = hit | (xp.isnan(windows) & xp.isnan(y))
    rank_type = xp.uint8 if size * size < 256 else xp.int32
    # s², ..., 1 built as s² - (0, ..., s²-1): a negative step in an unsigned arange is cast
    # to the unsigned type (and rejected) by CuPy
    rank = xp.astype(size * size - xp.arange(size * size, device=dy.device), rank_type)
    rank = xp.reshape(rank, (1, 1, size, 1, size, 1))
    score = xp.astype(hit, rank_type) * rank
    best = _window_max(score, size)
    first = xp.astype(score == best, dy.dtype)                  # exactly one per window
    grads = first * xp.reshape(_channels_last(dy), (n, oh, 1, ow, 1, c))
    return xp.permute_dims(xp.reshape(grads, (n, h, w, c)), (0, 3, 1, 2))


def avgpool2d_forward(x: Any, size: int = 2, stride: int | None = None) -> tuple[Any, dict]:
    """Average pooling; shapes as in :func:`maxpool2d_forward`.

    Notes
    -----
    ``y[n, c, a, b] = (1 / size²) Σ_{i,j} x[n, c, a·stride + i, b·stride + j]``.
    """
    size, stride, oh, ow = _pool_geometry(x, size, stride)
    xp = xp_of(x)
    y = xp.zeros((x.shape[0], x.shape[1], oh, ow), dtype=x.dtype, device=x.device)
    for i in range(size):
        for j in range(size):
            y += x[:, :, _window(i, oh, stride), _window(j, ow, stride)]
    y = y / (size * size)
    return y, {"x_shape": tuple(x.shape), "size": size, "stride": stride, "out_hw": (oh, ow)}


def avgpool2d_backward(dy: Any, cache: dict) -> Any:
    """Gradient of :func:`avgpool2d_forward`: ``dy / size²`` spread over each window."""
    size, stride = cache["size"], cache["stride"]
    oh, ow = cache["out_hw"]
    check_shape(dy, cache["x_shape"][:2] + (oh, ow), "dy", "(N, C, OH, OW)")
    xp = xp_of(dy)
    share = dy / (size * size)
    dx = xp.zeros(cache["x_shape"], dtype=dy.dtype, device=dy.device)
    for i in range(size):
        for j in range(size):
            dx[:, :, _window(i, oh, stride), _window(j, ow, stride)] += share
    return dx
