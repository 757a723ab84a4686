"""``evaluate`` shows a bar of its MC passes on a terminal, on stderr only (issue 30): stdout
holds the results table alone, a log (stderr not a terminal) and ``--quiet`` get no bar, and
the bar changes no number (it is updated between batches).

The oracle for the numbers is the same evaluation without a bar; for the batches, the count of
inputs ``mc_predict`` was given.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.cli import call, train_tiny_run

from tinybcnn import mc_tiles, progress
from tinybcnn.models import lenet
from tinybcnn.predict import mc_predict

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("evalbar") / "run")


def evaluate(run, capsys, *extra):
    code, out, err = call(["evaluate", run, "--samples", "3", *extra], capsys)
    assert code == 0, err
    return out, err, json.loads((run / "metrics.json").read_text())


def test_the_bar_goes_to_stderr_on_a_terminal_and_stdout_stays_the_table(run, capsys,
                                                                         monkeypatch):
    quiet_out, quiet_err, quiet_metrics = evaluate(run, capsys, "--quiet")
    assert quiet_err == ""
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    out, err, metrics = evaluate(run, capsys)
    assert "MC dropout, T = 3" in err and "100/100" in err, err
    assert out == quiet_out                       # the results table, and nothing else
    assert "\r" not in out and "MC dropout" not in out
    assert metrics == quiet_metrics               # the bar changes no number


def test_no_bar_in_a_log_or_with_quiet(run, capsys, monkeypatch):
    _, err, _ = evaluate(run, capsys)             # capsys's stderr is not a terminal
    assert err == ""
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    _, err, _ = evaluate(run, capsys, "--quiet")
    assert err == ""


def test_on_batch_counts_every_input_once_and_changes_nothing(monkeypatch):
    # tiles of 5 inputs (steps are whole tiles: tinybcnn.mc_tiles), so that there are several
    monkeypatch.setattr(mc_tiles, "HOST", mc_tiles.Reference(5, 64 * 2**20))
    model = lenet("all", p=0.5, in_shape=(1, 28, 28), n_classes=10, seed=0)
    x = np.random.default_rng(0).random((23, 1, 28, 28), dtype=np.float32)
    seen: list[int] = []
    with_bar = mc_predict(model, x, samples=3, seed=1, batch_size=5, on_batch=seen.append)
    without = mc_predict(model, x, samples=3, seed=1, batch_size=5)
    assert seen == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(with_bar.probs, without.probs)
