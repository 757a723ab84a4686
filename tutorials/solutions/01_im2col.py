"""Solutions to the exercises of tutorials/01_im2col.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""

import numpy as np


def conv_output_size(h, k, stride=1, pad=0):
    """Positions of a size-``k`` kernel along an axis of size ``h``."""
    return (h + 2 * pad - k) // stride + 1


def im2col_loops(x, kh, kw, stride=1, pad=0):
    """The patch matrix x*, shape (N·OH·OW, C·kh·kw), built with loops."""
    n, c, h, w = x.shape
    oh, ow = conv_output_size(h, kh, stride, pad), conv_output_size(w, kw, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n * oh * ow, c * kh * kw), dtype=x.dtype)
    for i in range(n):
        for a in range(oh):
            for b in range(ow):
                patch = xp[i, :, a * stride:a * stride + kh, b * stride:b * stride + kw]
                cols[(i * oh + a) * ow + b] = patch.ravel()          # (c, i, j) order
    return cols
