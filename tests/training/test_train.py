"""The training loop: learning, reproducibility, exact resume, NaN and Ctrl-C handling, the
evaluation log, input checks, and one real training run (slow)."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sys

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn.checkpoint import CheckpointError, read_checkpoint
from tinybcnn.train import COLUMNS, History, Trainer, TrainingDiverged, TrainingInterrupted
from tinybcnn.training import split

IN_SHAPE = (1, 16, 16)
N, K, BATCH = 96, 3, 40  # 96 / 40: batches straddle epoch boundaries


@pytest.fixture(scope="module")
def data():
    """A small learnable problem: the class sets which quadrant is bright, plus noise."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, K, N + 30)
    x = rng.normal(0, 0.3, (N + 30, *IN_SHAPE)).astype(np.float32)
    for c in range(K):
        r, s = divmod(c, 2)
        x[y == c, 0, 8 * r:8 * r + 8, 8 * s:8 * s + 8] += 1.0
    return x[:N], y[:N], x[N:], y[N:]


@pytest.fixture(params=[1, 2], ids=["one-thread", "two-threads"])
def parts(request, monkeypatch):
    """Run every step's two halves one after the other, or side by side
    (``tinybcnn/training/split.py``: what a step does on one thread and on two), whatever
    this machine's thread count."""
    monkeypatch.setattr(split, "step_threads", lambda: request.param)
    monkeypatch.setattr(tb.threads, "MIN_SPLIT_WORK", 0)   # the small LeNet here is cut too
    return request.param


def make_trainer(seed: int = 0, variant: str = "all", lr: float = 0.05, optimizer: str = "sgd",
                 model_seed: int = 0) -> Trainer:
    model = tb.models.lenet(variant, p=0.5, in_shape=IN_SHAPE, n_classes=K, seed=model_seed)
    obj = tb.objective.Objective.for_model(model, n_train=N, length_scale=1e-2)
    if optimizer == "adam":
        opt = tb.optim.Adam(model, lr=lr / 50)
    else:
        opt = tb.optim.SGD(model, lr=lr, momentum=0.9, schedule=tb.optim.inv(1e-2, 0.75))
    return Trainer(model, obj, opt, seed=seed)


def assert_same_params(a: Trainer, b: Trainer) -> None:
    assert a.model.params.keys() == b.model.params.keys()
    for k in a.model.params:
        assert np.array_equal(a.model.params[k], b.model.params[k]), k


def without_time(history: History) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time"} for row in history]


# ------------------------------------------------------------------------------ learning


def test_step_decreases_the_loss_on_a_fixed_batch(data):
    x, y, _, _ = data
    trainer = make_trainer()
    losses = [trainer.step(x[:32], y[:32]) for _ in range(40)]
    assert trainer.iteration == 40
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_step_leaves_params_alone_when_the_loss_is_nan(data):
    x, y, _, _ = data
    trainer = make_trainer()
    trainer.model.layers["ip2"].params["b"][0] = np.nan  # NaN logits, NaN loss
    before = {k: v.copy() for k, v in trainer.model.params.items()}
    with pytest.raises(TrainingDiverged, match="iteration 1: the loss is nan"):
        trainer.step(x[:8], y[:8])
    assert trainer.iteration == 0 and trainer.optimizer.iteration == 0
    for k, v in before.items():
        assert np.array_equal(trainer.model.params[k], v, equal_nan=True)


def test_fit_learns_and_evaluates(data):
    x, y, xv, yv = data
    trainer = make_trainer()
    history = trainer.fit(x, y, iterations=40, batch_size=BATCH, x_val=xv, y_val=yv,
                          mc_samples=5, progress=False)
    assert history is trainer.history and len(history) == 1  # one row, at the end
    row = history[-1]
    assert row["iteration"] == 40 and row["std_error"] < 0.1 and row["mc_error"] < 0.1
    assert row["epoch"] == pytest.approx(40 * BATCH / N)


def test_epochs_count_in_whole_passes(data):
    x, y, _, _ = data
    trainer = make_trainer()
    trainer.fit(x, y, epochs=2, batch_size=32, progress=False)
    assert trainer.iteration == 6 and trainer.epoch == 2.0


# ------------------------------------------------------------------------------ reproducibility


def test_same_seed_same_weights_other_seed_other_weights(parts, data):
    x, y, _, _ = data
    a, b, c = make_trainer(seed=1), make_trainer(seed=1), make_trainer(seed=2)
    for t in (a, b, c):
        t.fit(x, y, iterations=8, batch_size=BATCH, progress=False)
    assert_same_params(a, b)
    assert any(not np.array_equal(a.model.params[k], c.model.params[k]) for k in a.model.params)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_is_bit_for_bit(parts, data, tmp_path, optimizer):
    """N iterations, save, resume in a fresh trainer, M more == N + M straight."""
    x, y, xv, yv = data
    kw = dict(batch_size=BATCH, x_val=xv, y_val=yv, eval_every=3, mc_samples=3, progress=False)
    straight = make_trainer(seed=3, optimizer=optimizer)
    straight.fit(x, y, iterations=14, **kw)

    first = make_trainer(seed=3, optimizer=optimizer)
    first.fit(x, y, iterations=6, checkpoint_path=tmp_path / "c.npz", **kw)  # 6 = 2·3
    # a fresh trainer with other initial weights and another seed: all of it is restored
    resumed = make_trainer(seed=7, optimizer=optimizer, model_seed=5)
    resumed.resume(tmp_path / "c.npz")
    assert resumed.iteration == 6 and resumed.seed == 3
    resumed.fit(x, y, iterations=14, **kw)

    assert_same_params(straight, resumed)
    for k, v in straight.optimizer.buffers.items():
        assert np.array_equal(resumed.optimizer.buffers[k], v)
    assert without_time(resumed.history) == without_time(straight.history)
    assert [r["iteration"] for r in straight.history] == [3, 6, 9, 12, 14]


def test_resume_refuses_another_objective_or_batch_size(data, tmp_path):
    x, y, _, _ = data
    trainer = make_trainer()
    trainer.fit(x, y, iterations=3, batch_size=BATCH, progress=False)
    path = trainer.save(tmp_path / "c.npz")

    other = make_trainer()
    other.objective = tb.objective.Objective.for_model(other.model, n_train=N, length_scale=1.0)
    with pytest.raises(CheckpointError, match="length_scale=0.01, this trainer's has "
                                              "length_scale=1.0"):
        other.resume(path)

    same = make_trainer()
    same.resume(path)
    with pytest.raises(ValueError, match="used batch_size 40, got 32"):
        same.fit(x, y, iterations=6, batch_size=32, progress=False)
    with pytest.raises(ValueError, match="trained on 96 examples, got 50"):
        same.fit(x[:50], y[:50], iterations=6, batch_size=BATCH, progress=False)


def test_resume_needs_a_trainer_checkpoint(data, tmp_path):
    trainer = make_trainer()
    tb.checkpoint.save_checkpoint(tmp_path / "c.npz", trainer.model, trainer.optimizer)
    with pytest.raises(CheckpointError, match="no trainer state"):
        make_trainer().resume(tmp_path / "c.npz")


# ------------------------------------------------------------------------------ divergence


class FailAt:
    """Wraps an objective: at step ``k`` (1-based) returns NaN or raises ``exc``.

    A whole-batch step calls the objective once; a step in two halves calls its
    ``data_pass`` per half and then its ``penalty`` once, where the failure is planted.
    """

    def __init__(self, objective, k: int, exc: type[BaseException] | None = None) -> None:
        self.objective, self.k, self.exc, self.calls = objective, k, exc, 0

    def __getattr__(self, name):
        return getattr(self.objective, name)

    def _fail_or(self, value):
        self.calls += 1
        if self.calls == self.k:
            if self.exc is not None:
                raise self.exc
            return math.nan
        return value

    def __call__(self, model, x, y, rng=None):
        return self._fail_or(self.objective(model, x, y, rng=rng))  # forward, backward run

    def penalty(self, params):
        return self._fail_or(self.objective.penalty(params))


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(parts, data, tmp_path):
    x, y, _, _ = data
    trainer = make_trainer()
    trainer.objective = FailAt(trainer.objective, k=13)
    path = tmp_path / "c.npz"
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(x, y, iterations=30, batch_size=BATCH, checkpoint_path=path,
                    checkpoint_every=5, progress=False)
    message = str(info.value)
    assert "iteration 13" in message and "lower learning rate" in message
    assert f"{path} (iteration 10)" in message
    assert info.value.checkpoint_path == path and trainer.iteration == 12
    ckpt = read_checkpoint(path)
    assert ckpt.trainer["iteration"] == 10
    assert all(np.isfinite(v).all() for v in ckpt.params.values())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflows are the point
def test_huge_learning_rate_diverges_without_writing_a_nan_state(data, tmp_path):
    x, y, _, _ = data
    trainer = make_trainer(lr=1e4)
    path = tmp_path / "c.npz"
    with pytest.raises(TrainingDiverged, match="try a lower learning rate") as info:
        trainer.fit(x, y, iterations=50, batch_size=BATCH, checkpoint_path=path,
                    checkpoint_every=1, progress=False)
    assert info.value.checkpoint_iteration == info.value.iteration - 1
    fresh = make_trainer(lr=1e4)
    fresh.resume(path)  # the last good state: loadable, finite
    assert fresh.iteration == info.value.checkpoint_iteration
    assert all(np.isfinite(v).all() for v in fresh.model.params.values())


def test_save_refuses_non_finite_parameters(data, tmp_path):
    x, y, _, _ = data
    trainer = make_trainer()
    trainer.fit(x, y, iterations=2, batch_size=BATCH, progress=False)
    path = trainer.save(tmp_path / "c.npz")
    trainer.model.layers["conv2"].params["W"][0, 0, 0, 0] = np.inf
    with pytest.raises(TrainingDiverged, match="parameter conv2.W is not finite"):
        trainer.save(path)
    assert np.isfinite(read_checkpoint(path).params["conv2.W"]).all()


# ------------------------------------------------------------------------------ Ctrl-C


def _interrupt_then_finish(data, tmp_path, break_in) -> tuple[Trainer, Trainer, int]:
    """An uninterrupted run, one interrupted by ``break_in(trainer)`` then resumed, and the
    iteration at which the interruption was saved."""
    x, y, xv, yv = data
    kw = dict(iterations=12, batch_size=BATCH, x_val=xv, y_val=yv, eval_every=4, mc_samples=3,
              progress=False)
    straight = make_trainer(seed=4)
    straight.fit(x, y, **kw)

    path = tmp_path / "c.npz"
    interrupted = make_trainer(seed=4)
    break_in(interrupted)
    with pytest.raises(TrainingInterrupted) as info:
        interrupted.fit(x, y, checkpoint_path=path, **kw)
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.checkpoint_path == path and str(path) in str(info.value)

    resumed = make_trainer(seed=4)
    resumed.resume(path)
    assert resumed.iteration == info.value.iteration
    resumed.fit(x, y, checkpoint_path=path, **kw)
    return straight, resumed, info.value.iteration


def test_ctrl_c_inside_a_step_saves_and_resumes_exactly(parts, data, tmp_path):
    def break_in(trainer):  # after forward + backward of iteration 7, before its update
        trainer.objective = FailAt(trainer.objective, k=7, exc=KeyboardInterrupt)

    straight, resumed, at = _interrupt_then_finish(data, tmp_path, break_in)
    assert at == 6
    assert_same_params(straight, resumed)
    assert without_time(resumed.history) == without_time(straight.history)


def test_ctrl_c_during_evaluation_resumes_exactly(parts, data, tmp_path):
    def break_in(trainer):
        def evaluate(*args, **kwargs):
            raise KeyboardInterrupt

        trainer.evaluate = evaluate  # the first evaluation, at iteration 4, is interrupted

    straight, resumed, at = _interrupt_then_finish(data, tmp_path, break_in)
    assert at == 4
    assert_same_params(straight, resumed)
    assert without_time(resumed.history) == without_time(straight.history)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_during_the_update_is_held_until_it_is_applied(parts, data, tmp_path):
    """A real SIGINT arriving just after the parameters changed, before the iteration count
    did: it is held until the update is complete, so the saved state is consistent."""
    def break_in(trainer):
        real_step = trainer.optimizer.step

        def step():
            real_step()
            if trainer.iteration == 5:  # an unguarded KeyboardInterrupt here would be fatal
                os.kill(os.getpid(), signal.SIGINT)

        trainer.optimizer.step = step

    # Python's own Ctrl-C handler, as in a terminal: a shell starts background jobs (pytest
    # run with `&`, some CI runners) with SIGINT ignored, and an ignored signal is dropped
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        straight, resumed, at = _interrupt_then_finish(data, tmp_path, break_in)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert at == 6
    assert_same_params(straight, resumed)
    assert without_time(resumed.history) == without_time(straight.history)


def test_ctrl_c_without_checkpoint_path_still_raises(parts, data):
    x, y, _, _ = data
    trainer = make_trainer()
    trainer.objective = FailAt(trainer.objective, k=2, exc=KeyboardInterrupt)
    with pytest.raises(TrainingInterrupted, match="nothing saved") as info:
        trainer.fit(x, y, iterations=5, batch_size=BATCH, progress=False)
    assert info.value.checkpoint_path is None and info.value.iteration == 1


# ------------------------------------------------------------------------------ evaluation log


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_eval_log_has_the_columns_and_rows(data, tmp_path, suffix):
    x, y, xv, yv = data
    log = tmp_path / f"log{suffix}"
    trainer = make_trainer()
    history = trainer.fit(x, y, iterations=11, batch_size=BATCH, x_val=xv, y_val=yv,
                          eval_every=5, mc_samples=4, log_path=log, progress=False)
    if suffix == ".csv":
        with open(log, newline="") as f:
            reader = csv.reader(f)
            assert tuple(next(reader)) == COLUMNS
            rows = [dict(zip(COLUMNS, map(float, r), strict=True)) for r in reader]
    else:
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        assert all(tuple(r) == COLUMNS for r in rows)
    assert [r["iteration"] for r in rows] == [5, 10, 11]  # every 5, and the last
    assert [r["iteration"] for r in history] == [5, 10, 11]
    for logged, kept in zip(rows, history, strict=True):
        assert logged == pytest.approx(kept)
        assert 0 <= kept["std_error"] <= 1 and 0 <= kept["mc_error"] <= 1
        assert kept["std_nll"] > 0 and kept["mc_nll"] > 0 and kept["train_loss"] > 0
        assert kept["lr"] == pytest.approx(trainer.optimizer.schedule(0.05, kept["iteration"]))
    assert np.all(np.diff(history.column("time")) >= 0)


def test_eval_rows_without_validation_data_hold_the_training_loss(data, tmp_path):
    x, y, _, _ = data
    trainer = make_trainer()
    history = trainer.fit(x, y, iterations=6, batch_size=BATCH, eval_every=2, progress=False,
                          log_path=tmp_path / "log.csv")
    assert [r["iteration"] for r in history] == [2, 4, 6]
    assert np.isnan(history.column("mc_error")).all()
    assert np.isfinite(history.column("train_loss")).all()


# ------------------------------------------------------------------------------ input checks


@pytest.mark.parametrize("change, message", [
    (dict(y_train="short"), "y_train has 95 entries but there are 96 inputs"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(batch_size=200), "larger than the training set"),
    (dict(epochs=1), "exactly one of iterations and epochs"),
    (dict(iterations=None), "exactly one of iterations and epochs"),
    (dict(iterations=0), "iterations must be an integer >= 1"),
    (dict(x_train="uint8"), "must be floating point"),
    (dict(x_train="shape"), r"shape \(N, 1, 16, 16\)"),
    (dict(x_train="nan"), "x_train contains NaN or infinite values"),
    (dict(y_train="range"), r"must lie in \[0, 3\)"),
    (dict(y_train="float"), "integer class labels"),
    (dict(x_val="only"), "both x_val and y_val"),
    (dict(checkpoint_every=2), "checkpoint_every needs a checkpoint_path"),
    (dict(log_path="log.txt"), "must end in .csv or .jsonl"),
    (dict(mc_samples=-1), "mc_samples must be an integer >= 0"),
])
def test_fit_rejects_bad_arguments(data, change, message):
    x, y, xv, _ = data
    kw = dict(x_train=x, y_train=y, iterations=3, batch_size=BATCH, progress=False)
    for key, value in change.items():
        if value == "short":
            value = y[:-1]
        elif value == "uint8":
            value = (x * 100).astype(np.uint8)
        elif value == "nan":
            value = x.copy()
            value[3, 0, 5, 5] = np.nan
        elif value == "shape":
            value = x[:, :, :12, :12]
        elif value == "range":
            value = np.full(N, K)
        elif value == "float":
            value = y.astype(np.float32)
        elif value == "only":
            value = xv
        kw[key] = value
    trainer = make_trainer()
    with pytest.raises(ValueError, match=message):
        trainer.fit(**kw)
    assert trainer.iteration == 0


# ------------------------------------------------------------------------------ real data


@pytest.mark.slow
def test_lenet_all_learns_the_embedded_dataset():
    """300 iterations on 1,000 real images: MC error far below chance (0.9)."""
    data = pytest.importorskip("tinybcnn.data")
    ds = data.load_dataset("embedded").subset(train_size=1000, test_size=1000, seed=0)
    model = tb.models.lenet("all", p=0.5, in_shape=ds.image_shape, n_classes=10, seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=1000, weight_decay=5e-4)
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv(1e-4, 0.75))
    trainer = Trainer(model, obj, opt, seed=0)
    trainer.fit(ds.as_float(ds.x_train), ds.y_train, iterations=300, batch_size=64,
                progress=False)
    metrics = trainer.evaluate(ds.as_float(ds.x_test), ds.y_test, mc_samples=20)
    assert metrics["mc_error"] < 0.45, metrics
    assert metrics["std_error"] < 0.45, metrics
