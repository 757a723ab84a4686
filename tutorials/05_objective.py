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
# # 05 · From the deep GP to the objective: KL term, weight decay, `1/keep`
#
# *Full mode (no options): 2 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# Gal & Ghahramani show that training a network with dropout after every weight layer and
# L2 weight decay minimises the KL divergence between a Bernoulli variational
# distribution and the posterior of a deep Gaussian process. In a nutshell
# (`docs/dropout-as-vi.md`, `docs/deep-gp-kl.md`, `docs/objective.md` do it properly):
#
# * each sampled weight matrix is `Ŵ_i = M_i · diag(z_i)`, `z_ij ~ Bernoulli(keep_i)`; the
#   variational parameters are the `M_i` (below, plain `W_i` is what the code stores);
# * the prior on each column of `M_i` is `N(0, I / l²)` (length-scale `l`); the KL term
#   of the mixture-of-spikes `q` against it is, up to constants,
#   `Σ_i (keep_i · l² / 2) ‖M_i‖²  +  Σ_i (l² / 2) ‖m_i‖²` (biases `m_i`);
# * the expected log-likelihood is estimated with one mask per example; dividing the
#   whole objective by `N τ` (data size, model precision) gives the familiar form
#
# $$
# \begin{aligned}
# \mathcal{L} &= \frac{1}{|B|} \sum_{n \in B} \frac{-\log p(y_n \mid x_n, \hat\omega_n)}{\tau} \\
# &\quad + \sum_i \lambda_i \|W_i\|^2 + \sum_i \lambda_b \|b_i\|^2 .
# \end{aligned}
# $$
#
# The paper's decay is `λ_i = keep_i · l² / (2 N τ)` on the **non-inverted** `M_i`.
# tinybcnn uses inverted dropout (masks `z / keep`), which stores `W_i = keep_i · M_i`;
# the same penalty on the stored weights is then `λ_i = l² / (2 N τ keep_i)`.
#
# **Convention.** The paper's `p_i` is a *keep* probability. tinybcnn's `p` is the
# *drop* probability: `keep = 1 − p`.

# %%
import os
import sys
import tempfile
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinybcnn as tb
from tinybcnn import gradcheck
from tinybcnn.envflags import quick_mode
from tinybcnn.nn import Dense, Dropout, ReLU, Sequential
from tinybcnn.objective import (
    Objective,
    dropout_keep_per_layer,
    length_scale_from_weight_decay,
    weight_decay_from_prior,
)

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## The KL approximation, checked by Monte Carlo
#
# The step from the KL divergence to the weight decay is Prop. 1 of the paper
# (`docs/deep-gp-kl.md`): for a mixture `q = Σ_c π_c N(μ_c, σ² I)` in `R^D` and
# `p = N(0, I)`, for large `D`,
#
# `KL(q ‖ p) ≈ Σ_c π_c/2 (μ_cᵀμ_c + Dσ² − D − D log σ²) − H(π)`.
#
# The constant is `−D`: the `(D/2) log 2π` of the cross-entropy and of the entropy cancel.
# Estimate the KL directly, `E_q[log q(x) − log p(x)]`, with samples of `q` (`S` from each
# component, `log q` exact by log-sum-exp over both components), for one column of the
# Bernoulli family: `μ₁ = m` kept with probability `keep`, `μ₂ = 0`.

# %%
def kl_monte_carlo(means, weights, sigma, draws, seed):
    """MC estimate of KL(Σ_c π_c N(μ_c, σ² I) ‖ N(0, I)) and its standard error."""
    g = np.random.default_rng(seed)
    d = means.shape[1]
    estimate, var = 0.0, 0.0
    for mu_c, pi_c in zip(means, weights, strict=True):
        x = mu_c + sigma * g.standard_normal((draws, d))
        sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)                   # (S, C)
        log_comp = -sq / (2 * sigma**2) - d * np.log(sigma) - d / 2 * np.log(2 * np.pi)
        a = log_comp + np.log(weights)
        log_q = a.max(1) + np.log(np.exp(a - a.max(1, keepdims=True)).sum(1))
        log_p = -0.5 * (x * x).sum(1) - d / 2 * np.log(2 * np.pi)
        estimate += pi_c * (log_q - log_p).mean()
        var += pi_c**2 * (log_q - log_p).var(ddof=1) / draws
    return estimate, np.sqrt(var)


D, sigma, keep_kl = 200, 0.3, 0.5
m = rng.standard_normal(D)
means, weights = np.stack([m, np.zeros(D)]), np.array([keep_kl, 1 - keep_kl])
mc_kl, se = kl_monte_carlo(means, weights, sigma, draws=500 if QUICK else 5000, seed=0)
entropy_pi = -np.sum(weights * np.log(weights))
prop1 = sum(w / 2 * (mu @ mu + D * sigma**2 - D - D * np.log(sigma**2))
            for mu, w in zip(means, weights, strict=True)) - entropy_pi
printed = prop1 - D / 2 * np.log(2 * np.pi)          # with −D(1 + log 2π) instead of −D
print(f"Monte Carlo KL {mc_kl:.2f} ± {se:.2f}   Prop. 1 (−D) {prop1:.2f}   "
      f"with −D(1 + log 2π) {printed:.2f}")
assert abs(mc_kl - prop1) < 5 * se                   # the proposition, within the MC error
assert abs(mc_kl - printed) > 100 * se               # the misprinted constant is far off

# %% [markdown]
# ## Which dropout belongs to which weight layer
#
# Two readings of the same network (`docs/objective.md`, "Which dropout belongs to which
# weight layer"). **Output side** (the 2015 CNN paper, the default): the mask of layer `i`
# multiplies its *outputs* (the columns of `W_i`) and is the first dropout after it,
# before the next weight layer; pooling, ReLU and flattening in between do not change
# which units it drops. **Input side** (ICML 2016, `W_i = M_i diag(z_i)` over the layer's
# inputs): the mask of layer `i` is the dropout right before it, with only ReLU or
# flattening in between. `dropout_keep_per_layer` reads either off the model.

# %%
lenet_all = tb.models.lenet("all", p=0.5)
lenet_ip = tb.models.lenet("ip", p=0.5)
print(lenet_all)
print("lenet-all keep:", dropout_keep_per_layer(lenet_all))
print("lenet-ip  keep:", dropout_keep_per_layer(lenet_ip))
assert dropout_keep_per_layer(lenet_all) == {"conv1": 0.5, "conv2": 0.5, "ip1": 0.5, "ip2": 1.0}
assert dropout_keep_per_layer(lenet_ip) == {"conv1": 1.0, "conv2": 1.0, "ip1": 0.5, "ip2": 1.0}
print("lenet-all keep, input side:", dropout_keep_per_layer(lenet_all, mask_side="input"))
assert dropout_keep_per_layer(lenet_all, mask_side="input") == {
    "conv1": 1.0, "conv2": 1.0, "ip1": 1.0, "ip2": 0.5}

# %% [markdown]
# Under the input-side reading `drop1` and `drop2` of lenet-all mask no layer's inputs:
# max pooling stands between them and `conv2` / `ip1`, and `max(a ⊙ z)` is not a mask on
# `max(a)`. Only `drop3` counts, for `ip2`. That is why the CNN paper (and tinybcnn's
# default, `Objective.for_model(..., mask_side="output")`) reads masks on the output side.
# For an MLP both readings model every dropout; they move the `1/keep` one layer down.

# %% [markdown]
# Edge cases, and what the code does with them: a dropout on the network's *input*
# belongs to no weight layer on the output side (it is input noise) and to the first
# layer on the input side; a second dropout on the same units multiplies (two inverted
# masks are one Bernoulli(keep₁·keep₂) mask: 0.7 · 0.4 = 0.28 here), and a dropout with
# `p = 0` is no dropout.

# %%
odd = Sequential([("drop0", Dropout(0.2)), ("ip1", Dense(4, 8, seed=0)), ("zero", Dropout(0.0)),
                  ("relu", ReLU()), ("dropA", Dropout(0.3)), ("dropB", Dropout(0.6)),
                  ("ip2", Dense(8, 2, seed=1))])
print("edge cases:", dropout_keep_per_layer(odd))
assert np.isclose(dropout_keep_per_layer(odd)["ip1"], 0.7 * 0.4)
assert np.isclose(dropout_keep_per_layer(odd, mask_side="input")["ip2"], 0.7 * 0.4)

# %% [markdown]
# ## The decays, with numbers
#
# The paper's MNIST LeNet: `N = 60 000` training images, `τ = 1`, and we pick the
# length-scale `l` that reproduces Caffe's `weight_decay = 5·10⁻⁴` on the layers with
# dropout `p = 0.5`: `weight_decay = 2 λ = l² / (N τ keep)`, so `l = sqrt(wd · N · τ · keep)`.

# %%
N, tau, wd, p = 60_000, 1.0, 5e-4, 0.5
ell = length_scale_from_weight_decay(wd, p=p, n_train=N, tau=tau)
print(f"l = sqrt({wd} · {N} · {tau} · {1 - p}) = {ell:.4f}")
assert np.isclose(ell, np.sqrt(wd * N * tau * (1 - p)))
assert np.isclose(weight_decay_from_prior(ell, p=p, n_train=N, tau=tau), wd)

obj = Objective.for_model(lenet_all, n_train=N, length_scale=ell, tau=tau)
print(f"{'parameter':10s} {'keep':>5s} {'λ (code)':>10s} {'formula':>10s}")
for name, lam in obj.decay.items():
    layer, _, kind = name.partition(".")
    keep = obj.keep[layer] if kind == "W" else 1.0
    formula = ell**2 / (2 * N * tau * keep)              # λ_i = l²/(2Nτ keep_i); biases keep = 1
    print(f"{name:10s} {keep:5.2f} {lam:10.3e} {formula:10.3e}")
    assert np.isclose(lam, formula, rtol=1e-12)

# %% [markdown]
# With these numbers the kernels of the dropped layers get exactly Caffe's
# `weight_decay / 2 = 2.5·10⁻⁴`; `ip2` (no dropout after it) and every bias get half that.
# A Caffe solver reproduces it with a per-parameter `decay_mult`: `Objective.weight_decays()`
# gives `weight_decay · decay_mult` for each parameter.

# %%
print({k: f"{v:.1e}" for k, v in obj.weight_decays().items()})
assert np.isclose(obj.decay["conv1.W"], wd / 2) and np.isclose(obj.decay["ip2.W"], wd / 4)

# %% [markdown]
# The other way round: a plain Caffe `weight_decay` on every parameter *implies* a
# length-scale per layer, `l_i = sqrt(wd · N · τ · keep_i)` — the same `l` only if every
# layer has the same keep probability.

# %%
caffe = Objective.for_model(lenet_all, n_train=N, weight_decay=wd)
implied = caffe.implied_length_scales()
print({k: round(v, 4) for k, v in implied.items()})
assert np.isclose(implied["conv1"], ell) and np.isclose(implied["ip2"], np.sqrt(wd * N * tau))

# %% [markdown]
# ## Why `1/keep`: inverted vs non-inverted dropout
#
# A non-inverted layer computes `(x · M) ⊙ z` with `z ∈ {0, 1}` and at test time scales by
# `keep`; an inverted one computes `(x · W) ⊙ z / keep` and needs no test-time scaling.
# They are the same function when `W = keep · M`. The paper's penalty on `M` is then a
# penalty on `W` with `1/keep` in place of `keep`:
#
# `keep · l²/(2Nτ) · ‖M‖² = keep · l²/(2Nτ) · ‖W / keep‖² = l²/(2Nτ keep) · ‖W‖²`.

# %%
keep = 0.5
M = rng.standard_normal((6, 3))
W = keep * M                                             # the stored, inverted-dropout weights
xx = rng.standard_normal((5, 6))
z = (rng.random((5, 3)) < keep).astype(float)
assert np.allclose((xx @ M) * z, (xx @ W) * (z / keep))  # same stochastic function
paper = keep * ell**2 / (2 * N * tau) * np.sum(M**2)
ours = ell**2 / (2 * N * tau * keep) * np.sum(W**2)
print(f"paper's penalty on M: {paper:.6e}   inverted penalty on W: {ours:.6e}")
assert np.isclose(paper, ours)

# %% [markdown]
# ## `τ` and `N`
#
# The decay falls as `1/N` — more data, less prior — and as `1/τ`. For classification
# `τ = 1`; the data term is divided by `τ` along with everything else.

# %%
for n_ in (600, 6000, 60000):
    lam = Objective.for_model(lenet_all, n_train=n_, length_scale=ell).decay["conv1.W"]
    print(f"N = {n_:6d}: λ_conv1 = {lam:.2e}")
obj_t2 = Objective.for_model(lenet_all, n_train=N, length_scale=ell, tau=2.0)
assert np.isclose(obj_t2.decay["conv1.W"], obj.decay["conv1.W"] / 2)

# %% [markdown]
# ## The objective and its gradient
#
# `Objective.__call__` runs the model forward (with fresh or injected masks), adds the
# decay, and fills `model.grads` with the gradient of the whole thing. On a small float64
# LeNet with injected masks the value equals data term plus penalty computed by hand, and
# the gradient passes a finite-difference check.

# %%
small = tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, seed=0, dtype=np.float64)
xs = rng.standard_normal((4, 1, 16, 16))
ys = np.array([0, 1, 2, 1])
o = Objective.for_model(small, n_train=100, length_scale=2.0)
small.forward(xs, rng=np.random.default_rng(3))                      # draw masks once ...
masks = {n: small.layers[n].mask for n in small.dropout_layers()}   # ... and keep them

value = o(small, xs, ys, masks=masks)
logits = small.forward(xs, masks=masks)
logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
by_hand = -logp[np.arange(4), ys].mean() / o.tau + sum(
    o.decay[k] * np.sum(v**2) for k, v in small.params.items())
print(f"objective: {value:.10f}, by hand: {by_hand:.10f}")
assert np.isclose(value, by_hand, rtol=1e-12)

grads = {k: v.copy() for k, v in small.grads.items()}
for name in ("conv1.W", "ip1.b") if QUICK else tuple(small.params):
    theta0 = small.params[name].copy()

    def f(theta, name=name):
        small.load_params({name: theta})
        return np.asarray(o(small, xs, ys, masks=masks))

    err = gradcheck.assert_directional(f, lambda th, d, name=name: grads[name] * d, theta0,
                                       rng=rng, dy=np.ones(()), n_dirs=3, name=name)
    small.load_params({name: theta0})
    print(f"d objective / d {name}: relative error {err:.1e}")

# %% [markdown]
# ## Picture: decay per parameter

# %%
variants = {"lenet-all, prior l": obj,
            "lenet-ip, prior l": Objective.for_model(lenet_ip, n_train=N, length_scale=ell),
            "Caffe wd = 5e-4": caffe}
names = list(obj.decay)
fig, ax = plt.subplots(figsize=(9, 3.2))
for k, (label, ob) in enumerate(variants.items()):
    ax.bar(np.arange(len(names)) + 0.27 * (k - 1), [ob.decay[n] for n in names], width=0.27,
           label=label)
ax.set_xticks(range(len(names)), names, rotation=30)
ax.set(ylabel="λ (coefficient of ‖θ‖²)", title=f"Decay per parameter, N = {N}, τ = {tau}")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))   # beside the bars, not on ip2
fig.tight_layout()
fig.savefig(OUT / "05_objective.png", dpi=100)
print("saved", OUT / "05_objective.png")

# %% [markdown]
# ## Checks

# %%
assert np.isclose(obj.decay["conv1.W"], ell**2 / (2 * N * tau * 0.5))   # λ_i = l²/(2Nτ keep_i)
assert np.isclose(obj.decay["conv1.b"], ell**2 / (2 * N * tau))         # λ_b = l²/(2Nτ)
assert np.isclose(paper, ours)                                  # keep·l²‖M‖² = l²‖W‖²/keep
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You checked the KL approximation (Prop. 1) by Monte Carlo, then turned `(l, p, N, τ)` into
# each layer's weight decay: `λ = l²/(2Nτ·keep)` for inverted masks, which is the paper's
# `keep·l²/(2Nτ)` rewritten for the stored weights (docs/deep-gp-kl.md, docs/objective.md).

# %% [markdown]
# ## Exercises
#
# 1. **λ at p = 0.2.** Write `kernel_decay(p, length_scale, n_train, tau)`: the decay λ
#    of a kernel whose layer has inverted dropout of *drop* probability `p` credited to
#    it. (At `p = 0.2`, `l = 1.5`, `N = 1000`, `τ = 1` it is about `1.41·10⁻³`.)
# 2. **The input-side reading.** Write `input_side_keep(model)`: for each weight layer
#    (`Conv2D` or `Dense`) of a `Sequential`, the keep probability of the first dropout with
#    `p > 0` that sits before it with only `ReLU`, `Flatten` or other dropouts in
#    between; 1.0 if there is none (`docs/objective.md`, "Which dropout belongs to which
#    weight layer").
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/05_objective.py`;
# try first.

# %% Exercises: your answers
def kernel_decay(p, length_scale, n_train, tau=1.0):
    """λ of a kernel under inverted dropout with drop probability p."""
    raise NotImplementedError("exercise 1")


def input_side_keep(model):
    """{weight-layer name: keep of the dropout on its inputs}."""
    raise NotImplementedError("exercise 2")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    from tinybcnn.models import mlp
    from tinybcnn.objective import Objective

    keep, l, n = 0.8, 1.5, 1000
    got = kernel_decay(0.2, l, n)
    right = l**2 / (2 * n * keep)
    # the common wrong answers first, each with what it gets wrong
    assert not np.isclose(got, keep * l**2 / (2 * n)), (
        "that is the paper's keep·l²/(2Nτ), right for its non-inverted masks M·diag(z). "
        "tinybcnn's masks are inverted (z / keep), so the stored weights are W = keep·M and "
        "keep·l²/(2Nτ)·‖W/keep‖² = l²/(2Nτ·keep)·‖W‖²: divide by keep "
        "(docs/objective.md, 'Inverted dropout: the 1/keep')")
    assert not np.isclose(got, l**2 / (2 * n * 0.2)), (
        "you divided by p = 0.2, the *drop* probability; divide by keep = 1 − p = 0.8")
    assert not np.isclose(got, l**2 / (2 * n)), (
        "that is the bias decay l²/(2Nτ), with no dropout in it; a kernel's decay has the "
        "1/keep of the dropout credited to its layer")
    assert np.isclose(got, right), (
        f"at p = 0.2, l = 1.5, N = 1000, τ = 1: expected {right:.4g}, got {got!r}")
    with_tau = kernel_decay(0.2, l, n, tau=2.0)
    assert not np.isclose(with_tau, got), (
        "τ is ignored: τ divides the whole objective, so λ ∝ 1/τ")
    assert not np.isclose(with_tau, 2 * got), "λ ∝ 1/τ, not τ: a larger τ (less noise) decays less"
    net = mlp((4, 8, 2), p=0.2)
    obj = Objective.for_model(net, n_train=n, length_scale=l, tau=2.0)
    assert np.isclose(with_tau, obj.decay["ip1.W"]), f"expected {obj.decay['ip1.W']:.4g} at τ = 2"
    assert np.isclose(kernel_decay(0.0, l, n, tau=2.0), obj.decay["ip2.W"]), (
        "at p = 0 (keep 1) the decay is l²/(2Nτ)")


def check_2():
    from tinybcnn.models import lenet, mlp
    from tinybcnn.nn import Dense, Dropout, ReLU, Sequential
    from tinybcnn.objective import dropout_keep_per_layer

    odd = Sequential([("d0", Dropout(0.2)), ("ip1", Dense(4, 8, seed=0)), ("relu", ReLU()),
                      ("dz", Dropout(0.0)), ("dA", Dropout(0.3)), ("dB", Dropout(0.6)),
                      ("ip2", Dense(8, 2, seed=1))])
    for model in (lenet("all", p=0.5), lenet("ip", p=0.3), mlp((3, 5, 5, 1), p=0.4), odd):
        mine, right = input_side_keep(model), dropout_keep_per_layer(model, mask_side="input")
        assert isinstance(mine, dict) and set(mine) == set(right), (
            f"expected a dict with one entry per weight layer, {sorted(right)}; got {mine!r}")
        assert mine != dropout_keep_per_layer(model), (
            "that is the output-side reading (the dropout after each layer); this exercise asks "
            "for the dropout on the layer's *inputs*, before it")
        for name in right:
            if np.isclose(mine[name], right[name]):
                continue
            if model is odd and np.isclose(mine[name], 1.0):
                why = ("a Dropout(0.0) drops nothing: skip dropouts with p = 0 and keep looking "
                       "(here dA and dB)")
            elif model is odd and (np.isclose(mine[name], 0.4) or np.isclose(mine[name], 0.7)):
                why = ("two dropouts in a row (dA, keep 0.7; dB, keep 0.4): their inverted masks "
                       "are one Bernoulli(0.7 · 0.4) mask, so multiply the keeps")
            elif name in ("conv2", "ip1") and np.isclose(mine[name], 0.5):
                why = ("a pooling layer sits between that dropout and this layer: after pooling "
                       "the mask is no longer on the layer's inputs, so the keep is 1.0")
            else:
                why = f"expected keep {right[name]}"
            raise AssertionError(f"layer {name!r}: got {mine[name]}; {why}")

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2)
