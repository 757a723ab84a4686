"""Solutions to the exercises of tutorials/07_mc_dropout.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""

import numpy as np


def mutual_information(P):
    """H[mean_t p_t] − mean_t H[p_t], shape (N,)."""
    def H(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)

    return H(P.mean(0)) - H(P).mean(0)


def variation_ratio(P):
    """1 − f_mode / T, shape (N,)."""
    T, _, K = P.shape
    votes = P.argmax(-1)                                                # (T, N)
    counts = np.stack([(votes == k).sum(0) for k in range(K)], axis=1)  # (N, K)
    return 1 - counts.max(1) / T


def n_variation_ratios(T, K):
    """Number of distinct values of the variation ratio."""
    import math

    return T - math.ceil(T / K) + 1                # f_mode runs from ceil(T/K) to T
