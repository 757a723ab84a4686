"""The gradient checker itself: right answers on known functions, wrong gradients caught,
float32 refused."""

from __future__ import annotations

import numpy as np
import pytest

from tinybcnn.gradcheck import (
    GradientCheckError,
    assert_directional,
    assert_vjp,
    check_vjp,
    directional_check,
    numerical_gradient,
    numerical_jacobian,
    relative_error,
)

RNG = np.random.default_rng(0)
A = RNG.standard_normal((4, 3))  # not symmetric, not square: a transposed gradient is caught


def f(x):
    return np.tanh(A @ x)


def vjp(x, dy):
    return A.T @ (dy * (1 - np.tanh(A @ x) ** 2))


def test_numerical_jacobian_of_linear_map_is_the_matrix():
    x = RNG.standard_normal(3)
    np.testing.assert_allclose(numerical_jacobian(lambda v: A @ v, x), A, rtol=1e-8, atol=1e-9)


def test_numerical_jacobian_does_not_modify_its_input():
    x = RNG.standard_normal((2, 3))
    before = x.copy()
    numerical_jacobian(lambda v: v**2, x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_of_quadratic():
    x = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(numerical_gradient(lambda v: float(np.sum(v**2)), x), 2 * x,
                               rtol=1e-8, atol=1e-9)
    with pytest.raises(ValueError, match="one value"):
        numerical_gradient(lambda v: v, x)


def test_correct_gradient_passes_both_checks():
    x = RNG.standard_normal(3)
    assert check_vjp(f, vjp, x) < 1e-8
    assert directional_check(f, vjp, x, rng=np.random.default_rng(1), n_dirs=10) < 1e-7
    assert assert_vjp(f, vjp, x) < 1e-8
    assert assert_directional(f, vjp, x) < 1e-6


@pytest.mark.parametrize(
    "wrong",
    [
        lambda x, dy: 1.01 * vjp(x, dy),                            # off by 1 %
        lambda x, dy: vjp(x, dy) + 1e-3,                            # a small constant offset
        lambda x, dy: A.T @ dy,                                     # forgot the tanh factor
    ],
    ids=["factor-1.01", "offset", "missing-chain-rule"],
)
def test_wrong_gradient_is_caught(wrong):
    x = RNG.standard_normal(3)
    assert check_vjp(f, wrong, x) > 1e-4
    assert directional_check(f, wrong, x, n_dirs=3) > 1e-4
    with pytest.raises(GradientCheckError, match=r"relative error .* > rtol"):
        assert_vjp(f, wrong, x, name="tanh")
    with pytest.raises(GradientCheckError, match=r"random directions"):
        assert_directional(f, wrong, x)


def test_wrong_gradient_on_larger_input_caught_by_directions():
    B = RNG.standard_normal((50, 400))
    x = RNG.standard_normal(400)
    good = directional_check(lambda v: B @ v, lambda v, dy: B.T @ dy, x)
    bad = directional_check(lambda v: B @ v, lambda v, dy: 1.01 * (B.T @ dy), x)
    assert good < 1e-7 < 1e-3 < bad


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
def test_non_float64_input_is_refused(dtype):
    x = np.ones(3, dtype=dtype)
    for call in (lambda: numerical_jacobian(f, x), lambda: check_vjp(f, vjp, x),
                 lambda: directional_check(f, vjp, x),
                 lambda: numerical_gradient(lambda v: float(v.sum()), x)):
        with pytest.raises(ValueError, match=r"float64"):
            call()


def test_float32_output_or_gradient_is_refused():
    x = np.ones(3)
    with pytest.raises(ValueError, match=r"output of f.*float64"):
        numerical_jacobian(lambda v: v.astype(np.float32), x)
    with pytest.raises(ValueError, match=r"float64"):
        check_vjp(f, lambda v, dy: vjp(v, dy).astype(np.float32), x)
    with pytest.raises(ValueError, match=r"dy.*float64"):
        check_vjp(f, vjp, x, dy=np.ones(4, dtype=np.float32))


def test_shape_mismatches_are_reported():
    x = np.ones(3)
    with pytest.raises(ValueError, match=r"dy must have the shape"):
        check_vjp(f, vjp, x, dy=np.ones(3))
    with pytest.raises(ValueError, match=r"vjp must return the shape"):
        check_vjp(f, lambda v, dy: np.ones(4), x)


def test_relative_error():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 2.2)
    # scale-relative: a tiny entry that differs does not blow the error up
    assert relative_error([1.0, 1e-12], [1.0, 2e-12]) < 1e-11
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.zeros(2), np.zeros(3))
