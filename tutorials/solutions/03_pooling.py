"""Solutions to the exercises of tutorials/03_pooling.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""

import numpy as np


def avgpool_loops(x, size):
    """Mean over non-overlapping size x size windows, shape (N, C, H//size, W//size)."""
    n, c, h, w = x.shape
    y = np.empty((n, c, h // size, w // size), dtype=x.dtype)
    for a in range(h // size):
        for b in range(w // size):
            y[:, :, a, b] = x[:, :, a * size:(a + 1) * size, b * size:(b + 1) * size].mean((2, 3))
    return y


def maxpool_backward_loops(x, dy, size):
    """dL/dx of non-overlapping max pooling, shape of x."""
    dx = np.zeros_like(x)
    n, c, oh, ow = dy.shape
    for i in range(n):
        for k in range(c):
            for a in range(oh):
                for b in range(ow):
                    window = x[i, k, a * size:(a + 1) * size, b * size:(b + 1) * size]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dx[i, k, a * size + r, b * size + s] += dy[i, k, a, b]
    return dx
