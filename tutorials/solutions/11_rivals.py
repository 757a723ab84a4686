"""Solutions to the exercises of tutorials/11_rivals.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""

import numpy as np


def members_mutual_info(P):
    """H[mean_k p_k] − mean_k H[p_k], shape (N,)."""
    def H(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)

    return H(P.mean(0)) - H(P).mean(0)


def concrete_mask(u, p, t):
    """(1 − z̃) / (1 − p), z̃ = sigmoid((logit p + log u − log(1 − u)) / t)."""
    s = (np.log(p) - np.log1p(-p) + np.log(u) - np.log1p(-u)) / t
    z = 1 / (1 + np.exp(-s))
    return (1 - z) / (1 - p)


def concrete_mask_grad(u, p, t):
    """d concrete_mask / d logit(p), elementwise: mask · (p − z̃/t)."""
    s = (np.log(p) - np.log1p(-p) + np.log(u) - np.log1p(-u)) / t
    z = 1 / (1 + np.exp(-s))
    return (1 - z) / (1 - p) * (p - z / t)
