"""Tests for tinybcnn.metrics.

Every metric is checked against numbers worked out by hand (the arithmetic is in the
comments) and against an independent computation: plain Python loops, exact fractions,
brute force over all pairs or orderings, or SciPy.
"""

from __future__ import annotations

import itertools
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, softmax
from scipy.stats import mannwhitneyu
from scipy.stats import norm as normal

from tinybcnn import metrics as M

FAST = settings(max_examples=60, deadline=None)


# --------------------------------------------------------------------------- helpers


@st.composite
def probs_and_labels(draw, max_n: int = 25, max_k: int = 5, on_edges: int | None = None):
    """Random (N, K) probability rows and labels.

    With ``on_edges=B`` half of the draws are two-class rows whose confidence lies exactly
    on an edge of ``linspace(0, 1, B + 1)``, to exercise the ECE bin convention.
    """
    n = draw(st.integers(1, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if on_edges is not None and draw(st.booleans()):
        edges = np.linspace(0.0, 1.0, on_edges + 1)
        top = edges[edges >= 0.5]
        c = rng.choice(top, size=n)
        # 1 - c is exact for c in [0.5, 1] (Sterbenz), so max(row) == c exactly.
        p = np.stack([c, 1.0 - c], axis=1)
        swap = rng.random(n) < 0.5
        p[swap] = p[swap][:, ::-1]
        k = 2
    else:
        k = draw(st.integers(1, max_k))
        conc = draw(st.sampled_from([0.1, 1.0, 10.0]))
        p = rng.dirichlet(np.full(k, conc), size=n)
        p = p / p.sum(axis=1, keepdims=True)
    y = rng.integers(0, k, size=n)
    return p, y


def first_argmax(row) -> int:
    best = 0
    for j in range(1, len(row)):
        if row[j] > row[best]:
            best = j
    return best


# --------------------------------------------------------------------------- error


def test_error_hand():
    probs = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]]
    labels = [0, 1, 0, 2]
    # predictions 0, 1, 2, 1 -> right, right, wrong, wrong -> 2/4
    assert M.error(probs, labels) == 0.5


def test_error_tie_goes_to_lowest_class():
    # [0.5, 0.5] predicts class 0: label 1 is an error, label 0 is not.
    assert M.error([[0.5, 0.5]], [1]) == 1.0
    assert M.error([[0.5, 0.5]], [0]) == 0.0


@FAST
@given(probs_and_labels())
def test_error_matches_loop(pl):
    p, y = pl
    wrong = sum(first_argmax(list(p[n])) != y[n] for n in range(len(y)))
    assert M.error(p, y) == pytest.approx(wrong / len(y), abs=0)


# --------------------------------------------------------------------------- NLL


def test_nll_hand():
    # -(log 0.5 + log 0.75) / 2 = (0.693147181 + 0.287682072) / 2 = 0.490414627
    assert M.nll([[0.5, 0.5], [0.25, 0.75]], [0, 1]) == pytest.approx(0.4904146265, rel=1e-9)


def test_nll_zero_probability_is_finite():
    # p(true) = 0 is floored at TINY = smallest normal float64: -log(2.2250738585e-308) = 708.396
    value = M.nll(np.array([[1.0, 0.0]], dtype=np.float32), [1])
    assert math.isfinite(value)
    assert value == pytest.approx(-math.log(np.finfo(np.float64).tiny), rel=1e-12)
    assert value == pytest.approx(708.3964185, rel=1e-9)
    # a caller-chosen floor: -log(1e-12) = 27.631021
    assert M.nll([[1.0, 0.0]], [1], eps=1e-12) == pytest.approx(27.6310211, rel=1e-8)
    # the floor does not touch ordinary probabilities
    assert M.nll([[0.0, 1.0]], [1]) == 0.0


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(2, 6))
def test_nll_from_log_probs_matches_nll(seed, n, k):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, k))
    y = rng.integers(0, k, size=n)
    expected = -sum(log_softmax(logits[i])[y[i]] for i in range(n)) / n
    assert M.nll(softmax(logits, axis=1), y) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert M.nll_from_log_probs(log_softmax(logits, axis=1), y) == pytest.approx(
        expected, rel=1e-12, abs=1e-12
    )


def test_nll_from_log_probs_exact_where_probs_underflow():
    # logits (0, -2000): log p(class 1) = -2000 - log(1 + e^-2000) = -2000 exactly in float64
    logits = np.array([[0.0, -2000.0]])
    assert M.nll_from_log_probs(log_softmax(logits, axis=1), [1]) == pytest.approx(2000.0)
    assert M.nll_from_log_probs([[0.0, -np.inf]], [1]) == np.inf
    # nll on the underflowed probabilities hits the documented floor instead
    assert M.nll(softmax(logits, axis=1), [1]) == pytest.approx(-math.log(M.TINY))


# --------------------------------------------------------------------------- Brier


def test_brier_hand():
    # row 1, label 0: (0.7-1)^2 + 0.2^2 + 0.1^2 = 0.09 + 0.04 + 0.01 = 0.14
    # row 2, label 2: 0.7^2 + 0.2^2 + (0.1-1)^2 = 0.49 + 0.04 + 0.81 = 1.34
    # mean = 0.74
    assert M.brier([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]], [0, 2]) == pytest.approx(0.74)
    # extremes: perfect one-hot is 0, confidently wrong one-hot is 1 + 1 = 2
    assert M.brier([[0.0, 1.0]], [1]) == 0.0
    assert M.brier([[0.0, 1.0]], [0]) == 2.0


@FAST
@given(probs_and_labels())
def test_brier_matches_loop(pl):
    p, y = pl
    total = 0.0
    for n in range(len(y)):
        for k in range(p.shape[1]):
            target = 1.0 if k == y[n] else 0.0
            total += (float(p[n, k]) - target) ** 2
    assert M.brier(p, y) == pytest.approx(total / len(y), rel=1e-12, abs=1e-15)


# --------------------------------------------------------------------------- ECE


def ece_loop(p, y, n_bins, edges):
    """Per-sample loop: find each sample's bin (lo, hi] by scanning the edges."""
    counts = [0] * n_bins
    conf_sum = [0.0] * n_bins
    acc_sum = [0.0] * n_bins
    for n in range(len(y)):
        row = [float(v) for v in p[n]]
        c = max(row)
        b = 0
        for i in range(n_bins):
            if edges[i] < c <= edges[i + 1]:
                b = i
                break
        else:
            b = 0 if c <= edges[0] else n_bins - 1
        counts[b] += 1
        conf_sum[b] += c
        acc_sum[b] += 1.0 if first_argmax(row) == y[n] else 0.0
    total = 0.0
    for b in range(n_bins):
        if counts[b]:
            total += counts[b] / len(y) * abs(acc_sum[b] / counts[b] - conf_sum[b] / counts[b])
    return total, counts


def test_ece_hand():
    # B = 2, edges 0, 0.5, 1.
    # sample  conf  pred  label  correct  bin
    #   1     0.9    0     0      yes     1
    #   2     0.6    0     1      no      1
    #   3     0.7    1     1      yes     1
    #   4     0.5    0     1      no      0   (0.5 is on the edge: lower bin)
    # bin 1: conf (0.9+0.6+0.7)/3 = 0.7333, acc 2/3 -> gap 0.0667, weight 3/4 -> 0.05
    # bin 0: conf 0.5, acc 0 -> gap 0.5, weight 1/4 -> 0.125;   ECE = 0.175
    r = M.ece([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]], [0, 1, 1, 1], n_bins=2)
    assert r.ece == pytest.approx(0.175)
    np.testing.assert_array_equal(r.bin_edges, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(r.bin_counts, [1, 3])
    np.testing.assert_allclose(r.bin_confidence, [0.5, 2.2 / 3])
    np.testing.assert_allclose(r.bin_accuracy, [0.0, 2 / 3])


def test_ece_edge_convention():
    # B = 4, edges 0, .25, .5, .75, 1 (all exact in binary).
    # conf 0.25 -> bin 0, 0.5 -> bin 1, 0.75 -> bin 2, 1.0 -> bin 3; bin 2 gets 0.7 too.
    probs = [[0.25] * 4, [0.5, 0.5, 0, 0], [0.75, 0.25, 0, 0], [1.0, 0, 0, 0], [0.7, 0.3, 0, 0]]
    r = M.ece(probs, [0, 0, 0, 0, 0], n_bins=4)
    np.testing.assert_array_equal(r.bin_counts, [1, 1, 2, 1])
    # all predictions correct -> gaps 0.75, 0.5, 1 - 0.725, 0 -> (0.75 + 0.5 + 2*0.275) / 5
    assert r.ece == pytest.approx((0.75 + 0.5 + 2 * 0.275) / 5)
    # a confidence of 0 (only possible for an all-zero row, rejected) is in bin 0 by the
    # same rule; empty bins report NaN
    r = M.ece([[1.0, 0.0]], [0], n_bins=3)
    np.testing.assert_array_equal(r.bin_counts, [0, 0, 1])
    assert np.isnan(r.bin_confidence[0]) and np.isnan(r.bin_accuracy[1])
    assert r.ece == 0.0


@FAST
@given(st.data())
def test_ece_matches_loop(data):
    n_bins = data.draw(st.integers(1, 20))
    p, y = data.draw(probs_and_labels(on_edges=n_bins))
    r = M.ece(p, y, n_bins=n_bins)
    np.testing.assert_array_equal(r.bin_edges, np.linspace(0.0, 1.0, n_bins + 1))
    expected, counts = ece_loop(p, y, n_bins, list(r.bin_edges))
    assert r.ece == pytest.approx(expected, rel=1e-9, abs=1e-12)
    np.testing.assert_array_equal(r.bin_counts, counts)
    assert r.bin_counts.sum() == len(y)
    assert 0.0 <= r.ece <= 1.0


def test_ece_zero_when_calibrated():
    # 10 samples at confidence 0.8 with 8 right, 5 at 0.6 with 3 right, 4 at 1.0 all right:
    # in every bin accuracy equals mean confidence, so ECE = 0 for any number of bins.
    rows, labels = [], []
    for conf, n, right in [(0.8, 10, 8), (0.6, 5, 3), (1.0, 4, 4)]:
        rows += [[conf, 1.0 - conf]] * n
        labels += [0] * right + [1] * (n - right)
    for n_bins in (1, 2, 10, 15):
        assert M.ece(rows, labels, n_bins=n_bins).ece == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- AUROC


def auroc_pairs(pos, neg) -> Fraction:
    """O(n_pos n_neg) double loop, ties 1/2, exact."""
    total = Fraction(0)
    for a in pos:
        for b in neg:
            total += 1 if a > b else Fraction(1, 2) if a == b else 0
    return total / (len(pos) * len(neg))


def test_auroc_hand():
    # pos {3, 2}, neg {1, 2}: pairs (3,1)=1 (3,2)=1 (2,1)=1 (2,2)=1/2 -> 3.5 / 4 = 0.875
    assert M.auroc([3, 2, 1, 2], [True, True, False, False]) == 0.875


def test_auroc_extremes():
    assert M.auroc([0.3] * 7, [1, 0, 1, 0, 0, 1, 0]) == 0.5
    assert M.auroc([5, 6, 7, 1, 2], [1, 1, 1, 0, 0]) == 1.0
    assert M.auroc([1, 2, 5, 6, 7], [1, 1, 0, 0, 0]) == 0.0


def test_auroc_no_precision_loss_on_large_integers():
    # 2**62 and 2**62 + 1 are equal after a cast to float64; ranked as ints they are not.
    big = np.array([2**62 + 1, 2**62], dtype=np.int64)
    assert M.auroc(big, [True, False]) == 1.0


score = st.sampled_from([0.0, 0.5, 1.0, 2.0]) | st.floats(-10, 10, allow_nan=False)


@FAST
@given(st.lists(score, min_size=1, max_size=15), st.lists(score, min_size=1, max_size=15))
def test_auroc_matches_pairs_and_mannwhitneyu(pos, neg):
    scores = np.array(pos + neg)
    is_pos = np.array([True] * len(pos) + [False] * len(neg))
    expected = auroc_pairs(pos, neg)
    got = M.auroc(scores, is_pos)
    assert got == pytest.approx(float(expected), abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mannwhitneyu(pos, neg, alternative="two-sided", method="asymptotic").statistic
    assert got == pytest.approx(u / (len(pos) * len(neg)), abs=1e-12)
    # swapping the classes, or negating the scores, mirrors the curve
    assert M.auroc(scores, ~is_pos) == pytest.approx(1.0 - got, abs=1e-12)
    assert M.auroc(-scores, is_pos) == pytest.approx(1.0 - got, abs=1e-12)
    # the order of the samples does not matter
    perm = np.random.default_rng(len(pos)).permutation(len(scores))
    assert M.auroc(scores[perm], is_pos[perm]) == pytest.approx(got, abs=1e-12)


# --------------------------------------------------------------------------- FPR at TPR


def fpr_at_tpr_loop(scores, is_pos, tpr):
    """Walk the distinct thresholds from the top; call positive when score >= t."""
    n_pos = sum(is_pos)
    n_neg = len(is_pos) - n_pos
    for t in sorted(set(scores), reverse=True):
        tp = sum(1 for s, p in zip(scores, is_pos, strict=True) if p and s >= t)
        fp = sum(1 for s, p in zip(scores, is_pos, strict=True) if not p and s >= t)
        if tp / n_pos >= tpr:
            return fp / n_neg
    raise AssertionError("unreachable: the lowest threshold has TPR 1")


def test_fpr_at_tpr_hand():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    is_pos = [1, 0, 1, 1, 0, 0, 1, 0]  # 4 positives, 4 negatives
    # t=.9: TPR 1/4; t=.8: 1/4; t=.7: 2/4; t=.6: 3/4 -> reached; negatives >= .6: {.8} -> 1/4
    assert M.fpr_at_tpr(scores, is_pos, tpr=0.75) == 0.25
    # TPR 1 first at t=.3; negatives >= .3: {.8, .5, .4} -> 3/4
    assert M.fpr_at_tpr(scores, is_pos, tpr=1.0) == 0.75
    # TPR 1/4 at t=.9 already, before any negative -> 0
    assert M.fpr_at_tpr(scores, is_pos, tpr=0.25) == 0.0


def test_fpr_at_tpr_ties_cross_together():
    # pos {2, 1}, neg {2, 0}: at t=2 TPR = 1/2 and the tied negative is in too: FPR = 1/2
    assert M.fpr_at_tpr([2, 1, 2, 0], [1, 1, 0, 0], tpr=0.5) == 0.5


def test_fpr_at_tpr_decimal_target_is_met_exactly():
    # 10 positives at 10..19, negatives at 0..9 and one at 10.5: 9/10 positives (>= 11) reach
    # tpr = 0.9 (the float 0.9 is a hair above 9/10, the comparison is on the float TPR)
    scores = list(range(10, 20)) + list(range(10)) + [10.5]
    is_pos = [1] * 10 + [0] * 11
    assert M.fpr_at_tpr(scores, is_pos, tpr=0.9) == 0.0
    # 10/10 only at t = 10, which lets in the negative at 10.5 -> 1/11
    assert M.fpr_at_tpr(scores, is_pos, tpr=0.95) == pytest.approx(1 / 11)


@FAST
@given(
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=30),
    st.sampled_from([0.5, 0.8, 0.9, 0.95, 1.0]) | st.floats(0.01, 1.0),
)
def test_fpr_at_tpr_matches_loop(pairs, tpr):
    scores = [s for s, _ in pairs]
    is_pos = [p for _, p in pairs]
    if all(is_pos) or not any(is_pos):
        is_pos[0] = not is_pos[0]
    assert M.fpr_at_tpr(scores, is_pos, tpr) == fpr_at_tpr_loop(scores, is_pos, tpr)


# --------------------------------------------------------------------------- risk-coverage


def test_risk_coverage_hand():
    # sorted by confidence: 0.9 right, 0.8 wrong, 0.7 right, 0.6 right
    # risks 0/1, 1/2, 1/3, 1/4; AURC = (0 + 0.5 + 0.3333 + 0.25) / 4 = 0.2708333
    r = M.risk_coverage([0.7, 0.9, 0.6, 0.8], [True, True, True, False])
    np.testing.assert_allclose(r.coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(r.risk, [0.0, 0.5, 1 / 3, 0.25])
    assert r.aurc == pytest.approx((0 + 0.5 + 1 / 3 + 0.25) / 4)


def test_risk_coverage_ties_hand():
    # 0.9 (right), 0.9 (wrong), 0.5 (right): the first kept sample is either tied one, so
    # its expected risk is 1/2; both tied ones -> 1/2; all three -> 1/3
    r = M.risk_coverage([0.9, 0.9, 0.5], [1, 0, 1])
    np.testing.assert_allclose(r.risk, [0.5, 0.5, 1 / 3])
    # the order of the tied samples in the input does not matter
    np.testing.assert_array_equal(M.risk_coverage([0.9, 0.9, 0.5], [0, 1, 1]).risk, r.risk)


@FAST
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=6))
def test_risk_coverage_matches_mean_over_tie_orderings(pairs):
    conf = [c for c, _ in pairs]
    correct = [ok for _, ok in pairs]
    n = len(pairs)
    totals = [Fraction(0)] * n
    count = 0
    for perm in itertools.permutations(range(n)):
        if any(conf[perm[i]] < conf[perm[i + 1]] for i in range(n - 1)):
            continue  # not a highest-confidence-first order
        count += 1
        wrong = 0
        for k in range(1, n + 1):
            wrong += not correct[perm[k - 1]]
            totals[k - 1] += Fraction(wrong, k)
    expected = [float(t / count) for t in totals]
    r = M.risk_coverage(conf, correct)
    np.testing.assert_allclose(r.risk, expected, rtol=1e-12, atol=1e-15)
    assert r.aurc == pytest.approx(sum(expected) / n, rel=1e-12, abs=1e-15)


@FAST
@given(probs_and_labels(max_n=60))
def test_risk_coverage_full_coverage_is_error(pl):
    p, y = pl
    correct = np.argmax(p, axis=1) == y
    r = M.risk_coverage(p.max(axis=1), correct)
    assert r.risk[-1] == M.error(p, y)
    assert r.coverage[-1] == 1.0
    assert len(r.risk) == len(r.coverage) == len(y)
    assert np.all((r.risk >= 0) & (r.risk <= 1))


# --------------------------------------------------------------------------- regression


def test_gaussian_log_likelihood_hand():
    # log N(0; 0, 1) = -0.5 log(2 pi) = -0.9189385332
    assert M.gaussian_log_likelihood([0.0], 1.0, [0.0]) == pytest.approx(-0.9189385332)
    # log N(1; 0, 4) = -0.5 log(8 pi) - 1/8 = -1.6120857 - 0.125 = -1.7370857
    assert M.gaussian_log_likelihood([0.0], [4.0], [1.0]) == pytest.approx(-1.7370857, rel=1e-7)


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 10), st.sampled_from([None, 1, 3]))
def test_gaussian_log_likelihood_matches_scipy(seed, n, d):
    rng = np.random.default_rng(seed)
    shape = (n,) if d is None else (n, d)
    mean, y = rng.normal(size=shape), rng.normal(size=shape)
    var = rng.uniform(0.1, 3.0, size=shape)
    per_point = normal.logpdf(y, loc=mean, scale=np.sqrt(var))
    expected = np.mean(per_point if d is None else per_point.sum(axis=1))
    assert M.gaussian_log_likelihood(mean, var, y) == pytest.approx(expected, rel=1e-12)


def mc_ll_loop(samples, y, tau):
    """Direct loop in Python floats: log of the mean of Gaussian densities."""
    samples = np.asarray(samples, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    t_count, n_count = samples.shape[:2]
    total = 0.0
    for n in range(n_count):
        dens = 0.0
        for t in range(t_count):
            diff = np.atleast_1d(y[n] - samples[t, n])
            d = len(diff)
            sq = sum(float(v) ** 2 for v in diff)
            dens += (tau / (2 * math.pi)) ** (d / 2) * math.exp(-tau / 2 * sq)
        total += math.log(dens / t_count)
    return total / n_count


@FAST
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 6),
    st.integers(1, 8),
    st.sampled_from([None, 1, 2]),
    st.floats(0.1, 10.0),
)
def test_mc_test_log_likelihood_matches_loop(seed, t, n, d, tau):
    rng = np.random.default_rng(seed)
    y_shape = (n,) if d is None else (n, d)
    y = rng.normal(size=y_shape)
    samples = y + rng.normal(scale=0.7, size=(t, *y_shape))
    expected = mc_ll_loop(samples, y, tau)
    assert M.mc_test_log_likelihood(samples, y, tau) == pytest.approx(expected, rel=1e-10)


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 8), st.floats(0.05, 20.0))
def test_mc_test_log_likelihood_single_sample_is_gaussian(seed, n, tau):
    rng = np.random.default_rng(seed)
    y, yhat = rng.normal(size=n), rng.normal(size=n)
    got = M.mc_test_log_likelihood(yhat[None], y, tau)
    assert got == pytest.approx(M.gaussian_log_likelihood(yhat, 1.0 / tau, y), rel=1e-12)
    # T identical passes are the same mixture as one pass
    assert M.mc_test_log_likelihood(np.repeat(yhat[None], 5, 0), y, tau) == pytest.approx(
        got, rel=1e-12
    )


def test_mc_test_log_likelihood_stable_far_from_samples():
    # exp(-tau/2 * 1e4) underflows to 0, a naive log(mean(exp(.))) gives -inf; the
    # log-sum-exp gives log N(100; 0, 1) = -0.5 log(2 pi) - 5000 for identical samples
    samples = np.zeros((10, 1))
    got = M.mc_test_log_likelihood(samples, [100.0], tau=1.0)
    assert got == pytest.approx(-0.5 * math.log(2 * math.pi) - 5000.0, rel=1e-12)


def test_coverage_hand():
    # z(0.95) = 1.959964; |y| <= z for 0, 1.9, -1.95 but not 2.0 or -3 -> 3/5
    assert M.coverage(np.zeros(5), 1.0, [0.0, 1.9, 2.0, -1.95, -3.0]) == pytest.approx(0.6)
    # level 0.6827 has z ~ 1.0: with std 2 the half-width is ~2 -> 1.9 in, 2.1 out
    assert M.coverage([0.0, 0.0], [2.0, 2.0], [1.9, 2.1], level=0.6827) == 0.5


@pytest.mark.parametrize("level", [0.5, 0.9, 0.95])
def test_coverage_matches_level_for_gaussian_data(level):
    rng = np.random.default_rng(1234)
    n = 200_000
    mean = rng.normal(size=n)
    std = rng.uniform(0.5, 2.0, size=n)
    y = mean + std * rng.standard_normal(n)
    # binomial standard error sqrt(l(1-l)/n) <= 0.0012; allow 5 of them
    tol = 5 * math.sqrt(level * (1 - level) / n)
    assert abs(M.coverage(mean, std, y, level=level) - level) <= tol
    # (N, D) targets are pooled
    got2 = M.coverage(mean.reshape(-1, 4), std.reshape(-1, 4), y.reshape(-1, 4), level=level)
    assert got2 == M.coverage(mean, std, y, level=level)


# --------------------------------------------------------------------------- inputs


def test_accepts_lists_float32_and_array_api_arrays():
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y = np.array([0, 0, 0])
    ref = (M.error(p, y), M.nll(p, y), M.brier(p, y), M.ece(p, y).ece)
    assert (M.error(p.tolist(), y.tolist()), M.nll(p.tolist(), y.tolist())) == ref[:2]
    p32 = p.astype(np.float32)
    assert M.brier(p32, y) == pytest.approx(ref[2], rel=1e-6)
    assert M.nll(p, y.astype(np.uint8)) == ref[1]
    assert M.error(p, y.astype(np.float64)) == ref[0]
    xp = pytest.importorskip("array_api_strict")
    assert M.nll(xp.asarray(p), xp.asarray(y)) == ref[1]


P3 = [[0.5, 0.5], [0.2, 0.8], [1.0, 0.0]]
BAD = [
    (M.error, ([0.5, 0.5], [0]), r"probs must have shape \(N, K\)"),
    (M.error, (np.ones((2, 2, 2)) / 2, [0, 1]), r"probs must have shape \(N, K\)"),
    (M.error, (np.zeros((0, 3)), []), r"N >= 1"),
    (M.error, (P3, [0, 1]), r"labels must have shape \(N,\) = \(3,\)"),
    (M.error, (P3, [[0, 1, 0]]), r"labels must have shape"),
    (M.nll, (P3, [0, 2, 1]), r"labels must lie in \[0, 1\]"),
    (M.nll, (P3, [0, -1, 1]), r"labels must lie in"),
    (M.nll, (P3, [0, 1.5, 1]), r"labels must be integer"),
    (M.nll, ([[2.0, -1.0]], [0]), r"probs must be non-negative"),
    (M.nll, ([[3.0, 1.0]], [0]), r"each row of probs must sum to 1.*row 0 sums to 4"),
    (M.nll, ([[np.nan, 1.0]], [0]), r"probs contains NaN"),
    (M.nll, ([["a", "b"]], [0]), r"probs must hold real numbers"),
    (M.nll, (P3, [0, 1, 0]), None),  # control: valid
    (M.nll, (P3, [0, 1, 0], 0.0), r"eps must lie in"),
    (M.nll_from_log_probs, ([[0.5, -1.0]], [0]), r"log_probs must be <= 0"),
    (M.nll_from_log_probs, ([0.0], [0]), r"log_probs must have shape \(N, K\)"),
    (M.brier, (P3, [0, 1]), r"labels must have shape"),
    (M.ece, (P3, [0, 1, 0], 0), r"n_bins must be an integer >= 1"),
    (M.ece, (P3, [0, 1, 0], 2.5), r"n_bins must be an integer >= 1"),
    (M.auroc, ([1, 2, 3], [1, 0]), r"is_positive must have shape \(N,\) = \(3,\)"),
    (M.auroc, ([1, 2, 3], [1, 1, 1]), r"at least one positive and one negative"),
    (M.auroc, ([[1, 2]], [1, 0]), r"scores must have shape \(N,\)"),
    (M.auroc, ([1, 2], [1, 2]), r"is_positive must be boolean"),
    (M.auroc, ([1.0, np.nan], [1, 0]), r"scores contains NaN"),
    (M.fpr_at_tpr, ([1, 2], [1, 0], 0.0), r"tpr must lie in \(0, 1\]"),
    (M.fpr_at_tpr, ([1, 2], [1, 0], 1.5), r"tpr must lie in"),
    (M.fpr_at_tpr, ([1, 2], [0, 0]), r"at least one positive"),
    (M.risk_coverage, ([0.9, 0.8], [True]), r"correct must have shape \(N,\) = \(2,\)"),
    (M.risk_coverage, ([], []), r"confidence must have shape \(N,\) with N >= 1"),
    (M.gaussian_log_likelihood, ([0.0, 1.0], [1.0, 0.0], [0.0, 1.0]), r"var must be positive"),
    (M.gaussian_log_likelihood, ([0.0, 1.0], 1.0, [0.0]), r"y must have shape \(2,\)"),
    (M.gaussian_log_likelihood, ([0.0, 1.0], [1.0] * 3, [0, 1]), r"var must be a scalar or"),
    (M.gaussian_log_likelihood, (5.0, 1.0, 5.0), r"mean must have shape \(N,\) or \(N, D\)"),
    (M.mc_test_log_likelihood, ([0.0, 1.0], [0.0, 1.0], 1.0), r"samples must have shape"),
    (M.mc_test_log_likelihood, (np.zeros((3, 2)), [0.0], 1.0), r"y must have shape \(2,\)"),
    (M.mc_test_log_likelihood, (np.zeros((3, 2)), [0.0, 0.0], 0.0), r"tau must be a positive"),
    (M.mc_test_log_likelihood, (np.zeros((3, 2)), [0.0, np.inf], 1.0), r"y contains NaN"),
    (M.coverage, ([0.0], [1.0], [0.0], 1.0), r"level must lie in \(0, 1\)"),
    (M.coverage, ([0.0], [-1.0], [0.0]), r"std must be non-negative"),
    (M.coverage, ([0.0, 1.0], 1.0, [0.0, 1.0, 2.0]), r"y must have shape \(2,\)"),
]


@pytest.mark.parametrize(
    ("func", "args", "match"), BAD, ids=[f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(BAD)]
)
def test_bad_input_raises_value_error(func, args, match):
    if match is None:
        func(*args)
        return
    with pytest.raises(ValueError, match=match):
        func(*args)
