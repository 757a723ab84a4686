"""Solutions to the exercises of tutorials/09_regression.py.

The check cell of the tutorial runs against these in CI (tests/course/test_tutorials.py).
"""

import numpy as np
from scipy.special import logsumexp


def predictive_variance(samples, tau):
    """Variance of the MC predictive distribution, shape (M,)."""
    return 1 / tau + samples.var(axis=0)          # population variance over the T passes


def mc_log_likelihood(samples, y, tau):
    """Mean over points of log (1/T) Σ_t N(y; ŷ_t, 1/τ)."""
    T = samples.shape[0]
    ll = (logsumexp(-0.5 * tau * (y - samples) ** 2, axis=0) - np.log(T)
          - 0.5 * np.log(2 * np.pi) + 0.5 * np.log(tau))
    return ll.mean()
