"""The machine's load changes a training step's speed, never its numbers.

The thread count a NumPy step may use follows the load (tinybcnn/threads.py). The step must
compute the same bits whatever it is: its batch is always cut in the same two halves, each on
one BLAS thread, and the count decides only whether they run side by side. The oracle is the
run on the other count: a change that made the arithmetic follow the threads (the whole batch
on one thread, halves on two, as before) fails these tests.
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import threadpoolctl  # a dependency of the package (pyproject.toml)

import tinybcnn as tb
from tinybcnn import threads
from tinybcnn.checkpoint import read_checkpoint
from tinybcnn.runs import CHECKPOINT, CONFIG, RunConfig, train_run
from tinybcnn.training import split

TINY_RUN = dict(model="lenet-all", dataset="embedded", train_size=64, test_size=16,
                batch_size=16, eval_every=2, eval_samples=0, seed=5, backend="numpy")


@pytest.fixture(autouse=True)
def _nobody_chose(monkeypatch):
    if not threads.blas_threads():
        pytest.skip("no BLAS library loaded")
    monkeypatch.setattr(threads, "_applied", None)
    monkeypatch.delenv(threads.ENV_VAR, raising=False)


@contextmanager
def on_threads(monkeypatch, blas: int, steps: int):
    """BLAS on ``blas`` threads and training steps on ``steps``, as apply_threads sets them
    (set directly: on a 1-CPU machine --threads 2 would be clamped to 1)."""
    with threadpoolctl.threadpool_limits(limits=blas, user_api="blas"):
        monkeypatch.setattr(threads, "_step_threads", steps)
        try:
            yield
        finally:
            monkeypatch.setattr(threads, "_step_threads", None)


def train_steps(steps: int = 4, batch: int = 16, model_fn=None, in_shape=(1, 28, 28)):
    """Float32 lenet-all (28×28, big enough at batch 16 to be cut in halves), ``steps`` SGD
    steps with momentum and decay, on batches of ``batch``, ``batch - 1``, ``batch - 2`` rows."""
    rng = np.random.default_rng(7)
    model = (model_fn or (lambda: tb.models.lenet("all", seed=0)))()
    x = rng.random((batch, *in_shape), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    objective = tb.objective.Objective.for_model(model, n_train=500, weight_decay=5e-4)
    trainer = tb.train.Trainer(model, objective, tb.optim.SGD(model, momentum=0.9), seed=3)
    losses = [trainer.step(x[: batch - k % 3], y[: batch - k % 3]) for k in range(steps)]
    return losses, {k: v.copy() for k, v in model.params.items()}


@pytest.mark.parametrize("blas, steps", [(1, 2), (2, 1), (2, 2), (3, 3)])
def test_one_thread_and_more_train_to_the_same_bits(monkeypatch, blas, steps):
    """1 thread (the halves one after the other) against 2 or 3 (side by side), and BLAS
    counts that differ from the step's: the same losses and weights, bit for bit."""
    with on_threads(monkeypatch, 1, 1):
        losses, params = train_steps()
    workers = []
    real = split._executor
    monkeypatch.setattr(split, "_executor", lambda: workers.append(1) or real())
    with on_threads(monkeypatch, blas, steps):
        other_losses, other = train_steps()
    assert bool(workers) == (steps >= 2)          # side by side only where it may
    assert other_losses == losses
    for name, value in params.items():
        assert np.array_equal(other[name], value), name


def test_a_step_too_small_to_halve_runs_whole_on_one_blas_thread_on_any_count(monkeypatch):
    """A small MLP (below tinybcnn.threads.MIN_SPLIT_WORK) is one part: never side by side,
    and the same bits with 1 and 2 BLAS threads in force."""
    def mlp():
        return tb.models.mlp((6, 64, 10), p=0.2, seed=0)

    assert split.split_parts(np.zeros((16, 6), np.float32), mlp(),
                             tb.objective.Objective.for_model(mlp(), n_train=500,
                                                             weight_decay=5e-4)) == 1
    workers = []
    real = split._executor
    monkeypatch.setattr(split, "_executor", lambda: workers.append(1) or real())
    runs = []
    for blas, steps in ((1, 1), (2, 2)):
        with on_threads(monkeypatch, blas, steps):
            runs.append(train_steps(batch=16, model_fn=mlp, in_shape=(6,)))
    assert not workers
    assert runs[1][0] == runs[0][0]
    for name, value in runs[0][1].items():
        assert np.array_equal(runs[1][1][name], value), name


def _train(out, iterations, resume=False):
    config = None if resume else RunConfig(iterations=iterations, **TINY_RUN)
    train_run(config, out, resume=resume, progress=False, total=(iterations, None))
    return {k: np.asarray(v) for k, v in read_checkpoint(out / CHECKPOINT).params.items()}


def test_a_run_begun_on_one_thread_and_resumed_on_two_equals_a_straight_run(tmp_path,
                                                                           monkeypatch):
    """Begun on a busy machine with --threads 1, resumed idle with --threads 2 (an explicit
    count wins over the recorded one): the weights of an uninterrupted run on either."""
    with on_threads(monkeypatch, 2, 2):
        straight = _train(tmp_path / "straight", 6)
    with on_threads(monkeypatch, 1, 1):
        _train(tmp_path / "cut", 3)
    assert json.loads((tmp_path / "cut" / CONFIG).read_text())["step_threads"] == 1
    monkeypatch.setattr(threads, "_applied", threads.ThreadChoice(2, "--threads"))
    with on_threads(monkeypatch, 2, 2), warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "continues with 2 BLAS threads (as asked)"
        resumed = _train(tmp_path / "cut", 6, resume=True)
    for name, value in straight.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


def test_a_single_row_batch_is_one_part_on_one_blas_thread(monkeypatch):
    """Batch size 1 cannot be halved: one part, still on one BLAS thread whatever the count,
    and its gradient is the whole-batch pass's (float64, the textbook objective)."""
    model = tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=4, seed=0
                            ).astype(np.float64)
    objective = tb.objective.Objective.for_model(model, n_train=500, weight_decay=5e-4)
    x = np.random.default_rng(1).random((1, 1, 16, 16))
    y = np.array([2])
    loss = objective(model, x, y, rng=np.random.default_rng(4))
    grads = {k: v.copy() for k, v in model.grads.items()}
    seen = []
    layer = model.layers["conv1"]
    real = layer.forward
    monkeypatch.setattr(layer, "forward", lambda *a, **k: seen.append(
        threads.blas_threads_now()) or real(*a, **k))
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        got = split.split_loss_and_grads(objective, model, x, y, np.random.default_rng(4))
    assert seen == [1]
    assert got == pytest.approx(loss, rel=1e-13)
    for name, g in grads.items():
        np.testing.assert_allclose(model.grads[name], g, rtol=1e-12, atol=1e-15, err_msg=name)
