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
# # 01 · Convolution as a matrix product (im2col)
#
# *Full mode (no options): 2 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# Gal & Ghahramani write a convolution as a matrix product `x* · W`: every row of `x*` is
# one input patch, every column of `W` one kernel. Once a convolution looks like that, a
# conv layer is a weight layer like any other, and everything the paper says about
# Bernoulli dropout on weight matrices applies to it.
#
# In this tutorial we build `x*` **by hand** for a tiny image, check it against
# `tinybcnn.functional.im2col`, and check that `x* · W` is the convolution computed by a
# direct loop. Derivation: `docs/im2col.md`.

# %%
import os
import sys
import tempfile
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # a plain script: draw off-screen, save files
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from tinybcnn.envflags import quick_mode
from tinybcnn.functional import conv2d_forward, conv_output_shape, im2col
from tinybcnn.functional.reference import conv2d_direct, im2col_direct

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)
print("figures go to", OUT)

# %% [markdown]
# ## A tiny image
#
# One image (`N = 1`) with `C = 2` channels of `4 × 4` pixels, numbered so that every
# pixel is recognisable: channel 0 holds 0..15, channel 1 holds 100..115. The kernel is
# `kh × kw = 2 × 3` (non-square on purpose), stride 1, zero padding 1.

# %%
N, C, H, W = 1, 2, 4, 4
kh, kw, stride, pad = 2, 3, 1, 1
x = np.stack([np.arange(16.0).reshape(4, 4), 100 + np.arange(16.0).reshape(4, 4)])[None]
OH, OW = conv_output_shape(H, W, kh, kw, stride, pad)
print("x[0, 0] =\n", x[0, 0])
print(f"output size OH x OW = {OH} x {OW}   (OH = (H + 2 pad - kh) // stride + 1)")

# %% [markdown]
# ## Building `x*` by hand
#
# Pad the image with zeros, slide the `kh × kw` window over it, and write each window,
# flattened in `(c, i, j)` order, as one row. Rows are ordered `(n, oh, ow)`:
# row `(n·OH + oh)·OW + ow` is the patch under output position `(oh, ow)` of image `n`.

# %%
x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
rows = []
for n in range(N):
    for oh in range(OH):
        for ow in range(OW):
            patch = x_pad[n, :, oh * stride:oh * stride + kh, ow * stride:ow * stride + kw]
            rows.append(patch.reshape(-1))        # (C, kh, kw) -> C·kh·kw, in (c, i, j) order
x_star = np.array(rows)
print("x* has shape", x_star.shape, "= (N·OH·OW, C·kh·kw)")
print("row 0 (top-left patch, mostly padding):", x_star[0])

# %% [markdown]
# The package builds the same matrix without a Python loop over positions: it loops over
# the `kh·kw` kernel offsets instead and copies one strided slice of the padded image per
# offset (after Chainer), so the same code runs on NumPy, CuPy and `array_api_strict`.

# %%
cols = im2col(x, kh, kw, stride, pad)
assert cols.shape == (N * OH * OW, C * kh * kw)
assert np.array_equal(cols, x_star), "im2col differs from the hand-built x*"
assert np.array_equal(im2col_direct(x, kh, kw, stride, pad), x_star)  # the index formula too
print("im2col(x) == hand-built x*  ✓")

# %% [markdown]
# ## The convolution is one matrix product
#
# Reshape the kernels `W` of shape `(C_out, C_in, kh, kw)` to `W_mat` of shape
# `(C_out, C_in·kh·kw)`; its rows are flattened in the same `(c, i, j)` order as the
# columns of `x*`. Then `Y = x* · W_matᵀ + b` has one row per output position and one
# column per kernel: the convolution in *patch layout* `(N·OH·OW, C_out)`. Rearranging
# its rows `(n, oh, ow)` gives the usual NCHW output.

# %%
rng = np.random.default_rng(0)
C_out = 3
Wk = rng.standard_normal((C_out, C, kh, kw))
b = rng.standard_normal(C_out)

Y = x_star @ Wk.reshape(C_out, -1).T + b                 # (N·OH·OW, C_out)
y_gemm = Y.reshape(N, OH, OW, C_out).transpose(0, 3, 1, 2)
y_loop = conv2d_direct(x, Wk, b, stride, pad)            # seven nested loops, no im2col
y_fast, _ = conv2d_forward(x, Wk, b, stride, pad)

assert np.allclose(y_gemm, y_loop, rtol=1e-12, atol=1e-9)
assert np.allclose(y_fast, y_loop, rtol=1e-12, atol=1e-9)
print("x* · W_matᵀ + b == direct loop == conv2d_forward  ✓")

# %% [markdown]
# ## More shapes
#
# The same three-way check on random shapes: strides, padding, non-square kernels, one
# channel and many. (The test suite does this with hypothesis; here a handful suffices.)

# %%
cases = 4 if QUICK else 25
for _ in range(cases):
    n_, c_, co_ = rng.integers(1, 3), rng.integers(1, 4), rng.integers(1, 4)
    kh_, kw_ = rng.integers(1, 4, size=2)
    s_, p_ = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h_, w_ = rng.integers(max(kh_, 2), 7), rng.integers(max(kw_, 2), 7)
    xx = rng.standard_normal((n_, c_, h_, w_))
    ww = rng.standard_normal((co_, c_, kh_, kw_))
    bb = rng.standard_normal(co_)
    assert np.array_equal(im2col(xx, kh_, kw_, s_, p_), im2col_direct(xx, kh_, kw_, s_, p_))
    y1, _ = conv2d_forward(xx, ww, bb, s_, p_)
    assert np.allclose(y1, conv2d_direct(xx, ww, bb, s_, p_), rtol=1e-10, atol=1e-10)
print(f"{cases} random shapes: im2col and conv2d_forward agree with the direct loops  ✓")

# %% [markdown]
# ## What `x*` looks like
#
# Left: the tiny image's channel 0. Right: `x*` as a picture; each row is one patch, the
# first `kh·kw = 6` columns come from channel 0 and the last 6 from channel 1 (coloured by
# the pixel's value within its channel). The grey cells are padding. Neighbouring rows
# overlap: the same pixel appears in up to `kh·kw` rows, which is why `x*` is `kh·kw` times
# larger than the image (the price of turning a convolution into one fast GEMM).

# %%
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8, 4.2), gridspec_kw={"width_ratios": [1, 1.3]})
ax0.imshow(x[0, 0], cmap="viridis")
for (i, j), v in np.ndenumerate(x[0, 0]):
    ax0.text(j, i, f"{v:.0f}", ha="center", va="center", color="w", fontsize=8)
ax0.set_title("x[0, 0] (channel 0)")
# pixel value within its channel, padding shown as grey (NaN)
shown = im2col(x - np.array([0.0, 100.0])[None, :, None, None] + 1, kh, kw, stride, pad) - 1
cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
ax1.imshow(np.where(shown < 0, np.nan, shown), cmap=cmap, aspect="auto")
ax1.axvline(kh * kw - 0.5, color="w", lw=2)
ax1.set(title="x*: one row per patch", xlabel="column (c, i, j)", ylabel="row (n, oh, ow)")
fig.tight_layout()
fig.savefig(OUT / "01_im2col.png", dpi=100)
print("saved", OUT / "01_im2col.png")

# %% [markdown]
# ## Checks
#
# What this tutorial claims, as asserts: the hand-built `x*` equals `im2col`, and the
# matrix product equals the direct loop.

# %%
assert np.array_equal(cols, x_star)
assert np.allclose(y_fast, y_loop)
# each pixel appears in as many rows as there are output positions whose window covers it
counts = np.zeros((H + 2 * pad, W + 2 * pad))
for oh in range(OH):
    for ow in range(OW):
        counts[oh * stride:oh * stride + kh, ow * stride:ow * stride + kw] += 1
assert counts.max() == kh * kw
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You built the patch matrix `x*` of a tiny image by hand and checked `x* W` against the
# direct convolution loop on random shapes: a convolution is one matrix product, so a conv
# layer is a weight layer like any other (docs/im2col.md).

# %% [markdown]
# ## Exercises
#
# 1. **Output size.** Write `conv_output_size(h, k, stride, pad)`: the number of
#    positions a kernel of size `k` takes along an axis of size `h` (`docs/im2col.md`).
# 2. **im2col with loops.** Write `im2col_loops(x, kh, kw, stride, pad)` with plain Python
#    loops over `n`, `oh`, `ow`: row `(n·OH + oh)·OW + ow` is that position's patch of the
#    zero-padded input, flattened in `(c, i, j)` order.
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/01_im2col.py`;
# try first.

# %% Exercises: your answers
def conv_output_size(h, k, stride=1, pad=0):
    """Positions of a size-``k`` kernel along an axis of size ``h``."""
    raise NotImplementedError("exercise 1")


def im2col_loops(x, kh, kw, stride=1, pad=0):
    """The patch matrix x*, shape (N·OH·OW, C·kh·kw), built with loops."""
    raise NotImplementedError("exercise 2")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    import math

    from tinybcnn.functional import conv_output_shape

    cases = [(28, 5, 1, 0), (7, 3, 2, 1), (6, 4, 3, 0), (5, 5, 1, 2), (9, 2, 2, 0), (8, 3, 1, 1)]
    mine = [conv_output_size(h, k, s, p) for h, k, s, p in cases]
    right = [conv_output_shape(h, h, k, k, s, p)[0] for h, k, s, p in cases]
    if mine == right and all(isinstance(m, (int, np.integer)) for m in mine):
        return
    # common wrong answers, each recognised by what it gives on every case
    wrong = {
        "true division `/`: a kernel takes whole steps, so the count of positions rounds "
        "*down*; use floor division `//`": lambda h, k, s, p: (h + 2 * p - k) / s + 1,
        "the padding is ignored: the padded axis has h + 2·pad entries":
            lambda h, k, s, p: (h - k) // s + 1,
        "the padding counted once: it is added on both sides, h + 2·pad":
            lambda h, k, s, p: (h + p - k) // s + 1,
        "off by one: the first position (offset 0) counts too, so add 1":
            lambda h, k, s, p: (h + 2 * p - k) // s,
        "the stride is ignored: positions are `stride` apart, so divide by it":
            lambda h, k, s, p: h + 2 * p - k + 1,
        "rounded up: that is Caffe's *pooling* rule, which lets the last window hang over the "
        "edge; a convolution counts only the windows that fit, so round down":
            lambda h, k, s, p: math.ceil((h + 2 * p - k) / s) + 1,
    }
    for why, formula in wrong.items():
        if mine == [formula(*case) for case in cases]:
            raise AssertionError(why)
    bad = next(i for i, (m, r) in enumerate(zip(mine, right, strict=True))
               if m != r or not isinstance(m, (int, np.integer)))
    h, k, s, p = cases[bad]
    raise AssertionError(f"at h={h}, k={k}, stride={s}, pad={p} the answer is the int "
                         f"{right[bad]}, not {mine[bad]!r}: (h + 2·pad − k) // stride + 1")


def check_2():
    from tinybcnn.functional import conv_output_shape, im2col

    g = np.random.default_rng(1)
    for shape, kh, kw, s, p in [((2, 3, 5, 6), 3, 2, 1, 0), ((1, 2, 7, 7), 3, 3, 2, 1),
                                ((2, 1, 4, 5), 2, 3, 1, 2), ((2, 2, 6, 6), 2, 2, 2, 0)]:
        x = g.standard_normal(shape)
        case = f"(x of shape {shape}, kh={kh}, kw={kw}, stride={s}, pad={p})"
        right = im2col(x, kh, kw, s, p)
        try:
            mine = np.asarray(im2col_loops(x, kh, kw, s, p))
        except ValueError as error:          # a patch that does not fit its row
            raise AssertionError(
                f"{error}: a patch did not fit its row of C·kh·kw entries. Pad only the two "
                f"spatial axes, np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))), and take "
                f"the window x[n, :, oh·stride : oh·stride + kh, ...] of the padded input "
                f"{case}") from None
        assert mine.shape == right.shape, (
            f"shape {mine.shape}, expected (N·OH·OW, C·kh·kw) = {right.shape} {case}")
        if np.allclose(mine, right):
            continue
        n, c = shape[:2]
        oh, ow = conv_output_shape(shape[2], shape[3], kh, kw, s, p)
        rows = right.reshape(n, oh, ow, c, kh, kw)
        as_rows = right.shape
        unstrided = im2col(x, kh, kw, 1, p)
        oh1, ow1 = conv_output_shape(shape[2], shape[3], kh, kw, 1, p)
        wrong = {
            "columns in (i, j, c) order: they run (c, i, j), channel slowest, as patch.ravel() "
            "of the (C, kh, kw) window gives, so that they match W.reshape(C_out, -1)":
                rows.transpose(0, 1, 2, 4, 5, 3).reshape(as_rows),
            "rows in (n, ow, oh) order: row (n·OH + oh)·OW + ow means oh is the outer loop and "
            "ow the inner one": rows.transpose(0, 2, 1, 3, 4, 5).reshape(as_rows),
            "rows with the image index innermost: n is the outermost loop (row "
            "(n·OH + oh)·OW + ow), so one image's patches are contiguous":
                rows.transpose(1, 2, 0, 3, 4, 5).reshape(as_rows),
            "the stride is ignored: position oh starts at row oh·stride of the padded input":
                unstrided.reshape(n, oh1, ow1, -1)[:, :oh, :ow].reshape(as_rows),
        }
        for why, candidate in wrong.items():
            if s == 1 and "stride" in why:
                continue
            if np.allclose(mine, candidate):
                raise AssertionError(f"{why} {case}")
        raise AssertionError(f"values differ from tinybcnn.functional.im2col {case}")

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2)
