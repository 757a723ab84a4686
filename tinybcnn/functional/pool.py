"""Max and average pooling over ``size × size`` windows, forward and backward.

Like im2col, each is a loop over the ``size²`` window offsets with one strided slice each, so
it runs on any array namespace and handles windows that overlap (``stride < size``) or do not
tile the input (the leftover rows and columns are ignored and get zero gradient). This is the
textbook version; the layers run :mod:`tinybcnn.functional.fast.pool`, which computes the same
on whole reshaped arrays when the windows tile a channels-last input.
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from .checks import check_ndim, check_shape, output_size, positive_int
from .im2col import span

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward",
           "pool_geometry"]


def pool_geometry(x: Any, size: int, stride: int | None) -> tuple[int, int, int, int]:
    """Validate ``x``, ``size`` and ``stride``; return ``(size, stride, OH, OW)``.

    ``x`` of shape ``(N, C, H, W)``; ``stride`` None means ``size``. Shared with the fast
    twins, so both versions refuse the same inputs with the same words.
    """
    check_ndim(x, 4, "x", "(N, C, H, W)")
    size = positive_int(size, "size")
    stride = size if stride is None else positive_int(stride, "stride")
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
        ``x`` and ``y``: the backward pass finds each window's maximum again.

    Notes
    -----
    ``y[n, c, a, b] = max_{i,j} x[n, c, a·stride + i, b·stride + j]``, a running ``maximum``
    over the ``size²`` window offsets. A NaN in a window makes its maximum NaN.
    """
    size, stride, oh, ow = pool_geometry(x, size, stride)
    xp = xp_of(x)
    y = None
    for i in range(size):
        for j in range(size):
            tap = x[:, :, span(i, oh, stride), span(j, ow, stride)]  # (N, C, OH, OW)
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
    row-major window order (smallest ``i``, then smallest ``j``). The offsets are visited in
    that order, and ``left`` holds the gradient of each window not yet handed out. A NaN
    window sends its gradient to its first NaN.
    """
    x, y, size, stride = cache["x"], cache["y"], cache["size"], cache["stride"]
    check_shape(dy, tuple(y.shape), "dy", "(N, C, OH, OW)")
    xp = xp_of(dy)
    _, _, oh, ow = y.shape
    dx = xp.zeros(tuple(x.shape), dtype=dy.dtype, device=dy.device)
    zero = xp.zeros_like(dy)
    left = dy
    for i in range(size):
        for j in range(size):
            window = (slice(None), slice(None), span(i, oh, stride), span(j, ow, stride))
            tap = x[window]
            hit = (tap == y) | xp.isnan(tap)  # a NaN tap makes its window's maximum NaN
            dx[window] += xp.where(hit, left, zero)
            left = xp.where(hit, zero, left)   # taken: later ties of this window get nothing
    return dx


def avgpool2d_forward(x: Any, size: int = 2, stride: int | None = None) -> tuple[Any, dict]:
    """Average pooling; shapes as in :func:`maxpool2d_forward`.

    Notes
    -----
    ``y[n, c, a, b] = (1 / size²) Σ_{i,j} x[n, c, a·stride + i, b·stride + j]``.
    """
    size, stride, oh, ow = pool_geometry(x, size, stride)
    xp = xp_of(x)
    y = xp.zeros((x.shape[0], x.shape[1], oh, ow), dtype=x.dtype, device=x.device)
    for i in range(size):
        for j in range(size):
            y += x[:, :, span(i, oh, stride), span(j, ow, stride)]
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
            dx[:, :, span(i, oh, stride), span(j, ow, stride)] += share
    return dx
