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
# # 04 · Patch masking: `W · diag(z_n)` per patch is dropout on `y`
#
# *Full mode (no options): 4 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# The Bayesian CNN of Gal & Ghahramani puts a Bernoulli variational distribution on the
# conv kernels: for **every patch** `n` (one row of `x*`) draw `z_n ∈ {0, 1}^{C_out}`, one
# value per kernel, and multiply the patch by the masked weight matrix `W · diag(z_n)`.
# Column `j` of `W · diag(z_n)` is kernel `j` switched on or off, so the result for patch
# `n` and kernel `j` is `(x*_n · W)_j · z_nj` — which is plain elementwise dropout on the
# conv output `y`, with one independent mask value per output element. That is why "dropout
# after every conv layer" in Caffe *is* the paper's Bayesian CNN.
#
# Dropout on the **input** of the conv is a different model: a pixel lies in up to
# `kh·kw` overlapping patches, and all of them see the same mask value. We show both.
# Derivation: `docs/patch-masking.md`.
#
# **Convention.** `p` in tinybcnn is the *drop* probability; `keep = 1 − p`. Masks are
# *inverted*: entries are `0` or `1/keep`.

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
from tinybcnn.envflags import quick_mode
from tinybcnn.functional import (
    conv2d_forward,
    conv_output_shape,
    dropout_forward,
    im2col,
    nchw_mask_to_patch,
    patch_mask_to_nchw,
)
from tinybcnn.functional.reference import conv2d_patch_masked_reference
from tinybcnn.random import bernoulli_mask

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Three ways to compute the same thing
#
# 1. **Literally as the paper writes it** (`reference.conv2d_patch_masked_reference`): for
#    each patch build `W_aug · diag(z_n)` — the bias is the last row of `W_aug`, meeting a
#    constant 1 appended to the patch — and multiply.
# 2. **Fast**: `conv2d_forward(x, W, b, mask=Z)`, one GEMM then `⊙ Z` in patch layout.
# 3. **Dropout on `y`**: convolve without a mask, then `dropout_forward(y, p, mask=...)`
#    with the *same* numbers rearranged to NCHW by `patch_mask_to_nchw`.

# %%
N, C, H, W_ = 2, 3, 6, 6
C_out, kh, kw, stride, pad, p = 4, 3, 3, 1, 1, 0.5
x = rng.standard_normal((N, C, H, W_))
W = rng.standard_normal((C_out, C, kh, kw))
b = rng.standard_normal(C_out)
OH, OW = conv_output_shape(H, W_, kh, kw, stride, pad)

# patch layout: one row per patch n, one column per kernel j
Z = bernoulli_mask(rng, (N * OH * OW, C_out), p, dtype=np.float64)
print("mask values:", np.unique(Z), " (0 or 1/keep)")

y_paper = conv2d_patch_masked_reference(x, W, b, Z, stride, pad)   # W_aug·diag(z_n), per patch
y_fast, _ = conv2d_forward(x, W, b, stride, pad, mask=Z)
y_plain, _ = conv2d_forward(x, W, b, stride, pad)
y_drop, _ = dropout_forward(y_plain, p, mask=patch_mask_to_nchw(Z, N, OH, OW))

assert np.allclose(y_paper, y_fast) and np.allclose(y_fast, y_drop)
assert np.array_equal(nchw_mask_to_patch(patch_mask_to_nchw(Z, N, OH, OW)), Z)
print("W_aug·diag(z_n) per patch == conv2d_forward(mask=Z) == dropout on y  ✓")

# %% [markdown]
# ### Inside LeNet
#
# In `lenet("all")` the layer `drop1` follows `conv1` directly. A stochastic pass draws
# an NCHW mask there; read it back, turn it into patch layout, and the patch-masked conv
# reproduces the network's activations.

# %%
model = tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, seed=0, dtype=np.float64)
xs = rng.standard_normal((2, 1, 16, 16))
h = model.forward(xs, rng=np.random.default_rng(1), stop=2)          # conv1 -> drop1
m_nchw = model.layers["drop1"].mask
conv1 = model.layers["conv1"].params
h_patch, _ = conv2d_forward(xs, conv1["W"], conv1["b"], mask=nchw_mask_to_patch(m_nchw))
assert np.allclose(h, h_patch)
print("lenet drop1 after conv1 == patch masking with the same mask  ✓")

# %% [markdown]
# ## Dropout on the input is a different distribution
#
# Dropping input pixels multiplies `x` by a mask `m` of shape `(N, C, H, W)`. Because
# `im2col` only copies values, `im2col(x ⊙ m) = im2col(x) ⊙ im2col(m)`: the implied mask on
# `x*` masks *inputs* of the kernels (rows of `W_aug`, the `diag` on the other side), and
# it is **not independent across patches** — a pixel appears in up to `kh·kw` rows and
# carries the same mask value into every one of them.

# %%
m = bernoulli_mask(rng, x.shape, p, dtype=np.float64)
implied = im2col(m, kh, kw, stride, pad)                               # the mask each patch sees
assert np.array_equal(im2col(x * m, kh, kw, stride, pad), im2col(x, kh, kw, stride, pad) * implied)
print(f"patch masking draws {Z.size} independent values for this layer "
      f"(one per output element);\ninput dropout draws {m.size}, copied into "
      f"{np.count_nonzero(im2col(np.ones_like(x), kh, kw, stride, pad))} slots of x*")

# The same pixel (n=0, c=0, h=2, w=2) in two overlapping patches: same mask value, always.
r1, r2 = (0 * OH + 2) * OW + 2, (0 * OH + 2) * OW + 3     # rows of output positions (2,2), (2,3)
# with pad 1, pixel (2,2) sits at kernel tap (i,j) = (1,1) of the first and (1,0) of the second
col_in_r1, col_in_r2 = (0 * kh + 1) * kw + 1, (0 * kh + 1) * kw + 0
assert implied[r1, col_in_r1] == implied[r2, col_in_r2] == m[0, 0, 2, 2]

# Input dropout is not an output mask: y_in / y takes many values, not just {0, 1/keep}.
y_in, _ = conv2d_forward(x * m, W, b, stride, pad)
ratio = y_in / y_plain
print("y_out_dropout / y ∈", np.unique(np.round(y_drop / y_plain, 6)))
print("y_in_dropout  / y has", np.unique(np.round(ratio, 6)).size, "distinct values")
assert np.unique(np.round(ratio, 6)).size > 10

# %% [markdown]
# ### What the sharing does: correlated noise
#
# Both kinds of dropout are unbiased for a linear conv (inverted masks: the mean of the
# masked output is `y`). They differ in their *covariance*. With output dropout the
# noise on two neighbouring outputs is independent; with input dropout two neighbours
# share most of their pixels and so most of their noise. A Monte Carlo estimate over many
# masks shows it, for a `3 × 3` box-blur kernel on a positive image: two horizontal
# neighbours share 6 of their 9 input pixels, so input dropout gives them a noise
# correlation of about 6/9, while output dropout gives none.

# %%
S = 500 if QUICK else 5000
xs1 = np.abs(x[:1, :1]) + 0.5                                # one positive image, one channel
Ws1, bs1 = np.full((1, 1, kh, kw), 1.0 / (kh * kw)), np.zeros(1)       # a box blur
y0 = conv2d_forward(xs1, Ws1, bs1, stride, pad)[0][0, 0]
out_s, in_s = np.empty((S, OH, OW)), np.empty((S, OH, OW))
for s in range(S):
    z = bernoulli_mask(rng, (OH * OW, 1), p, dtype=np.float64)
    out_s[s] = conv2d_forward(xs1, Ws1, bs1, stride, pad, mask=z)[0][0, 0]
    mi = bernoulli_mask(rng, xs1.shape, p, dtype=np.float64)
    in_s[s] = conv2d_forward(xs1 * mi, Ws1, bs1, stride, pad)[0][0, 0]


def neighbour_corr(samples):
    """Mean correlation of the noise at horizontally adjacent interior outputs."""
    a, b_ = samples[:, 1:-1, 1:-2].reshape(S, -1), samples[:, 1:-1, 2:-1].reshape(S, -1)
    a, b_ = a - a.mean(0), b_ - b_.mean(0)
    return float(np.mean((a * b_).mean(0) / (a.std(0) * b_.std(0))))


c_out, c_in = neighbour_corr(out_s), neighbour_corr(in_s)
# both are unbiased: the MC mean is within a few standard errors of y
z_out = np.abs(out_s.mean(0) - y0) / (out_s.std(0) / np.sqrt(S))
z_in = np.abs(in_s.mean(0) - y0) / (in_s.std(0) / np.sqrt(S))
print(f"largest |mean - y| in standard errors: output {z_out.max():.1f}, input {z_in.max():.1f}")
print(f"neighbour noise correlation: output dropout {c_out:+.3f}, input dropout {c_in:+.3f}")

# %% [markdown]
# ## Picture
#
# Left: one output-dropout mask for kernel 0 of image 0 — independent per output
# position. Middle: the input mask as `x*` sees it (black: dropped or padding) — each
# pixel's value repeats in the overlapping patches that contain it, shifted by one column
# from one patch to the next. Right: the noise correlation between
# an output and its neighbours under the two schemes.

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
axes[0].imshow(patch_mask_to_nchw(Z, N, OH, OW)[0, 0], cmap="gray", vmin=0)
axes[0].set_title("output dropout: z per (patch, kernel)")
axes[1].imshow(implied[:OH * OW, :kh * kw], cmap="gray", aspect="auto", vmin=0)
axes[1].set(title="input dropout seen in x*\n(channel 0; rows: patches)", xlabel="(i, j)",
            ylabel="patch")
axes[2].bar([0, 1], [c_out, c_in], color=["C0", "C3"])
axes[2].set_xticks([0, 1], ["output\n(patch masking)", "input"])
for k, v in enumerate([c_out, c_in]):
    axes[2].text(k, max(v, 0) + 0.02, f"{v:+.2f}", ha="center")
axes[2].set(title="noise correlation of neighbours", ylim=(min(0, c_out) - 0.05, 1))
for ax in axes[:1]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig.savefig(OUT / "04_patch_masking.png", dpi=100)
print("saved", OUT / "04_patch_masking.png")

# %% [markdown]
# ## Checks

# %%
assert np.allclose(y_paper, y_drop)                   # W_aug · diag(z_n) per patch == dropout on y
assert abs(c_out) < 0.15                              # independent masks: no correlation
assert c_in > 0.4                                     # shared pixels: strongly correlated noise
assert z_out.max() < 5 and z_in.max() < 5             # both unbiased, up to MC error
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You computed the same masked convolution three ways: `W diag(z_n)` per patch equals
# dropout on the conv output `y`, while dropout on the input image is a different
# distribution (docs/patch-masking.md).

# %% [markdown]
# ## Exercises
#
# 1. **Patch-mask a conv.** Write `patch_masked_conv(x, W, b, Z, stride, pad)`: the conv
#    as `x* W_matᵀ + b` in patch layout, multiplied by the patch mask `Z` (shape
#    `(N·OH·OW, C_out)`, one value per patch and kernel), returned in NCHW.
# 2. **Between the layouts.** Write `nchw_to_patch(m)`: the NCHW mask `m` of shape
#    `(N, C, OH, OW)` as a patch-layout mask, `Z[(n·OH + oh)·OW + ow, c] = m[n, c, oh, ow]`.
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/04_patch_masking.py`;
# try first.

# %% Exercises: your answers
def patch_masked_conv(x, W, b, Z, stride=1, pad=0):
    """((x* W_mat^T + b) ⊙ Z) in NCHW, shape (N, C_out, OH, OW)."""
    raise NotImplementedError("exercise 1")


def nchw_to_patch(m):
    """(N, C, OH, OW) mask -> (N·OH·OW, C) patch-layout mask."""
    raise NotImplementedError("exercise 2")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    from tinybcnn.functional import conv2d_forward, conv_output_shape, im2col

    g = np.random.default_rng(6)
    x, W, b = g.standard_normal((2, 3, 6, 5)), g.standard_normal((4, 3, 3, 3)), g.standard_normal(4)
    oh, ow = conv_output_shape(6, 5, 3, 3, 1, 1)
    Z = (g.random((2 * oh * ow, 4)) < 0.5) / 0.5                  # inverted mask, keep 0.5
    mine = np.asarray(patch_masked_conv(x, W, b, Z, 1, 1))
    right = conv2d_forward(x, W, b, 1, 1, mask=Z)[0]
    if mine.shape != right.shape:
        raise AssertionError(f"shape {mine.shape}, expected NCHW (N, C_out, OH, OW) = "
                             f"{right.shape}")
    if np.allclose(mine, right):
        return
    Y = im2col(x, 3, 3, 1, 1) @ W.reshape(4, -1).T                 # (N·OH·OW, C_out), no bias
    wrong = {
        "the patch matrix reshaped straight to (N, C_out, OH, OW): its rows are (n, oh, ow) "
        "and its columns the kernels, so reshape to (N, OH, OW, C_out), then move the "
        "channels forward, .transpose(0, 3, 1, 2)": ((Y + b) * Z).reshape(2, 4, oh, ow),
        "the bias added after the mask: the mask multiplies the whole output y = x* W_matᵀ + b "
        "(dropout of the unit, bias included)": (Y * Z + b).reshape(2, oh, ow, 4)
        .transpose(0, 3, 1, 2),
        "divided by keep again: Z is already inverted (entries 0 and 1 / keep)":
            right / 0.5,
        "no mask: multiply each patch row by its row of Z": (Y + b).reshape(2, oh, ow, 4)
        .transpose(0, 3, 1, 2),
    }
    for why, candidate in wrong.items():
        if np.allclose(mine, candidate):
            raise AssertionError(why)
    raise AssertionError("values differ from conv2d_forward(x, W, b, stride, pad, mask=Z)")


def check_2():
    from tinybcnn.functional import nchw_mask_to_patch, patch_mask_to_nchw

    m = np.random.default_rng(7).random((2, 3, 4, 5))
    mine = np.asarray(nchw_to_patch(m))
    assert mine.shape == (2 * 4 * 5, 3), f"shape {mine.shape}, expected (N·OH·OW, C) = (40, 3)"
    right = nchw_mask_to_patch(m)
    if np.array_equal(mine, right):
        if not np.array_equal(patch_mask_to_nchw(mine, 2, 4, 5), m):
            raise AssertionError("the round trip back to NCHW does not give m")
        return
    wrong = {
        "reshaped without moving the channels: m.reshape(N·OH·OW, C) mixes channels and "
        "positions in a row; transpose to (N, OH, OW, C) first": m.reshape(40, 3),
        "rows in (n, ow, oh) order: transpose(0, 3, 2, 1) swaps OH and OW; the rows run "
        "(n, oh, ow), ow fastest, as im2col's": m.transpose(0, 3, 2, 1).reshape(40, 3),
        "rows with n innermost: the image index is the slowest, rows (n, oh, ow)":
            m.transpose(2, 3, 0, 1).reshape(40, 3),
    }
    for why, candidate in wrong.items():
        if np.array_equal(mine, candidate):
            raise AssertionError(why)
    raise AssertionError("Z[(n·OH + oh)·OW + ow, c] = m[n, c, oh, ow] does not hold")

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2)
