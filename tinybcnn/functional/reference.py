"""Naive direct loops: the test oracles and the tutorial twins of the fast functional core.

The third version of each operation, beside the textbook functions of
:mod:`tinybcnn.functional` and the fast twins of :mod:`tinybcnn.functional.fast`. Every
function here is written for clarity, not speed: plain Python loops over every index, on
NumPy float64 copies of the inputs. They share no code with the other two versions (this
module imports nothing of the package; the import contract in ``pyproject.toml`` checks it),
so a test that compares them compares independent implementations. Keep inputs tiny
(a few hundred output values); the loops are slow by design.

Shape names used throughout: ``N`` batch, ``C`` / ``C_in`` input channels, ``C_out`` output
channels, ``H, W`` input height and width, ``kh, kw`` kernel height and width,
``OH = (H + 2 pad - kh) // stride + 1`` and ``OW = (W + 2 pad - kw) // stride + 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "output_size",
    "im2col_direct",
    "conv2d_direct",
    "conv2d_patch_masked_reference",
    "maxpool2d_direct",
    "maxpool2d_backward_direct",
    "avgpool2d_direct",
    "avgpool2d_backward_direct",
]


def _f64(a: Any) -> np.ndarray:
    """A float64 NumPy copy of ``a`` (works for NumPy, array_api_strict and CuPy arrays)."""
    if type(a).__module__.startswith("cupy"):
        a = a.get()
    return np.array(a, dtype=np.float64, copy=True)


def output_size(size: int, k: int, stride: int = 1, pad: int = 0) -> int:
    """Number of window positions along one axis: ``(size + 2 pad - k) // stride + 1``.

    Raises
    ------
    ValueError
        If the window does not fit the padded input even once, or ``stride < 1``, ``pad < 0``.
    """
    if stride < 1 or pad < 0:
        raise ValueError(f"need stride >= 1 and pad >= 0, got stride={stride}, pad={pad}")
    if k > size + 2 * pad:
        raise ValueError(f"window {k} is larger than the padded input {size} + 2*{pad}")
    return (size + 2 * pad - k) // stride + 1


def _padded_value(x: np.ndarray, n: int, c: int, h: int, w: int) -> float:
    """``x[n, c, h, w]`` if ``(h, w)`` lies inside the image, else 0 (zero padding)."""
    H, W = x.shape[2], x.shape[3]
    if 0 <= h < H and 0 <= w < W:
        return float(x[n, c, h, w])
    return 0.0


def im2col_direct(x: Any, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The patch matrix ``x*`` built entry by entry from index arithmetic.

    Parameters
    ----------
    x : array, shape (N, C, H, W)
    kh, kw : int
        Kernel height and width.
    stride, pad : int
        Step between windows and zero padding on every side.

    Returns
    -------
    cols : ndarray of float64, shape (N*OH*OW, C*kh*kw)
        Rows ordered ``(n, oh, ow)``, columns ordered ``(c, i, j)``.

    Notes
    -----
    .. math::

        x^*[(n \\cdot OH + o_h) \\cdot OW + o_w,\\; (c \\cdot k_h + i) \\cdot k_w + j]
        = \\tilde x[n, c, o_h s + i - p, o_w s + j - p]

    where :math:`\\tilde x` is ``x`` extended by zeros outside the image.
    """
    x = _f64(x)
    N, C, H, W = x.shape
    OH = output_size(H, kh, stride, pad)
    OW = output_size(W, kw, stride, pad)
    cols = np.zeros((N * OH * OW, C * kh * kw), dtype=np.float64)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                for c in range(C):
                    for i in range(kh):
                        for j in range(kw):
                            col = (c * kh + i) * kw + j
                            h = oh * stride + i - pad
                            w = ow * stride + j - pad
                            cols[row, col] = _padded_value(x, n, c, h, w)
    return cols


def conv2d_direct(x: Any, W: Any, b: Any, stride: int = 1, pad: int = 0) -> np.ndarray:
    """2-D convolution (cross-correlation, as in every deep-learning library) by direct loops.

    Parameters
    ----------
    x : array, shape (N, C_in, H, W)
    W : array, shape (C_out, C_in, kh, kw)
    b : array, shape (C_out,)
    stride, pad : int

    Returns
    -------
    y : ndarray of float64, shape (N, C_out, OH, OW)

    Notes
    -----
    .. math::

        y[n, k, o_h, o_w] = b[k] + \\sum_{c, i, j} W[k, c, i, j]\\,
        \\tilde x[n, c, o_h s + i - p, o_w s + j - p]
    """
    x, W, b = _f64(x), _f64(W), _f64(b)
    N, C_in, H, Wd = x.shape
    C_out, C_w, kh, kw = W.shape
    if C_w != C_in:
        raise ValueError(f"W has {C_w} input channels, x has {C_in}")
    OH = output_size(H, kh, stride, pad)
    OW = output_size(Wd, kw, stride, pad)
    y = np.zeros((N, C_out, OH, OW), dtype=np.float64)
    for n in range(N):
        for k in range(C_out):
            for oh in range(OH):
                for ow in range(OW):
                    acc = float(b[k])
                    for c in range(C_in):
                        for i in range(kh):
                            for j in range(kw):
                                h = oh * stride + i - pad
                                w = ow * stride + j - pad
                                acc += float(W[k, c, i, j]) * _padded_value(x, n, c, h, w)
                    y[n, k, oh, ow] = acc
    return y


def conv2d_patch_masked_reference(x: Any, W: Any, b: Any, mask: Any, stride: int = 1,
                                  pad: int = 0) -> np.ndarray:
    """Convolution with a Bernoulli-masked weight matrix per patch, as the paper writes it.

    For every patch ``n`` (one row of ``x*``) this literally builds ``W_aug · diag(z_n)`` and
    multiplies the patch by it, one patch at a time.

    Parameters
    ----------
    x : array, shape (N, C_in, H, W)
    W : array, shape (C_out, C_in, kh, kw)
    b : array, shape (C_out,)
    mask : array, shape (N*OH*OW, C_out)
        Row ``n`` is ``z_n``, the mask of patch ``n`` (rows ordered ``(n, oh, ow)``), e.g.
        inverted-dropout values 0 or ``1/keep``.
    stride, pad : int

    Returns
    -------
    y : ndarray of float64, shape (N, C_out, OH, OW)

    Notes
    -----
    With the bias as an extra row of the weight matrix, applied to a constant-1 column of
    the patch matrix,

    .. math::

        W_{aug} = \\begin{bmatrix} W_{mat}^T \\\\ b^T \\end{bmatrix}
        \\in \\mathbb{R}^{(C_{in} k_h k_w + 1) \\times C_{out}}, \\qquad
        y^*_n = [x^*_n,\\ 1] \\; W_{aug} \\, \\mathrm{diag}(z_n)

    and ``y*`` (rows ``(n, oh, ow)``, columns ``k``) is rearranged to NCHW. Since
    ``diag(z_n)`` scales column ``k`` of ``W_aug`` by ``z_n[k]``, this equals elementwise
    dropout ``y ⊙ z`` on the conv output with the same mask.
    """
    x, W, b, mask = _f64(x), _f64(W), _f64(b), _f64(mask)
    N, C_in, H, Wd = x.shape
    C_out, _, kh, kw = W.shape
    OH = output_size(H, kh, stride, pad)
    OW = output_size(Wd, kw, stride, pad)
    if mask.shape != (N * OH * OW, C_out):
        raise ValueError(f"mask must have shape (N*OH*OW, C_out) = {(N * OH * OW, C_out)}, "
                         f"got {mask.shape}")
    cols = im2col_direct(x, kh, kw, stride, pad)                     # (P, C_in*kh*kw)
    x_aug = np.concatenate([cols, np.ones((cols.shape[0], 1))], axis=1)
    W_aug = np.concatenate([W.reshape(C_out, -1).T, b.reshape(1, C_out)], axis=0)
    y_patch = np.zeros((cols.shape[0], C_out), dtype=np.float64)
    for n in range(cols.shape[0]):
        W_n = W_aug @ np.diag(mask[n])                                 # W_aug · diag(z_n)
        y_patch[n] = x_aug[n] @ W_n
    return y_patch.reshape(N, OH, OW, C_out).transpose(0, 3, 1, 2).copy()


def _pool_sizes(x: np.ndarray, size: int, stride: int | None) -> tuple[int, int, int]:
    stride = size if stride is None else stride
    return stride, output_size(x.shape[2], size, stride), output_size(x.shape[3], size, stride)


def maxpool2d_direct(x: Any, size: int = 2, stride: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling by direct loops, with the position of each window's maximum.

    Parameters
    ----------
    x : array, shape (N, C, H, W)
    size : int
        Square window side.
    stride : int, optional
        Step between windows (defaults to ``size``). Windows need not tile the input:
        ``OH = (H - size) // stride + 1``; leftover rows and columns are never read.

    Returns
    -------
    y : ndarray of float64, shape (N, C, OH, OW)
    argmax : ndarray of int64, shape (N, C, OH, OW, 2)
        ``(h, w)`` in ``x`` of the maximum of each window. On ties the first maximal element
        in row-major window order wins (smallest ``i``, then smallest ``j``). A window with a
        NaN has maximum NaN, at its first NaN (as :func:`numpy.maximum` propagates NaN).

    Notes
    -----
    .. math:: y[n, c, o_h, o_w] = \\max_{0 \\le i, j < size} x[n, c, o_h s + i, o_w s + j]
    """
    x = _f64(x)
    N, C = x.shape[:2]
    stride, OH, OW = _pool_sizes(x, size, stride)
    y = np.zeros((N, C, OH, OW), dtype=np.float64)
    argmax = np.zeros((N, C, OH, OW, 2), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best, best_hw = -np.inf, (oh * stride, ow * stride)
                    for i in range(size):
                        for j in range(size):
                            h, w = oh * stride + i, ow * stride + j
                            if np.isnan(best):  # a NaN already won this window
                                continue
                            # NaN propagates: the first NaN of a window is its maximum;
                            # strict ">": the first maximum wins ties
                            if np.isnan(x[n, c, h, w]) or x[n, c, h, w] > best:
                                best, best_hw = x[n, c, h, w], (h, w)
                    y[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = best_hw
    return y, argmax


def maxpool2d_backward_direct(dy: Any, x: Any, size: int = 2,
                              stride: int | None = None) -> np.ndarray:
    """Gradient of max pooling: each window's ``dy`` goes to its (first) maximal input.

    Parameters
    ----------
    dy : array, shape (N, C, OH, OW)
    x : array, shape (N, C, H, W)
        The forward input (the argmax positions are recomputed from it).
    size, stride : int
        As in :func:`maxpool2d_direct`.

    Returns
    -------
    dx : ndarray of float64, shape (N, C, H, W)
        Overlapping windows (``stride < size``) accumulate; inputs in no window get 0.

    Notes
    -----
    .. math::

        dx[n, c, h, w] = \\sum_{o_h, o_w} dy[n, c, o_h, o_w]\\;
        [\\,(h, w) = \\mathrm{argmax}_{first}(n, c, o_h, o_w)\\,]
    """
    dy = _f64(dy)
    x = _f64(x)
    _, argmax = maxpool2d_direct(x, size, stride)
    dx = np.zeros_like(x)
    N, C, OH, OW = dy.shape
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    h, w = argmax[n, c, oh, ow]
                    dx[n, c, h, w] += dy[n, c, oh, ow]
    return dx


def avgpool2d_direct(x: Any, size: int = 2, stride: int | None = None) -> np.ndarray:
    """Average pooling by direct loops.

    Parameters
    ----------
    x : array, shape (N, C, H, W)
    size, stride : int
        As in :func:`maxpool2d_direct`.

    Returns
    -------
    y : ndarray of float64, shape (N, C, OH, OW)

    Notes
    -----
    .. math::

        y[n, c, o_h, o_w] = \\frac{1}{size^2} \\sum_{0 \\le i, j < size}
        x[n, c, o_h s + i, o_w s + j]
    """
    x = _f64(x)
    N, C = x.shape[:2]
    stride, OH, OW = _pool_sizes(x, size, stride)
    y = np.zeros((N, C, OH, OW), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0.0
                    for i in range(size):
                        for j in range(size):
                            acc += x[n, c, oh * stride + i, ow * stride + j]
                    y[n, c, oh, ow] = acc / (size * size)
    return y


def avgpool2d_backward_direct(dy: Any, x_shape: tuple[int, int, int, int], size: int = 2,
                              stride: int | None = None) -> np.ndarray:
    """Gradient of average pooling: each window spreads ``dy / size²`` over its inputs.

    Parameters
    ----------
    dy : array, shape (N, C, OH, OW)
    x_shape : tuple (N, C, H, W)
    size, stride : int

    Returns
    -------
    dx : ndarray of float64, shape ``x_shape``

    Notes
    -----
    .. math::

        dx[n, c, h, w] = \\frac{1}{size^2} \\sum_{(o_h, o_w):\\,(h, w) \\in window(o_h, o_w)}
        dy[n, c, o_h, o_w]
    """
    dy = _f64(dy)
    stride = size if stride is None else stride
    dx = np.zeros(tuple(x_shape), dtype=np.float64)
    N, C, OH, OW = dy.shape
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    for i in range(size):
                        for j in range(size):
                            dx[n, c, oh * stride + i, ow * stride + j] += (
                                dy[n, c, oh, ow] / (size * size))
    return dx
