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
# # 03 · Pooling and its gradient (ties included)
#
# *Full mode (no options): 2 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# Max pooling keeps the largest value of each `size × size` window, so its gradient sends
# each window's `dy` to the one input that won — and nowhere else. Average pooling spreads
# `dy / size²` evenly over the window. Both are easy; the two places people get them
# wrong are **ties** (several inputs equal to the max) and **overlapping windows**
# (stride < size), where an input can win several windows and must sum their gradients.
#
# tinybcnn's rule for ties: the gradient goes to exactly one input, the **first** maximum
# in row-major window order (smallest row offset, then smallest column offset), as
# Caffe and PyTorch do. Derivation: `docs/pooling.md`.

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
from tinybcnn.functional import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from tinybcnn.functional.reference import (
    avgpool2d_backward_direct,
    avgpool2d_direct,
    maxpool2d_backward_direct,
    maxpool2d_direct,
)

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Forward and backward on a small example
#
# A `1 × 1 × 4 × 6` image, `2 × 2` windows with stride 2. The backward finds each window's
# winner again and adds that window's `dy` there. The direct loop
# `reference.maxpool2d_direct` also returns the winners' `(h, w)` positions.

# %%
x = rng.integers(0, 10, size=(1, 1, 4, 6)).astype(float)
y, cache = maxpool2d_forward(x, size=2)
dy = np.arange(1.0, 1 + y.size).reshape(y.shape)       # 1, 2, 3, ... so we can see where each goes
dx = maxpool2d_backward(dy, cache)
winners = maxpool2d_direct(x, 2)[1][0, 0]                 # (OH, OW, 2): (h, w) of each max
print("x =\n", x[0, 0], "\ny =\n", y[0, 0])
print("winner (h, w) per window:", [tuple(int(v) for v in hw) for hw in winners.reshape(-1, 2)])
print("dx =\n", dx[0, 0])
assert np.array_equal(y, maxpool2d_direct(x, 2)[0])
assert np.array_equal(dx, maxpool2d_backward_direct(dy, x, 2))

# %% [markdown]
# ## Ties
#
# A window of four equal values has four maxima. Max is not differentiable there: moving
# any one of them up raises the output one-for-one, moving it down changes nothing. Every
# convex combination of the maxima's unit vectors is a valid subgradient; tinybcnn picks
# one vertex of that set, "first in row-major order" (so the top-left input gets it all),
# which keeps the gradient sparse and matches Caffe and PyTorch bit for bit.

# %%
tie = np.array([[[[3.0, 3.0], [3.0, 3.0]]]])
_, c_tie = maxpool2d_forward(tie, 2)
dx_tie = maxpool2d_backward(np.ones((1, 1, 1, 1)), c_tie)
print("all-equal window -> dx =\n", dx_tie[0, 0])
assert np.array_equal(dx_tie[0, 0], [[1.0, 0.0], [0.0, 0.0]])

tie2 = np.array([[[[1.0, 5.0], [5.0, 2.0]]]])               # two maxima: (0, 1) and (1, 0)
dx_tie2 = maxpool2d_backward(np.ones((1, 1, 1, 1)), maxpool2d_forward(tie2, 2)[1])
assert np.array_equal(dx_tie2[0, 0], [[0.0, 1.0], [0.0, 0.0]])   # (0, 1) comes first

# One-sided finite differences at the tie show why no single number is "the" derivative:
eps = 1e-6
for (i, j) in [(0, 0), (1, 1)]:
    up, down = tie.copy(), tie.copy()
    up[0, 0, i, j] += eps
    down[0, 0, i, j] -= eps
    d_up = (maxpool2d_forward(up, 2)[0] - maxpool2d_forward(tie, 2)[0]).item() / eps
    d_down = (maxpool2d_forward(tie, 2)[0] - maxpool2d_forward(down, 2)[0]).item() / eps
    print(f"input ({i},{j}): right derivative {d_up:.0f}, left derivative {d_down:.0f}")
    assert round(d_up) == 1 and round(d_down) == 0

# %% [markdown]
# Finite-difference checks therefore need inputs with no ties (random floats have none);
# on those, the backward pass matches the Jacobian exactly.

# %%
xr = rng.standard_normal((2, 3, 7, 9))
for size, stride in [(2, 2), (3, 2), (2, 1), (3, 3)]:         # (3, 2), (2, 1): overlapping windows
    e_max = gradcheck.assert_vjp(lambda v, s=size, t=stride: maxpool2d_forward(v, s, t)[0],
                                 lambda v, d, s=size, t=stride:
                                 maxpool2d_backward(d, maxpool2d_forward(v, s, t)[1]),
                                 xr, name=f"maxpool {size}/{stride}")
    e_avg = gradcheck.assert_vjp(lambda v, s=size, t=stride: avgpool2d_forward(v, s, t)[0],
                                 lambda v, d, s=size, t=stride:
                                 avgpool2d_backward(d, avgpool2d_forward(v, s, t)[1]),
                                 xr, name=f"avgpool {size}/{stride}")
    print(f"size {size}, stride {stride}: max-pool error {e_max:.1e}, avg-pool error {e_avg:.1e}")

# %% [markdown]
# ## Overlapping windows accumulate
#
# With `size = 3, stride = 1` on a `3 × 5` row whose maximum sits in the middle, the same
# input wins all three windows, so it collects all three gradients. A backward that
# *assigns* instead of *adds* would give it only one.

# %%
ov = np.array([[[[0.0, 1, 9, 1, 0], [0, 1, 2, 1, 0], [0, 1, 2, 1, 0]]]])
y_ov, c_ov = maxpool2d_forward(ov, size=3, stride=1)
dx_ov = maxpool2d_backward(np.ones_like(y_ov), c_ov)
print("windows:", y_ov.shape[-1], " dx =\n", dx_ov[0, 0])
assert dx_ov[0, 0, 0, 2] == 3.0 and dx_ov.sum() == 3.0

# %% [markdown]
# ## Against the direct loops, on random shapes and with many ties
#
# Small integers make ties common; the library functions and the naive loops must still agree
# exactly, forward and backward (max and average).

# %%
cases = 5 if QUICK else 40
for _ in range(cases):
    shp = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(2, 9)),
           int(rng.integers(2, 9)))
    size = int(rng.integers(1, min(shp[2], shp[3]) + 1))
    stride = int(rng.integers(1, size + 2))
    xi = rng.integers(0, 3, size=shp).astype(float)             # lots of ties
    yi, ci = maxpool2d_forward(xi, size, stride)
    di = rng.standard_normal(yi.shape)
    assert np.array_equal(yi, maxpool2d_direct(xi, size, stride)[0])
    assert np.allclose(maxpool2d_backward(di, ci), maxpool2d_backward_direct(di, xi, size, stride))
    ya, ca = avgpool2d_forward(xi, size, stride)
    assert np.allclose(ya, avgpool2d_direct(xi, size, stride))
    assert np.allclose(avgpool2d_backward(di, ca),
                       avgpool2d_backward_direct(di, xi.shape, size, stride))
print(f"{cases} random shapes with ties: library == direct loops  ✓")

# %% [markdown]
# ## Picture

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
for ax, img, title in zip(axes, [x[0, 0], y[0, 0], dx[0, 0]],
                          ["x", "y = maxpool(x), 2×2", "dx for dy = 1, 2, 3, ..."], strict=True):
    ax.imshow(img, cmap="Blues")
    for (i, j), v in np.ndenumerate(img):
        ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=9)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig.savefig(OUT / "03_pooling.png", dpi=100)
print("saved", OUT / "03_pooling.png")

# %% [markdown]
# ## Checks

# %%
assert np.array_equal(dx_tie[0, 0], [[1.0, 0.0], [0.0, 0.0]])     # ties: first maximum wins
assert dx_ov.max() == 3.0                                          # overlaps accumulate
assert np.isclose(dx.sum(), dy.sum())                              # every dy lands once
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You sent the gradient of max pooling to one winner per window (ties included) and spread
# that of average pooling evenly; overlapping windows add their parts, and the loops agree
# with the library on random shapes (docs/pooling.md).

# %% [markdown]
# ## Exercises
#
# 1. **Average pooling.** Write `avgpool_loops(x, size)`: non-overlapping `size × size`
#    windows (stride = size), each replaced by its mean.
# 2. **Max-pooling gradient.** Write `maxpool_backward_loops(x, dy, size)`: each window's
#    gradient `dy[n, c, a, b]` goes to the position of that window's maximum in `x`, and
#    every other input gets zero.
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/03_pooling.py`;
# try first.

# %% Exercises: your answers
def avgpool_loops(x, size):
    """Mean over non-overlapping size x size windows, shape (N, C, H//size, W//size)."""
    raise NotImplementedError("exercise 1")


def maxpool_backward_loops(x, dy, size):
    """dL/dx of non-overlapping max pooling, shape of x."""
    raise NotImplementedError("exercise 2")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    from tinybcnn.functional import avgpool2d_forward

    x = np.random.default_rng(4).standard_normal((2, 3, 6, 4))
    mine = np.asarray(avgpool_loops(x, 2))
    if mine.shape == (2, 3, 5, 3):
        raise AssertionError("shape (2, 3, 5, 3): windows one pixel apart overlap; here the "
                             "stride is the window size, so window (a, b) starts at "
                             "(a·size, b·size) and the output is (H // size, W // size)")
    if mine.shape != (2, 3, 3, 2):
        raise AssertionError(f"shape {mine.shape}, expected (N, C, H // 2, W // 2) = (2, 3, 3, 2)")
    right = avgpool2d_forward(x, 2)[0]
    if np.allclose(mine, right):
        return
    if np.allclose(mine, 4 * right):
        raise AssertionError("the window *sum*: divide by the size² = 4 entries of a window")
    starts = np.stack([np.stack([x[:, :, a:a + 2, b:b + 2].mean((2, 3)) for b in range(2)], -1)
                       for a in range(3)], -2)
    if np.allclose(mine, starts):
        raise AssertionError("window (a, b) starts at (a, b): with stride = size it starts at "
                             "(a·size, b·size), so the windows tile the image")
    raise AssertionError("values differ from the mean of each non-overlapping 2 × 2 window")


def check_2():
    from tinybcnn.functional import maxpool2d_backward, maxpool2d_forward

    g = np.random.default_rng(5)
    # continuous values (no ties), then small integers (many windows with tied maxima)
    for x in (g.standard_normal((2, 2, 6, 6)), g.integers(0, 3, (2, 2, 6, 6)).astype(float)):
        ties = "with tied maxima" if np.all(x == np.round(x)) else "without ties"
        y, cache = maxpool2d_forward(x, 3)
        dy = g.standard_normal(y.shape)
        mine = np.asarray(maxpool_backward_loops(x, dy, 3))
        assert mine.shape == x.shape, f"shape {mine.shape}, expected x's shape {x.shape}"
        right = maxpool2d_backward(dy, cache)
        if np.allclose(mine, right):
            continue
        spread = np.kron(dy, np.ones((3, 3)))            # each window's dy on all its inputs
        if np.allclose(mine, spread):
            raise AssertionError("every input of a window got its gradient: only the maximum "
                                 "changes the output, so the others get zero")
        if np.allclose(mine, spread / 9):
            raise AssertionError("dy / size² on every input is *average* pooling's gradient; "
                                 "max pooling passes dy to the maximum only")
        at_max = x == np.kron(y, np.ones((3, 3)))
        if np.allclose(mine, np.where(at_max, spread, 0)):
            raise AssertionError(
                "on a tie every maximum got the whole dy, so the window passes on k·dy for k "
                "tied maxima: the gradient is not that of any function. Send dy to exactly one "
                "maximum, the first in row-major order (np.argmax's choice, and the library's)")
        if np.isclose(mine.sum(), dy.sum()) and not np.allclose(mine[~at_max], 0):
            raise AssertionError(f"{ties}: a gradient reached an input that is not its "
                                 "window's maximum: add the window's offset, (a·size + r, "
                                 "b·size + s), to the arg-max's place (r, s) inside it")
        if np.allclose(mine.reshape(2, 2, 2, 3, 2, 3).sum((3, 5)), dy):
            raise AssertionError(f"{ties}: each window hands on its dy, but to another of its "
                                 "tied maxima than the library's: take the first in "
                                 "row-major order (np.argmax of the window)")
        raise AssertionError(f"{ties}: values differ from maxpool2d_backward")

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2)
