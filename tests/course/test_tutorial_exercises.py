"""The exercise check cells recognise the common wrong answers and say why they are wrong.

Each case takes a tutorial's solutions, redefines one answer as a wrong answer a student
is likely to write, and runs the tutorial's import cell, those answers and its check cell
(as tests/course/test_tutorials.py does with the right answers). A wrong answer that differs
from the solution in a fragment or two is planted as that edit of the solution
(``support.tutorials.solution_with``), so the case shows the mistake and nothing else; the
others are written out. The check cell must

* fail (an ``AssertionError``, as a reader running the cell would see), with a message, not a
  bare ``AssertionError``;
* print the explanation of that wrong answer (a phrase of it is matched here);
* still grade the other exercises: each is graded on its own, so they print ``correct``.
"""

from __future__ import annotations

import ast
import re

import pytest
from support.mutual_information import WRONG_MI
from support.tutorials import (
    CHECKS_CELL,
    SOLUTIONS,
    TUTORIALS,
    n_exercises,
    run_exercises,
    solution_with,
    split_cells,
)


def run_with(name: str, override: str, tmp_path):
    """The tutorial's check cell run on its solutions with ``override`` appended."""
    answers = (SOLUTIONS / name).read_text(encoding="utf-8") + "\n\n" + override
    return run_exercises(TUTORIALS / name, answers, tmp_path)


# (tutorial, wrong answer, exercise it answers, a phrase of the explanation, other exercises)
WRONG = {
    "01 true division": ("01_im2col.py", """
def conv_output_size(h, k, stride=1, pad=0):
    return (h + 2 * pad - k) / stride + 1
""", 1, "floor division", []),  # exercise 2 calls it
    "01 pad once": ("01_im2col.py", """
def conv_output_size(h, k, stride=1, pad=0):
    return (h + pad - k) // stride + 1
""", 1, "padding counted once", []),  # exercise 2 calls it
    "01 no + 1": ("01_im2col.py", """
def conv_output_size(h, k, stride=1, pad=0):
    return (h + 2 * pad - k) // stride
""", 1, "offset 0", []),  # exercise 2 calls it
    "01 ceil": ("01_im2col.py", """
def conv_output_size(h, k, stride=1, pad=0):
    return -(-(h + 2 * pad - k) // stride) + 1
""", 1, "Caffe's *pooling* rule", []),  # exercise 2 calls it
    "01 (i, j, c) columns": ("01_im2col.py", """
_right_im2col = im2col_loops
def im2col_loops(x, kh, kw, stride=1, pad=0):
    c = x.shape[1]
    cols = _right_im2col(x, kh, kw, stride, pad)
    return cols.reshape(-1, c, kh, kw).transpose(0, 2, 3, 1).reshape(cols.shape)
""", 2, "channel slowest", [1]),
    "01 (n, ow, oh) rows": ("01_im2col.py", solution_with(
        "01_im2col.py", "im2col_loops",
        ("cols[(i * oh + a) * ow + b]", "cols[(i * ow + b) * oh + a]")),
        2, "oh is the outer loop", [1]),
    "01 stride ignored": ("01_im2col.py", solution_with(
        "01_im2col.py", "im2col_loops",
        ("a * stride:a * stride + kh, b * stride:b * stride + kw", "a:a + kh, b:b + kw")),
        2, "the stride is ignored", [1]),
    "01 pads every axis": ("01_im2col.py", solution_with(
        "01_im2col.py", "im2col_loops",
        ("np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))", "np.pad(x, pad)")),
        2, "Pad only the two", [1]),
    "02 assigns": ("02_conv_backward.py", solution_with(
        "02_conv_backward.py", "col2im_mine",
        ("] += patch", "] = patch")),
        1, "use `+=`", [2]),
    "02 keeps the padding": ("02_conv_backward.py", solution_with(
        "02_conv_backward.py", "col2im_mine",
        ("return xp[:, :, pad:pad + h, pad:pad + w]", "return xp")),
        1, "still holds the padding", [2]),
    "02 averages": ("02_conv_backward.py", """
_right_col2im = col2im_mine
def col2im_mine(cols, x_shape, kh, kw, stride=1, pad=0):
    counts = _right_col2im(np.ones_like(cols), x_shape, kh, kw, stride, pad)
    return _right_col2im(cols, x_shape, kh, kw, stride, pad) / np.maximum(counts, 1)
""", 1, "*adjoint*", [2]),
    "02 NCHW dy": ("02_conv_backward.py", solution_with(
        "02_conv_backward.py", "conv_weight_grad",
        ("dy.transpose(0, 2, 3, 1).reshape(-1, c_out)", "dy.reshape(-1, c_out)")),
        2, "move the channel axis last", [1]),
    "02 untransposed": ("02_conv_backward.py", solution_with(
        "02_conv_backward.py", "conv_weight_grad",
        ("d_y.T @ im2col(x, kh, kw, stride, pad)", "im2col(x, kh, kw, stride, pad).T @ d_y")),
        2, "scrambles the entries", [1]),
    "02 flipped": ("02_conv_backward.py", """
_right_dw = conv_weight_grad
def conv_weight_grad(x, dy, kh, kw, stride=1, pad=0):
    return _right_dw(x, dy, kh, kw, stride, pad)[:, :, ::-1, ::-1]
""", 2, "cross-correlation", [1]),
    "03 sum": ("03_pooling.py", solution_with(
        "03_pooling.py", "avgpool_loops",
        (".mean((2, 3))", ".sum((2, 3))")),
        1, "the window *sum*", [2]),
    "03 unstrided starts": ("03_pooling.py", solution_with(
        "03_pooling.py", "avgpool_loops",
        ("a * size:(a + 1) * size, b * size:(b + 1) * size", "a:a + size, b:b + size")),
        1, "windows tile the image", [2]),
    "03 overlapping": ("03_pooling.py", """
def avgpool_loops(x, size):
    n, c, h, w = x.shape
    y = np.empty((n, c, h - size + 1, w - size + 1), dtype=x.dtype)
    for a in range(h - size + 1):
        for b in range(w - size + 1):
            y[:, :, a, b] = x[:, :, a:a + size, b:b + size].mean((2, 3))
    return y
""", 1, "windows one pixel apart overlap", [2]),
    "03 every tie": ("03_pooling.py", """
def maxpool_backward_loops(x, dy, size):
    dx = np.zeros_like(x)
    n, c, oh, ow = dy.shape
    for a in range(oh):
        for b in range(ow):
            window = x[:, :, a * size:(a + 1) * size, b * size:(b + 1) * size]
            hit = window == window.max((2, 3), keepdims=True)
            d = hit * dy[:, :, a:a + 1, b:b + 1]
            dx[:, :, a * size:(a + 1) * size, b * size:(b + 1) * size] += d
    return dx
""", 2, "k·dy for k", [1]),
    "03 last tie": ("03_pooling.py", solution_with(
        "03_pooling.py", "maxpool_backward_loops",
        ("np.argmax(window)", "window.size - 1 - np.argmax(window.ravel()[::-1])")),
        2, "first in row-major order", [1]),
    "03 no offset": ("03_pooling.py", solution_with(
        "03_pooling.py", "maxpool_backward_loops",
        ("dx[i, k, a * size + r, b * size + s]", "dx[i, k, r, s]")),
        2, "add the window's offset", [1]),
    "03 average gradient": ("03_pooling.py", """
def maxpool_backward_loops(x, dy, size):
    return np.kron(dy, np.ones((size, size))) / size**2
""", 2, "*average* pooling's gradient", [1]),
    "03 spread": ("03_pooling.py", """
def maxpool_backward_loops(x, dy, size):
    return np.kron(dy, np.ones((size, size)))
""", 2, "only the maximum", [1]),
    "04 straight reshape": ("04_patch_masking.py", solution_with(
        "04_patch_masking.py", "patch_masked_conv",
        ("Y.reshape(n, oh, ow, c_out).transpose(0, 3, 1, 2)", "Y.reshape(n, c_out, oh, ow)")),
        1, "then move the", [2]),
    "04 bias after mask": ("04_patch_masking.py", solution_with(
        "04_patch_masking.py", "patch_masked_conv",
        ("+ b) * Z", "* Z + b)")),
        1, "bias added after the mask", [2]),
    "04 keep twice": ("04_patch_masking.py", solution_with(
        "04_patch_masking.py", "patch_masked_conv",
        ("* Z", "* Z / 0.5")),
        1, "already inverted", [2]),
    "04 no mask": ("04_patch_masking.py", solution_with(
        "04_patch_masking.py", "patch_masked_conv",
        (" * Z", "")),
        1, "no mask", [2]),
    "04 reshape only": ("04_patch_masking.py", solution_with(
        "04_patch_masking.py", "nchw_to_patch",
        ("m.transpose(0, 2, 3, 1).reshape", "m.reshape")),
        2, "without moving the channels", [1]),
    "04 (n, ow, oh)": ("04_patch_masking.py", solution_with(
        "04_patch_masking.py", "nchw_to_patch",
        ("transpose(0, 2, 3, 1)", "transpose(0, 3, 2, 1)")),
        2, "swaps OH and OW", [1]),
    "04 n innermost": ("04_patch_masking.py", solution_with(
        "04_patch_masking.py", "nchw_to_patch",
        ("transpose(0, 2, 3, 1)", "transpose(2, 3, 0, 1)")),
        2, "n innermost", [1]),
    "06 no 1 +": ("06_train.py", """
def inv_lr(base_lr, iteration, gamma=1e-4, power=0.75):
    return base_lr * (gamma * iteration) ** (-power)
""", 1, "the 1 + keeps it", [2]),
    "06 grows": ("06_train.py", """
def inv_lr(base_lr, iteration, gamma=1e-4, power=0.75):
    return base_lr * (1 + gamma * iteration) ** power
""", 1, "the rate grows", [2]),
    "06 power 1": ("06_train.py", """
def inv_lr(base_lr, iteration, gamma=1e-4, power=0.75):
    return base_lr / (1 + gamma * iteration)
""", 1, "ignores the power", [2]),
    "06 not stratified": ("06_train.py", """
def validation_split(labels, n_val, seed=0):
    order = np.random.default_rng(seed).permutation(len(labels))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
""", 2, "not stratified", [1]),
    "06 floors": ("06_train.py", solution_with(
        "06_train.py", "validation_split",
        ("    take[np.argsort(share - take)[::-1][:rest]] += 1\n", "")),
        2, "largest remainders", [1]),
    "06 overlap": ("06_train.py", """
_right_split = validation_split
def validation_split(labels, n_val, seed=0):
    train, val = _right_split(labels, n_val, seed)
    return np.arange(len(labels)), val
""", 2, "in both splits", [1]),
    "06 replacement": ("06_train.py", """
_right_split = validation_split
def validation_split(labels, n_val, seed=0):
    train, val = _right_split(labels, n_val, seed)
    return train, np.concatenate([val[:-1], val[:1]])
""", 2, "without replacement", [1]),
    "01 pad ignored": ("01_im2col.py", """
def conv_output_size(h, k, stride=1, pad=0):
    return (h - k) // stride + 1
""", 1, "the padding is ignored", []),
    "01 stride ignored in the size": ("01_im2col.py", """
def conv_output_size(h, k, stride=1, pad=0):
    return h + 2 * pad - k + 1
""", 1, "positions are `stride` apart", []),
    "01 n innermost": ("01_im2col.py", """
_right_im2col = im2col_loops
def im2col_loops(x, kh, kw, stride=1, pad=0):
    n = x.shape[0]
    cols = _right_im2col(x, kh, kw, stride, pad)
    return cols.reshape(n, -1, cols.shape[1]).transpose(1, 0, 2).reshape(cols.shape)
""", 2, "one image's patches are contiguous", [1]),
    "02 (i, j, c) rows": ("02_conv_backward.py", """
_right_col2im = col2im_mine
def col2im_mine(cols, x_shape, kh, kw, stride=1, pad=0):
    c = x_shape[1]
    flipped = cols.reshape(-1, c, kh, kw).transpose(0, 2, 3, 1).reshape(cols.shape)
    return _right_col2im(flipped, x_shape, kh, kw, stride, pad)
""", 1, "row.reshape(C, kh, kw)", [2]),
    "02 batch mean": ("02_conv_backward.py", """
_right_dw = conv_weight_grad
def conv_weight_grad(x, dy, kh, kw, stride=1, pad=0):
    return _right_dw(x, dy, kh, kw, stride, pad) / x.shape[0]
""", 2, "already inside dy", [1]),
    "06 exp schedule": ("06_train.py", """
def inv_lr(base_lr, iteration, gamma=1e-4, power=0.75):
    return base_lr * gamma ** (power * iteration)
""", 1, "a power law", [2]),
    "06 gamma powered": ("06_train.py", """
def inv_lr(base_lr, iteration, gamma=1e-4, power=0.75):
    return base_lr / (1 + gamma ** -power * iteration)
""", 1, "γ multiplies the iteration", [2]),
    "06 rounds": ("06_train.py", solution_with(
        "06_train.py", "validation_split",
        ("np.floor(share)", "np.round(share)"),
        ("    take[np.argsort(share - take)[::-1][:rest]] += 1\n", "")),
        2, "does not keep the total", [1]),
    "05 paper form": ("05_objective.py", """
def kernel_decay(p, length_scale, n_train, tau=1.0):
    return (1 - p) * length_scale**2 / (2 * n_train * tau)
""", 1, "paper's keep·l²/(2Nτ)", [2]),
    "05 divides by p": ("05_objective.py", """
def kernel_decay(p, length_scale, n_train, tau=1.0):
    return length_scale**2 / (2 * n_train * tau * p)
""", 1, "*drop* probability", [2]),
    "05 tau ignored": ("05_objective.py", """
def kernel_decay(p, length_scale, n_train, tau=1.0):
    return length_scale**2 / (2 * n_train * (1 - p))
""", 1, "τ is ignored", [2]),
    "05 output side": ("05_objective.py", """
def input_side_keep(model):
    from tinybcnn.objective import dropout_keep_per_layer
    return dropout_keep_per_layer(model)
""", 2, "output-side reading", [1]),
    "05 through pooling": ("05_objective.py", """
def input_side_keep(model):
    from tinybcnn.nn import Conv2D, Dense, Dropout
    keep, pending = {}, None
    for name, layer in model:
        if isinstance(layer, (Conv2D, Dense)):
            keep[name] = 1.0 if pending is None else pending
            pending = None
        elif isinstance(layer, Dropout) and layer.p > 0 and pending is None:
            pending = 1 - layer.p
    return keep
""", 2, "pooling layer sits between", [1]),
    "05 p = 0 dropout": ("05_objective.py", """
def input_side_keep(model):
    from tinybcnn.nn import Conv2D, Dense, Dropout, Flatten, ReLU
    keep, pending = {}, None
    for name, layer in model:
        if isinstance(layer, (Conv2D, Dense)):
            keep[name] = 1.0 if pending is None else pending
            pending = None
        elif isinstance(layer, Dropout):
            if pending is None:
                pending = 1 - layer.p
        elif not isinstance(layer, (ReLU, Flatten)):
            pending = None
    return keep
""", 2, "Dropout(0.0) drops nothing", [1]),
    "07 1 - max p-bar": ("07_mc_dropout.py", """
def variation_ratio(P):
    return 1 - P.mean(0).max(-1)
""", 2, "active-learning paper's variation ratio", [1, 3]),
    "07 floor": ("07_mc_dropout.py", """
def n_variation_ratios(T, K):
    return T - T // K + 1
""", 3, "floor instead of ceil", [1, 2]),
    "07 T + 1": ("07_mc_dropout.py", """
def n_variation_ratios(T, K):
    return T + 1
""", 3, "pigeonhole", [1, 2]),
    "08 keep times": ("08_gpu.py", """
def inverted_dropout(x, z, p):
    return x * z * (1 - p)
""", 1, "non-inverted test-time scaling", [2]),
    "08 leaves the backend": ("08_gpu.py", """
def inverted_dropout(x, z, p):
    return np.asarray(x) * np.asarray(z) / (1 - p)
""", 1, "left the backend", [2]),
    "08 threshold from p": ("08_gpu.py", """
def mask_from_words(words, p):
    from tinybcnn.backend import xp_of
    xp = xp_of(words)
    if p == 0:
        return xp.ones(words.shape, dtype=xp.float32)
    return xp.astype(words < round(p * 2**32), xp.float32) / (1 - p)
""", 2, "*drop* probability", [1]),
    "08 float64": ("08_gpu.py", """
def mask_from_words(words, p):
    from tinybcnn.backend import xp_of
    xp = xp_of(words)
    if p == 0:
        return xp.ones(words.shape, dtype=xp.float64)
    return xp.astype(words < round((1 - p) * 2**32), xp.float64) / (1 - p)
""", 2, "silent upcast", [1]),
    "08 0/1 mask": ("08_gpu.py", """
def mask_from_words(words, p):
    from tinybcnn.backend import xp_of
    xp = xp_of(words)
    if p == 0:
        return xp.ones(words.shape, dtype=xp.float32)
    return xp.astype(words < round((1 - p) * 2**32), xp.float32)
""", 2, "E[mask] = 1", [1]),
    "08 float words": ("08_gpu.py", """
def mask_from_words(words, p):
    from tinybcnn.backend import xp_of
    xp = xp_of(words)
    return xp.astype(words / 2**32 < 1 - p, xp.float32) / (1 - p)
""", 2, "integer threshold", [1]),
    "08 host mask": ("08_gpu.py", """
def mask_from_words(words, p):
    w = np.asarray(words)
    if p == 0:
        return np.ones(w.shape, dtype=np.float32)
    return (w < round((1 - p) * 2**32)).astype(np.float32) / np.float32(1 - p)
""", 2, "left the namespace", [1]),
    "08 p = 0": ("08_gpu.py", """
def mask_from_words(words, p):
    from tinybcnn.backend import xp_of
    xp = xp_of(words)
    return xp.astype(words < round((1 - p) * 2**32), xp.float32) / (1 - p)
""", 2, "p = 0", [1]),
    "09 no noise": ("09_regression.py", """
def predictive_variance(samples, tau):
    return samples.var(axis=0)
""", 1, "noise 1/τ is missing", [2]),
    "09 unbiased": ("09_regression.py", """
def predictive_variance(samples, tau):
    return 1 / tau + samples.var(axis=0, ddof=1)
""", 1, "population variance", [2]),
    "09 mean of logs": ("09_regression.py", """
def mc_log_likelihood(samples, y, tau):
    return np.mean(-0.5 * tau * (y - samples) ** 2 + 0.5 * np.log(tau / (2 * np.pi)))
""", 2, "Jensen", [1]),
    "09 underflow": ("09_regression.py", """
def mc_log_likelihood(samples, y, tau):
    d = np.sqrt(tau / (2 * np.pi)) * np.exp(-0.5 * tau * (y - samples) ** 2)
    return np.mean(np.log(np.mean(d, axis=0)))
""", 2, "log-sum-exp", [1]),
    "10 vote count": ("10_active_learning.py", """
def variation_ratio_mean(P):
    T, _, K = P.shape
    votes = P.argmax(-1)
    return 1 - np.stack([(votes == k).sum(0) for k in range(K)], 1).max(1) / T
""", 1, "vote count", [2]),
    "10 reversed argsort": ("10_active_learning.py", """
def top_k(scores, k):
    return np.argsort(scores, kind="stable")[::-1][:k]
""", 2, "later* of two tied", [1]),
    "11 mask not inverted": ("11_rivals.py", """
def concrete_mask(u, p, t):
    s = (np.log(p) - np.log1p(-p) + np.log(u) - np.log1p(-u)) / t
    return 1 - 1 / (1 + np.exp(-s))
""", 2, "not inverted", [1, 3]),
    "11 gradient through z only": ("11_rivals.py", """
def concrete_mask_grad(u, p, t):
    s = (np.log(p) - np.log1p(-p) + np.log(u) - np.log1p(-u)) / t
    z = 1 / (1 + np.exp(-s))
    return -z * (1 - z) / (t * (1 - p))
""", 3, "depends on a too", [1, 2]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(WRONG))
def test_wrong_answer_is_explained_and_the_others_still_graded(case, tmp_path):
    name, override, number, phrase, others = WRONG[case]
    result = run_with(name, override, tmp_path)
    out = result.stdout
    assert result.returncode != 0, out
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("AssertionError: not yet right"), result.stderr[-2000:]
    assert f"exercise {number}: not yet right." in out, out
    assert phrase in out, out
    for k in others:
        assert f"exercise {k}: correct" in out, out


@pytest.mark.parametrize("name", sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py")))
def test_every_assert_in_the_check_cells_says_why(name):
    # a bare `assert cond` in a check would show the student a bare AssertionError
    checks = dict(split_cells((TUTORIALS / name).read_text("utf-8")))[CHECKS_CELL]
    nodes = list(ast.walk(ast.parse(checks)))
    asserts = [node for node in nodes if isinstance(node, ast.Assert)]
    raises = [node for node in nodes if isinstance(node, ast.Raise)]
    assert len(asserts) + len(raises) >= 3
    bare = [ast.unparse(node.test) for node in asserts if node.msg is None]
    assert not bare, bare


# the tutorials whose exercise 1 is the shared mutual-information check: (answer's name,
# the other exercises, which must still be graded correct)
MI_TUTORIALS = {"07_mc_dropout.py": ("mutual_information", [2, 3]),
                "11_rivals.py": ("members_mutual_info", [2, 3])}


@pytest.mark.slow   # one fresh interpreter per tutorial, for every plant
@pytest.mark.parametrize("name", sorted(MI_TUTORIALS))
def test_each_wrong_mutual_information_is_explained_in_both_tutorials(name, tmp_path):
    # every wrong answer tinybcnn.exercises.check_mutual_information recognises, planted in
    # each tutorial that uses it, and the check cell run once per plant in one interpreter
    # (a fresh one per plant would cost CI a second or more each)
    function, others = MI_TUTORIALS[name]
    checks = dict(split_cells((TUTORIALS / name).read_text("utf-8")))[CHECKS_CELL]
    answers = [(SOLUTIONS / name).read_text(encoding="utf-8"), f"CHECKS = {checks!r}"]
    for case in sorted(WRONG_MI):
        answers += [WRONG_MI[case][0].format(name=function),
                    f"print('=== plant {case}')",
                    "try:\n    exec(CHECKS, globals())\n"
                    "except AssertionError as error:\n    print('=== raised', error)\n"
                    "else:\n    print('=== passed')"]
    answers.append(answers[0])            # the right answers again for the cell's own run
    result = run_exercises(TUTORIALS / name, "\n\n".join(answers), tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    runs = dict(re.findall(r"^=== plant ([^\n]+)\n(.*?)(?=^=== plant |\Z)", result.stdout,
                           flags=re.MULTILINE | re.DOTALL))
    assert sorted(runs) == sorted(WRONG_MI), result.stdout[-3000:]
    for case, out in runs.items():
        phrase = WRONG_MI[case][1]
        assert "=== raised not yet right: exercise 1:" in out, (case, out)
        assert "exercise 1: not yet right." in out and phrase in out, (case, out)
        for k in others:
            assert f"exercise {k}: correct" in out, (case, out)


def test_every_tutorial_has_a_planted_wrong_answer_for_each_exercise():
    # each exercise of every tutorial has at least one recognised wrong answer planted above
    planted = {(name, number) for name, _, number, _, _ in WRONG.values()}
    planted |= {(name, 1) for name in MI_TUTORIALS}
    for path in sorted(TUTORIALS.glob("[0-9][0-9]_*.py")):
        for k in range(1, n_exercises(path) + 1):
            assert (path.name, k) in planted, (path.name, k)


def test_a_plant_is_refused_where_its_fragment_is_not_in_the_solution_once():
    # else an edited solution would silently plant itself, a "wrong" answer that is right
    with pytest.raises(ValueError, match="0 times"):
        solution_with("02_conv_backward.py", "col2im_mine", ("] -= patch", "] = patch"))
    with pytest.raises(ValueError, match="times, not once"):
        solution_with("04_patch_masking.py", "patch_masked_conv", ("c_out", "c"))
