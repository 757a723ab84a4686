"""Prop. 1 of Gal & Ghahramani (2016), as written in docs/deep-gp-kl.md, against a Monte Carlo
estimate of the KL divergence of a two-component Gaussian mixture from N(0, I).

The estimate is stratified by component (exact mixing weights, ``S`` draws from each), with
``log q`` evaluated exactly by log-sum-exp over both components; the tolerance is a few of its
own standard errors, so the test is about the formula and not the seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import logsumexp


def mixture_kl_monte_carlo(means: np.ndarray, weights: np.ndarray, sigma: float,
                           draws: int, seed: int) -> tuple[float, float]:
    """MC estimate of ``KL(Σ_c π_c N(μ_c, σ² I) ‖ N(0, I))`` and its standard error."""
    rng = np.random.default_rng(seed)
    d = means.shape[1]
    estimate, variance = 0.0, 0.0
    for mu_c, pi_c in zip(means, weights, strict=True):
        x = mu_c + sigma * rng.standard_normal((draws, d))                    # x ~ N(μ_c, σ² I)
        sq = ((x[:, None, :] - means[None]) ** 2).sum(axis=2)                 # (S, C)
        log_comp = -sq / (2 * sigma**2) - d * math.log(sigma) - d / 2 * math.log(2 * math.pi)
        log_q = logsumexp(log_comp + np.log(weights), axis=1)
        log_p = -0.5 * (x * x).sum(axis=1) - d / 2 * math.log(2 * math.pi)
        values = log_q - log_p
        estimate += pi_c * values.mean()
        variance += pi_c**2 * values.var(ddof=1) / draws
    return estimate, math.sqrt(variance)


def prop1(means: np.ndarray, weights: np.ndarray, sigma: float, constant: str = "docs") -> float:
    """The right-hand side of Prop. 1 with Σ_c = σ² I (``constant="printed"``: −D(1 + log 2π))."""
    d = means.shape[1]
    const = -d if constant == "docs" else -d * (1 + math.log(2 * math.pi))
    terms = [w / 2 * (mu @ mu + d * sigma**2 + const - d * math.log(sigma**2))
             for mu, w in zip(means, weights, strict=True)]
    entropy = -sum(w * math.log(w) for w in weights)
    return sum(terms) - entropy


@pytest.mark.parametrize("keep", [0.5, 0.8])
def test_prop1_matches_monte_carlo(keep):
    d, sigma = 200, 0.3
    rng = np.random.default_rng(1)
    m = rng.standard_normal(d)                       # the kept column: far from 0 in R^200
    means = np.stack([m, np.zeros(d)])
    weights = np.array([keep, 1 - keep])
    mc, se = mixture_kl_monte_carlo(means, weights, sigma, draws=2000, seed=0)
    formula = prop1(means, weights, sigma)
    assert abs(mc - formula) < 5 * se + 1e-9, (mc, se, formula)
    # the constant −D(1 + log 2π) is off by D log 2π ≈ 368 nats: hundreds of standard errors
    printed = prop1(means, weights, sigma, constant="printed")
    assert abs(mc - printed) > 100 * se


def test_prop1_single_gaussian_is_exact():
    # one component: the closed-form KL of N(μ, σ² I) from N(0, I), no approximation at all
    d, sigma = 7, 0.6
    mu = np.linspace(-1.0, 1.0, d)
    exact = 0.5 * (mu @ mu + d * sigma**2 - d - d * math.log(sigma**2))
    assert math.isclose(prop1(mu[None], np.array([1.0]), sigma), exact, rel_tol=1e-12)
    mc, se = mixture_kl_monte_carlo(mu[None], np.array([1.0]), sigma, draws=4000, seed=3)
    assert abs(mc - exact) < 5 * se
