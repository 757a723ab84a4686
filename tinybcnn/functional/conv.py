"""2-D convolution (cross-correlation, as in Caffe) as the matrix product ``x* · W``."""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from ._checks import check_ndim, check_same_dtype, check_shape
from .im2col import col2im_ijc, conv_output_shape, im2col_ijc

__all__ = ["conv2d_forward", "conv2d_backward"]


def conv2d_forward(x: Any, W: Any, b: Any, stride: int = 1, pad: int = 0,
                   mask: Any = None) -> tuple[Any, dict]:
    """Convolve ``x`` with the kernels ``W``, optionally with Bernoulli patch masking.

    Parameters
    ----------
    x : array, shape (N, C_in, H, W)
    W : array, shape (C_out, C_in, kh, kw)
    b : array, shape (C_out,)
    stride, pad : int
    mask : array, shape (N·OH·OW, C_out), optional
        Inverted dropout mask in *patch layout*: one value ``z_nj / keep`` per patch ``n`` and
        kernel ``j``. It multiplies ``x* · W + b`` before the result is rearranged to NCHW.

    Returns
    -------
    y : array, shape (N, C_out, OH, OW)
    cache : dict
        What :func:`conv2d_backward` needs: ``x*`` (not recomputed), ``W``, the mask.

    Notes
    -----
    With ``x*`` from :func:`~tinybcnn.functional.im2col` and ``W_mat = W.reshape(C_out, -1)``,

    ``Y = (x* · W_matᵀ + b) ⊙ Z``,  ``y[n, j, oh, ow] = Y[(n·OH + oh)·OW + ow, j]``.

    Row ``n`` of ``Y`` is ``[x*_n, 1] · W_aug · diag(z_n)``: every patch sees its own
    masked copy of the kernels (the bias is the row of ``W_aug`` that meets the constant 1),
    which is the paper's Bernoulli approximating distribution over conv kernels, and is
    elementwise dropout on ``y`` with the same mask (see ``patch_mask_to_nchw``).

    The code builds ``x*`` with its columns in ``(i, j, c)`` order
    (:func:`~tinybcnn.functional.im2col_ijc`) and permutes ``W`` to match: the
    same product, with contiguous copies. ``y`` is returned as an NCHW view of the
    patch-layout result, so no transposed copy is made.
    """
    check_ndim(x, 4, "x", "(N, C_in, H, W)")
    check_ndim(W, 4, "W", "(C_out, C_in, kh, kw)")
    c_out, c_in, kh, kw = W.shape
    if x.shape[1] != c_in:
        raise ValueError(
            f"x has {x.shape[1]} channels but W expects C_in = {c_in} (W shape {tuple(W.shape)})"
        )
    check_shape(b, (c_out,), "b", "(C_out,)")
    check_same_dtype(x=x, W=W, b=b, mask=mask)
    n, _, h, w = x.shape
    oh, ow = conv_output_shape(h, w, kh, kw, stride, pad)
    xp = xp_of(x, W)

    cols = im2col_ijc(x, kh, kw, stride, pad)                 # (N·OH·OW, kh·kw·C_in)
    w_mat = _kernel_matrix(W)                                  # (C_out, kh·kw·C_in)
    y_patch = cols @ w_mat.T + b                               # (N·OH·OW, C_out)
    if mask is not None:
        check_shape(mask, (n * oh * ow, c_out), "mask", "(N*OH*OW, C_out)")
        y_patch = y_patch * mask
    y = xp.permute_dims(xp.reshape(y_patch, (n, oh, ow, c_out)), (0, 3, 1, 2))
    cache = {"cols": cols, "W": W, "x_shape": tuple(x.shape), "stride": stride, "pad": pad,
             "mask": mask}
    return y, cache


def conv2d_backward(dy: Any, cache: dict, input_grad: bool = True) -> tuple[Any, Any, Any]:
    """Gradients of :func:`conv2d_forward` with respect to ``x``, ``W`` and ``b``.

    Parameters
    ----------
    dy : array, shape (N, C_out, OH, OW)
        Gradient of the loss with respect to ``y``.
    cache : dict
        From :func:`conv2d_forward`.
    input_grad : bool
        ``False`` skips ``dx`` (returned as ``None``): a network's first layer needs none.

    Returns
    -------
    dx : array, shape (N, C_in, H, W), or None
    dW : array, shape (C_out, C_in, kh, kw)
    db : array, shape (C_out,)

    Notes
    -----
    With ``dY`` the patch-layout gradient times the mask, ``dW_mat = dYᵀ · x*``,
    ``db = Σ_rows dY`` and ``dx* = dY · W_mat``; ``dx = col2im(dx*)`` sums the gradient of
    every patch that saw a pixel.
    """
    cols, W, mask = cache["cols"], cache["W"], cache["mask"]
    c_out, c_in, kh, kw = W.shape
    n, _, h, w = cache["x_shape"]
    oh, ow = conv_output_shape(h, w, kh, kw, cache["stride"], cache["pad"])
    check_shape(dy, (n, c_out, oh, ow), "dy", "(N, C_out, OH, OW)")
    xp = xp_of(dy, cols)

    d_patch = xp.reshape(xp.permute_dims(dy, (0, 2, 3, 1)), (n * oh * ow, c_out))
    if mask is not None:
        d_patch = d_patch * mask
    db = xp.sum(d_patch, axis=0)
    dW = xp.permute_dims(xp.reshape(d_patch.T @ cols, (c_out, kh, kw, c_in)), (0, 3, 1, 2))
    if not input_grad:
        return None, dW, db
    # dx* = dY · W_mat, computed as (W_matᵀ · dYᵀ)ᵀ so it comes out column-major: offset-major
    # memory, which col2im_ijc reads one contiguous block per kernel offset
    d_cols = (_kernel_matrix(W).T @ d_patch.T).T
    dx = col2im_ijc(d_cols, cache["x_shape"], kh, kw, cache["stride"], cache["pad"])
    return dx, dW, db


def _kernel_matrix(W: Any) -> Any:
    """``W`` (C_out, C_in, kh, kw) as the matrix (C_out, kh·kw·C_in) matching x*'s (i, j, c)."""
    xp = xp_of(W)
    c_out, c_in, kh, kw = W.shape
    return xp.reshape(xp.permute_dims(W, (0, 2, 3, 1)), (c_out, kh * kw * c_in))
