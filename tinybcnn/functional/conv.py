"""2-D convolution (cross-correlation, as in Caffe) as the matrix product ``x* · W``.

The textbook version: im2col, one GEMM, and the result seen as NCHW. The layers run its fast
twin :func:`tinybcnn.functional.fast.conv2d_forward_fast` (same numbers, other memory order);
``docs/architecture.md`` gives the layout contract between the two.
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from .checks import check_ndim, check_same_dtype, check_shape
from .im2col import col2im, conv_output_shape, im2col

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
        An NCHW view of the patch-layout product (channels-last memory on NumPy and CuPy).
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
    """
    n, oh, ow = check_conv_inputs(x, W, b, stride, pad, mask)
    xp = xp_of(x, W)
    c_out, _, kh, kw = W.shape
    cols = im2col(x, kh, kw, stride, pad)                 # (N·OH·OW, C_in·kh·kw), (c, i, j)
    w_mat = xp.reshape(W, (c_out, -1))                    # (C_out, C_in·kh·kw), same order
    y_patch = cols @ w_mat.T + b                          # (N·OH·OW, C_out)
    if mask is not None:
        y_patch = y_patch * mask
    y = xp.permute_dims(xp.reshape(y_patch, (n, oh, ow, c_out)), (0, 3, 1, 2))
    cache = {"cols": cols, "W": W, "x_shape": tuple(x.shape), "stride": stride, "pad": pad,
             "mask": mask, "columns": "cij"}
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
    d_patch = patch_gradient(dy, cache, "cij")
    xp = xp_of(d_patch)
    cols, W = cache["cols"], cache["W"]
    c_out, _, kh, kw = W.shape
    db = xp.sum(d_patch, axis=0)
    dW = xp.reshape(d_patch.T @ cols, tuple(W.shape))
    if not input_grad:
        return None, dW, db
    d_cols = d_patch @ xp.reshape(W, (c_out, -1))          # (N·OH·OW, C_in·kh·kw)
    dx = col2im(d_cols, cache["x_shape"], kh, kw, cache["stride"], cache["pad"])
    return dx, dW, db


# -- shared with the fast twin ---------------------------------------------------------------

def check_conv_inputs(x: Any, W: Any, b: Any, stride: int, pad: int,
                      mask: Any) -> tuple[int, int, int]:
    """Validate conv arguments (one clear ValueError each); return ``(N, OH, OW)``."""
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
    if mask is not None:
        check_shape(mask, (n * oh * ow, c_out), "mask", "(N*OH*OW, C_out)")
    return n, oh, ow


def patch_gradient(dy: Any, cache: dict, columns: str) -> Any:
    """``dy`` (N, C_out, OH, OW) in patch layout (N·OH·OW, C_out), times the mask if any.

    Also checks that ``cache`` came from the forward whose ``x*`` has ``columns`` order
    (``"cij"`` for the textbook conv, ``"ijc"`` for the fast one).
    """
    if cache.get("columns") != columns:
        raise ValueError(f"this conv backward needs the cache of the forward with {columns!r} "
                         f"columns, got {cache.get('columns')!r}")
    W, mask = cache["W"], cache["mask"]
    c_out, _, kh, kw = W.shape
    n, _, h, w = cache["x_shape"]
    oh, ow = conv_output_shape(h, w, kh, kw, cache["stride"], cache["pad"])
    check_shape(dy, (n, c_out, oh, ow), "dy", "(N, C_out, OH, OW)")
    xp = xp_of(dy)
    d_patch = xp.reshape(xp.permute_dims(dy, (0, 2, 3, 1)), (n * oh * ow, c_out))
    return d_patch if mask is None else d_patch * mask
