"""The exercise check cells recognise the common wrong answers and say why they are wrong.

Each case takes a tutorial's solutions, redefines one answer as a wrong answer a student
is likely to write, and runs the tutorial's import cell, those answers and its check cell
(as tests/test_tutorials.py does with the right answers). The check cell must

* fail (an ``AssertionError``, as a reader running the cell would see), with a message, not a
  bare ``AssertionError``;
* print the explanation of that wrong answer (a phrase of it is matched here);
* still grade the other exercises: each is graded on its own, so they print ``correct``.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
SOLUTIONS = TUTORIALS / "solutions"
CHECKS_CELL = "# %% Exercise checks"


def exercise_script(tutorial: Path, answers: str) -> str:
    """The tutorial's import cell, then ``answers``, then its exercise check cell."""
    parts = re.split(r"^(# %%.*)$", tutorial.read_text(encoding="utf-8"), flags=re.MULTILINE)
    cells = list(zip(parts[1::2], parts[2::2], strict=True))
    imports = next(body for marker, body in cells if "[markdown]" not in marker)
    checks = next(body for marker, body in cells if marker.strip() == CHECKS_CELL)
    return "\n".join([imports, answers, checks])


def run_with(name: str, override: str, tmp_path: Path) -> subprocess.CompletedProcess:
    answers = (SOLUTIONS / name).read_text(encoding="utf-8") + "\n\n" + override
    script = tmp_path / f"exercises_{name}"
    script.write_text(exercise_script(TUTORIALS / name, answers), encoding="utf-8")
    env = {**os.environ, "TINYBCNN_QUICK": "1", "TINYBCNN_TUTORIAL_OUT": str(tmp_path),
           "TINYBCNN_BACKEND": "numpy", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


# (tutorial, wrong answer, exercise it answers, a phrase of the explanation, other exercises)
WRONG = {
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
    "07 naive entropy": ("07_mc_dropout.py", """
def mutual_information(P):
    def H(p):
        return -np.sum(p * np.log(p), axis=-1)
    return H(P.mean(0)) - H(P).mean(0)
""", 1, "0 · log 0", [2, 3]),
    "07 sign": ("07_mc_dropout.py", """
def mutual_information(P):
    from tinybcnn.predict import entropy
    return entropy(P).mean(0) - entropy(P.mean(0))
""", 1, "the sign", [2, 3]),
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
""", 1, "non-inverted test-time scaling", []),
    "08 leaves the backend": ("08_gpu.py", """
def inverted_dropout(x, z, p):
    return np.asarray(x) * np.asarray(z) / (1 - p)
""", 1, "left the backend", []),
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


@pytest.mark.parametrize("name", ["05_objective.py", "07_mc_dropout.py", "08_gpu.py",
                                  "09_regression.py", "10_active_learning.py"])
def test_every_assert_in_these_check_cells_says_why(name):
    # a bare `assert cond` in a check would show the student a bare AssertionError
    parts = re.split(r"^(# %%.*)$", (TUTORIALS / name).read_text("utf-8"), flags=re.MULTILINE)
    checks = dict(zip(parts[1::2], parts[2::2], strict=True))[CHECKS_CELL]
    asserts = [node for node in ast.walk(ast.parse(checks)) if isinstance(node, ast.Assert)]
    assert len(asserts) >= 3
    bare = [ast.unparse(node.test) for node in asserts if node.msg is None]
    assert not bare, bare
