"""Every numeric answer of the problem sets (docs/problems/week*.md), recomputed.

Each test recomputes one problem's numbers with the package or with NumPy (direct loops,
enumeration of every mask or vote, Monte Carlo, closed forms) and checks that the page
prints them as computed here, so a slip in a worked solution fails a test. Independent
oracles where the package is the thing being taught: col2im against an explicit 0/1
matrix, ECE against a loop over bins, MI and variation ratios against enumeration.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

import tinybcnn as tb
from tinybcnn.experiments.active_learning import bald, variation_ratio, variation_ratio_probs
from tinybcnn.functional import (
    col2im,
    conv2d_backward,
    conv2d_forward,
    im2col,
    maxpool2d_backward,
    maxpool2d_forward,
)
from tinybcnn.objective import Objective, length_scale_from_weight_decay

PROBLEMS = Path(__file__).resolve().parents[2] / "docs" / "problems"


def page(week: int) -> str:
    """The week's page with every run of whitespace made one space."""
    text = (PROBLEMS / f"week{week}.md").read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", text)


def shown(week: int, *texts: str) -> None:
    """Each of ``texts`` appears on the week's page."""
    text = page(week)
    for t in texts:
        assert t in text, f"week {week} does not show {t!r}"


def latex_rows(a: np.ndarray) -> str:
    """A 2-d integer array as the body of a LaTeX pmatrix: ``1 & 2 \\\\ 3 & 4``."""
    return r" \\ ".join(" & ".join(str(int(v)) for v in row) for row in np.asarray(a))


def sci(v: float) -> str:
    """``1.25\\times10^{-4}``, as the pages write a decay."""
    mantissa, exponent = f"{v:.2e}".split("e")
    return rf"{mantissa.rstrip('0').rstrip('.')}\times10^{{{int(exponent)}}}"


def entropy(p) -> float:
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_pages_exist_with_solutions():
    for week in (1, 2, 3, 4):
        text = (PROBLEMS / f"week{week}.md").read_text(encoding="utf-8")
        problems = re.findall(r"^## \d\.\d ", text, flags=re.MULTILINE)
        assert len(problems) >= 4, week
        assert text.count('??? success "Solution"') == len(problems), week


# ---------------------------------------------------------------------------------- week 1

X9 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
W_DIAG = np.array([1.0, 0.0, 0.0, -1.0]).reshape(1, 1, 2, 2)


def im2col_matrix(shape, kh, kw, stride=1, pad=0) -> np.ndarray:
    """The 0/1 matrix A with vec(im2col(x)) = A vec(x), built by loops."""
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    rows = []
    for i, a, b in itertools.product(range(n), range(oh), range(ow)):
        for ch, r, s in itertools.product(range(c), range(kh), range(kw)):
            y, x = a * stride + r - pad, b * stride + s - pad
            row = np.zeros(n * c * h * w)
            if 0 <= y < h and 0 <= x < w:
                row[((i * c + ch) * h + y) * w + x] = 1
            rows.append(row)
    return np.array(rows)


def test_1_1_patch_matrix_and_output():
    cols = im2col(X9, 2, 2)
    assert cols.shape == (4, 4)
    assert np.array_equal(cols.ravel(), im2col_matrix(X9.shape, 2, 2) @ X9.ravel())
    y, _ = conv2d_forward(X9, W_DIAG, np.zeros(1))
    assert np.array_equal(y.ravel(), [-4, -4, -4, -4])
    shown(1, latex_rows(cols), "$y = (-4, -4, -4, -4)$")


def test_1_2_backward_and_col2im_is_the_transpose():
    y, cache = conv2d_forward(X9, W_DIAG, np.zeros(1))
    dx, dW, db = conv2d_backward(np.ones_like(y), cache)
    assert np.array_equal(dW.ravel(), im2col(X9, 2, 2).sum(0))          # column sums of x*
    ones = col2im(np.ones((4, 4)), X9.shape, 2, 2)
    shown(1, latex_rows(dW[0, 0]), r"$db = \sum_r dY_r = 4$", latex_rows(dx[0, 0]),
          latex_rows(ones[0, 0]))
    assert db[0] == 4
    # col2im is A^T for the explicit copy matrix A (padding and stride included)
    g = np.random.default_rng(0)
    shape = (2, 2, 5, 4)
    A = im2col_matrix(shape, 3, 2, stride=2, pad=1)
    c = g.standard_normal(im2col(np.zeros(shape), 3, 2, 2, 1).shape)
    assert np.allclose(col2im(c, shape, 3, 2, 2, 1).ravel(), A.T @ c.ravel())


def test_1_3_lenet_conv2_shapes_and_cost():
    x = np.zeros((64, 20, 12, 12), dtype=np.float32)
    cols = im2col(x, 5, 5)
    assert cols.shape == (4096, 500)
    W = np.zeros((50, 20, 5, 5), dtype=np.float32)
    y, cache = conv2d_forward(x, W, np.zeros(50, dtype=np.float32))
    assert y.shape == (64, 50, 8, 8)
    macs = cols.shape[0] * cols.shape[1] * W.shape[0]
    assert macs == 102_400_000
    assert (x.size, cols.size) == (184_320, 2_048_000)
    ratio = cols.size / x.size
    assert math.isclose(ratio, 25 * 64 / 144)
    shown(1, "(4096, 500)", "$(50, 500)$", "$(4096, 50)$", "102{,}400{,}000",
          "184{,}320", "2{,}048{,}000", f"{ratio:.1f}")


def test_1_4_ties_in_max_pooling():
    x = np.array([[1.0, 3.0], [3.0, 2.0]])
    ymax = x.max()
    h = 1e-6
    up, down = x.copy(), x.copy()
    up[0, 1] += h
    down[0, 1] -= h
    assert math.isclose((up.max() - ymax) / h, 1.0) and (ymax - down.max()) / h == 0.0
    # "every tie gets dy", g = (0, 1, 1, 0), breaks the subgradient inequality for t > 0
    g = np.array([0.0, 1.0, 1.0, 0.0])
    delta = 0.5 * g
    assert (x.ravel() + delta).max() < ymax + g @ delta
    # every convex combination of the tied indicators satisfies it (on random directions)
    for a in (0.0, 0.3, 1.0):
        sub = np.array([0.0, a, 1 - a, 0.0])
        d = np.random.default_rng(1).standard_normal((200, 4))
        assert np.all((x.ravel() + d).max(1) >= ymax + d @ sub - 1e-12)
    yy, cache = maxpool2d_forward(x.reshape(1, 1, 2, 2), 2)
    first = maxpool2d_backward(np.ones_like(yy), cache)[0, 0]
    yy, cache = maxpool2d_forward(np.full((1, 1, 2, 2), 5.0), 2)
    all_tied = maxpool2d_backward(np.full_like(yy, 2.0), cache)[0, 0]
    assert np.array_equal(first, [[0, 1], [0, 0]])
    assert np.array_equal(all_tied, [[2, 0], [0, 0]])
    shown(1, latex_rows(first), latex_rows(all_tied))


# ---------------------------------------------------------------------------------- week 2

def lam(length_scale, n, tau, keep):
    return length_scale**2 / (2 * n * tau * keep)


@pytest.mark.parametrize("variant, dropped", [("all", {"conv1.W", "conv2.W", "ip1.W"}),
                                              ("ip", {"ip1.W"})])
def test_2_1_lambda_by_hand(variant, dropped):
    model = tb.models.lenet(variant, p=0.5)
    obj = Objective.for_model(model, n_train=2000, length_scale=0.5)
    for name, value in obj.decay.items():
        keep = 0.5 if name in dropped else 1.0
        assert math.isclose(value, lam(0.5, 2000, 1.0, keep)), name
    shown(2, sci(lam(0.5, 2000, 1.0, 0.5)), sci(lam(0.5, 2000, 1.0, 1.0)))
    assert sci(lam(0.5, 2000, 1.0, 0.5)) == r"1.25\times10^{-4}"


def test_2_1_caffe_and_input_side():
    model = tb.models.lenet("all", p=0.5)
    obj = Objective.for_model(model, n_train=2000, length_scale=0.5)
    wd = obj.weight_decays()["conv1.W"]
    assert math.isclose(wd, 2.5e-4)
    l_implied = length_scale_from_weight_decay(5e-4, 0.5, 2000)
    assert math.isclose(l_implied, math.sqrt(0.5))
    shown(2, sci(wd), f"{l_implied:.4f}")
    inputs = Objective.for_model(model, n_train=2000, length_scale=0.5, mask_side="input")
    bigger = {n for n, v in inputs.decay.items() if math.isclose(v, lam(0.5, 2000, 1, 0.5))}
    assert bigger == {"ip2.W"}


def test_2_2_the_keep_factor():
    for p, factor in [(0.5, "$4$"), (0.2, "1.5625")]:
        keep = 1 - p
        right, wrong = lam(1.0, 100, 1.0, keep), keep * 1.0 / (2 * 100)
        ratio = right / wrong
        assert math.isclose(ratio, 1 / keep**2)
        shown(2, factor)
        assert factor.strip("$") in (f"{ratio:g}",)
    # the inverted network with W = keep·M equals the paper's with M, mask by mask
    g = np.random.default_rng(2)
    x, M = g.standard_normal((5, 4)), g.standard_normal((4, 3))
    z = (g.random(3) < 0.7).astype(float)
    assert np.allclose((x @ (0.7 * M)) * z / 0.7, (x @ M) * z)


def test_2_3_single_gaussian_kl_and_the_constant():
    d, mu, s2 = 3, np.array([1.0, 2.0, 2.0]), 0.5
    closed = 0.5 * (mu @ mu + d * s2 - d - d * math.log(s2))
    # Monte Carlo: E_q[log q - log p] with x ~ N(mu, s2 I)
    g = np.random.default_rng(3)
    x = mu + math.sqrt(s2) * g.standard_normal((400_000, d))
    log_q = -((x - mu) ** 2).sum(1) / (2 * s2) - d / 2 * math.log(2 * math.pi * s2)
    log_p = -(x**2).sum(1) / 2 - d / 2 * math.log(2 * math.pi)
    values = log_q - log_p
    assert abs(values.mean() - closed) < 5 * values.std() / math.sqrt(len(values))
    gap = 200 * math.log(2 * math.pi)
    h_half = float(tb.predict.entropy(np.array([0.5, 0.5])))
    shown(2, f"{closed:.4f}", f"{gap:.2f}", f"{h_half:.4f}")


def test_2_4_two_dropouts_make_one():
    from tinybcnn.random import bernoulli_mask

    g = np.random.default_rng(4)
    n = 200_000
    both = bernoulli_mask(g, (n,), 0.3, dtype=np.float64) * bernoulli_mask(g, (n,), 0.6,
                                                                         dtype=np.float64)
    values = np.unique(both)
    assert len(values) == 2 and values[0] == 0 and math.isclose(values[1], 1 / 0.28)
    kept = np.mean(both > 0)
    assert abs(kept - 0.28) < 5 * math.sqrt(0.28 * 0.72 / n)
    shown(2, "keep $0.28$", r"\frac{1}{0.28}")


def test_2_5_patch_masking_is_dropout_on_the_output():
    g = np.random.default_rng(5)
    x, W, b = g.standard_normal((2, 3, 5, 5)), g.standard_normal((4, 3, 3, 3)), np.zeros(4)
    cols = im2col(x, 3, 3)
    Z = (g.random((cols.shape[0], 4)) < 0.5).astype(float)
    per_patch = np.stack([cols[r] @ W.reshape(4, -1).T @ np.diag(Z[r])
                          for r in range(cols.shape[0])])
    y = conv2d_forward(x, W, b, mask=Z)[0]
    assert np.allclose(y.transpose(0, 2, 3, 1).reshape(-1, 4), per_patch)


# ---------------------------------------------------------------------------------- week 3

def test_3_1_bald():
    disagree = np.array([[[0.9, 0.1]], [[0.1, 0.9]]])                  # (T, N, K)
    agree = np.full((2, 1, 2), 0.5)
    h_bar, h_pass = entropy([0.5, 0.5]), entropy([0.9, 0.1])
    mi = float(bald(disagree)[0])
    assert math.isclose(mi, h_bar - h_pass) and float(bald(agree)[0]) == 0.0
    shown(3, f"{h_bar:.4f}", f"{h_pass:.4f}", f"MI $\\approx {mi:.4f}$", "MI $= 0$")
    # MI >= 0 and <= H[p̄] <= log K on random passes
    P = np.random.default_rng(6).dirichlet(np.full(4, 0.5), size=(7, 500))
    scores = bald(P)
    h = tb.predict.entropy(P.mean(0))
    assert np.all(scores >= -1e-12) and np.all(scores <= h + 1e-12)
    assert np.all(h <= math.log(4) + 1e-12)


def one_hot_votes(votes, k):
    return np.eye(k)[np.asarray(votes)][:, None, :]                     # (T, 1, K)


def test_3_2_variation_ratio_bounds():
    # T = 5, K = 3: every vote pattern, enumerated
    values = {round(float(variation_ratio(one_hot_votes(v, 3))[0]), 10)
              for v in itertools.product(range(3), repeat=5)}
    assert values == {0.0, 0.2, 0.4, 0.6}
    assert len(values) == 5 - math.ceil(5 / 3) + 1
    # T = 50, K = 10: every f_mode from ceil(T/K) to T occurs, nothing else can
    counts = set()
    for f in range(5, 51):
        rest = 50 - f
        votes = [0] * f
        for k in range(1, 10):                     # spread the rest, none above f
            take = min(f, rest)
            votes += [k] * take
            rest -= take
        if rest == 0:
            counts.add(float(variation_ratio(one_hot_votes(votes, 10))[0]))
    assert len(counts) == 46 == 50 - math.ceil(50 / 10) + 1
    assert math.isclose(max(counts), 0.9)
    for k, text in [(3, "0.6667"), (10, "0.9")]:
        uniform = np.full((1, 1, k), 1 / k)
        assert math.isclose(float(variation_ratio_probs(uniform)[0]), 1 - 1 / k)
        shown(3, text)
    same = np.tile([[[0.6, 0.4]]], (7, 1, 1))
    assert float(variation_ratio(same)[0]) == 0.0
    assert math.isclose(float(variation_ratio_probs(same)[0]), 0.4)
    shown(3, "4 values, at most $0.6$", "46 values")


def test_3_3_linear_layer_mean_and_relu():
    x, W = np.array([1.0, 2.0]), np.array([[1.0, -1.0], [2.0, 0.5]])
    masks = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]         # the page's order
    logits = [(x * np.array(z) / 0.5) @ W for z in masks]
    assert np.allclose(np.mean(logits, 0), x @ W)
    text = ", ".join(f"$({a:g}, {b:g})$" for a, b in logits[:-1]) + \
        " and $({:g}, {:g})$".format(*logits[-1])
    shown(3, text, "$(5, 0) = xW$")
    x2, w = np.array([1.0, 1.0]), np.array([1.0, -1.0])
    h = [max(0.0, float(w @ (x2 * np.array(z) / 0.5))) for z in masks]
    assert np.mean(h) == 0.5 and max(0.0, float(w @ x2)) == 0.0
    shown(3, r"$\mathbb{E}[h] = 0.5$")


def ece_loop(conf, correct, n_bins):
    """ECE by a loop over the bins (b/B, (b+1)/B]."""
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = [(c, k) for c, k in zip(conf, correct, strict=True)
                  if (lo < c <= hi) or (b == 0 and c == 0)]
        if inside:
            acc = np.mean([k for _, k in inside])
            mean_conf = np.mean([c for c, _ in inside])
            total += len(inside) / len(conf) * abs(acc - mean_conf)
    return total


def test_3_4_ece_and_the_bins():
    probs = np.array([[0.55, 0.45], [0.65, 0.35], [0.85, 0.15], [0.95, 0.05]])
    labels = np.array([0, 0, 1, 0])
    conf, correct = probs.max(1), (probs.argmax(1) == labels).astype(float)
    for n_bins, text in [(1, "ECE $= 0$"), (4, r"\cdot 0.4 = 0.4"), (15, "= 0.425")]:
        value = tb.metrics.ece(probs, labels, n_bins).ece
        assert math.isclose(value, ece_loop(conf, correct, n_bins), abs_tol=1e-12)
        shown(3, text)
    assert math.isclose(tb.metrics.ece(probs, labels, 1).ece, 0.0, abs_tol=1e-12)
    assert math.isclose(tb.metrics.ece(probs, labels, 4).ece, 0.4)
    assert math.isclose(tb.metrics.ece(probs, labels, 15).ece, 0.425)


def test_3_5_two_variance_terms():
    samples, tau = np.array([1.0, 1.2, 0.8, 1.0]), 100.0
    epistemic = samples.var()
    total = 1 / tau + epistemic
    assert math.isclose(epistemic, 0.02) and math.isclose(total, 0.03)
    shown(3, "= 0.02$", "Total $0.03$", f"{math.sqrt(total):.4f}")


# ---------------------------------------------------------------------------------- week 4

def test_4_1_duplicates_add_nothing_jointly():
    # omega in {1, 2}, equally likely; p(y | omega) one-hot on class omega - 1
    p_y_given_w = np.eye(2)
    single = entropy(p_y_given_w.mean(0)) - np.mean([entropy(p) for p in p_y_given_w])
    # joint of two identical images: y_a = y_b, so (0, 0) or (1, 1)
    joint = np.stack([np.outer(p, p).ravel() for p in p_y_given_w])  # (omega, 4)
    joint_mi = entropy(joint.mean(0)) - np.mean([entropy(p) for p in joint])
    assert math.isclose(single, math.log(2)) and math.isclose(joint_mi, math.log(2))
    bald_sum = float(bald(p_y_given_w[:, None, :])[0]) * 2
    assert math.isclose(bald_sum, 2 * math.log(2))
    shown(4, f"{single:.4f}", f"{bald_sum:.4f}")


def test_4_2_standard_errors():
    se1 = math.sqrt(0.154 * 0.846 / 5000)
    se2 = math.sqrt(0.25 * 0.75 / 2000)
    assert round(0.0008 * 5000) == 4
    shown(4, f"{se1:.4f}", f"{100 * se1:.2f} points", f"{se2:.4f}", f"{100 * se2:.2f} points",
          "is 4 images")


def test_4_3_mc_log_likelihood():
    samples, y, tau = np.array([[0.0], [1.0]]), np.array([0.0]), 1.0
    per_pass = -0.5 * math.log(2 * math.pi) - 0.5 * tau * (y[0] - samples[:, 0]) ** 2
    mc = tb.metrics.mc_test_log_likelihood(samples, y, tau)
    assert math.isclose(mc, float(logsumexp(per_pass) - math.log(2)))
    assert mc > per_pass.mean()
    shown(4, f"{per_pass[0]:.4f}", f"{per_pass[1]:.4f}", f"{per_pass.mean():.4f}",
          f"{mc:.4f}", f"- {-math.log((1 + math.exp(-0.5)) / 2):.4f}")


def test_4_4_constant_scores_and_few_values():
    assert tb.metrics.auroc(np.zeros(6), np.array([1, 1, 1, 0, 0, 0])) == 0.5
    shown(4, "exactly $0.5$", "$50 - 10 + 1 = 41$")
    assert 50 - math.ceil(50 / 5) + 1 == 41


def test_4_5_confident_mean_leaves_no_room():
    h = float(tb.predict.entropy(np.array([0.98, 0.02])))
    passes = np.random.default_rng(7).dirichlet([49, 1], size=(30, 200))  # mean near 0.98
    assert np.all(bald(passes) <= tb.predict.entropy(passes.mean(0)) + 1e-12)
    shown(4, f"{h:.3f}")
