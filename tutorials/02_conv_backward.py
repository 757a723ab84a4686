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
# # 02 · The backward pass of a convolution: dW, dx*, col2im
#
# *Full mode (no options): 2 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# Tutorial 01 wrote the convolution as `Y = x* · W_matᵀ + b` (patch layout). A matrix
# product has textbook gradients, so given `dY = ∂L/∂Y`:
#
# * `dW_mat = dYᵀ · x*` — shape `(C_out, C·kh·kw)`, reshaped back to `(C_out, C, kh, kw)`;
# * `db = Σ_rows dY` — the bias is added to every row;
# * `dx* = dY · W_mat` — the gradient with respect to every *copy* of a pixel in `x*`;
# * `dx = col2im(dx*)` — a pixel copied into several patches collects the gradient of
#   every copy: `col2im` scatters the rows back and **sums** where patches overlap.
#
# `col2im` is the adjoint (transpose) of `im2col`: `⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩`. We
# check that identity, then check all three gradients of `conv2d_backward` against finite
# differences with `tinybcnn.gradcheck` (in float64). Derivation: `docs/im2col.md`.

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

from tinybcnn import gradcheck
from tinybcnn.envflags import quick_mode
from tinybcnn.functional import col2im, conv2d_backward, conv2d_forward, im2col

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## `col2im` is the adjoint of `im2col`
#
# For any image `x` and any matrix `c` of the shape of `x*`, the two inner products agree.
# That is exactly the statement "the backward of `im2col` is `col2im`": the gradient of
# `⟨im2col(x), c⟩` with respect to `x` is `col2im(c)`.

# %%
shape, kh, kw, stride, pad = (2, 3, 6, 5), 3, 2, 2, 1
x = rng.standard_normal(shape)
c = rng.standard_normal(im2col(x, kh, kw, stride, pad).shape)
lhs = np.sum(im2col(x, kh, kw, stride, pad) * c)
rhs = np.sum(x * col2im(c, shape, kh, kw, stride, pad))
print(f"<im2col(x), c> = {lhs:.12f}\n<x, col2im(c)> = {rhs:.12f}")
assert np.isclose(lhs, rhs, rtol=1e-12)

# %% [markdown]
# `col2im` of a matrix of ones counts, for every pixel, how many patches contain it: the
# number of gradient contributions that pixel sums. With stride 1 and a `3 × 3` kernel,
# interior pixels appear in 9 patches, edges in fewer.

# %%
ones_shape = (1, 1, 7, 7)
coverage = col2im(np.ones(im2col(np.zeros(ones_shape), 3, 3).shape), ones_shape, 3, 3)[0, 0]
print(coverage.astype(int))
assert coverage.max() == 9 and coverage[0, 0] == 1

# %% [markdown]
# ## The three gradients by hand
#
# Run `conv2d_forward`, take a random upstream gradient `dy`, and compute the gradients
# from the formulas above. They must equal what `conv2d_backward` returns.

# %%
C_out = 4
W = rng.standard_normal((C_out, shape[1], kh, kw))
b = rng.standard_normal(C_out)
y, cache = conv2d_forward(x, W, b, stride, pad)
dy = rng.standard_normal(y.shape)

x_star = im2col(x, kh, kw, stride, pad)                         # (N·OH·OW, C·kh·kw)
dY = dy.transpose(0, 2, 3, 1).reshape(-1, C_out)                # NCHW -> patch layout
dW_hand = (dY.T @ x_star).reshape(W.shape)
db_hand = dY.sum(axis=0)
dx_hand = col2im(dY @ W.reshape(C_out, -1), shape, kh, kw, stride, pad)

dx, dW, db = conv2d_backward(dy, cache)
assert np.allclose(dW, dW_hand) and np.allclose(db, db_hand) and np.allclose(dx, dx_hand)
print("conv2d_backward == the hand-derived dW, db, col2im(dY · W_mat)  ✓")

# %% [markdown]
# ## Gradient checks
#
# `tinybcnn.gradcheck.assert_vjp(f, vjp, x)` compares a backward pass `vjp(x, dy) = Jᵀ dy`
# with the full central-difference Jacobian of `f`; `assert_directional` does the same
# along random directions (two calls of `f` per direction, for larger inputs). Both insist
# on float64: in float32 the finite differences drown in round-off.
#
# We check the gradient with respect to each argument in turn, holding the others fixed,
# and also with a dropout mask in patch layout (tutorial 04), whose backward multiplies
# `dY` by the same mask.

# %%
keep = 0.5
mask = (rng.random((y.shape[0] * y.shape[2] * y.shape[3], C_out)) < keep) / keep

for m, label in ((None, "no mask"), (mask, "patch mask")):
    def f_x(xx, m=m):
        return conv2d_forward(xx, W, b, stride, pad, mask=m)[0]

    def f_W(ww, m=m):
        return conv2d_forward(x, ww, b, stride, pad, mask=m)[0]

    def f_b(bb, m=m):
        return conv2d_forward(x, W, bb, stride, pad, mask=m)[0]

    def vjp(i, m=m):
        return lambda _, d: conv2d_backward(d, conv2d_forward(x, W, b, stride, pad, mask=m)[1])[i]

    errs = {
        "dx": gradcheck.assert_vjp(f_x, vjp(0), x, name="dx"),
        "dW": gradcheck.assert_vjp(f_W, vjp(1), W, name="dW"),
        "db": gradcheck.assert_vjp(f_b, vjp(2), b, name="db"),
    }
    print(label, {k: f"{v:.1e}" for k, v in errs.items()})

# %% [markdown]
# A bigger layer with the cheap random-direction check (a wrong gradient is caught with
# probability one by a random direction).

# %%
big = (4, 3, 12, 12) if QUICK else (8, 3, 28, 28)
xb = rng.standard_normal(big)
Wb = rng.standard_normal((8, 3, 5, 5))
bb = rng.standard_normal(8)
err = gradcheck.assert_directional(
    lambda xx: conv2d_forward(xx, Wb, bb, 1, 2)[0],
    lambda xx, d: conv2d_backward(d, conv2d_forward(xx, Wb, bb, 1, 2)[1])[0],
    xb, rng=rng, n_dirs=3 if QUICK else 10, name="dx (large)")
print(f"directional check on x of shape {big}: relative error {err:.1e}")

# %% [markdown]
# ## A wrong gradient is caught
#
# Forgetting the *sum* in `col2im` — keeping only the last patch's contribution per
# pixel, as a naive assignment `x[...] = cols` would — fails the check loudly.

# %%
def col2im_assign(cols, x_shape, kh, kw, stride, pad):
    """The classic bug: '=' instead of '+=', so overlapping patches overwrite each other."""
    n, ch, h, w = x_shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    c6 = cols.reshape(n, oh, ow, ch, kh, kw)
    out = np.zeros((n, ch, h + 2 * pad, w + 2 * pad))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] = \
                c6[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, pad:pad + h, pad:pad + w]


def wrong_vjp(xx, d):
    dYw = d.transpose(0, 2, 3, 1).reshape(-1, C_out)
    return col2im_assign(dYw @ W.reshape(C_out, -1), shape, kh, kw, stride, pad)


bad = gradcheck.check_vjp(lambda xx: conv2d_forward(xx, W, b, stride, pad)[0], wrong_vjp, x)
print(f"relative error of the '=' version: {bad:.2f}")
assert bad > 1e-2

# %% [markdown]
# ## Picture: where the input gradient comes from

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
axes[0].imshow(coverage, cmap="magma")
axes[0].set_title("patches covering each pixel\n(3×3 kernel, stride 1)")
axes[1].imshow(dx[0, 0], cmap="coolwarm")
axes[1].set_title("dx[0, 0] = col2im(dY · W_mat)")
axes[2].imshow(dW.reshape(C_out * shape[1], kh * kw), cmap="coolwarm", aspect="auto")
axes[2].set_title("dW = dYᵀ · x* (rows: (k, c))")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig.savefig(OUT / "02_conv_backward.png", dpi=100)
print("saved", OUT / "02_conv_backward.png")

# %% [markdown]
# ## Checks

# %%
assert np.isclose(lhs, rhs, rtol=1e-12)           # col2im is the adjoint of im2col
assert np.allclose(dx, dx_hand)                    # dx = col2im(dY · W_mat)
assert errs["dx"] < 1e-6 and errs["dW"] < 1e-6 and errs["db"] < 1e-6
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You derived `dW = x*ᵀ dy` and `dx* = dy Wᵀ`, folded `dx*` back with `col2im` (the adjoint
# of `im2col`: overlaps add), and the gradient checks agreed, catching a wrong gradient
# (docs/im2col.md, backward).

# %% [markdown]
# ## Exercises
#
# 1. **col2im.** Write `col2im_mine(cols, x_shape, kh, kw, stride, pad)`, the adjoint of
#    `im2col`: every entry of `cols` is *added* to the input pixel it was copied from, and
#    entries that came from the padding are dropped.
# 2. **The kernel gradient.** Write `conv_weight_grad(x, dy, kh, kw, stride, pad)` from
#    `dW_mat = dYᵀ x*`, returned in the kernel's shape `(C_out, C, kh, kw)`.
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/02_conv_backward.py`;
# try first.

# %% Exercises: your answers
def col2im_mine(cols, x_shape, kh, kw, stride=1, pad=0):
    """Fold the patch matrix back into an image, summing overlaps."""
    raise NotImplementedError("exercise 1")


def conv_weight_grad(x, dy, kh, kw, stride=1, pad=0):
    """dL/dW of a convolution, shape (C_out, C, kh, kw)."""
    raise NotImplementedError("exercise 2")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    from tinybcnn.functional import col2im, im2col

    def col2im_assigning(cols, shape, kh, kw, s, p):
        # the classic bug, for comparison: overlapping patches overwrite instead of adding
        n, c, h, w = shape
        oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
        out = np.zeros((n, c, h + 2 * p, w + 2 * p))
        for r, patch in enumerate(cols.reshape(-1, c, kh, kw)):
            i, a, b = r // (oh * ow), r // ow % oh, r % ow
            out[i, :, a * s:a * s + kh, b * s:b * s + kw] = patch
        return out[:, :, p:p + h, p:p + w]

    g = np.random.default_rng(2)
    for shape, kh, kw, s, p in [((2, 3, 5, 6), 3, 2, 1, 0), ((1, 2, 7, 7), 3, 3, 2, 1),
                                ((1, 1, 4, 4), 3, 3, 1, 1)]:
        case = f"(x of shape {shape}, kh={kh}, kw={kw}, stride={s}, pad={p})"
        x = g.standard_normal(shape)
        c = g.standard_normal(im2col(x, kh, kw, s, p).shape)
        mine = np.asarray(col2im_mine(c, shape, kh, kw, s, p))
        right = col2im(c, shape, kh, kw, s, p)
        if mine.shape == (shape[0], shape[1], shape[2] + 2 * p, shape[3] + 2 * p) and p:
            raise AssertionError(f"shape {mine.shape} still holds the padding: entries copied "
                                 f"from the padding are dropped, [:, :, pad:pad+H, pad:pad+W] "
                                 f"{case}")
        assert mine.shape == shape, f"shape {mine.shape}, expected x's shape {shape} {case}"
        if np.allclose(mine, right):
            continue
        counts = col2im(np.ones_like(c), shape, kh, kw, s, p)     # patches covering each pixel
        if np.allclose(mine, col2im_assigning(c, shape, kh, kw, s, p)):
            raise AssertionError(
                "overlapping patches overwrite each other (`=`): a pixel in k patches was "
                "copied k times by im2col, so its gradient is the *sum* of the k copies' "
                f"gradients; use `+=` (docs/im2col.md) {case}")
        if np.allclose(mine, right / np.maximum(counts, 1)):
            raise AssertionError(
                "overlaps averaged: that would undo im2col on an image's own patches, but "
                "col2im is im2col's *adjoint* (transpose), not its inverse; the adjoint sums, "
                f"⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ {case}")
        flipped = c.reshape(-1, shape[1], kh, kw).transpose(0, 2, 3, 1).reshape(c.shape)
        if np.allclose(mine, col2im(flipped, shape, kh, kw, s, p)):
            raise AssertionError("each row read in (i, j, c) order: a row of x* holds its patch "
                                 f"in (c, i, j) order, row.reshape(C, kh, kw) {case}")
        lhs, rhs = np.sum(im2col(x, kh, kw, s, p) * c), np.sum(x * mine)
        raise AssertionError(f"not the adjoint: ⟨im2col(x), c⟩ = {lhs:.4f} but "
                             f"⟨x, col2im(c)⟩ = {rhs:.4f} {case}")


def check_2():
    from tinybcnn.functional import conv2d_backward, conv2d_forward, im2col

    g = np.random.default_rng(3)
    x, W, b = g.standard_normal((2, 3, 6, 5)), g.standard_normal((4, 3, 3, 2)), np.zeros(4)
    y, cache = conv2d_forward(x, W, b, 2, 1)
    dy = g.standard_normal(y.shape)
    mine = np.asarray(conv_weight_grad(x, dy, 3, 2, 2, 1))
    right = conv2d_backward(dy, cache)[1]
    if mine.shape != W.shape:
        raise AssertionError(f"shape {mine.shape}, expected the kernel's (C_out, C, kh, kw) = "
                             f"{W.shape}")
    if np.allclose(mine, right):
        return
    cols = im2col(x, 3, 2, 2, 1)
    wrong = {
        "dy reshaped straight from NCHW: rows of dY must be in patch order (n, oh, ow), so "
        "move the channel axis last first, dy.transpose(0, 2, 3, 1).reshape(-1, C_out)":
            (dy.reshape(-1, 4).T @ cols).reshape(W.shape),
        "x*ᵀ dY has shape (C·kh·kw, C_out): reshaping it straight to (C_out, C, kh, kw) "
        "scrambles the entries; transpose it first (or compute dYᵀ x*)":
            (cols.T @ dy.transpose(0, 2, 3, 1).reshape(-1, 4)).reshape(W.shape),
        "divided by the batch size: the 1/|B| of the mean loss is already inside dy":
            right / x.shape[0],
        "the kernel flipped by 180°: tinybcnn's (and every deep-learning library's) "
        "convolution is a cross-correlation, so its gradient is not flipped":
            right[:, :, ::-1, ::-1],
    }
    for why, candidate in wrong.items():
        if np.allclose(mine, candidate):
            raise AssertionError(why)
    raise AssertionError("values differ from conv2d_backward's dW: dW_mat = dYᵀ x*, "
                         "(C_out, N·OH·OW) @ (N·OH·OW, C·kh·kw)")

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2)
