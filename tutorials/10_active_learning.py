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
# # 10 · Bayesian active learning with BALD
#
# *Full mode (no options): 2 min 38 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# Labels are expensive. Active learning lets the model choose which images to label next,
# and a Bayesian CNN can choose well because it knows *why* it is unsure (Gal, Islam &
# Ghahramani, ICML 2017). Each round: train on the labelled set, score unlabelled images
# with an *acquisition function*, label the top few, repeat.
#
# Every acquisition function here is a small function of the MC-dropout sample
# probabilities `p[t, n, k]`, shape `(T, N, K)`. We derive BALD as an information gain,
# compute all of them by hand, check the library against the hand computations, and run a
# few rounds. Derivation: `docs/uncertainty-at-work.md`.

# %%
import os
import sys
import tempfile
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import numpy as np

import tinybcnn as tb
from tinybcnn.data import as_float, load_dataset
from tinybcnn.envflags import quick_mode
from tinybcnn.experiments import active_learning as al
from tinybcnn.experiments import figures

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## BALD: the information an image's label would give about the weights
#
# Which label would teach us most about the weights `ω`? The expected reduction in the
# entropy of the posterior, `I[y; ω | x, D] = H[ω | D] − E_y H[ω | y, x, D]`. Mutual
# information is symmetric, so the same number is
#
# `I[y; ω | x, D] = H[y | x, D] − E_{ω ~ p(ω|D)} H[y | x, ω]`,
#
# which needs only predictive distributions, not entropies over weights. With MC dropout
# the posterior samples are the `T` mask draws $\hat\omega_t$, so
#
# `BALD(x) = H[p̄] − (1/T) Σ_t H[p_t]`,  `p̄ = (1/T) Σ_t p_t`.
#
# The first term is large when the *average* prediction is unsure; the second is the
# average unsureness of each single pass. BALD is large when the passes are each confident
# but disagree: uncertainty about the weights, which a label can resolve, and not noise in
# the data, which it cannot.
#
# ## By hand on three images
#
# `T = 4` passes, `K = 3` classes. Image 0: every pass says "class 0". Image 1: every pass
# says "I don't know" (uniform). Image 2: the passes are sure, but of different classes.

# %%
P = np.array([
    [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]],
    [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]],
    [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 1.0]],
    [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]],
])                                                                   # (T, N, K) = (4, 3, 3)
T, N, K = P.shape


def H(p):
    """Entropy in nats of the distributions along the last axis (0 log 0 = 0)."""
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=-1)


p_mean = P.mean(axis=0)                                              # (N, K)
by_hand = {
    "max_entropy": H(p_mean),
    "bald": H(p_mean) - H(P).mean(axis=0),
    # modal class count among the T argmax votes
    "variation_ratio": 1 - np.array([np.bincount(P[:, n].argmax(1), minlength=K).max()
                                     for n in range(N)]) / T,
    "mean_std": np.sqrt((P**2).mean(axis=0) - p_mean**2).mean(axis=1),
}
for name, v in by_hand.items():
    print(f"{name:16s}", np.round(v, 3) + 0.0)   # + 0.0 turns -0.0 into 0.0

# %% [markdown]
# Image 1 has the highest entropy (`log 3`) but BALD 0: every pass agrees that it cannot
# tell, so a label would not change the weights' story. Image 2 has a lower predictive
# entropy but the highest BALD: the passes contradict each other. Max entropy cannot tell
# these two kinds of "unsure" apart; BALD can. The library's functions give the same numbers:

# %%
for name, v in by_hand.items():
    assert np.allclose(getattr(al, name)(P), v), name
assert np.isclose(by_hand["bald"][1], 0) and by_hand["bald"].argmax() == 2
assert by_hand["max_entropy"].argmax() == 1

# %% [markdown]
# `bald_standard`, the non-Bayesian control, scores with the single deterministic pass of
# standard dropout, `T = 1`: then `H[p̄] = H[p_1]` and BALD is exactly zero for every image,
# so it labels whatever comes first in the (random) scored subset. Whatever BALD gains over
# it comes from the spread of the MC passes.

# %%
assert np.all(al.bald(P[:1]) == 0)

# %% [markdown]
# ## On real images
#
# A lenet-all trained on 20 labelled images (two per class) of the embedded Fashion-MNIST
# subset scores a random part of the pool with `T` MC passes.

# %%
data = load_dataset("embedded", progress=False)
# full mode: the experiment's networks and T, with 4 rounds (to 60 labels), 500 pool images
# scored a round and a 1,000-image test subset, so that it runs within 3 minutes on 2 cores
# (8 rounds took 4 min 25 s); docs/results.md runs 25 rounds on 1,000 and 2,000 images, 3 seeds
settings = al.QUICK if QUICK else al.replace(al.FULL, rounds=4, pool_subset=500, test_size=1000)
settings = al.replace(settings, acquisitions=("random", "bald"), seeds=1)
labelled = al.stratified_indices(data.y_train, settings.initial, 0)
model = al.train_model(as_float(data.x_train[labelled]), data.y_train[labelled], 10, settings)
pool = as_float(data.x_train[np.random.default_rng(0).choice(len(data.y_train),
                                                              settings.pool_subset, False)])
probs = tb.predict.mc_predict(model, pool, samples=settings.samples, seed=0,
                              return_samples=True).sample_probs           # (T, M, K)
scores = {name: getattr(al, name)(probs) for name in by_hand}
for name, s in scores.items():
    top = np.argsort(-s, kind="stable")[:settings.per_round]
    print(f"{name:16s} mean score {s.mean():.3f}, of its top {settings.per_round}: "
          f"{s[top].mean():.3f}; BALD of those {scores['bald'][top].mean():.3f}")
figures.active_learning_picks(
    {name: pool[np.argsort(-s, kind="stable")[:settings.per_round]]
     for name, s in scores.items()}, path=OUT / "10_picks.png")

# %% [markdown]
# ## A few rounds
#
# Each round trains from scratch, measures the MC test error, and labels the top
# `per_round` images of a fresh random pool subset. Both acquisitions start from the same
# labelled set and score the same subsets; only their choices differ. (In quick mode the
# networks are trained for a few dozen steps: the curves are noisy. In full mode one seed's
# 4 rounds still vary from run to run by a few points; `docs/results.md` reports 25 rounds
# on 3 seeds, where BALD reaches 30% error with about 90 labels and random with about 120.)

# %%
curves = {}
for name in settings.acquisitions:
    run = al.active_learning(data, name, settings, seed=0)
    curves[name] = {"labels": run["labels"], "error": [run["error"]]}
    print(f"{name:8s}", "  ".join(f"{n}: {e:.3f}" for n, e in zip(run["labels"], run["error"],
                                                                   strict=True)))
figures.active_learning_curves(curves, path=OUT / "10_curves.png")

# %% [markdown]
# ## Checks

# %%
assert np.all(scores["bald"] >= -1e-12)                                   # MI ≥ 0 ...
assert np.all(scores["bald"] <= scores["max_entropy"] + 1e-12)            # ... ≤ H[p̄]
# the real images have 10 classes, not the toy example's K = 3: the modal vote among T
# passes is at least ceil(T / 10), so the vote-count variation ratio is at most 1 - that / T
K_real = probs.shape[-1]
assert K_real == 10
assert np.all(scores["variation_ratio"] <= 1 - np.ceil(settings.samples / K_real)
              / settings.samples + 1e-12)
assert curves["random"]["labels"] == curves["bald"]["labels"] == [
    settings.initial + r * settings.per_round for r in range(settings.rounds + 1)]
assert curves["random"]["error"][0][0] == curves["bald"]["error"][0][0]   # same start
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You computed every acquisition function from the `(T, N, K)` pass probabilities: BALD
# separates "the passes disagree" (a label helps) from "every pass is unsure" (it does not),
# which max entropy cannot, and the experiment labels by it round after round.

# %% [markdown]
# ## Exercises
#
# 1. **The other variation ratio.** The experiment's `variation_ratio` is the vote count
#    `1 − f_mode / T` (Freeman's, as in Gal's thesis). The active-learning paper's is
#    `1 − max_y p̄_y`. Write `variation_ratio_mean(P)` for `P` of shape `(T, N, K)`: that
#    second statistic, per input (`docs/uncertainty-at-work.md`).
# 2. **Pick the top k.** Write `top_k(scores, k)`: the indices of the `k` highest scores,
#    highest first, a tie going to the earlier index, as the experiment labels them.
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/10_active_learning.py`; try first.

# %% Exercises: your answers
def variation_ratio_mean(P):
    """1 − max_y mean_t P[t, :, y], shape (N,)."""
    raise NotImplementedError("exercise 1")


def top_k(scores, k):
    """Indices of the k highest scores, highest first, ties to the earlier index."""
    raise NotImplementedError("exercise 2")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    # passes that are not one-hot: here the two variation ratios differ
    P = np.empty((4, 2, 2))
    P[:, 0] = [0.6, 0.4]                                    # every pass votes for class 0
    P[:, 1] = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    got = np.asarray(variation_ratio_mean(P), dtype=float)
    assert got.shape == (2,), f"one value per input, shape (2,), got {got.shape}"
    assert not np.allclose(got, [0.0, 0.5]), (
        "that is the vote count 1 − f_mode / T, the experiment's variation_ratio; this one "
        "averages the probabilities first: every pass (0.6, 0.4) gives 1 − 0.6 = 0.4, not 0")
    assert not np.allclose(got, 1 - P.max(-1).mean(0)), (
        "the mean of each pass's max is not the max of the mean: average over passes first")
    assert np.allclose(got, [0.4, 0.4]), "expected 1 − max_y p̄_y: [0.4, 0.4]"


def check_2():
    s = np.array([0.2, 0.9, 0.5, 0.9, 0.1, 0.5])
    got = [int(i) for i in np.asarray(top_k(s, 3))]
    assert len(got) == 3, f"k = 3 indices, got {got}"
    assert got != [5, 1, 3], "argsort sorts ascending: the highest score comes first here"
    assert got != [3, 1, 5], (
        "argsort sorts ascending; reversing it puts the *later* of two tied scores first. "
        "Sort −scores with kind='stable' instead")
    assert got == [1, 3, 2], f"expected [1, 3, 2] (0.9 at 1 and 3, then 0.5 at 2), got {got}"

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2)
