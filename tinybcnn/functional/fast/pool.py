"""Fast twin of max pooling: whole reshaped arrays when the windows tile the input.

:func:`maxpool2d_forward_fast` and :func:`maxpool2d_backward_fast` return exactly what
:func:`~tinybcnn.functional.maxpool2d_forward` and :func:`~tinybcnn.functional.maxpool2d_backward`
return, bit for bit (a maximum and a choice of one input per window involve no rounding), and
share their cache format. When the windows tile the input (``stride == size`` dividing ``H``
and ``W``, LeNet's 2×2 case), the input is viewed as ``(N, OH, s, OW, s, C)`` through its
channels-last view. That reshape is free for channels-last memory, which is what a conv
returns (``docs/architecture.md``), and every pass then streams through memory. Other
geometries fall back to the textbook loops. No step reads a value back to the host.
"""

from __future__ import annotations

from typing import Any

from ...backend import xp_of
from .._checks import check_shape
from ..pool import _pool_geometry, maxpool2d_backward, maxpool2d_forward

__all__ = ["maxpool2d_forward_fast", "maxpool2d_backward_fast"]


def maxpool2d_forward_fast(x: Any, size: int = 2, stride: int | None = None) -> tuple[Any, dict]:
    """:func:`~tinybcnn.functional.maxpool2d_forward`, on a reshaped view when windows tile.

    Returns ``y`` (N, C, OH, OW), an NCHW view of channels-last memory when the windows tile
    the input, and the same cache as the textbook function.
    """
    size, stride, oh, ow = _pool_geometry(x, size, stride)
    if not _tiles(x, size, stride):
        return maxpool2d_forward(x, size, stride)
    xp = xp_of(x)
    n, c = x.shape[:2]
    windows = _windows(x, size)                                   # (N, OH, s, OW, s, C)
    best = windows[:, :, :1, :, :1, :]
    for i in range(size):
        for j in range(size):
            if i or j:  # a running maximum propagates NaN; max(axis=...) is slower here
                best = xp.maximum(best, windows[:, :, i:i + 1, :, j:j + 1, :])
    y = xp.permute_dims(xp.reshape(best, (n, oh, ow, c)), (0, 3, 1, 2))
    return y, {"x": x, "y": y, "size": size, "stride": stride}


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
    windows = _windows(x, size)                                     # (N, OH, s, OW, s, C)
    y6 = xp.reshape(_channels_last(y), (n, oh, 1, ow, 1, c))
    hit = (windows == y6) | xp.isnan(windows)  # a NaN makes its window's maximum NaN
    # keep only the first hit of each window: visit the offsets in row-major order and clear
    # every hit of a window that an earlier offset already took (bool passes, no ranks)
    taken = hit[:, :, :1, :, :1, :]
    for i in range(size):
        for j in range(size):
            if i or j:
                at = (slice(None), slice(None), slice(i, i + 1), slice(None), slice(j, j + 1), ...)
                first = hit[at] & ~taken
                taken = taken | hit[at]
                hit[at] = first
    dy6 = xp.reshape(_channels_last(dy), (n, oh, 1, ow, 1, c))
    dx = xp.astype(hit, dy.dtype) * dy6
    return xp.permute_dims(xp.reshape(dx, (n, h, w, c)), (0, 3, 1, 2))


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
