"""Solutions to the exercises of tutorials/02_conv_backward.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""

import numpy as np


def col2im_mine(cols, x_shape, kh, kw, stride=1, pad=0):
    """Fold the patch matrix back into an image, summing overlaps."""
    n, c, h, w = x_shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i in range(n):
        for a in range(oh):
            for b in range(ow):
                patch = cols[(i * oh + a) * ow + b].reshape(c, kh, kw)
                xp[i, :, a * stride:a * stride + kh, b * stride:b * stride + kw] += patch
    return xp[:, :, pad:pad + h, pad:pad + w]                      # drop the padding


def conv_weight_grad(x, dy, kh, kw, stride=1, pad=0):
    """dL/dW of a convolution, shape (C_out, C, kh, kw)."""
    from tinybcnn.functional import im2col

    c_out = dy.shape[1]
    d_y = dy.transpose(0, 2, 3, 1).reshape(-1, c_out)              # patch layout (N·OH·OW, C_out)
    dw_mat = d_y.T @ im2col(x, kh, kw, stride, pad)                # (C_out, C·kh·kw)
    return dw_mat.reshape(c_out, x.shape[1], kh, kw)
