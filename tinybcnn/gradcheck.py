"""Finite-difference gradient checks, in float64 only.

Two ways to check a backward pass ``vjp(x, dy) = Jᵀ dy`` of a function ``f: x -> y``:

* **Full Jacobian** (:func:`numerical_jacobian`, :func:`check_vjp`): central differences
  along every input coordinate, ``2 · x.size`` calls of ``f``. Exact up to O(eps²) and
  round-off; use it for small inputs (a few hundred values).
* **Random directions** (:func:`directional_check`): for random unit directions ``v``,
  compare ``⟨dy, J v⟩`` (two calls of ``f``: ``(f(x + eps v) - f(x - eps v)) / 2 eps``) with
  ``⟨Jᵀ dy, v⟩`` (the backward pass). Cheap for large inputs; a wrong gradient is caught
  with probability 1 by a random direction.

Everything runs in float64: with float32 the central difference has round-off error of
order ``1e-7 / eps`` relative to ``f``, which for any useful ``eps`` swamps the truncation
error, so float32 checks either pass wrong gradients or fail right ones. Non-float64 inputs
(and functions that return non-float64 outputs) are refused with a ValueError.

``f`` and ``vjp`` receive NumPy float64 arrays; arrays of other namespaces are copied to
NumPy first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "GradientCheckError",
    "numerical_jacobian",
    "numerical_gradient",
    "relative_error",
    "check_vjp",
    "directional_check",
    "assert_vjp",
    "assert_directional",
]

Array = Any


class GradientCheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""


def _host(a: Any) -> np.ndarray:
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def _require_float64(a: Any, name: str) -> np.ndarray:
    """``a`` as a float64 NumPy array, or a ValueError if it is of any other dtype."""
    arr = _host(a)
    if arr.dtype != np.float64:
        raise ValueError(
            f"gradient checks need float64, but {name} has dtype {arr.dtype}; "
            f"cast with .astype(float64) (float32 finite differences are dominated by round-off)"
        )
    return arr


def _eval(f: Callable[[np.ndarray], Array], x: np.ndarray) -> np.ndarray:
    y = f(x)
    if np.isscalar(y) and isinstance(y, float):
        return np.asarray(y, dtype=np.float64)
    return _require_float64(y, "the output of f")


def relative_error(a: Any, b: Any) -> float:
    """``max|a - b| / max(max|a|, max|b|)`` (0 when both are all zeros).

    A scale-relative error: it is not inflated by entries that are tiny in both arrays.
    """
    a = np.asarray(_host(a), dtype=np.float64)
    b = np.asarray(_host(b), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    diff = float(np.max(np.abs(a - b)))
    if scale == 0.0:
        return 0.0
    return diff / scale


def numerical_jacobian(f: Callable[[np.ndarray], Array], x: Any, eps: float = 1e-6
                       ) -> np.ndarray:
    """Full Jacobian of ``f`` at ``x`` by central differences.

    Parameters
    ----------
    f : callable
        Maps a float64 array shaped like ``x`` to a float64 array (or float).
    x : array of float64
    eps : float
        Step.

    Returns
    -------
    J : ndarray, shape (f(x).size, x.size)
        ``J[m, k] = ∂ f(x).flat[m] / ∂ x.flat[k]``.

    Notes
    -----
    .. math:: J_{:, k} \\approx \\frac{f(x + \\epsilon e_k) - f(x - \\epsilon e_k)}{2 \\epsilon}
    """
    x = _require_float64(x, "x").copy()
    y0 = _eval(f, x)
    J = np.zeros((y0.size, x.size), dtype=np.float64)
    flat = x.reshape(-1)  # a view: perturbing it perturbs x
    for k in range(x.size):
        old = flat[k]
        flat[k] = old + eps
        y_plus = _eval(f, x.copy()).reshape(-1)
        flat[k] = old - eps
        y_minus = _eval(f, x.copy()).reshape(-1)
        flat[k] = old
        J[:, k] = (y_plus - y_minus) / (2.0 * eps)
    return J


def numerical_gradient(f_scalar: Callable[[np.ndarray], Any], x: Any, eps: float = 1e-6
                       ) -> np.ndarray:
    """Gradient of a scalar function by central differences, shaped like ``x``."""
    x = _require_float64(x, "x")
    J = numerical_jacobian(f_scalar, x, eps)
    if J.shape[0] != 1:
        raise ValueError(f"f_scalar must return one value, got {J.shape[0]}")
    return J.reshape(x.shape)


def check_vjp(f: Callable[[np.ndarray], Array], vjp: Callable[[np.ndarray, np.ndarray], Array],
              x: Any, dy: Any = None, eps: float = 1e-6, rng: Any = None) -> float:
    """Relative error between ``vjp(x, dy)`` and ``Jᵀ dy`` from the full numerical Jacobian.

    Parameters
    ----------
    f : callable
        ``f(x) -> y``.
    vjp : callable
        ``vjp(x, dy) -> dx``, the analytic backward pass at ``x``.
    x : array of float64
    dy : array of float64 shaped like ``f(x)``, optional
        Upstream gradient; random normal (from ``rng``) if omitted.
    eps : float
    rng : numpy.random.Generator, optional

    Returns
    -------
    err : float
        :func:`relative_error` of the two gradients.
    """
    x = _require_float64(x, "x")
    y = _eval(f, x.copy())
    if dy is None:
        rng = np.random.default_rng(0) if rng is None else rng
        dy = rng.standard_normal(y.shape)
    dy = _require_float64(dy, "dy")
    if dy.shape != y.shape:
        raise ValueError(f"dy must have the shape of f(x) = {y.shape}, got {dy.shape}")
    J = numerical_jacobian(f, x, eps)
    expected = (J.T @ dy.reshape(-1)).reshape(x.shape)
    got = _require_float64(vjp(x.copy(), dy.copy()), "vjp(x, dy)")
    if got.shape != x.shape:
        raise ValueError(f"vjp must return the shape of x = {x.shape}, got {got.shape}")
    return relative_error(got, expected)


def directional_check(f: Callable[[np.ndarray], Array],
                      vjp: Callable[[np.ndarray, np.ndarray], Array], x: Any,
                      rng: Any = None, n_dirs: int = 5, dy: Any = None, eps: float = 1e-6
                      ) -> float:
    """Max relative error of ``⟨dy, J v⟩`` against ``⟨Jᵀ dy, v⟩`` over random directions ``v``.

    Parameters
    ----------
    f, vjp : callable
        As in :func:`check_vjp`.
    x : array of float64
    rng : numpy.random.Generator, optional
        Draws ``dy`` (if omitted) and the directions; seed 0 by default.
    n_dirs : int
        Number of random unit directions.
    dy : array of float64, optional
    eps : float

    Returns
    -------
    err : float
        ``max_v |⟨dy, Jv⟩_num − ⟨vjp(dy), v⟩| / max(|⟨dy, Jv⟩_num|, |⟨vjp(dy), v⟩|)``.

    Notes
    -----
    .. math::

        \\langle dy, J v \\rangle \\approx
        \\Big\\langle dy, \\frac{f(x + \\epsilon v) - f(x - \\epsilon v)}{2\\epsilon}\\Big\\rangle
        \\quad\\text{vs}\\quad \\langle J^T dy, v \\rangle

    The two sides agree for every ``v`` exactly when the backward pass is the adjoint of
    the Jacobian; 2 calls of ``f`` per direction instead of ``2 · x.size``.
    """
    x = _require_float64(x, "x")
    rng = np.random.default_rng(0) if rng is None else rng
    y = _eval(f, x.copy())
    if dy is None:
        dy = rng.standard_normal(y.shape)
    dy = _require_float64(dy, "dy")
    if dy.shape != y.shape:
        raise ValueError(f"dy must have the shape of f(x) = {y.shape}, got {dy.shape}")
    dx = _require_float64(vjp(x.copy(), dy.copy()), "vjp(x, dy)")
    if dx.shape != x.shape:
        raise ValueError(f"vjp must return the shape of x = {x.shape}, got {dx.shape}")
    worst = 0.0
    for _ in range(n_dirs):
        v = rng.standard_normal(x.shape)
        v /= np.linalg.norm(v)
        jv = (_eval(f, x + eps * v) - _eval(f, x - eps * v)) / (2.0 * eps)
        lhs = float(np.sum(dy * jv))
        rhs = float(np.sum(dx * v))
        scale = max(abs(lhs), abs(rhs))
        if scale > 0.0:
            worst = max(worst, abs(lhs - rhs) / scale)
    return worst


def assert_vjp(f: Callable[[np.ndarray], Array], vjp: Callable[[np.ndarray, np.ndarray], Array],
               x: Any, dy: Any = None, rtol: float = 1e-6, eps: float = 1e-6,
               name: str = "gradient") -> float:
    """:func:`check_vjp`, raising :class:`GradientCheckError` if the error exceeds ``rtol``."""
    err = check_vjp(f, vjp, x, dy, eps)
    if not err <= rtol:  # also catches NaN
        raise GradientCheckError(
            f"{name} check failed: relative error {err:.3e} > rtol {rtol:.1e} "
            f"against the full central-difference Jacobian (eps={eps:g})"
        )
    return err


def assert_directional(f: Callable[[np.ndarray], Array],
                       vjp: Callable[[np.ndarray, np.ndarray], Array], x: Any,
                       rng: Any = None, n_dirs: int = 5, dy: Any = None, rtol: float = 1e-5,
                       eps: float = 1e-6, name: str = "gradient") -> float:
    """:func:`directional_check`, raising :class:`GradientCheckError` above ``rtol``."""
    err = directional_check(f, vjp, x, rng, n_dirs, dy, eps)
    if not err <= rtol:
        raise GradientCheckError(
            f"{name} check failed: relative error {err:.3e} > rtol {rtol:.1e} "
            f"along {n_dirs} random directions (eps={eps:g})"
        )
    return err
