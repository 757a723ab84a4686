"""Max and average pooling over ``size × size`` windows, forward and backward.

Like im2col, both are loops over the ``size²`` window offsets with one strided slice each,
so they run on any array namespace and handle windows that overlap (``stride < size``) or
do not tile the input (the leftover rows and columns are ignored and get zero gradient).
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
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
        Holds ``argmax``, shape (N, C, OH, OW): the winning offset ``i·size + j`` per window.

    Notes
    -----
    ``y[n, c, a, b] = max_{i,j} x[n, c, a·stride + i, b·stride + j]``. On ties the window's
    gradient goes to exactly one input: the **first** maximum in row-major window order
    (smallest ``i``, then smallest ``j``), because a later offset must be strictly greater to win.
    """
    size, stride, oh, ow = _pool_geometry(x, size, stride)
    xp = xp_of(x)
    y = argmax = None
    for i in range(size):
        for j in range(size):
            tap = x[:, :, _window(i, oh, stride), _window(j, ow, stride)]
            if y is None:
                y = xp.asarray(tap, copy=True)
                argmax = xp.zeros(tap.shape, dtype=xp.int8 if size * size < 128 else xp.int32,
                                  device=x.device)
            else:
                # strictly greater, so ties keep the first; a NaN wins over numbers, so a
                # NaN anywhere in the window propagates (and the NaN-loss check sees it)
                wins = (tap > y) | (xp.isnan(tap) & ~xp.isnan(y))
                y = xp.where(wins, tap, y)
                argmax = xp.where(wins, xp.asarray(i * size + j, dtype=argmax.dtype), argmax)
    cache = {"argmax": argmax, "x_shape": tuple(x.shape), "size": size, "stride": stride}
    return y, cache


def maxpool2d_backward(dy: Any, cache: dict) -> Any:
    """Gradient of :func:`maxpool2d_forward`: each window's gradient goes to its argmax.

    Parameters
    ----------
    dy : array, shape (N, C, OH, OW)
    cache : dict

    Returns
    -------
    dx : array, shape (N, C, H, W)
        Overlapping windows accumulate; inputs that won no window get zero.
    """
    argmax, size, stride = cache["argmax"], cache["size"], cache["stride"]
    check_shape(dy, argmax.shape, "dy", "(N, C, OH, OW)")
    xp = xp_of(dy)
    _, _, oh, ow = argmax.shape
    dx = xp.zeros(cache["x_shape"], dtype=dy.dtype, device=dy.device)
    zero = xp.zeros_like(dy)
    for i in range(size):
        for j in range(size):
            won = argmax == xp.asarray(i * size + j, dtype=argmax.dtype)
            dx[:, :, _window(i, oh, stride), _window(j, ow, stride)] += xp.where(won, dy, zero)
    return dx


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
