"""The dropout mask's keep == 1 guard at its limit (issue 35).

``bernoulli_mask`` compares random integers with ``round(keep · 2**bits)`` in the narrowest
type where that is exact, and draws nothing when the threshold is past the type's largest
value (keep == 1). At ``p = 1/256`` the threshold is exactly 255, the largest ``uint8``: one
unit in 256 must still be dropped. The oracle is the binomial law of the drop count, not the
code's own comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn.random import bernoulli_mask

N = 1 << 20   # units: at p = 1/256 about 4096 drops (sd 64), at p = 2**-16 about 16


def _drops_within_binomial(mask: np.ndarray, p: float, width: float = 7.0) -> int:
    """The number of dropped units, checked to lie within ``width`` sd of ``N p``."""
    n = mask.size
    dropped = int(np.count_nonzero(mask == 0))
    kept_value = np.float32(1.0 / (1.0 - p))
    assert np.all((mask == 0) | (mask == kept_value))
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    assert abs(dropped - mean) <= width * sd + 1, (dropped, mean, sd)
    return dropped


@pytest.mark.parametrize("p", [1 / 256, 2 / 256, 1 / 65536])
def test_the_smallest_drop_probabilities_of_a_type_still_drop(p):
    """p = 1/256 (threshold 255 = uint8 max) and p = 2**-16 (65535 = uint16 max): the
    guard must not take them for keep == 1."""
    mask = bernoulli_mask(np.random.default_rng(0), (N,), p)
    assert _drops_within_binomial(mask, p) > 0


def test_p_zero_drops_nothing():
    """The limit itself: keep == 1 gives a mask of ones."""
    mask = bernoulli_mask(np.random.default_rng(0), (4, 5), 0.0)
    assert mask.dtype == np.float32 and np.array_equal(mask, np.ones((4, 5), np.float32))


@given(k=st.one_of(st.sampled_from([1, 2, 127, 128, 254, 255]), st.integers(1, 255)),
       seed=st.integers(0, 2**32 - 1))
def test_drop_count_is_binomial_near_the_guard(k, seed):
    """Every p = k/256 (exact in one byte) drops a binomial number of 1/4-million units."""
    p = k / 256
    mask = bernoulli_mask(np.random.default_rng(seed), (1 << 18,), p)
    assert _drops_within_binomial(mask, p) > 0
