"""A resumed run trains on the thread counts it started with, BLAS's and the training
step's (docs/architecture.md: for its speed; neither the training step's bits nor the
evaluations' follow a count, tests/training/test_step_bits.py,
tests/model/test_predict_bits.py)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import threadpoolctl  # a dependency of the package (pyproject.toml)

from tinybcnn import threads
from tinybcnn.checkpoint import read_checkpoint
from tinybcnn.runs import CHECKPOINT, CONFIG, RunConfig, train_run

pytestmark = pytest.mark.slow  # trains and resumes runs (pytest -m "not slow" leaves it out)

# big enough that OpenBLAS splits conv2's products between two threads
SMALL = dict(model="lenet-all", dataset="embedded", train_size=256, test_size=64,
             batch_size=64, eval_every=3, eval_samples=0, seed=3, backend="numpy")


@pytest.fixture(autouse=True)
def _nobody_chose(monkeypatch):
    if not threads.blas_threads():
        pytest.skip("no BLAS library loaded")
    monkeypatch.setattr(threads, "_applied", None)
    monkeypatch.delenv(threads.ENV_VAR, raising=False)


def _train(out, iterations, blas, resume=False, steps=None, monkeypatch=None):
    """Train or resume with ``blas`` BLAS threads in force, and training steps on ``steps``
    threads (None: the BLAS count, as when nobody chose a count)."""
    if steps is not None:
        monkeypatch.setattr(threads, "_step_threads", steps)
    with threadpoolctl.threadpool_limits(limits=blas, user_api="blas"):
        config = None if resume else RunConfig(iterations=iterations, **SMALL)
        train_run(config, out, resume=resume, progress=False, total=(iterations, None))
    if steps is not None:
        monkeypatch.setattr(threads, "_step_threads", None)
    return read_checkpoint(out / CHECKPOINT)


def _params(checkpoint):
    return {k: np.asarray(v) for k, v in checkpoint.params.items()}


def test_blas_count_changes_the_bits_of_a_forward_pass_so_it_matters():
    """The premise: the same weights predict other float32 bits on 1 and on 2 BLAS threads
    (OpenBLAS splits its products by the thread count), so a resumed run's evaluations use
    the count it began with."""
    import tinybcnn as tb
    x = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
    model = tb.models.lenet("all", seed=0)
    outs = []
    for blas in (1, 2):
        with threadpoolctl.threadpool_limits(limits=blas, user_api="blas"):
            outs.append(model.forward(x).copy())
    assert not np.array_equal(*outs)


def test_resume_uses_the_thread_count_the_run_started_with(tmp_path):
    whole = _params(_train(tmp_path / "whole", 6, blas=2))
    _train(tmp_path / "cut", 3, blas=2)
    assert json.loads((tmp_path / "cut" / CONFIG).read_text())["blas_threads"] == 2
    # the load now says one thread: the resumed run must still train on two
    resumed = _params(_train(tmp_path / "cut", 6, blas=1, resume=True))
    for name, value in whole.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    assert threads.current_blas_threads() is not None


def test_a_run_begun_on_a_busy_machine_resumes_on_the_counts_it_began_with(tmp_path,
                                                                          monkeypatch):
    """Begun beside a competitor: BLAS on 1 thread, steps in two halves (the automatic
    choice, tinybcnn/threads.py); resumed on an idle machine (2 and 2), it trains on 1 and 2
    again, and ends where the uninterrupted run does."""
    whole = _params(_train(tmp_path / "whole", 6, blas=1, steps=2, monkeypatch=monkeypatch))
    _train(tmp_path / "cut", 3, blas=1, steps=2, monkeypatch=monkeypatch)
    config = json.loads((tmp_path / "cut" / CONFIG).read_text())
    assert (config["blas_threads"], config["step_threads"]) == (1, 2)
    resumed = _params(_train(tmp_path / "cut", 6, blas=2, resume=True))
    for name, value in whole.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    # and the step's count changes no bits: its halves one after the other end there too
    other = _params(_train(tmp_path / "other", 6, blas=1, steps=1, monkeypatch=monkeypatch))
    for name, value in whole.items():
        np.testing.assert_array_equal(other[name], value, err_msg=name)


def test_resume_with_another_explicit_count_warns(tmp_path, monkeypatch):
    _train(tmp_path / "cut", 3, blas=2)
    monkeypatch.setattr(threads, "_applied", threads.ThreadChoice(1, "--threads"))
    # the count changes the speed only (the step's partition and prediction's parts are fixed)
    with pytest.warns(UserWarning, match="speed may differ, its weights and scores are the same"):
        _train(tmp_path / "cut", 6, blas=1, resume=True)


def test_the_previous_count_is_restored_after_the_run(tmp_path):
    _train(tmp_path / "cut", 3, blas=2)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")           # nobody chose: no warning
            train_run(None, tmp_path / "cut", resume=True, progress=False, total=(6, None))
        assert threads.current_blas_threads() == 1


def test_a_config_without_the_field_still_loads_and_resumes(tmp_path):
    _train(tmp_path / "old", 3, blas=1)
    path = tmp_path / "old" / CONFIG
    raw = json.loads(path.read_text())
    del raw["blas_threads"], raw["step_threads"]     # a run of an earlier release
    path.write_text(json.dumps(raw))
    assert RunConfig.load(path).blas_threads is None
    _train(tmp_path / "old", 6, blas=1, resume=True)


def test_a_config_with_blas_threads_only_resumes_with_steps_on_that_count(tmp_path,
                                                                          monkeypatch):
    """A run of the release before step_threads: its steps followed the BLAS count."""
    whole = _params(_train(tmp_path / "whole", 6, blas=1))
    _train(tmp_path / "old", 3, blas=1)
    path = tmp_path / "old" / CONFIG
    raw = json.loads(path.read_text())
    del raw["step_threads"]
    path.write_text(json.dumps(raw))
    # an automatic choice on a busy machine now: BLAS 1, steps in halves
    resumed = _params(_train(tmp_path / "old", 6, blas=1, resume=True, steps=2,
                             monkeypatch=monkeypatch))
    for name, value in whole.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


@pytest.mark.parametrize("name", ["blas_threads", "step_threads"])
def test_thread_counts_must_be_positive_integers_or_null(name):
    with pytest.raises(ValueError, match=name):
        RunConfig(**{name: 0}).validate()
    with pytest.raises(ValueError, match=name):
        RunConfig(**{name: "2"}).validate()
    assert RunConfig(**{name: 2}) == RunConfig(**{name: 1})   # not part of equality


def test_cli_resume_with_another_thread_count_says_so_in_one_line(tmp_path):
    import subprocess
    import sys
    out = tmp_path / "run"
    base = [sys.executable, "-m", "tinybcnn", "train", "--model", "lenet-all",
            "--train-size", "256", "--test-size", "64", "--eval-every", "3",
            "--eval-samples", "0", "--out", str(out), "--quiet"]
    first = subprocess.run(base + ["--iterations", "3", "--threads", "2"],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([sys.executable, "-m", "tinybcnn", "train", "--resume", "--out",
                            str(out), "--iterations", "6", "--quiet", "--threads", "1"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    lines = [ln for ln in again.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("tinybcnn: warning: "), again.stderr
    assert "started with 2 BLAS threads and continues with 1 BLAS thread " in lines[0]
