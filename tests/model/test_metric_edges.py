"""Metrics at their edges, against brute-force oracles written from the definitions (issue 27):
tied scores, a TPR reached exactly, an interval's closed end, the ranges of tpr and level."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import norm

from tinybcnn import metrics


def _auroc_pairs(s, pos):
    p, n = s[pos], s[~pos]
    wins = sum((a > b) + 0.5 * (a == b) for a, b in itertools.product(p, n))
    return wins / (len(p) * len(n))


def _fpr_at_tpr(s, pos, tpr):
    """The largest threshold t (a sample is positive when s >= t) whose TPR >= tpr."""
    for t in sorted(set(s.tolist()), reverse=True):
        if np.mean(s[pos] >= t) >= tpr:
            return np.mean(s[~pos] >= t)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("seed", range(12))
def test_auroc_and_fpr_with_ties_match_the_definitions(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 14))
    s = rng.integers(0, 4, n).astype(float)          # many ties
    pos = rng.random(n) < 0.5
    pos[0], pos[1] = True, False
    assert metrics.auroc(s, pos) == pytest.approx(_auroc_pairs(s, pos), abs=1e-12)
    n_pos = int(pos.sum())
    for k in range(1, n_pos + 1):                    # every TPR that is reached exactly
        tpr = k / n_pos
        assert metrics.fpr_at_tpr(s, pos, tpr) == pytest.approx(_fpr_at_tpr(s, pos, tpr))


def test_fpr_at_an_exactly_reached_tpr_takes_that_threshold():
    s = np.array([4.0, 3.0, 2.0, 1.0, 3.5, 2.5, 0.5, 0.2])
    pos = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    # TPR 0.5 is reached at t = 3 (scores 4 and 3), where one negative (3.5) is above
    assert metrics.fpr_at_tpr(s, pos, 0.5) == 0.25
    assert metrics.fpr_at_tpr(s, pos, 0.5 + 1e-9) == 0.5
    assert metrics.fpr_at_tpr(s, pos, 1.0) == 0.5


@pytest.mark.parametrize("tpr,ok", [(1.0, True), (1e-12, True), (0.0, False),
                                    (1.0 + 1e-9, False)])
def test_tpr_range(tpr, ok):
    s, pos = np.array([1.0, 0.0]), np.array([True, False])
    if ok:
        assert metrics.fpr_at_tpr(s, pos, tpr) == 0.0
    else:
        with pytest.raises(ValueError, match="tpr must lie in"):
            metrics.fpr_at_tpr(s, pos, tpr)


def test_coverage_interval_is_closed():
    z = float(norm.ppf(0.975))                 # Φ⁻¹((1 + level)/2), the interval's end
    mean, std = np.zeros(4), np.ones(4)
    y = np.array([z, -z, z * (1 + 1e-9), -z * (1 + 1e-9)])   # two on the ends: inside
    assert metrics.coverage(mean, std, y, level=0.95) == 0.5
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="level must lie in"):
            metrics.coverage(mean, std, y, level=bad)


@pytest.mark.parametrize("seed", range(6))
def test_error_breaks_ties_to_the_lowest_class(seed):
    rng = np.random.default_rng(seed)
    probs = np.full((5, 4), 0.25)
    labels = rng.integers(0, 4, 5)
    assert metrics.error(probs, labels) == np.mean(labels != 0)
