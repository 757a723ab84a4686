"""Concrete dropout: the relaxed mask, its hand-written gradients and the learnt-p regulariser.

Oracles: the formula evaluated element by element with Python's ``math`` module, float64
central differences, the hard Bernoulli mask's exact expectation (closed form for one unit,
every mask enumerated for a layer of four) with Monte Carlo
tolerances from the standard error, a quadrature of the relaxed expectation, the per-patch
masked convolution loop of ``reference.py``, and the fixed-p objective of ``objective.py``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from tinybcnn.backend import to_numpy
from tinybcnn.functional import conv2d_forward, patch_mask_to_nchw
from tinybcnn.functional.concrete_dropout import (
    bernoulli_entropy,
    concrete_dropout_backward,
    concrete_dropout_forward,
    concrete_regulariser,
    logit,
    sigmoid,
    uniform_noise,
)
from tinybcnn.functional.reference import conv2d_patch_masked_reference
from tinybcnn.gradcheck import assert_vjp, numerical_gradient
from tinybcnn.nn import Conv2D, Dense, Dropout, Sequential
from tinybcnn.objective import Objective
from tinybcnn.random import CounterRNG

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)
drop_probs = st.floats(0.02, 0.95)
temperatures = st.sampled_from([0.1, 0.3, 1.0])
seeds = st.integers(0, 2**32 - 1)


def _noise(shape, seed):
    """Uniform noise away from 0 and 1 (the float64 checks need no extreme logits)."""
    return np.random.default_rng(seed).uniform(0.02, 0.98, size=shape)


def _mask_by_hand(a: float, u: float, t: float) -> float:
    """``(1 − z̃) / (1 − p)`` for one unit, in Python floats (``1 − z̃ = 1/(1 + e^s)``
    written so, not as a difference that cancels where z̃ is near 1)."""
    return _mask_of_logistic(a, math.log(u) - math.log(1.0 - u), t)


def _mask_of_logistic(a: float, noise: float, t: float) -> float:
    """The mask for the logistic noise ``log u − log(1 − u)`` itself."""
    s = (a + noise) / t
    keep_soft = 1.0 / (1.0 + math.exp(s)) if s < 700 else 0.0
    p = 1.0 / (1.0 + math.exp(-a))
    return keep_soft / (1.0 - p)


# --- the mask ------------------------------------------------------------------------------

@given(shapes, drop_probs, temperatures, seeds)
def test_forward_is_the_relaxed_mask_element_by_element(shape, p, t, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    u = _noise(shape, seed + 1)
    a = logit(p)
    y, cache = concrete_dropout_forward(x, a, noise=u, temperature=t)
    expected = np.array([_mask_by_hand(a, ui, t) for ui in u.ravel()]).reshape(shape)
    np.testing.assert_allclose(cache["mask"], expected, rtol=1e-12)
    np.testing.assert_allclose(y, x * expected, rtol=1e-12)


def test_no_noise_and_no_rng_is_the_identity_with_zero_p_gradient():
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    y, cache = concrete_dropout_forward(x, logit(0.3))
    assert y is x and cache["mask"] is None
    dx, d_logit = concrete_dropout_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(dx, np.ones_like(x))
    assert float(d_logit) == 0.0


def test_float32_in_float32_out():
    x = np.ones((4, 3), dtype=np.float32)
    y, cache = concrete_dropout_forward(x, np.float32(logit(0.2)), rng=np.random.default_rng(0))
    dx, d_logit = concrete_dropout_backward(y, cache)
    assert y.dtype == dx.dtype == d_logit.dtype == np.float32


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf])
def test_temperature_must_be_positive(bad):
    with pytest.raises(ValueError, match="temperature"):
        concrete_dropout_forward(np.ones(3), 0.0, noise=np.full(3, 0.5), temperature=bad)


def test_noise_must_have_the_shape_of_x():
    with pytest.raises(ValueError, match="noise"):
        concrete_dropout_forward(np.ones((2, 3)), 0.0, noise=np.full((3, 2), 0.5))


# --- gradients, float64 finite differences -------------------------------------------------

@given(shapes, drop_probs, temperatures, seeds)
def test_input_gradient_matches_finite_differences(shape, p, t, seed):
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    u, a = _noise(shape, seed), logit(p)

    def f(x_):
        return concrete_dropout_forward(x_, a, noise=u, temperature=t)[0]

    def vjp(x_, d):
        return concrete_dropout_backward(d, concrete_dropout_forward(x_, a, noise=u,
                                                                     temperature=t)[1])[0]

    assert_vjp(f, vjp, x, dy, name="concrete dropout dx")


@given(shapes, drop_probs, temperatures, seeds)
def test_logit_gradient_matches_finite_differences(shape, p, t, seed):
    rng = np.random.default_rng(seed)
    x, dy, u = rng.standard_normal(shape), rng.standard_normal(shape), _noise(shape, seed)
    a = np.array(logit(p))

    def loss(a_):
        return np.sum(dy * concrete_dropout_forward(x, a_[()], noise=u, temperature=t)[0])

    _, cache = concrete_dropout_forward(x, a, noise=u, temperature=t)
    _, d_logit = concrete_dropout_backward(dy, cache)
    expected = numerical_gradient(loss, a, eps=1e-6)
    np.testing.assert_allclose(d_logit, expected, rtol=1e-6, atol=1e-9)


def test_p_gradient_is_the_logit_gradient_over_p_one_minus_p():
    """∂L/∂p by finite differences in p itself (not its logit) against d_logit / (p(1 − p))."""
    rng = np.random.default_rng(3)
    x, dy, u, p, h = rng.standard_normal(7), rng.standard_normal(7), _noise(7, 4), 0.3, 1e-6

    def loss(p_):
        return float(np.sum(dy * concrete_dropout_forward(x, logit(p_), noise=u)[0]))

    _, d_logit = concrete_dropout_backward(dy, concrete_dropout_forward(x, logit(p), noise=u)[1])
    np.testing.assert_allclose(d_logit / (p * (1 - p)), (loss(p + h) - loss(p - h)) / (2 * h),
                               rtol=1e-6)


# --- the conv reading ----------------------------------------------------------------------

@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(3, 6),
       st.integers(3, 6), st.integers(1, 3), st.integers(1, 3), drop_probs, seeds)
def test_conv_patch_masking_is_elementwise_masking_of_the_conv_output(n, c_in, c_out, h, w,
                                                                      kh, kw, p, seed):
    """Patch ``n`` times ``W_aug · diag(mask_n)``, one patch at a time (the loop of
    reference.py), equals the Concrete layer applied elementwise to the conv output, with the
    noise rearranged from patch to NCHW layout; and so do the gradients with respect to p."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w))
    W, b = rng.standard_normal((c_out, c_in, kh, kw)), rng.standard_normal(c_out)
    oh, ow = h - kh + 1, w - kw + 1
    u_patch = _noise((n * oh * ow, c_out), seed + 1)
    a = logit(p)
    patch_mask = concrete_dropout_forward(np.ones_like(u_patch), a, noise=u_patch)[1]["mask"]
    by_patch = conv2d_patch_masked_reference(x, W, b, patch_mask)
    conv, _ = conv2d_forward(x, W, b)
    u_nchw = patch_mask_to_nchw(u_patch, n, oh, ow)
    elementwise, cache = concrete_dropout_forward(conv, a, noise=u_nchw)
    np.testing.assert_allclose(elementwise, by_patch, rtol=1e-10, atol=1e-12)

    # the logit gradient of <dy, y> through the elementwise form, against differences of
    # the per-patch form
    dy = rng.standard_normal(conv.shape)
    _, d_logit = concrete_dropout_backward(dy, cache)

    def loss(a_):
        m = concrete_dropout_forward(np.ones_like(u_patch), a_, noise=u_patch)[1]["mask"]
        return float(np.sum(dy * conv2d_patch_masked_reference(x, W, b, m)))

    fd = (loss(a + 1e-6) - loss(a - 1e-6)) / 2e-6
    np.testing.assert_allclose(d_logit, fd, rtol=1e-6, atol=1e-8)


# --- low temperature: the hard Bernoulli mask ----------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mask_expectation_tends_to_one_at_low_temperature(p):
    """E[(1 − z̃)/(1 − p)] = 1 for the hard mask. At temperature t the relaxed indicator
    differs from the hard one only where |a + L| is of order t (L logistic, density ≤ 1/4),
    so |E[1 − z̃] − (1 − p)| ≤ (1/4) ∫ |σ(−s/t) − 1{s<0}| ds = (1/4) · 2 t log 2: the
    tolerance is that bias over (1 − p) plus 4 standard errors of the Monte Carlo mean."""
    n, t = 1_000_000, 1e-3
    u = uniform_noise(np.random.default_rng(11), (n,), dtype=np.float64)
    _, cache = concrete_dropout_forward(np.ones(n), logit(p), noise=u, temperature=t)
    mask = cache["mask"]
    se = mask.std(ddof=1) / math.sqrt(n)
    bias = t * math.log(2) / 2 / (1 - p)
    assert abs(mask.mean() - 1.0) <= 4 * se + bias
    # and the relaxed indicator is a Bernoulli(p) draw there: the fraction dropped is p
    dropped = (cache["drop"] > 0.5).mean()
    assert abs(dropped - p) <= 4 * math.sqrt(p * (1 - p) / n)


def _f(y, w=1.3, c=0.4):
    """A nonlinear function of one masked unit: (w y − c)²."""
    return (w * y - c) ** 2


def _df(y, w=1.3, c=0.4):
    return 2 * w * (w * y - c)


def _hard_expectation(a: float, x: float, f=_f) -> float:
    """E[f(x · z/(1 − p))] over z ~ Bernoulli(1 − p), exactly: two terms."""
    p = 1 / (1 + math.exp(-a))
    return (1 - p) * f(x / (1 - p)) + p * f(0.0)


def _relaxed_expectation(a: float, x: float, t: float, f=_f) -> float:
    """E[f(x · mask)] under the Concrete noise, by quadrature over the logistic L = logit(u)
    (density σ(L)(1 − σ(L))), with a breakpoint where the mask switches (L = −a)."""
    def integrand(s):
        m = _mask_of_logistic(a, s, t)
        return f(x * m) * math.exp(-abs(s)) / (1 + math.exp(-abs(s))) ** 2

    lo, hi = -a - 50 * t, -a + 50 * t
    parts = [integrate.quad(integrand, -40, lo, limit=200)[0],
             integrate.quad(integrand, lo, hi, points=[-a], limit=400)[0],
             integrate.quad(integrand, hi, 40, limit=200)[0]]
    return sum(parts)


def _derivative(g, a, h=1e-4):
    return (g(a + h) - g(a - h)) / (2 * h)


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_logit_gradient_of_a_nonlinear_expectation_matches_the_hard_mask(p):
    """The pathwise gradient (the hand-written backward) averaged over many noise draws
    estimates d/da E[f(x · mask)] of the relaxed mask without bias, and as t → 0 that tends
    to the derivative of the hard Bernoulli expectation (a closed form). Tolerance: 4
    standard errors (from 100 batch means) plus the relaxation's bias at this t, which a
    quadrature of the relaxed expectation gives."""
    a, x, t = logit(p), 0.9, 0.01
    hard = _derivative(lambda a_: _hard_expectation(a_, x), a)
    relaxed = _derivative(lambda a_: _relaxed_expectation(a_, x, t), a)
    bias = abs(relaxed - hard)
    # the bias shrinks with t (the relaxation converges to the hard mask)
    coarse = abs(_derivative(lambda a_: _relaxed_expectation(a_, x, 0.1), a) - hard)
    assert bias < coarse and bias < 0.05 * abs(hard)

    estimate, se = _pathwise_mean(a, x, t, _df, seed=5)
    assert abs(estimate - relaxed) <= 4 * se
    assert abs(estimate - hard) <= 4 * se + bias


def _pathwise_mean(a, x, t, df, seed, batches=100, per_batch=10_000):
    """Mean and standard error of the backward pass's d/da of f(x · mask) over noise draws."""
    rng, means = np.random.default_rng(seed), []
    for _ in range(batches):
        u = uniform_noise(rng, (per_batch,), dtype=np.float64)
        y, cache = concrete_dropout_forward(np.full(per_batch, x), a, noise=u, temperature=t)
        _, d_logit = concrete_dropout_backward(df(y) / per_batch, cache)
        means.append(float(d_logit))
    return np.mean(means), np.std(means, ddof=1) / math.sqrt(batches)


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_expected_output_does_not_depend_on_p_at_low_temperature(p):
    """With inverted masks E[y] = x for the hard mask at every p, so d/da E[y] = 0; the
    averaged pathwise gradient must find 0 within 4 standard errors plus the relaxation's
    bias at this t (by quadrature)."""
    a, x, t = logit(p), -1.7, 0.01

    def identity(y):
        return y

    assert abs(_derivative(lambda a_: _hard_expectation(a_, x, identity), a)) < 1e-9
    bias = abs(_derivative(lambda a_: _relaxed_expectation(a_, x, t, identity), a))
    assert bias < 0.01 * abs(x)
    estimate, se = _pathwise_mean(a, x, t, lambda y: np.ones_like(y), seed=8)
    assert abs(estimate) <= 4 * se + bias


# --- a layer of units at low temperature: every hard mask enumerated -----------------------
# Four masked units h ⊙ mask feed a dense layer with a squared error, ½‖(h ⊙ mask) W − y‖²,
# so the units interact (cross terms h_i h_j w_i·w_j). The hard expectation is a sum over the
# 2⁴ masks; the relaxed one needs only the mask's first two moments E[m̃] and E[m̃²] (units are
# independent), each a one-dimensional quadrature. Both are oracles independent of the
# backward pass; their derivatives in a are float64 central differences.

_UNITS = 4
_LAYER = np.random.default_rng(21)
_H, _W, _Y = (_LAYER.standard_normal(_UNITS), _LAYER.standard_normal((_UNITS, 2)),
              _LAYER.standard_normal(2))


def _hard_layer_expectation(a: float) -> float:
    """E[½‖(h ⊙ z/(1 − p)) W − y‖²] over the 16 hard masks z, each with its probability."""
    p = 1 / (1 + math.exp(-a))
    total = 0.0
    for kept in itertools.product((0, 1), repeat=_UNITS):
        prob = math.prod(1 - p if k else p for k in kept)
        total += prob * 0.5 * float(np.sum(((_H * np.array(kept) / (1 - p)) @ _W - _Y) ** 2))
    return total


def _relaxed_layer_expectation(a: float, t: float) -> float:
    """The same expectation under Concrete masks: with g_i = h_i w_i, it is
    ½[E[m̃]² Σ_{i≠j} g_i·g_j + E[m̃²] Σ_i ‖g_i‖² − 2 E[m̃] Σ_i g_i·y + ‖y‖²]."""
    m1 = _relaxed_expectation(a, 1.0, t, f=lambda m: m)
    m2 = _relaxed_expectation(a, 1.0, t, f=lambda m: m * m)
    g = _H[:, None] * _W
    gram = g @ g.T
    cross, diag = gram.sum() - np.trace(gram), np.trace(gram)
    return 0.5 * (m1 * m1 * cross + m2 * diag - 2 * m1 * float(np.sum(g @ _Y)) + _Y @ _Y)


def _layer_pathwise_mean(a, t, seed, batches=40, per_batch=5_000):
    """Mean and standard error (from batch means) of the backward pass's ∂L/∂a for the layer,
    over Concrete noise; the same seed gives the same noise at every temperature."""
    rng, means = np.random.default_rng(seed), []
    for _ in range(batches):
        u = uniform_noise(rng, (per_batch, _UNITS), dtype=np.float64)
        h = np.broadcast_to(_H, u.shape)
        hm, cache = concrete_dropout_forward(h, a, noise=u, temperature=t)
        residual = hm @ _W - _Y
        _, d_logit = concrete_dropout_backward(residual @ _W.T / per_batch, cache)
        means.append(float(d_logit))
    return np.mean(means), np.std(means, ddof=1) / math.sqrt(batches)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_layer_logit_gradient_at_low_temperature_matches_the_enumerated_hard_masks(p):
    """At t = 0.05 the averaged backward pass estimates the relaxed expectation's derivative
    without bias (within 4 standard errors of the quadrature) and the hard one's within 4
    standard errors plus the relaxation's bias. The bias is of order t, not t²: E[(1 − z̃)²]
    falls short of E[(1 − z)²] = 1 − p by about t p(1 − p) (∫ σ(s)σ(−s) ds = 1), so the
    weight of ‖g_i‖² is off at first order; here it is 5% of the derivative at t = 0.05 and
    about 10% at the paper's t = 0.1."""
    a, t = logit(p), 0.05
    hard = _derivative(_hard_layer_expectation, a)
    relaxed = _derivative(lambda a_: _relaxed_layer_expectation(a_, t), a)
    bias = abs(relaxed - hard)
    assert 0.02 * abs(hard) < bias < 0.08 * abs(hard)
    estimate, se = _layer_pathwise_mean(a, t, seed=13)
    assert abs(estimate - relaxed) <= 4 * se
    assert abs(estimate - hard) <= 4 * se + bias


def test_layer_gradient_bias_shrinks_with_temperature():
    """The relaxation's bias (quadrature against enumeration) falls with t, about in
    proportion, and the Monte Carlo estimate on the same noise is nearer the hard-mask
    derivative at t = 0.01 than at t = 0.5 by more than both estimates' 4 standard errors."""
    a = logit(0.3)
    hard = _derivative(_hard_layer_expectation, a)
    temperatures = (0.5, 0.1, 0.05, 0.01)
    biases = [abs(_derivative(lambda a_, t=t: _relaxed_layer_expectation(a_, t), a) - hard)
              for t in temperatures]
    assert all(b1 > b2 for b1, b2 in zip(biases[:-1], biases[1:], strict=True))
    assert biases[-1] < 0.02 * abs(hard)
    (hot, se_hot), (cold, se_cold) = (_layer_pathwise_mean(a, t, seed=17) for t in (0.5, 0.01))
    assert abs(cold - hard) + 4 * se_cold < abs(hot - hard) - 4 * se_hot


# --- the noise -----------------------------------------------------------------------------

def test_uniform_noise_lies_on_the_symmetric_open_grid():
    u = uniform_noise(np.random.default_rng(0), (200_000,), dtype=np.float32)
    k = (u.astype(np.float64) * 2**24 - 1) / 2
    np.testing.assert_array_equal(k, np.round(k))          # u = (2k + 1) / 2**24
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / u.size)
    assert np.all(np.isfinite(np.log(u) - np.log1p(-u)))


def test_counter_noise_is_the_same_on_every_namespace(xp):
    a = uniform_noise(CounterRNG(7, xp), (3, 5), dtype=xp.float32)
    b = uniform_noise(CounterRNG(7, np), (3, 5), dtype=np.float32)
    np.testing.assert_array_equal(to_numpy(a), b)
    assert 0 < b.min() and b.max() < 1


def test_numpy_generator_is_refused_for_device_arrays():
    aas = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="device"):
        uniform_noise(np.random.default_rng(0), (2,), xp=aas)


def test_forward_and_backward_agree_across_namespaces(xp):
    rng = np.random.default_rng(2)
    x, dy, u = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)), _noise((2, 3, 4), 9)
    a = logit(0.35)
    y_np, cache_np = concrete_dropout_forward(x, a, noise=u)
    dx_np, dl_np = concrete_dropout_backward(dy, cache_np)
    y, cache = concrete_dropout_forward(xp.asarray(x), a, noise=xp.asarray(u))
    dx, dl = concrete_dropout_backward(xp.asarray(dy), cache)
    np.testing.assert_allclose(to_numpy(y), y_np, rtol=1e-13)
    np.testing.assert_allclose(to_numpy(dx), dx_np, rtol=1e-13)
    np.testing.assert_allclose(float(dl), float(dl_np), rtol=1e-12)


# --- the regulariser -----------------------------------------------------------------------

@given(st.integers(1, 4), st.integers(1, 4), drop_probs, st.integers(1, 50), seeds)
def test_regulariser_gradients_match_finite_differences(k_in, k_out, p, units, seed):
    rng = np.random.default_rng(seed)
    W, a = rng.standard_normal((k_in, k_out)), np.array(logit(p))
    args = dict(length_scale=1.7, n_train=37, n_units=units, tau=2.5)
    value, dW, d_logit = concrete_regulariser(W, a, **args)
    assert_vjp(lambda W_: np.reshape(concrete_regulariser(W_, a, **args)[0], (1,)),
               lambda W_, d: d[0] * concrete_regulariser(W_, a, **args)[1],
               W, np.ones(1), name="regulariser dW")
    expected = numerical_gradient(lambda a_: concrete_regulariser(W, a_[()], **args)[0], a)
    np.testing.assert_allclose(d_logit, expected, rtol=1e-6, atol=1e-10)


def test_regulariser_value_by_hand():
    W, p, l, n, k, tau = np.array([[1.0, -2.0], [0.5, 0.0]]), 0.25, 2.0, 10, 3, 0.5
    value, _, _ = concrete_regulariser(W, logit(p), l, n, k, tau)
    entropy = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    by_hand = l**2 / (2 * n * tau * (1 - p)) * 5.25 - k / (n * tau) * entropy
    assert math.isclose(float(value), by_hand, rel_tol=1e-12)


def test_entropy_is_finite_for_extreme_logits():
    a = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    h = bernoulli_entropy(a)
    assert np.all(np.isfinite(h)) and math.isclose(h[2], math.log(2))
    np.testing.assert_allclose(sigmoid(a), [0.0, 1 / (1 + math.exp(30)), 0.5,
                                            1 / (1 + math.exp(-30)), 1.0])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.7])
def test_at_fixed_p_the_weight_term_is_the_package_objective(p):
    """The ``W`` part of the regulariser equals Objective's decay λ‖W‖² (λ = l²/(2Nτ keep)
    for the dropout credited to the layer) and its gradient 2λW; the rest does not
    depend on W."""
    net = Sequential([("ip1", Dense(3, 4, seed=0, dtype=np.float64)), ("drop", Dropout(p)),
                      ("conv_like", Dense(4, 2, seed=1, dtype=np.float64))])
    obj = Objective.for_model(net, n_train=50, length_scale=1.3, tau=2.0)
    W = net.params["ip1.W"]
    value, dW, _ = concrete_regulariser(W, logit(p), 1.3, 50, n_units=4, tau=2.0)
    entropy_part = -4 / (50 * 2.0) * float(bernoulli_entropy(np.array(logit(p))))
    assert math.isclose(float(value) - entropy_part, obj.decay["ip1.W"] * float(np.sum(W * W)),
                        rel_tol=1e-12)
    np.testing.assert_allclose(dW, 2 * obj.decay["ip1.W"] * W, rtol=1e-12)


def test_conv_kernels_are_regularised_like_dense_ones():
    conv = Conv2D(2, 3, 3, seed=0, dtype=np.float64)
    W = conv.params["W"]
    value, dW, _ = concrete_regulariser(W, 0.0, 1.0, 10, n_units=3)
    assert dW.shape == W.shape
    np.testing.assert_allclose(dW, W / (10 * 0.5), rtol=1e-12)


@pytest.mark.parametrize("bad", [{"length_scale": 0.0}, {"n_train": 0}, {"n_units": 0},
                                 {"tau": -1.0}])
def test_regulariser_refuses_non_positive_settings(bad):
    args = dict(length_scale=1.0, n_train=10, n_units=3, tau=1.0) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        concrete_regulariser(np.ones((2, 2)), 0.0, **args)


def test_logit_refuses_probabilities_outside_the_open_interval():
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="drop probability"):
            logit(bad)
