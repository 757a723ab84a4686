"""Temperature scaling: the fitted T against a brute-force grid, SciPy's scalar minimiser and
a case with a known answer (labels drawn from a calibrated model whose logits were scaled)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, special

from tinybcnn.calibration import (
    T_BOUNDS,
    apply_temperature,
    apply_temperature_probs,
    fit_temperature,
    fit_temperature_probs,
    log_probs_of,
    temperature_nll,
)


def _nll_by_loop(z, y, t):
    """Mean NLL of softmax(z / T), one row at a time with SciPy's logsumexp."""
    return sum(special.logsumexp(z[n] / t) - z[n, y[n]] / t for n in range(len(y))) / len(y)


def _nll_grid(z, y, grid):
    """Mean NLL at every temperature of ``grid`` at once, (len(grid),)."""
    scaled = z[None] / grid[:, None, None]
    return (special.logsumexp(scaled, axis=2) - scaled[:, np.arange(len(y)), y]).mean(axis=1)


def _calibrated_sample(n, k, scale, seed):
    """Logits ``scale · z`` with labels drawn from ``softmax(z)``: the true T is ``scale``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * 1.5
    p = special.softmax(z, axis=1)
    y = (p.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    return scale * z, y


@pytest.mark.parametrize("scale", [0.4, 1.0, 2.5])
def test_recovers_a_known_scale_within_four_standard_errors(scale):
    """The MLE of β = 1/T has standard error 1/sqrt(N · I(β)), with I(β) the mean variance of
    the logits under the model's softmax (the NLL's second derivative in β)."""
    z, y = _calibrated_sample(20_000, 5, scale, seed=1)
    t = fit_temperature(z, y)
    beta = 1 / t
    s = special.softmax(beta * z, axis=1)
    info = np.mean((s * z**2).sum(1) - (s * z).sum(1) ** 2)
    se = 1 / math.sqrt(len(y) * info)
    assert abs(beta - 1 / scale) <= 4 * se


@pytest.mark.slow   # a grid search per example, a hundred examples
@given(st.integers(2, 6), st.integers(6, 40), st.floats(0.2, 5.0), st.integers(0, 2**31))
def test_no_temperature_on_a_grid_does_better(k, n, spread, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * spread
    y = rng.integers(0, k, size=n)
    y[: k] = np.arange(k)        # every class at least once
    t = fit_temperature(z, y)
    grid = np.geomspace(*T_BOUNDS, 1001)
    nll_grid = np.array([_nll_by_loop(z, y, g) for g in grid[::50]])   # coarse, by loop
    fine = _nll_grid(z, y, grid)
    np.testing.assert_allclose(nll_grid, fine[::50], rtol=1e-10)       # the vectorised NLL
    assert temperature_nll(z, y, t) <= fine.min() + 1e-12
    best = grid[fine.argmin()]
    if T_BOUNDS[0] < best < T_BOUNDS[1]:
        ratio = grid[1] / grid[0]
        assert best / ratio <= t <= best * ratio


def test_agrees_with_scipy_minimize_scalar_on_log_t():
    z, y = _calibrated_sample(3000, 10, 1.7, seed=4)
    res = optimize.minimize_scalar(lambda s: _nll_grid(z, y, np.array([math.exp(s)]))[0],
                                   bounds=np.log(T_BOUNDS), method="bounded",
                                   options={"xatol": 1e-9})
    t = fit_temperature(z, y)
    assert math.isclose(t, math.exp(res.x), rel_tol=1e-6)
    assert temperature_nll(z, y, t) <= res.fun + 1e-12


def test_probabilities_give_the_fit_of_their_logits():
    """log softmax(z) = z − const per row, so the fit on a softmax output is the fit on z."""
    z, y = _calibrated_sample(500, 4, 3.0, seed=2)
    t = fit_temperature(z, y)
    probs = special.softmax(z, axis=1)
    assert math.isclose(fit_temperature_probs(probs, y), t, rel_tol=1e-9)
    np.testing.assert_allclose(apply_temperature_probs(probs, t), apply_temperature(z, t),
                               rtol=1e-9, atol=1e-15)


def test_mc_average_is_scaled_on_its_log():
    """For an average of softmaxes, p̄_T ∝ p̄^(1/T)."""
    rng = np.random.default_rng(0)
    pbar = special.softmax(rng.standard_normal((20, 30, 3)), axis=2).mean(axis=0)
    out = apply_temperature_probs(pbar, 2.0)
    expected = np.sqrt(pbar) / np.sqrt(pbar).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_apply_is_softmax_of_scaled_logits():
    z = np.random.default_rng(3).standard_normal((6, 4)) * 10
    np.testing.assert_allclose(apply_temperature(z, 0.7), special.softmax(z / 0.7, axis=1),
                               rtol=1e-12)


def test_temperature_one_is_the_model_and_the_fit_never_raises_the_nll():
    z, y = _calibrated_sample(400, 3, 0.5, seed=7)
    assert math.isclose(temperature_nll(z, y, 1.0), _nll_by_loop(z, y, 1.0), rel_tol=1e-12)
    assert temperature_nll(z, y, fit_temperature(z, y)) <= temperature_nll(z, y, 1.0)


def test_separable_data_drive_t_to_the_lower_bound():
    z = np.array([[5.0, 0.0], [0.0, 5.0]])
    assert fit_temperature(z, np.array([0, 1])) == T_BOUNDS[0]
    assert fit_temperature(z, np.array([1, 0])) == T_BOUNDS[1]    # always wrong: flatten


def test_zero_probabilities_stay_finite():
    lp = log_probs_of(np.array([[1.0, 0.0], [0.5, 0.5]]))
    assert np.all(np.isfinite(lp))
    assert fit_temperature_probs(np.array([[1.0, 0.0], [0.3, 0.7]]), np.array([0, 1])) > 0


@pytest.mark.parametrize("logits, labels, match", [
    (np.ones(3), np.zeros(3, int), "shape"),
    (np.ones((3, 2)), np.zeros(3), "integers"),
    (np.ones((3, 2)), np.array([0, 1, 2]), "lie in"),
    (np.array([[np.nan, 0.0]]), np.array([0]), "NaN"),
])
def test_bad_inputs_get_one_clear_error(logits, labels, match):
    with pytest.raises(ValueError, match=match):
        fit_temperature(logits, labels)


def test_bad_temperatures_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(np.ones((2, 2)), 0.0)
    with pytest.raises(ValueError, match="bounds"):
        fit_temperature(np.ones((2, 2)), np.array([0, 1]), bounds=(2.0, 1.0))
