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
# # 11 · MC dropout and its rivals: deep ensembles, Concrete dropout, temperature scaling
#
# *Full mode (no options): 3 min 0 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# MC dropout is one way to get uncertainty out of a network. Practitioners also use a
# **deep ensemble** (Lakshminarayanan et al. 2017: $K$ networks from $K$ seeds, averaged),
# **Concrete dropout** (Gal, Hron & Kendall 2017: the drop probability $p$ learnt per layer)
# and, for calibration alone, **temperature scaling** (Guo et al. 2017: one scalar $T$
# fitted on held-out data). This tutorial trains all of them on the same images, scores them
# with the same functions, computes the ensemble's mutual information by hand, and opens up
# the Concrete mask and its gradient. Derivations: `docs/concrete-dropout.md`,
# `docs/mc-prediction.md`; the critique of all of them: `docs/critique.md`.

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
from tinybcnn import metrics
from tinybcnn.calibration import apply_temperature_probs, fit_temperature_probs
from tinybcnn.concrete import ConcreteObjective, concrete_lenet
from tinybcnn.data import as_float, load_dataset
from tinybcnn.ensemble_training import lenet_trainer, train_ensemble
from tinybcnn.ensembles import ensemble_predict
from tinybcnn.envflags import quick_mode
from tinybcnn.functional.concrete_dropout import concrete_dropout_forward, logit

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)
# full mode: results section 9's data sizes, with 300 steps per network (not 1,000) and K = 3
# members (not 5), so that it runs within 3 minutes on 2 cores (seven networks of 1,000
# steps took over 7 minutes)
N_TRAIN, N_VAL, N_TEST = (300, 200, 300) if QUICK else (2000, 500, 1000)
ITERATIONS, BATCH = (60, 32) if QUICK else (300, 64)
K, T = (3, 10) if QUICK else (3, 50)

# %% [markdown]
# ## The same images for everyone
#
# A training set, a validation split held out from training (only temperature scaling
# looks at it), a test set, and an out-of-distribution set: the test images with their
# intensities inverted, dark objects on a light ground, which no network has seen.

# %%
data = load_dataset("embedded")
small = data.subset(N_TRAIN + N_VAL, N_TEST, seed=0)
order = np.random.default_rng(0).permutation(N_TRAIN + N_VAL)
x_tr, y_tr = as_float(small.x_train[order[:N_TRAIN]]), small.y_train[order[:N_TRAIN]]
x_val, y_val = as_float(small.x_train[order[N_TRAIN:]]), small.y_train[order[N_TRAIN:]]
x_test, y_test = as_float(small.x_test), small.y_test
x_ood = as_float(255 - small.x_test)
print(f"train {len(y_tr)}, validation {len(y_val)}, test {len(y_test)}, OOD {len(x_ood)}")

# %% [markdown]
# ## Three ways to train
#
# Every network gets the same solver (SGD with momentum, Caffe's `inv` schedule) and the
# same number of iterations. The fixed-$p$ lenet-all is one network; the ensemble is $K$ of
# them from $K$ seeds (`train_ensemble`: the seed decides the initial weights and the order
# of the minibatches); the Concrete network holds $p$'s logit as a parameter and its
# objective adds the entropy of $p$ to the weight term.

# %%
mc_net = lenet_trainer(seed=0, n_train=N_TRAIN)
mc_net.fit(x_tr, y_tr, iterations=ITERATIONS, batch_size=BATCH, mc_samples=0, progress=False)
members = [t.model for t in train_ensemble(x_tr, y_tr, members=K, seed=0,
                                           iterations=ITERATIONS, batch_size=BATCH,
                                           mc_samples=0)]
concrete = concrete_lenet("all", p=0.1, seed=0)
# the length-scale at which the weight term equals the others' decay 5e-4 at p = 0.5
length = float(np.sqrt(5e-4 * N_TRAIN * 0.5))
objective = ConcreteObjective.for_model(concrete, n_train=N_TRAIN, length_scale=length)
optimizer = tb.optim.SGD(concrete, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
tb.train.Trainer(concrete, objective, optimizer, seed=0).fit(
    x_tr, y_tr, iterations=ITERATIONS, batch_size=BATCH, mc_samples=0, progress=False)
print("Concrete dropout learnt p =",
      {k: round(v, 3) for k, v in concrete.learnt_p().items()}, "(from 0.1)")

# %% [markdown]
# ## Scored by the same functions
#
# Each method returns a `Prediction`: the mean probabilities $\bar p$, the predictive
# entropy $\mathcal{H}[\bar p]$, the mutual information and the variation ratio. For MC
# dropout the samples are $T$ passes; for the deep ensemble the $K$ members' deterministic
# passes; for the MC-dropout ensemble $K \times T$ passes.

# %%
methods = {
    "standard": lambda x: tb.predict.standard_predict(mc_net.model, x),
    f"MC dropout (T={T})": lambda x: tb.predict.mc_predict(mc_net.model, x, samples=T, seed=0),
    f"Concrete (T={T})": lambda x: tb.predict.mc_predict(concrete, x, samples=T, seed=0),
    f"deep ensemble (K={K})": lambda x: ensemble_predict(members, x),
    f"MC ensemble (K={K}, T={max(1, T // K)})": lambda x: ensemble_predict(
        members, x, samples=max(1, T // K), seed=0),
}
preds = {name: (f(x_test), f(x_ood)) for name, f in methods.items()}
print(f"{'method':28s} {'error':>6s} {'NLL':>6s} {'ECE':>6s} {'MI test':>8s} {'MI OOD':>7s}")
for name, (p_in, p_out) in preds.items():
    print(f"{name:28s} {metrics.error(p_in.probs, y_test):6.3f} "
          f"{metrics.nll(p_in.probs, y_test):6.3f} {metrics.ece(p_in.probs, y_test).ece:6.3f} "
          f"{p_in.mutual_info.mean():8.4f} {p_out.mutual_info.mean():7.4f}")

# %% [markdown]
# One deterministic pass has no mutual information (every "sample" is the same), so
# standard dropout cannot tell the inverted images apart by MI. Every other method has a
# spread; whether it is larger on the inverted images than on the test images is the
# question an OOD detector asks.

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
names = [n for n in preds if n != "standard"]
ax.bar(np.arange(len(names)) - 0.2, [preds[n][0].mutual_info.mean() for n in names], 0.4,
       label="test images")
ax.bar(np.arange(len(names)) + 0.2, [preds[n][1].mutual_info.mean() for n in names], 0.4,
       label="inverted (OOD)")
ax.set_xticks(np.arange(len(names)))
ax.set_xticklabels(names, fontsize=7, rotation=15)
ax.set_ylabel("mean mutual information (nats)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "11_mutual_info.png", dpi=110)

# %% [markdown]
# ## The ensemble's mutual information, by hand
#
# With the members' softmax outputs $p_k$ stacked as $(K, N, C)$,
# $\mathrm{MI} = \mathcal{H}[\tfrac1K\sum_k p_k] - \tfrac1K\sum_k \mathcal{H}[p_k]$: the
# entropy of the average minus the average entropy. It is zero when the members agree and
# grows with their disagreement (exercise 1 writes it).

# %%
P = np.stack([tb.predict.standard_predict(m, x_test).probs for m in members])  # (K, N, C)
H = tb.predict.entropy
by_hand = H(P.mean(0)) - H(P).mean(0)
print("by hand:", by_hand[:4].round(4), " ensemble_predict:",
      preds[f"deep ensemble (K={K})"][0].mutual_info[:4].round(4))

# %% [markdown]
# ## Temperature scaling: one number against the Bayesian machinery
#
# Fit $T$ on the validation split (never on the test set) by minimising the NLL of
# $\bar p^{1/T}$; apply it to the test predictions. It changes no predicted class, only the
# confidence. Does MC dropout's NLL advantage over standard dropout survive it?

# %%
for name in ("standard", f"MC dropout (T={T})"):
    temp = fit_temperature_probs(methods[name](x_val).probs, y_val)
    before = preds[name][0].probs
    after = apply_temperature_probs(before, temp)
    print(f"{name:22s} T = {temp:5.2f}: NLL {metrics.nll(before, y_test):.3f} -> "
          f"{metrics.nll(after, y_test):.3f}, ECE {metrics.ece(before, y_test).ece:.3f} -> "
          f"{metrics.ece(after, y_test).ece:.3f}")

# %% [markdown]
# ## Inside the Concrete mask
#
# The drop indicator $z \sim \mathrm{Bernoulli}(p)$ has no gradient in $p$. Its relaxation,
# $\tilde z = \sigma\big((\operatorname{logit} p + \log u - \log(1-u))/t\big)$ with
# $u \sim U(0, 1)$, does; the inverted mask is $(1 - \tilde z)/(1 - p)$. At temperature
# $t = 0.1$ most masks are nearly 0 or $1/(1-p)$, and the fraction dropped is about $p$.
# The mean mask is 1 only in the limit $t \to 0$ (the hard Bernoulli mask); at $t = 1$ the
# relaxed mask is a blur, and its mean is visibly below 1.

# %%
u = np.random.default_rng(1).uniform(size=100_000)
for t in (1.0, 0.1):
    _, cache = concrete_dropout_forward(np.ones_like(u), logit(0.3), noise=u, temperature=t)
    z = cache["drop"]
    print(f"t = {t}: mean mask {cache['mask'].mean():.4f}, fraction with z̃ > 0.5 "
          f"{(z > 0.5).mean():.4f}, fraction within 0.05 of 0 or 1 "
          f"{((z < 0.05) | (z > 0.95)).mean():.3f}")

# %% [markdown]
# ## Checks

# %%
for p_in, p_out in preds.values():
    for pred in (p_in, p_out):
        assert np.allclose(pred.probs.sum(1), 1)
        assert np.all(pred.mutual_info >= -1e-9)                            # 0 ≤ MI ...
        assert np.all(pred.mutual_info <= pred.entropy + 1e-9)              # ... ≤ H[p̄]
assert np.all(preds["standard"][0].mutual_info == 0)                        # one pass: no spread
assert np.allclose(by_hand, preds[f"deep ensemble (K={K})"][0].mutual_info)  # MI by hand
assert all(0 < p < 1 and abs(p - 0.1) > 1e-4 for p in concrete.learnt_p().values())  # p moved
val_probs = methods["standard"](x_val).probs
temp = fit_temperature_probs(val_probs, y_val)
assert np.array_equal(apply_temperature_probs(val_probs, temp).argmax(1), val_probs.argmax(1))
assert (metrics.nll(apply_temperature_probs(val_probs, temp), y_val)
        <= metrics.nll(val_probs, y_val) + 1e-12)                           # T* fits the split
assert abs(cache["mask"].mean() - 1) < 0.01 and abs((z > 0.5).mean() - 0.3) < 0.01  # t = 0.1
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You trained a fixed-p network, an ensemble and a Concrete network on the same images and
# scored them with the same functions; computed the members' MI by hand; fitted a
# temperature on held-out data; and opened the relaxed mask (docs/concrete-dropout.md,
# docs/critique.md).

# %% [markdown]
# ## Exercises
#
# 1. **The members' mutual information.** Write `members_mutual_info(P)` for the members'
#    probabilities `P` of shape `(K, N, C)`: `H[mean_k p_k] − mean_k H[p_k]` per input, in
#    nats (`0 log 0 = 0`).
# 2. **The Concrete mask.** Write `concrete_mask(u, p, t)`: the inverted Concrete dropout
#    mask `(1 − z̃) / (1 − p)` for uniform draws `u`, drop probability `p` and temperature
#    `t`.
# 3. **Its gradient.** Write `concrete_mask_grad(u, p, t)`: the derivative of that mask with
#    respect to `a = logit p` (the parameter Concrete dropout learns), elementwise.
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/11_rivals.py`;
# try first.

# %% Exercises: your answers
def members_mutual_info(P):
    """H[mean_k p_k] − mean_k H[p_k], shape (N,)."""
    raise NotImplementedError("exercise 1")


def concrete_mask(u, p, t):
    """(1 − z̃) / (1 − p), z̃ = sigmoid((logit p + log u − log(1 − u)) / t)."""
    raise NotImplementedError("exercise 2")


def concrete_mask_grad(u, p, t):
    """d concrete_mask / d logit(p), elementwise."""
    raise NotImplementedError("exercise 3")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    # the check of tutorial 07's mutual information, with members in place of passes
    from tinybcnn.exercises import check_mutual_information

    check_mutual_information(members_mutual_info, draw="member", draws="members", index="k",
                             n_draws=4, n_classes=5, seed=11)


def check_2():
    from tinybcnn.functional.concrete_dropout import concrete_dropout_forward, logit

    u = np.random.default_rng(12).uniform(0.01, 0.99, size=200)
    for p, t in [(0.3, 0.1), (0.5, 1.0), (0.1, 0.5)]:
        _, cache = concrete_dropout_forward(np.ones(200), logit(p), noise=u, temperature=t)
        mine = np.asarray(concrete_mask(u, p, t), dtype=float)
        s = (np.log(p / (1 - p)) + np.log(u) - np.log1p(-u)) / t
        z = 1 / (1 + np.exp(-s))
        assert mine.shape == u.shape, f"one mask value per draw, shape {u.shape}, got {mine.shape}"
        assert not np.allclose(mine, 1 - z), (
            "not inverted: divide the kept fraction by 1 − p, so that the expected mask is 1 "
            "and the deterministic pass (no mask) is the average of the stochastic ones")
        assert not np.allclose(mine, z / (1 - p)), (
            "z̃ is the relaxed *drop* indicator (p is the drop probability): the mask keeps "
            "1 − z̃")
        assert np.allclose(mine, cache["mask"]), (
            f"at p = {p}, t = {t}: expected (1 − z̃)/(1 − p) with "
            "z̃ = sigmoid((logit p + log u − log(1 − u)) / t)")


def check_3():
    from tinybcnn.functional.concrete_dropout import concrete_dropout_forward

    u = np.random.default_rng(13).uniform(0.05, 0.95, size=50)
    p, t, h = 0.3, 0.5, 1e-6

    def mask_at(a):
        """The package's mask at logit a, in float64."""
        return concrete_dropout_forward(np.ones(50), a, noise=u, temperature=t)[1]["mask"]

    a = np.log(p / (1 - p))
    fd = (mask_at(a + h) - mask_at(a - h)) / (2 * h)        # central differences in float64
    mine = np.asarray(concrete_mask_grad(u, p, t), dtype=float)
    s = (a + np.log(u) - np.log1p(-u)) / t
    z = 1 / (1 + np.exp(-s))
    assert not np.allclose(mine, -z * (1 - z) / (t * (1 - p))), (
        "that is only the derivative through z̃: the factor 1/(1 − p) depends on a too "
        "(d/da 1/(1 − p) = p/(1 − p)); the whole derivative is mask · (p − z̃/t)")
    assert np.allclose(mine, fd, rtol=1e-5, atol=1e-7), (
        "does not match central finite differences of the mask in logit p: "
        "expected mask · (p − z̃/t)")

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2, check_3)
