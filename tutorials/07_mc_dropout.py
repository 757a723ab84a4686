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
# # 07 · MC dropout prediction and the uncertainty it gives
#
# *Full mode (no options): 1 min 7 s on AMD EPYC (2 CPUs), with tutorial 06's model in its output
# folder, measured 2026-12-07 by `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under
# a minute.*
#
# Under the variational reading of dropout, every pass with fresh Bernoulli masks is one
# sample $\hat\omega_t$ from the approximate posterior over the weights. The predictive
# distribution is their average,
#
# $$\bar p(y \mid x) = \frac{1}{T} \sum_{t=1}^{T} \mathrm{softmax}\big(f(x; \hat\omega_t)\big),$$
#
# and the spread of the `T` passes is the model's uncertainty about its weights. This
# tutorial looks at: how many samples `T` are needed; three uncertainty measures —
# predictive entropy `H[p̄]`, mutual information `H[p̄] − mean_t H[p_t]` and the variation
# ratio `1 − f_mode/T`; what happens to them as an image is rotated away from anything
# seen in training; and calibration. Derivation: `docs/mc-prediction.md`,
# `docs/metrics.md`.

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
from scipy.ndimage import rotate

import tinybcnn as tb
from tinybcnn import metrics
from tinybcnn.checkpoint import model_from_checkpoint
from tinybcnn.data import as_float, load_dataset
from tinybcnn.envflags import quick_mode

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)
TEST_SIZE = 300 if QUICK else 2000
T_MAX = 20 if QUICK else 100
rng = np.random.default_rng(0)

# %% [markdown]
# ## A trained lenet-all
#
# Tutorial 06 leaves its checkpoint in the output folder; if it is not there, train a
# small one here with the same recipe.

# %%
data = load_dataset("embedded")
ckpt = OUT / "06_lenet_all.npz"
if ckpt.exists():
    model, _ = model_from_checkpoint(ckpt)
    print("loaded", ckpt)
else:
    train = data.subset(1000 if QUICK else 2000, seed=0)
    model = tb.models.lenet("all", p=0.5, in_shape=data.image_shape, seed=0)
    objective = tb.objective.Objective.for_model(model, n_train=len(train.y_train),
                                                 weight_decay=5e-4)
    optimizer = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
    tb.train.Trainer(model, objective, optimizer, seed=0).fit(
        as_float(train.x_train), train.y_train, iterations=100 if QUICK else 1500,
        batch_size=32 if QUICK else 64, progress=not QUICK)
    print("trained a fresh model")

test = data.subset(test_size=TEST_SIZE, seed=1)
x_test, y_test = as_float(test.x_test), test.y_test

# %% [markdown]
# ## `T` stochastic passes
#
# `mc_predict` runs the deterministic layers before the first dropout once, then the `T`
# passes as one stacked batch. `return_samples=True` keeps the per-pass probabilities
# `p_t`, shape `(T, N, K)`, so we can recompute everything by hand.

# %%
std = tb.predict.standard_predict(model, x_test)
mc = tb.predict.mc_predict(model, x_test, samples=T_MAX, seed=0, return_samples=True,
                           std_error=True)
P = mc.sample_probs                                               # (T, N, K)
print("sample_probs", P.shape, " probs", mc.probs.shape)


def H(p):
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=-1)


p_bar = P.mean(0)
votes = np.stack([(P.argmax(-1) == k).sum(0) for k in range(P.shape[-1])], axis=1)
assert np.allclose(mc.probs, p_bar)
assert np.allclose(mc.entropy, H(p_bar))                          # predictive entropy H[p̄]
assert np.allclose(mc.mutual_info, H(p_bar) - H(P).mean(0))       # mutual information
assert np.allclose(mc.variation_ratio, 1 - votes.max(1) / T_MAX)  # variation ratio
assert np.allclose(mc.std_error, P.std(0, ddof=1) / np.sqrt(T_MAX))
print("Prediction fields == the formulas computed from the samples  ✓")

# %% [markdown]
# ## How many samples?
#
# The MC error of the first `t` passes, for growing `t`; the spread comes from reshuffling
# the order of the passes. The standard-dropout error is the dashed line. In the paper
# the MC error falls below it within a few tens of samples (after full training).

# %%
t_values = [t for t in (1, 2, 3, 5, 10, 20, 50, 100) if t <= T_MAX]
errs = np.empty((10, len(t_values)))
for r in range(errs.shape[0]):
    order = rng.permutation(T_MAX)
    for j, t in enumerate(t_values):
        errs[r, j] = metrics.error(P[order[:t]].mean(0), y_test)
std_err = metrics.error(std.probs, y_test)
for t, e in zip(t_values, errs.mean(0), strict=True):
    print(f"T = {t:3d}: MC error {100 * e:5.2f} %")
print(f"standard dropout: {100 * std_err:5.2f} %")
tb.plots.error_vs_samples(t_values, errs.mean(0), errs.std(0), std_err, OUT / "07_error_vs_T.png")
# (the returned figure is the cell's last value: a notebook shows it inline)

# %% [markdown]
# ## Uncertainty of right and wrong predictions
#
# A useful uncertainty is higher where the model is wrong.

# %%
correct = mc.labels == y_test
for name, u in (("entropy", mc.entropy), ("mutual info", mc.mutual_info),
                ("variation ratio", mc.variation_ratio)):
    print(f"{name:16s} correct {u[correct].mean():.3f}   wrong {u[~correct].mean():.3f}")
tb.plots.entropy_histogram({"standard": (std.entropy, std.labels == y_test),
                            f"MC (T={T_MAX})": (mc.entropy, correct)}, OUT / "07_entropy.png")

# %% [markdown]
# ## A rotated image
#
# Rotate one correctly classified test image (a trouser) step by step and run `T = 50`
# passes at each angle. What to expect:
#
# * while the image still looks like a trouser, the passes agree and all three measures
#   are low;
# * in between, the passes disagree: the per-pass probabilities scatter, and the mutual
#   information and the variation ratio rise above their value at 0°;
# * but the uncertainty is **not** guaranteed to grow with the distance from the data.
#   Full runs find angles where the model is wrong while most passes agree on the wrong
#   class, with a low mutual information and a low variation ratio: it is *confidently
#   wrong*. Which angles, and how low, varies between machines: the trained weights depend
#   on how each step's float32 sums are rounded (the BLAS library and its thread count), and
#   one image rotated past recognition sits near decision boundaries that move with the
#   weights. One full run found "Sandal" at 120–135° with a mutual information of 0.04 and a
#   variation ratio of 0.00; another, on another 2-core machine, found confident errors at
#   75° and 90° and a mutual information of 0.32 (variation ratio 0.14) at 120°. Your run
#   prints its own. MC dropout approximates the posterior of this model family; it does not
#   make the network recognise every input unlike its training data (`docs/results.md`
#   finds the same on the rotation experiment).
#
# The cell checks the middle claim and prints the angles where the model is wrong with at
# least 95% of the passes agreeing (the quick run's small model may find other angles, or
# none). The figure
# shows the classes the model actually predicts at some angle (mean probability as a
# line, each pass as a dot), and the entropy and mutual information as curves.

# %%
idx = int(np.flatnonzero(correct & (y_test == 1))[0]) if np.any(correct & (y_test == 1)) else 0
true_class = int(y_test[idx])
angles = np.arange(0, 181, 30 if QUICK else 15)
rotated = np.stack([rotate(x_test[idx, 0], a, reshape=False, order=1) for a in angles])[:, None]
rot = tb.predict.mc_predict(model, rotated.astype(np.float32), samples=50, seed=0,
                            return_samples=True)
names = data.class_names
for a, lab, e, mi, vr in zip(angles, rot.labels, rot.entropy, rot.mutual_info, rot.variation_ratio,
                             strict=True):
    print(f"{a:4d}°  predicted {names[lab]:12s} entropy {e:.2f}  MI {mi:.2f}  var. ratio {vr:.2f}")

# the passes disagree more somewhere along the way than on the upright image
assert rot.mutual_info.max() > rot.mutual_info[0]
assert rot.variation_ratio.max() > rot.variation_ratio[0] or rot.variation_ratio[0] > 0
confidently_wrong = [int(a) for a, lab, vr in zip(angles, rot.labels, rot.variation_ratio,
                                                    strict=True)
                     if lab != true_class and vr <= 0.05]
print(f"true class {names[true_class]}; wrong with >= 95% of the passes agreeing at: "
      f"{confidently_wrong or 'no angle in this run'}")

predicted = list(dict.fromkeys(int(k) for k in rot.labels))      # in order of appearance
fig = plt.figure(figsize=(9, 7))
grid = fig.add_gridspec(3, len(angles), height_ratios=[1.3, 2.5, 1.6], wspace=0, hspace=0.35)
for k in range(len(angles)):                  # one column per angle, centred over its tick below
    ax_img = fig.add_subplot(grid[0, k])
    ax_img.imshow(rotated[k, 0], cmap="gray_r")
    # slanted, so that neighbouring class names do not run into each other at 13 angles
    ax_img.set_title(names[rot.labels[k]], fontsize=9, rotation=40, ha="center", va="bottom")
    ax_img.axis("off")
ax = fig.add_subplot(grid[1, :])
step = angles[1] - angles[0]
xlim = (angles[0] - step / 2, angles[-1] + step / 2)
for c, k in enumerate(predicted):
    for t in range(rot.sample_probs.shape[0]):
        ax.scatter(angles, rot.sample_probs[t, :, k], s=4, color=f"C{c}", alpha=0.3)
    ax.plot(angles, rot.probs[:, k], color=f"C{c}", label=names[k])
ax.set(ylabel="softmax output\n(dots: passes)", ylim=(0, 1), xlim=xlim, xticks=angles)
ax.legend(fontsize=8, title="predicted at some angle", title_fontsize=8)
ax_u = fig.add_subplot(grid[2, :])
ax_u.plot(angles, rot.entropy, "o-", label="predictive entropy H[p̄]")
ax_u.plot(angles, rot.mutual_info, "s-", label="mutual information")
ax_u.plot(angles, rot.variation_ratio, "^:", label="variation ratio (votes)")
ax_u.set(xlabel="rotation (degrees)", ylabel="nats / ratio", xlim=xlim, xticks=angles)
ax_u.legend(fontsize=7, ncol=3)
fig.savefig(OUT / "07_rotation.png", dpi=100)
plt.close(fig)
print("saved", OUT / "07_rotation.png")
fig  # noqa: B018 - a notebook shows the figure here; a script has saved it

# %% [markdown]
# ## Calibration
#
# A model is calibrated if, among predictions made with confidence `c`, a fraction `c`
# is correct. The expected calibration error (15 equal-width bins) is the
# count-weighted gap `Σ_b |B_b|/N · |acc(B_b) − conf(B_b)|`; the reliability diagram
# shows it bin by bin. The risk–coverage curve asks a related question: if the model may
# abstain on its least confident inputs, how low does the error on the rest get?

# %%
rel = {"standard": metrics.ece(std.probs, y_test), f"MC (T={T_MAX})": metrics.ece(mc.probs, y_test)}
for name, r in rel.items():
    filled = r.bin_counts > 0
    by_hand = np.sum(r.bin_counts[filled] / len(y_test)
                     * np.abs(r.bin_accuracy[filled] - r.bin_confidence[filled]))
    assert np.isclose(r.ece, by_hand)
    probs = mc.probs if "MC" in name else std.probs
    print(f"{name:12s} ECE {r.ece:.4f}   NLL {metrics.nll(probs, y_test):.3f}   "
          f"Brier {metrics.brier(probs, y_test):.3f}")
rc = metrics.risk_coverage(mc.confidence, correct)
half = int(len(y_test) / 2) - 1
print(f"error at full coverage {rc.risk[-1]:.3f}, "
      f"keeping the 50% most confident {rc.risk[half]:.3f}, AURC {rc.aurc:.3f}")
tb.plots.reliability_diagram(rel, OUT / "07_reliability.png")

# %% [markdown]
# ## Checks

# %%
K = P.shape[-1]
assert np.allclose(mc.probs.sum(1), 1)
assert np.all(mc.mutual_info >= -1e-9)                                      # 0 ≤ MI ...
assert np.all(mc.mutual_info <= mc.entropy + 1e-9)                          # ... ≤ H[p̄]
assert np.all(mc.entropy <= np.log(K) + 1e-9)
assert np.all((mc.variation_ratio >= 0) & (mc.variation_ratio <= 1 - 1 / K))
assert np.all(std.mutual_info == 0) and np.all(std.variation_ratio == 0)    # one pass: no spread
assert np.isclose(rc.risk[-1], metrics.error(mc.probs, y_test))             # full coverage = error
assert rc.risk[half] <= rc.risk[-1]                                         # abstaining helps
assert mc.entropy[~correct].mean() > mc.entropy[correct].mean()             # wrong ⇒ less sure
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You drew `T` passes and computed from them the predictive entropy, the mutual information
# and the vote-count variation ratio; they grew on a rotated image, wrong predictions were
# less sure, and abstaining on the least sure helped (docs/mc-prediction.md, docs/metrics.md).

# %% [markdown]
# ## Exercises
#
# 1. **Mutual information.** Write `mutual_information(P)` for per-pass probabilities
#    `P` of shape `(T, N, K)`: `H[p̄] − mean_t H[p_t]` per input, in nats (`0 log 0 = 0`).
# 2. **Variation ratio.** Write `variation_ratio(P)`: `1 − f_mode / T` per input, with
#    `f_mode` the number of passes voting for the most voted class.
# 3. **How many values?** Write `n_variation_ratios(T, K)`: how many different values the
#    variation ratio can take with `T` passes and `K` classes (`docs/mc-prediction.md`).
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/07_mc_dropout.py`;
# try first.

# %% Exercises: your answers
def mutual_information(P):
    """H[mean_t p_t] − mean_t H[p_t], shape (N,)."""
    raise NotImplementedError("exercise 1")


def variation_ratio(P):
    """1 − f_mode / T, shape (N,)."""
    raise NotImplementedError("exercise 2")


def n_variation_ratios(T, K):
    """Number of distinct values of the variation ratio."""
    raise NotImplementedError("exercise 3")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    # shared with tutorial 11 (an ensemble's members): one check, one set of explanations
    from tinybcnn.exercises import check_mutual_information

    check_mutual_information(mutual_information, draw="pass", draws="passes", index="t")


def check_2():
    # one-hot passes first: then the vote count and 1 − max p̄ agree
    P = np.zeros((5, 3, 3))
    P[:, 0, 1] = 1                                                   # 5 votes for class 1
    P[[0, 1, 2], 1, 0], P[[3, 4], 1, 2] = 1, 1                       # 3 - 2
    P[[0, 1], 2, 0], P[[2, 3], 2, 1], P[4, 2, 2] = 1, 1, 1           # 2 - 2 - 1
    assert np.allclose(variation_ratio(P), [0.0, 0.4, 0.6]), (
        "with one-hot passes: 5 votes for one class, 3-2 and 2-2-1 give 0, 0.4 and 0.6")
    # passes that are not one-hot: every pass says (0.6, 0.4), or votes 3-2 with soft rows
    Q = np.empty((5, 2, 2))
    Q[:, 0] = [0.6, 0.4]
    Q[:, 1] = [[0.9, 0.1], [0.55, 0.45], [0.51, 0.49], [0.2, 0.8], [0.45, 0.55]]
    mine = np.asarray(variation_ratio(Q), dtype=float)
    assert not np.allclose(mine, 1 - Q.mean(0).max(-1)), (
        "that is 1 − max_y p̄_y, the active-learning paper's variation ratio: a different "
        "statistic. This one counts votes: each pass votes for its arg-max class, and "
        "1 − f_mode / T is the fraction of passes outside the modal class (if every pass says "
        "(0.6, 0.4), all vote for class 0: 0, not 0.4)")
    assert np.allclose(mine, [0.0, 0.4]), (
        "every pass votes for its arg-max class: (0.6, 0.4) five times is 5-0, so 0; "
        "the second input votes 3-2, so 0.4")


def check_3():
    import itertools
    import math

    for T, K in [(5, 3), (4, 2), (6, 4), (10, 3)]:
        # every way T passes can vote over K classes, and the variation ratios they give
        values = {1 - max(votes.count(k) for k in range(K)) / T
                  for votes in map(list, itertools.product(range(K), repeat=T))}
        mine = n_variation_ratios(T, K)
        if mine == len(values):
            continue
        if mine == T + 1:
            why = ("not every f_mode from 0 to T can occur: T votes over K classes give some class "
                   "at least ⌈T/K⌉ of them (pigeonhole), so f_mode runs from ⌈T/K⌉ to T")
        elif mine == T - math.floor(T / K) + 1:
            why = ("floor instead of ceil: the modal class gets at least T/K votes, rounded *up* "
                   "(at T = 5, K = 3 some class has 2 votes, never just 1)")
        elif mine == T - math.ceil(T / K):
            why = "off by one: f_mode takes every integer from ⌈T/K⌉ to T, both ends included"
        else:
            why = f"at T = {T}, K = {K} there are {len(values)} values, not {mine}"
        raise AssertionError(why)

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2, check_3)
