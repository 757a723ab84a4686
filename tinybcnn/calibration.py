"""Temperature scaling (Guo, Pleiss, Sun & Weinberger 2017): one scalar that recalibrates.

A trained classifier's softmax is often over- or under-confident. Temperature scaling divides
the logits by one ``T > 0``, fitted by minimising the negative log-likelihood on a validation
split held out from training (never the test set)::

    p_T(y | x) = softmax(z(x) / T),     T* = argmin_T  −(1/N) Σ_n log p_T(y_n | x_n)

``T`` does not change the predicted class (``argmax`` is scale-invariant), only the
confidence: it is the baseline any claim of "better calibrated" must beat.

Two uses in tinybcnn:

* the **standard network**: its logits ``z = f(x)`` (or its probabilities: ``log p`` equals
  ``z`` up to a per-row constant, which softmax ignores);
* **MC dropout**, separately: the averaged probabilities ``p̄ = mean_t softmax_t`` have no
  logits, so ``T`` scales ``log p̄``: ``p̄_T ∝ p̄^(1/T)`` (:func:`fit_temperature_probs`).

The fit is Newton's method by hand on the inverse temperature ``β = 1/T``, not a generic
optimiser on ``T``: in ``β`` the NLL ``mean_n [logsumexp_k(β z_nk) − β z_ny]`` is *convex*
(a log-sum-exp of functions linear in ``β``, minus a linear one), with first derivative
``mean_n (E_s[z_n] − z_ny)`` and second ``mean_n Var_s[z_n]`` under ``s = softmax(β z_n)``,
both cheap. Convexity makes the minimiser unique and Newton safe when each step is kept
inside a bracket where the derivative changes sign (bisection where a Newton step would leave
it); it converges in a handful of steps to machine precision. In ``T`` or ``log T`` the NLL is
not convex, and a bounded scalar search (``scipy.optimize.minimize_scalar``) would only
reach its tolerance; the tests use it and a brute-force grid as independent oracles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .backend import to_numpy

__all__ = ["fit_temperature", "fit_temperature_probs", "apply_temperature",
           "apply_temperature_probs", "temperature_nll", "log_probs_of", "T_BOUNDS"]

T_BOUNDS = (1e-2, 1e2)
"""The range ``T`` is fitted in; a fit at a bound means the data ask for more (e.g. a
validation set the model classifies perfectly drives ``T`` to 0)."""

# log p̄ of a class whose averaged probability is exactly 0 (all passes underflowed): a very
# unlikely class, finite so that the scaled logits stay finite
_LOG_TINY = math.log(np.finfo(np.float64).tiny)


def _check(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(to_numpy(logits), dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 2:
        raise ValueError(f"logits must have shape (N, K) with N >= 1 and K >= 2, got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or infinite values")
    y = np.asarray(to_numpy(labels))
    if y.shape != (z.shape[0],) or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers of shape ({z.shape[0]},), got "
                         f"{y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got {y.min()}..{y.max()}")
    return z, y.astype(np.int64)


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not 0 < t < math.inf:
        raise ValueError(f"the temperature must be > 0, got {temperature}")
    return t


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def temperature_nll(logits: Any, labels: Any, temperature: float) -> float:
    """``−(1/N) Σ_n log softmax(z_n / T)_{y_n}``, in float64.

    Parameters
    ----------
    logits : array (N, K)
    labels : int array (N,)
    temperature : float > 0
    """
    z, y = _check(logits, labels)
    t = _check_temperature(temperature)
    return float(-_log_softmax(z / t)[np.arange(len(y)), y].mean())


def _nll_derivatives(beta: float, z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """First and second derivative of the mean NLL in the inverse temperature ``β``."""
    s = np.exp(_log_softmax(beta * z))
    mean_z = (s * z).sum(axis=1)
    var_z = np.maximum((s * z * z).sum(axis=1) - mean_z**2, 0.0)
    return float((mean_z - z[np.arange(len(y)), y]).mean()), float(var_z.mean())


def fit_temperature(logits: Any, labels: Any, bounds: tuple[float, float] = T_BOUNDS,
                    tol: float = 1e-12, max_iter: int = 100) -> float:
    """The temperature ``T`` that minimises the NLL of ``softmax(logits / T)`` on ``labels``.

    Parameters
    ----------
    logits : array (N, K)
        Validation logits (any namespace; read to the host in float64).
    labels : int array (N,)
    bounds : (float, float)
        ``T`` is searched in this range; the bound is returned if the minimum lies beyond.
    tol : float
        Stop when a step on ``β = 1/T``, or the bracket around it, is this small (relative),
        or the derivative is 0.
    max_iter : int

    Returns
    -------
    float
        ``T* > 0``. ``T* > 1`` softens an over-confident model, ``T* < 1`` sharpens.

    Notes
    -----
    Safeguarded Newton on ``β`` (see the module notes): the derivative
    ``g(β) = mean_n (E_s[z_n] − z_ny)`` is increasing (its derivative is a mean variance), so
    ``[β_lo, β_hi]`` with ``g(β_lo) < 0 < g(β_hi)`` brackets the minimiser; each step is
    Newton's ``β − g/g'`` when that stays inside the bracket, else the bracket's midpoint.
    """
    z, y = _check(logits, labels)
    t_lo, t_hi = (_check_temperature(b) for b in bounds)
    if not t_lo < t_hi:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
    lo, hi = 1.0 / t_hi, 1.0 / t_lo                      # the bracket on β
    g_lo, _ = _nll_derivatives(lo, z, y)
    if g_lo >= 0:          # increasing from the smallest β: the minimum is at T = t_hi or beyond
        return t_hi
    g_hi, _ = _nll_derivatives(hi, z, y)
    if g_hi <= 0:          # still decreasing at the largest β: T = t_lo or below
        return t_lo
    beta = min(max(1.0, lo), hi)                          # start at T = 1, the model as trained
    for _ in range(max_iter):
        g, h = _nll_derivatives(beta, z, y)
        if g == 0:
            break
        if g < 0:
            lo = beta
        else:
            hi = beta
        newton = beta - g / h if h > 0 else math.nan
        step = newton if lo < newton < hi else 0.5 * (lo + hi)
        converged = abs(step - beta) <= tol * beta or hi - lo <= tol * hi
        beta = step
        if converged:
            break
    return 1.0 / beta


def apply_temperature(logits: Any, temperature: float) -> np.ndarray:
    """``softmax(logits / T)``, (N, K) float64 probabilities."""
    z = np.asarray(to_numpy(logits), dtype=np.float64)
    return np.exp(_log_softmax(z / _check_temperature(temperature)))


def log_probs_of(probs: Any) -> np.ndarray:
    """``log p`` as logits for temperature scaling, with ``log 0`` taken as ``log(tiny)``.

    For a softmax output, ``log p = z − logsumexp(z)``: the logits up to a per-row constant,
    which ``softmax(· / T)`` ignores. For MC dropout's ``p̄`` it is the only logit there is.
    """
    p = np.asarray(to_numpy(probs), dtype=np.float64)
    if p.ndim != 2 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probs must be a finite, non-negative (N, K) array")
    with np.errstate(divide="ignore"):
        return np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), _LOG_TINY)


def fit_temperature_probs(probs: Any, labels: Any, bounds: tuple[float, float] = T_BOUNDS,
                          tol: float = 1e-12, max_iter: int = 100) -> float:
    """:func:`fit_temperature` on ``log p``: for MC dropout's averaged probabilities ``p̄``
    (and for a standard network's softmax output, where it equals the fit on its logits)."""
    return fit_temperature(log_probs_of(probs), labels, bounds, tol, max_iter)


def apply_temperature_probs(probs: Any, temperature: float) -> np.ndarray:
    """``softmax(log p / T)``, i.e. ``p^(1/T)`` renormalised, (N, K) float64."""
    return apply_temperature(log_probs_of(probs), temperature)
