"""im2col and col2im: convolution as the matrix product ``x* · W``.

``im2col`` lays every ``kh × kw`` input patch out as one row of a matrix ``x*``; a
convolution is then one GEMM with the kernels reshaped to ``(C_out, C·kh·kw)``.
``col2im`` is its exact adjoint: it scatters the rows back and *sums* where patches
overlap, which is exactly what the input gradient of a convolution needs.

Both are written, after Chainer, as a loop over the ``kh·kw`` kernel offsets with one
strided slice each: no ``np.add.at``, no hand-computed strides, no fancy indexing, so the
same code runs on NumPy, CuPy and ``array_api_strict``. This is the textbook version; the
layers run :func:`tinybcnn.functional.fast.im2col_ijc`, the same matrix with its columns
permuted and stored for speed (see ``docs/architecture.md``).
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from .checks import check_ndim, output_size, positive_int

__all__ = ["im2col", "col2im", "conv_output_shape", "zero_pad", "span"]


def conv_output_shape(h: int, w: int, kh: int, kw: int, stride: int = 1,
                      pad: int = 0) -> tuple[int, int]:
    """Output height and width ``(OH, OW)`` of a ``kh × kw`` window sliding over ``(h, w)``.

    Notes
    -----
    ``OH = (h + 2 pad - kh) // stride + 1`` and likewise for ``OW``. Raises ValueError if the
    kernel is larger than the padded input or an argument is out of range.
    """
    kh = positive_int(kh, "kh")
    kw = positive_int(kw, "kw")
    stride = positive_int(stride, "stride")
    pad = positive_int(pad, "pad", minimum=0)
    return output_size(h, kh, stride, pad, "height"), output_size(w, kw, stride, pad, "width")


def zero_pad(x: Any, pad: int) -> Any:
    """Zero-pad the two spatial axes of an NCHW array (the array API has no ``pad``).

    ``x`` of shape ``(N, C, H, W)`` gives ``(N, C, H + 2 pad, W + 2 pad)``; ``x`` itself when
    ``pad`` is 0. Shared with the fast twins (:mod:`tinybcnn.functional.fast`).
    """
    if pad == 0:
        return x
    xp = xp_of(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype, device=x.device)
    out[:, :, pad:pad + h, pad:pad + w] = x
    return out


def span(start: int, count: int, stride: int) -> slice:
    """The slice ``start, start + stride, ...`` of ``count`` elements, never past the end.

    Kernel offset ``i`` of an output of ``OH`` rows reads the input rows ``span(i, OH, stride)``:
    one strided slice per offset, the loop of im2col, col2im and pooling. Shared with the fast
    twins.
    """
    return slice(start, start + stride * (count - 1) + 1, stride)


def im2col(x: Any, kh: int, kw: int, stride: int = 1, pad: int = 0) -> Any:
    """Unfold the patches of ``x`` into the rows of the paper's matrix ``x*``.

    Parameters
    ----------
    x : array, shape (N, C, H, W)
    kh, kw : int
        Kernel height and width.
    stride : int, default 1
    pad : int, default 0
        Zero padding on every side.

    Returns
    -------
    cols : array, shape (N·OH·OW, C·kh·kw)
        Rows ordered ``(n, oh, ow)``, columns ordered ``(c, i, j)``.

    Notes
    -----
    ``cols[(n·OH + oh)·OW + ow, (c·kh + i)·kw + j] = x_pad[n, c, oh·stride + i, ow·stride + j]``,
    so ``cols @ W.reshape(C_out, -1).T`` is the convolution in patch layout ``(N·OH·OW, C_out)``.
    """
    check_ndim(x, 4, "x", "(N, C, H, W)")
    n, c, h, w = x.shape
    oh, ow = conv_output_shape(h, w, kh, kw, stride, pad)
    xp = xp_of(x)
    x_pad = zero_pad(x, pad)
    cols = xp.empty((n, oh, ow, c, kh, kw), dtype=x.dtype, device=x.device)
    for i in range(kh):
        for j in range(kw):
            # all positions' (i, j)-th kernel tap at once: one strided slice, shape (N, C, OH, OW)
            tap = x_pad[:, :, span(i, oh, stride), span(j, ow, stride)]
            cols[:, :, :, :, i, j] = xp.permute_dims(tap, (0, 2, 3, 1))
    return xp.reshape(cols, (n * oh * ow, c * kh * kw))


def col2im(cols: Any, x_shape: tuple[int, int, int, int], kh: int, kw: int, stride: int = 1,
           pad: int = 0) -> Any:
    """Fold rows of ``x*`` back into an image, summing overlapping patches (adjoint of im2col).

    Parameters
    ----------
    cols : array, shape (N·OH·OW, C·kh·kw)
    x_shape : tuple (N, C, H, W)
        Shape of the image that ``im2col`` unfolded.
    kh, kw, stride, pad : int
        As given to :func:`im2col`.

    Returns
    -------
    x : array, shape (N, C, H, W)

    Notes
    -----
    For all ``x`` and ``c``: ``<im2col(x), c> = <x, col2im(c)>``. Each input pixel receives the
    sum of every column entry that copied it; entries that came from padding are dropped.
    """
    n, c, h, w, oh, ow = check_cols(cols, x_shape, kh, kw, stride, pad, "C*kh*kw")
    xp = xp_of(cols)
    cols6 = xp.reshape(cols, (n, oh, ow, c, kh, kw))
    x_pad = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype, device=cols.device)
    for i in range(kh):
        for j in range(kw):
            x_pad[:, :, span(i, oh, stride), span(j, ow, stride)] += xp.permute_dims(
                cols6[:, :, :, :, i, j], (0, 3, 1, 2)
            )
    return x_pad[:, :, pad:pad + h, pad:pad + w]


def check_cols(cols: Any, x_shape: tuple[int, int, int, int], kh: int, kw: int, stride: int,
               pad: int, columns: str) -> tuple[int, int, int, int, int, int]:
    """Check that ``cols`` is the ``x*`` of an image of ``x_shape``; return N, C, H, W, OH, OW.

    ``columns`` names the column order in the message (``"C*kh*kw"`` or ``"kh*kw*C"``); the
    number of columns is the same either way.
    """
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W), got {tuple(x_shape)}")
    n, c, h, w = (int(s) for s in x_shape)
    oh, ow = conv_output_shape(h, w, kh, kw, stride, pad)
    check_ndim(cols, 2, "cols", f"(N*OH*OW, {columns})")
    if tuple(cols.shape) != (n * oh * ow, c * kh * kw):
        raise ValueError(
            f"cols must have shape (N*OH*OW, {columns}) = {(n * oh * ow, c * kh * kw)} for "
            f"x_shape {tuple(x_shape)}, got {tuple(cols.shape)}"
        )
    return n, c, h, w, oh, ow
