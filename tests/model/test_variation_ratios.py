"""The two variation ratios are two statistics, and the package offers both.

* Freeman's vote count ``1 − f_mode / T`` (Gal's thesis): ``Prediction.variation_ratio`` and
  ``experiments.active_learning.variation_ratio``.
* ``1 − max_y p̄_y`` (Gal, Islam & Ghahramani 2017): ``predict.variation_ratio_probs`` and
  ``Prediction.variation_ratio_probs``.

The oracles are plain Python loops over the passes and classes, written from the
definitions. The ``(0.6, 0.4)`` passes are the counterexample to the old claim that the vote
count approximates ``1 − max p̄`` for large ``T`` (docs/uncertainty-at-work.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinybcnn.experiments import active_learning as al
from tinybcnn.models import lenet
from tinybcnn.predict import Prediction, mc_predict, standard_predict, variation_ratio_probs


def votes_oracle(sample_probs):
    """``1 − f_mode / T`` by counting, pass by pass, which class each pass ranks first."""
    t, n, k = np.shape(sample_probs)
    out = []
    for i in range(n):
        counts = [0] * k
        for s in range(t):
            row = list(sample_probs[s][i])
            counts[row.index(max(row))] += 1            # first maximum, as argmax
        out.append(1 - max(counts) / t)
    return np.array(out)


def mean_oracle(sample_probs):
    """``1 − max_y p̄_y`` with the mean over passes summed by hand."""
    t, n, k = np.shape(sample_probs)
    out = []
    for i in range(n):
        mean = [sum(float(sample_probs[s][i][c]) for s in range(t)) / t for c in range(k)]
        out.append(1 - max(mean))
    return np.array(out)


@pytest.mark.parametrize("t", [1, 2, 7, 50, 1000])
def test_identical_not_one_hot_passes_separate_the_two(t):
    # every pass says (0.6, 0.4): every vote goes to class 0, the mean is (0.6, 0.4)
    sample_probs = np.tile([[[0.6, 0.4]]], (t, 1, 1))
    assert al.variation_ratio(sample_probs)[0] == 0 == votes_oracle(sample_probs)[0]
    assert variation_ratio_probs(sample_probs.mean(axis=0))[0] == pytest.approx(0.4, abs=1e-12)
    assert mean_oracle(sample_probs)[0] == pytest.approx(0.4, abs=1e-12)


def test_random_passes_against_the_oracles():
    rng = np.random.default_rng(0)
    sample_probs = rng.dirichlet(np.ones(3), size=(50, 200))           # (T, N, K)
    votes = al.variation_ratio(sample_probs)
    means = variation_ratio_probs(sample_probs.mean(axis=0))
    np.testing.assert_allclose(votes, votes_oracle(sample_probs), atol=1e-15)
    np.testing.assert_allclose(means, mean_oracle(sample_probs), atol=1e-12)
    # not one statistic at large T: their averages differ by far more than MC noise
    assert abs(votes.mean() - means.mean()) > 0.02            # about 0.60 against 0.63
    assert np.all(means <= 1 - 1 / 3 + 1e-12) and np.all(votes <= 1 - 1 / 3 + 1e-12)


def test_one_hot_passes_cannot_tell_them_apart():
    # why a check with one-hot passes is too weak (tutorial 07's exercise 2)
    sample_probs = np.eye(3)[np.array([[0], [0], [1], [2]])]            # (T=4, N=1, K=3)
    assert votes_oracle(sample_probs)[0] == pytest.approx(mean_oracle(sample_probs)[0])


def test_variation_ratio_probs_keeps_axis_and_lists():
    p = [[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]]
    np.testing.assert_allclose(variation_ratio_probs(p), [0.5, 0.1])
    np.testing.assert_allclose(variation_ratio_probs(np.array(p).T, axis=0), [0.5, 0.1])
    assert variation_ratio_probs(p).dtype == np.float64


def test_prediction_offers_both():
    model = lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=4, seed=3, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((9, 1, 16, 16))
    pred = mc_predict(model, x, samples=30, seed=0, return_samples=True)
    np.testing.assert_allclose(pred.variation_ratio, votes_oracle(pred.sample_probs),
                               atol=1e-15)
    np.testing.assert_allclose(pred.variation_ratio_probs, mean_oracle(pred.sample_probs),
                               atol=1e-12)
    std = standard_predict(model, x)
    # one pass: no vote spread, but the single prediction is still unsure
    assert np.all(std.variation_ratio == 0)
    np.testing.assert_allclose(std.variation_ratio_probs, 1 - std.probs.max(axis=1))


def test_prediction_property_on_the_counterexample():
    probs = np.array([[0.6, 0.4]])
    pred = Prediction(probs=probs, entropy=np.zeros(1), mutual_info=np.zeros(1),
                      variation_ratio=np.zeros(1), samples=10)
    assert pred.variation_ratio_probs[0] == pytest.approx(0.4)
    assert pred.variation_ratio[0] == 0
