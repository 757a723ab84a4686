"""Dense layer, ReLU, softmax cross-entropy and Gaussian NLL: forward against direct formulas
(SciPy where it has them), backward against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from tinybcnn.functional import (
    dense_backward,
    dense_forward,
    gaussian_nll_backward,
    gaussian_nll_forward,
    log_softmax,
    relu_backward,
    relu_forward,
    softmax,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from tinybcnn.gradcheck import assert_vjp, numerical_gradient, relative_error

seeds = st.integers(0, 2**32 - 1)


# --- dense ---------------------------------------------------------------------------------

@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), seeds)
def test_dense_forward_matches_loops(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out)), \
        rng.standard_normal(d_out)
    y, _ = dense_forward(x, W, b)
    expected = np.array([[b[o] + math.fsum(x[i, k] * W[k, o] for k in range(d_in))
                          for o in range(d_out)] for i in range(n)])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    y32, _ = dense_forward(x.astype(np.float32), W.astype(np.float32), b.astype(np.float32))
    assert y32.dtype == np.float32


@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), seeds)
def test_dense_backward_matches_finite_differences(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out)), \
        rng.standard_normal(d_out)
    dy = rng.standard_normal((n, d_out))

    def grads(x_, W_, b_):
        return dense_backward(dy, dense_forward(x_, W_, b_)[1])

    assert_vjp(lambda x_: dense_forward(x_, W, b)[0], lambda x_, d: grads(x_, W, b)[0], x, dy,
               name="dense dx")
    assert_vjp(lambda W_: dense_forward(x, W_, b)[0], lambda W_, d: grads(x, W_, b)[1], W, dy,
               name="dense dW")
    assert_vjp(lambda b_: dense_forward(x, W, b_)[0], lambda b_, d: grads(x, W, b_)[2], b, dy,
               name="dense db")


@pytest.mark.parametrize(
    ("x", "W", "b", "match"),
    [
        (np.ones(3), np.ones((3, 2)), np.ones(2), r"x must be 2-D.*\(N, in_features\)"),
        (np.ones((4, 3)), np.ones(3), np.ones(2), r"W must be 2-D"),
        (np.ones((4, 3)), np.ones((2, 2)), np.ones(2), r"in_features = 2"),
        (np.ones((4, 3)), np.ones((3, 2)), np.ones(3), r"b must have shape \(out_features,\)"),
    ],
)
def test_dense_bad_input(x, W, b, match):
    with pytest.raises(ValueError, match=match):
        dense_forward(x, W, b)


# --- relu ----------------------------------------------------------------------------------

@given(st.integers(1, 30), seeds)
def test_relu_forward_and_backward(size, seed):
    rng = np.random.default_rng(seed)
    # keep away from the kink so central differences see a straight line
    x = rng.choice([-1.0, 1.0], size) * rng.uniform(0.01, 2.0, size)
    y, _ = relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0.0))
    dy = rng.standard_normal(size)
    assert_vjp(lambda x_: relu_forward(x_)[0], lambda x_, d: relu_backward(d, relu_forward(x_)[1]),
               x, dy, name="relu dx")


def test_relu_gradient_is_zero_at_zero():
    x = np.array([[-1.0, 0.0, 2.0], [0.0, -0.0, 1e-300]])
    y, cache = relu_forward(x)
    np.testing.assert_array_equal(y, [[0.0, 0.0, 2.0], [0.0, 0.0, 1e-300]])
    dx = relu_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert relu_forward(x.astype(np.float32))[0].dtype == np.float32


# --- softmax and cross-entropy ------------------------------------------------------------

@given(st.integers(1, 5), st.integers(1, 6), st.floats(0.1, 50.0), seeds)
def test_softmax_and_log_softmax_match_scipy(n, k, scale, seed):
    z = np.random.default_rng(seed).standard_normal((n, k)) * scale
    np.testing.assert_allclose(log_softmax(z), special.log_softmax(z, axis=-1),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(softmax(z), special.softmax(z, axis=-1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.sum(softmax(z), axis=-1), 1.0, rtol=1e-12)


@given(st.integers(1, 5), st.integers(2, 6), seeds)
def test_cross_entropy_forward_and_backward(n, k, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * 3
    labels = rng.integers(0, k, n)
    loss, cache = softmax_cross_entropy_forward(z, labels)
    expected = -np.mean(special.log_softmax(z, axis=-1)[np.arange(n), labels])
    assert abs(float(loss) - expected) <= 1e-12 * max(1.0, abs(expected))
    dz = softmax_cross_entropy_backward(1.0, cache)
    num = numerical_gradient(lambda z_: float(softmax_cross_entropy_forward(z_, labels)[0]), z)
    # absolute tolerance: when softmax saturates the gradient is tiny and the finite
    # difference is dominated by the round-off of the O(1) terms inside log-softmax
    np.testing.assert_allclose(dz, num, rtol=1e-6, atol=1e-8)
    # the upstream scalar scales the gradient
    np.testing.assert_allclose(softmax_cross_entropy_backward(2.5, cache), 2.5 * dz, rtol=1e-14)


def test_cross_entropy_is_finite_and_correct_at_extreme_logits():
    z = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    labels = np.array([0, 1, 2])
    loss, cache = softmax_cross_entropy_forward(z, labels)
    # row 0: log p = 0; row 1: log p = -2e4; row 2: uniform, log p = -log 3
    expected = (0.0 + 2e4 + math.log(3.0)) / 3
    assert np.isfinite(float(loss))
    assert abs(float(loss) - expected) <= 1e-12 * expected
    dz = softmax_cross_entropy_backward(1.0, cache)
    assert np.all(np.isfinite(dz))
    expected_dz = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.0], [1 / 3, 1 / 3, -2 / 3]]) / 3
    np.testing.assert_allclose(dz, expected_dz, atol=1e-15)
    for dtype in (np.float32, np.float64):
        zz = z.astype(dtype)
        assert np.all(np.isfinite(log_softmax(zz))) and np.all(np.isfinite(softmax(zz)))
        loss32, _ = softmax_cross_entropy_forward(zz, labels)
        assert np.isfinite(float(loss32))
    assert softmax_cross_entropy_forward(z.astype(np.float32), labels)[0].dtype == np.float32


@pytest.mark.parametrize(
    ("logits", "labels", "match"),
    [
        (np.zeros(3), np.array([0]), r"logits must be 2-D.*\(N, K\)"),
        (np.zeros((2, 3)), np.array([0, 3]), r"labels must lie in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([-1, 0]), r"labels must lie in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), r"labels must have shape"),
    ],
)
def test_cross_entropy_bad_input(logits, labels, match):
    with pytest.raises(ValueError, match=match):
        softmax_cross_entropy_forward(logits, labels)


# --- Gaussian NLL ----------------------------------------------------------------------------

@given(st.integers(1, 6), st.integers(1, 3), st.floats(0.01, 100.0), seeds)
def test_gaussian_nll_matches_scipy_and_finite_differences(n, d, tau, seed):
    rng = np.random.default_rng(seed)
    pred, target = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    loss, cache = gaussian_nll_forward(pred, target, tau)
    # docs/objective.md: the D outputs of a point are summed, the N points averaged
    logpdf = stats.norm.logpdf(target, loc=pred, scale=1 / math.sqrt(tau))   # (n, d)
    expected = -np.mean(np.sum(logpdf, axis=1))
    assert abs(float(loss) - expected) <= 1e-10 * max(1.0, abs(expected))
    dpred = gaussian_nll_backward(1.0, cache)
    np.testing.assert_allclose(dpred, tau * (pred - target) / n, rtol=1e-12)
    # the loss is quadratic in pred, so central differences have no truncation error and a
    # large step keeps the round-off of the O(1) constant term (-log(tau)/2 + ...) small
    num = numerical_gradient(lambda p_: float(gaussian_nll_forward(p_, target, tau)[0]), pred,
                             eps=1e-2)
    assert relative_error(dpred, num) < 1e-8


def test_gaussian_nll_three_outputs_by_hand():
    # N = 2 points, D = 3 outputs, tau = 2: per point ½·2·‖r‖² + (3/2)(log 2π − log 2)
    pred = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    target = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])     # ‖r‖² = 5 and 3
    const = 1.5 * (math.log(2 * math.pi) - math.log(2.0))
    hand = ((5.0 + const) + (3.0 + const)) / 2
    loss, cache = gaussian_nll_forward(pred, target, 2.0)
    assert math.isclose(float(loss), hand, rel_tol=1e-14)
    # the same value from scipy's joint density of the three outputs of each point
    joint = [stats.multivariate_normal(mean=p_, cov=0.5 * np.eye(3)).logpdf(t_)
             for p_, t_ in zip(pred, target, strict=True)]
    assert math.isclose(float(loss), -np.mean(joint), rel_tol=1e-12)
    np.testing.assert_allclose(gaussian_nll_backward(1.0, cache), 2.0 * (pred - target) / 2)


def test_gaussian_nll_vector_is_one_output():
    pred, target = np.array([0.5, -1.0, 2.0]), np.array([0.0, 0.0, 0.0])
    as_column = float(gaussian_nll_forward(pred[:, None], target[:, None], 3.0)[0])
    assert math.isclose(float(gaussian_nll_forward(pred, target, 3.0)[0]), as_column, rel_tol=1e-15)


@pytest.mark.parametrize("tau", [0.0, -1.0])
def test_gaussian_nll_bad_tau(tau):
    with pytest.raises(ValueError, match=r"tau"):
        gaussian_nll_forward(np.zeros(3), np.zeros(3), tau)


def test_gaussian_nll_shape_mismatch():
    with pytest.raises(ValueError, match=r"target must have shape"):
        gaussian_nll_forward(np.zeros((3, 1)), np.zeros(3), 1.0)
