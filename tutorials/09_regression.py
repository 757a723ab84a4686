# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Regression with uncertainty: what the model doesn't know
#
# *Full mode (no options): 2 min 0 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# Classification hides the uncertainty inside a softmax. Regression shows it as a band.
# Here a dropout MLP learns a smooth 1-D function from noisy samples with a *gap*: an
# interval with no data. MC dropout gives a predictive mean and a variance with two parts,
#
# `Var[y*] ≈ 1/τ + Var_t(ŷ_t)`:
#
# the *aleatoric* part `1/τ` (the noise in the data, the same everywhere) and the
# *epistemic* part, the spread of the `T` stochastic passes (the model's doubt about its
# weights). We check that the epistemic part grows in the gap and far from the data, that
# standard dropout has none, compute the MC test log-likelihood by log-sum-exp, and choose
# `τ` on a validation split. Derivation: `docs/uncertainty-at-work.md`; objective:
# `docs/objective.md`.

# %%
import os
import sys
import tempfile
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import numpy as np
from scipy.special import logsumexp

import tinybcnn as tb
from tinybcnn.envflags import quick_mode
from tinybcnn.experiments import figures
from tinybcnn.experiments import regression as reg

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)
settings = reg.QUICK if QUICK else reg.FULL
print(settings)

# %% [markdown]
# ## The data: a smooth function, homoscedastic noise, a hole
#
# `y = sin(2.5 x) + 0.4 x + ε`, `ε ~ N(0, 0.1²)`, for `x` uniform on `[−2, 2]` minus the gap
# `(−0.5, 1)`. The test inputs are a grid over `[−5, 5]`: the data, the gap and far beyond.
# The true noise precision is `1/0.1² = 100`.

# %%
data = reg.make_gap_data(settings, seed=0)
print(f"{len(data.x_train)} training points, gap {data.gap}, {len(data.x_test)} test points")

# %% [markdown]
# ## The objective from (l, p, N, τ)
#
# With a Gaussian likelihood of precision `τ`, the deep-GP derivation gives the data term
# `(1/2)(y − ŷ)²` per point (the Gaussian's `−log N(y; ŷ, 1/τ)` divided by `τ`) and a weight
# decay `λ = l² / (2 N τ keep)` on each weight matrix. `train_regression` builds exactly this
# objective; look at the decay it gives:

# %%
l, tau = 1e-2, 100.0
model = tb.models.mlp((1, *settings.hidden, 1), p=settings.p, seed=0)
obj = tb.objective.Objective.for_model(model, n_train=len(data.x_train), length_scale=l,
                                       tau=tau, likelihood="gaussian")
keep = 1 - settings.p
print({k: f"{v:.3g}" for k, v in obj.decay.items()})
assert np.isclose(obj.decay["ip2.W"], l**2 / (2 * len(data.x_train) * tau * keep))

model = reg.train_regression(data.x_train, data.y_train, l, tau, settings, seed=0)

# %% [markdown]
# ## MC prediction, by hand and with the library
#
# `T` passes with fresh masks give samples `ŷ_t(x)`. The predictive mean is their average;
# the predictive variance adds the noise `1/τ` to their variance.

# %%
T = settings.samples
rng = tb.random.make_rng(0)
passes = np.stack([np.asarray(model.forward(data.x_test, rng=rng))[:, 0] for _ in range(T)])
mean_by_hand = passes.mean(axis=0)
var_by_hand = 1 / tau + passes.var(axis=0)

scores, mc = reg.evaluate_regression(model, data.x_test, data.y_test, tau, T, seed=0)
epistemic = np.asarray(mc.samples)[..., 0].var(axis=0)
assert np.allclose(mc.variance[:, 0], 1 / tau + epistemic)
print(f"first point: mean {mc.mean[0, 0]:.3f}, variance {mc.variance[0, 0]:.4f} "
      f"= 1/τ {1 / tau:.4f} + epistemic {epistemic[0]:.4f}")
# the hand-made passes use other masks, so they agree only statistically
assert np.mean(np.abs(mean_by_hand - mc.mean[:, 0])) < 0.1

# %% [markdown]
# ## Where the band is wide
#
# The epistemic standard deviation, averaged over the test points of each region:

# %%
widths = reg.band_widths(mc, data.x_test, data)
print({k: round(v, 3) for k, v in widths.items()})

standard = np.asarray(model.forward(data.x_test))[:, 0]        # dropout off: one pass
assert np.array_equal(standard, np.asarray(model.forward(data.x_test))[:, 0])
band = figures.regression_band(data.x_train[:, 0], data.y_train[:, 0], data.x_test[:, 0],
                                mc.mean[:, 0], epistemic, 1 / tau, standard, data.gap,
                                true_x=data.x_test[:, 0],
                                true_y=reg.true_function(data.x_test[:, 0]),
                                path=OUT / "09_band.png")
print("figure:", OUT / "09_band.png")
band  # noqa: B018 - a notebook shows the figure here; a script has saved it

# %% [markdown]
# Standard dropout runs the network once with the weights scaled (here: inverted masks, so
# the identity): there is one curve and no spread of passes, so its only "band" is the
# noise `± 2/√τ`, as wide in the gap and at `x = 5` as in the middle of the data.
#
# ## The MC test log-likelihood: log-sum-exp
#
# The MC predictive density is a mixture of `T` Gaussians, one per pass:
# `p(y | x) ≈ (1/T) Σ_t N(y; ŷ_t, 1/τ)`. Its log is
# `logsumexp_t(−τ/2 (y − ŷ_t)²) − log T − ½ log 2π + ½ log τ`. The log-sum-exp keeps it
# finite when every term underflows (large `τ (y − ŷ)²`), and it is *not* the mean of the
# per-pass log-likelihoods, which is lower (Jensen) and would punish the passes' spread.

# %%
y = data.y_test[:, 0].astype(np.float64)
s = np.asarray(mc.samples, dtype=np.float64)[..., 0]                     # (T, M)
ll_points = (logsumexp(-0.5 * tau * (y - s) ** 2, axis=0) - np.log(T)
             - 0.5 * np.log(2 * np.pi) + 0.5 * np.log(tau))
mean_of_logs = np.mean(-0.5 * tau * (y - s) ** 2 - 0.5 * np.log(2 * np.pi) + 0.5 * np.log(tau))
print(f"MC test LL {ll_points.mean():.3f} (library {scores['mc']['ll']:.3f}); "
      f"mean of per-pass LLs {mean_of_logs:.3f}; standard dropout {scores['standard']['ll']:.3f}")
assert np.isclose(ll_points.mean(), scores["mc"]["ll"])
assert ll_points.mean() >= mean_of_logs

by_region = reg.region_scores(model, data, tau, T, seed=0)
for name, sc in by_region.items():
    print(f"{name:8s} MC LL {sc['mc']['ll']:9.3f}   standard LL {sc['standard']['ll']:9.3f}   "
          f"RMSE {sc['mc']['rmse']:.3f}")

# %% [markdown]
# Far outside the data the network extrapolates a straight line while the truth keeps
# oscillating: both log-likelihoods are poor there, MC's less so because its band has
# grown. The band is wider, not wide enough: dropout's uncertainty is an approximation.
#
# ## Choosing τ on a validation split
#
# `τ` is a model choice: too small and the band is wider than the noise everywhere; too
# large and every miss is punished as if the model were certain. Gal & Ghahramani chose it
# by grid search on validation data; `grid_search` holds out part of the training points,
# trains one network per `(l, τ)` and keeps the highest validation MC log-likelihood.

# %%
search = reg.grid_search(data, settings, seed=0)
for row in search["rows"]:
    print(f"l {row['length_scale']:g}  tau {row['tau']:7g}  val LL {row['val_ll']:8.3f}  "
          f"test LL {row['test_ll']:9.3f}")
best = search["best"]
print("chosen:", best)
figures.regression_tau(search["rows"], best=best, path=OUT / "09_tau.png")

# %% [markdown]
# ## Checks

# %%
assert widths["gap"] > 1.3 * widths["data"]                  # wider where there is no data ...
assert widths["outside"] > widths["data"]                    # ... and beyond it
assert scores["mc"]["ll"] > scores["standard"]["ll"]         # MC beats the non-Bayesian pass
assert best["val_ll"] == max(r["val_ll"] for r in search["rows"])
# the chosen τ gives a band of about the true noise where there is data (0.1)
sigma_data = np.sqrt(1 / best["tau"] + widths["data"] ** 2)
assert 0.05 < sigma_data < 0.2, sigma_data
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You computed the predictive variance as `1/τ` plus the spread of the passes, and the MC
# test log-likelihood with log-sum-exp: the spread grows in the gap and beyond the data,
# where standard dropout's band stays as narrow as its noise term.

# %% [markdown]
# ## Exercises
#
# 1. **The predictive variance.** Write `predictive_variance(samples, tau)` for MC passes
#    `samples` of shape `(T, M)`: the variance of the MC predictive distribution at each of
#    the `M` points, as `mc_predict_regression` computes it.
# 2. **The MC test log-likelihood.** Write `mc_log_likelihood(samples, y, tau)`: the mean
#    over the `M` points of `log (1/T) Σ_t N(y; ŷ_t, 1/τ)`, finite even when every
#    `exp` underflows.
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/09_regression.py`; try first.

# %% Exercises: your answers
def predictive_variance(samples, tau):
    """Variance of the MC predictive distribution, shape (M,)."""
    raise NotImplementedError("exercise 1")


def mc_log_likelihood(samples, y, tau):
    """Mean over points of log (1/T) Σ_t N(y; ŷ_t, 1/τ)."""
    raise NotImplementedError("exercise 2")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    s = np.random.default_rng(4).standard_normal((8, 5))
    tau = 4.0
    got = np.asarray(predictive_variance(s, tau), dtype=float)
    assert got.shape == (5,), f"one variance per point, shape (5,), got {got.shape}"
    assert not np.allclose(got, s.var(axis=0)), (
        "the noise 1/τ is missing: the model says y = f(x) + ε, ε ~ N(0, 1/τ), so the "
        "predictive variance is 1/τ (aleatoric) plus the spread of the passes (epistemic)")
    assert not np.allclose(got, 1 / tau + s.var(axis=0, ddof=1)), (
        "that is the unbiased (T − 1) variance; the MC moment estimate is (1/T) Σ ŷ_t² − ȳ², "
        "the population variance (docs/uncertainty-at-work.md)")
    assert not np.allclose(got, 1 / tau + s.std(axis=0)), "a variance, not a standard deviation"
    assert np.allclose(got, 1 / tau + (s**2).mean(0) - s.mean(0) ** 2), "expected 1/τ + Var_t(ŷ_t)"


def check_2():
    from scipy.special import logsumexp

    s = np.array([[0.0, 1.0], [0.5, 1.2], [1.0, 0.8]])            # T = 3 passes, M = 2 points
    y = np.array([0.4, 1.0])
    tau = 10.0
    exact = np.mean(np.log(np.mean(np.sqrt(tau / (2 * np.pi))
                                   * np.exp(-0.5 * tau * (y - s) ** 2), axis=0)))
    with np.errstate(divide="ignore"):
        got = float(mc_log_likelihood(s, y, tau))
    per_pass = np.mean(-0.5 * tau * (y - s) ** 2 + 0.5 * np.log(tau / (2 * np.pi)))
    assert not np.isclose(got, per_pass), (
        "that is the mean of the per-pass log-likelihoods: a lower bound (Jensen, log is "
        "concave) that treats each pass as the model; take the log of the mixture instead")
    assert np.isclose(got, exact), f"expected {exact:.4f} (log of the mean density), got {got}"
    far = np.array([3.0, -2.0])                                    # every exp underflows
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        got_far = float(mc_log_likelihood(s, far, 1e4))
    a = -0.5 * 1e4 * (far - s) ** 2
    expected = np.mean(logsumexp(a, axis=0) - np.log(3) + 0.5 * np.log(1e4 / (2 * np.pi)))
    assert np.isfinite(got_far), (
        "−inf (or NaN) far from every pass: each exp(−τ(y − ŷ)²/2) underflows to 0. "
        "Use log-sum-exp: m + log Σ exp(a_t − m) with m = max_t a_t (scipy.special.logsumexp)")
    assert np.isclose(got_far, expected), f"far from the passes: expected {expected:.1f}"

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2)
