"""A training step in two halves side by side (tinybcnn/training/split.py) against the
whole-batch step: the same masks bit for bit, the same gradient up to rounding (float64),
the same bits whether the halves run side by side or one after the other."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinybcnn as tb
from tinybcnn.random import PartDraws, SharedDraws, bernoulli_mask, step_rng
from tinybcnn.training import split
from tinybcnn.training.split import split_loss_and_grads, split_rows


@pytest.fixture(autouse=True)
def _small_steps_split_too(monkeypatch):
    """These tests are about the halves: the small models here are below the size a step is
    cut at (tinybcnn.threads.MIN_SPLIT_WORK), so every step of two rows or more is cut."""
    monkeypatch.setattr(tb.threads, "MIN_SPLIT_WORK", 0)


def lenet_float64(variant: str = "all", seed: int = 0):
    model = tb.models.lenet(variant, p=0.5, in_shape=(1, 16, 16), n_classes=4, seed=seed,
                            ).astype(np.float64)
    return model, tb.objective.Objective.for_model(model, n_train=500, length_scale=0.1)


def batch(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 16, 16)), rng.integers(0, 4, n)


def whole_batch(model, objective, x, y, rng):
    """The textbook step: one forward and backward over the whole batch."""
    loss = objective(model, x, y, rng=rng)
    grads = {k: v.copy() for k, v in model.grads.items()}
    masks = {name: layer.mask.copy() for name, layer in model.dropout_layers().items()}
    return loss, grads, masks


# ------------------------------------------------------------------------------ rows


@given(batch=st.integers(1, 200), parts=st.integers(1, 8))
def test_split_rows_cover_the_batch_in_near_equal_parts(batch, parts):
    if parts > batch:
        with pytest.raises(ValueError, match="cannot split"):
            split_rows(batch, parts)
        return
    rows = split_rows(batch, parts)
    assert len(rows) == parts
    assert rows[0][0] == 0 and rows[-1][1] == batch
    assert all(a[1] == b[0] for a, b in zip(rows[:-1], rows[1:], strict=True))
    sizes = [stop - start for start, stop in rows]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


# ------------------------------------------------------------------------------ the draws


def test_part_draws_are_rows_of_the_whole_batch_draws():
    """The oracle is a plain draw from a generator with the same seed."""
    shapes = [(10, 3, 4, 4), (10, 7)]
    plain = np.random.default_rng(5)
    whole = [bernoulli_mask(plain, s, p) for s, p in zip(shapes, (0.5, 0.3), strict=True)]
    shared = SharedDraws(np.random.default_rng(5), 10)
    low, high = shared.part(0, 6), shared.part(6, 10)
    # the second part asks first for the first mask, the first part first for the second
    high_first = bernoulli_mask(high, (4, 3, 4, 4), 0.5)
    low_first = bernoulli_mask(low, (6, 3, 4, 4), 0.5)
    low_second = bernoulli_mask(low, (6, 7), 0.3)
    high_second = bernoulli_mask(high, (4, 7), 0.3)
    assert np.array_equal(np.concatenate([low_first, high_first]), whole[0])
    assert np.array_equal(np.concatenate([low_second, high_second]), whole[1])


def test_part_draws_refuse_what_a_single_pass_would_not_draw():
    shared = SharedDraws(np.random.default_rng(0), 8)
    a, b = shared.part(0, 4), shared.part(4, 8)
    with pytest.raises(ValueError, match="needs 4 rows"):
        bernoulli_mask(a, (5, 3), 0.5)
    bernoulli_mask(a, (4, 3), 0.5)
    with pytest.raises(RuntimeError, match="different masks"):
        bernoulli_mask(b, (4, 9), 0.5)      # another shape at the same draw
    with pytest.raises(RuntimeError, match="different masks"):
        bernoulli_mask(_asked_with(0.5).part(0, 4), (4, 3), 0.25)   # another p, same draw
    with pytest.raises(ValueError, match="not a part"):
        shared.part(3, 3)
    with pytest.raises(ValueError, match="not a part"):
        shared.part(0, 9)
    with pytest.raises(TypeError, match="Generator"):
        SharedDraws(object(), 8)
    with pytest.raises(TypeError, match="cannot be masks"):
        bernoulli_mask(a, (4, 3), 0.5, xp=pytest.importorskip("array_api_strict"))
    assert "rows 0:4 of 8" in repr(a) and isinstance(a, PartDraws)


def _asked_with(p: float) -> SharedDraws:
    """Shared draws whose first mask was asked for with drop probability ``p``."""
    shared = SharedDraws(np.random.default_rng(0), 8)
    bernoulli_mask(shared.part(4, 8), (4, 3), p)
    return shared


def test_no_rows_are_drawn_when_nothing_is_dropped():
    shared = SharedDraws(np.random.default_rng(0), 4)
    mask = bernoulli_mask(shared.part(0, 2), (2, 3), 0.0)
    assert np.array_equal(mask, np.ones((2, 3), np.float32))
    assert shared.rng.bit_generator.state == np.random.default_rng(0).bit_generator.state


# ------------------------------------------------------------------------------ the step


@pytest.mark.parametrize("side_by_side", [True, False], ids=["side-by-side", "in-turn"])
@pytest.mark.parametrize("variant", ["all", "ip", "none"])
@pytest.mark.parametrize("n", [2, 7, 40])
def test_two_halves_give_the_whole_batch_step(variant, n, side_by_side):
    x, y = batch(n)
    model, objective = lenet_float64(variant)
    loss, grads, masks = whole_batch(model, objective, x, y, step_rng(3, 11, x))
    split_loss = split_loss_and_grads(objective, model, x, y, step_rng(3, 11, x),
                                      side_by_side=side_by_side)
    assert split_loss == pytest.approx(loss, rel=1e-13)
    assert model.grads.keys() == grads.keys()
    for name, g in grads.items():
        np.testing.assert_allclose(model.grads[name], g, rtol=1e-11, atol=1e-14, err_msg=name)
    # each half used its rows of the whole batch's masks, bit for bit (in turn, the model
    # ran both halves: it holds the second's)
    first = (n + 1) // 2
    for name, layer in model.dropout_layers().items():
        if layer.p > 0:
            if side_by_side:
                assert np.array_equal(layer.mask, masks[name][:first]), name
            second = split._twins[model] if side_by_side else model
            assert np.array_equal(second.layers[name].mask, masks[name][first:]), name


def test_regression_mlp_in_two_halves():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    model = tb.models.mlp((3, 16, 2), p=0.2, seed=0, dtype=np.float64)
    objective = tb.objective.Objective.for_model(model, n_train=100, length_scale=0.5, tau=4.0,
                                                 likelihood="gaussian")
    loss, grads, _ = whole_batch(model, objective, x, y, np.random.default_rng(2))
    assert split_loss_and_grads(objective, model, x, y, np.random.default_rng(2)) == \
        pytest.approx(loss, rel=1e-13)
    for name, g in grads.items():
        np.testing.assert_allclose(model.grads[name], g, rtol=1e-11, atol=1e-14, err_msg=name)


def test_side_by_side_or_one_after_the_other_is_the_same_bits():
    """Threads change when things run, not what is computed (float32, as trained)."""
    x, y = batch(64, seed=4)
    x = x.astype(np.float32)
    results = []
    for side_by_side in (True, False, True):
        model = tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=4, seed=0)
        objective = tb.objective.Objective.for_model(model, n_train=500, weight_decay=5e-4)
        loss = split_loss_and_grads(objective, model, x, y, step_rng(0, 0, x), side_by_side)
        results.append((loss, {k: v.copy() for k, v in model.grads.items()}))
    for loss, grads in results[1:]:
        assert loss == results[0][0]
        for name, g in grads.items():
            assert np.array_equal(g, results[0][1][name]), name


def test_the_second_half_follows_changes_to_the_model():
    """The replica is made anew each step: new weights and a new drop probability count."""
    x, y = batch(10, seed=2)
    model, objective = lenet_float64()
    split_loss_and_grads(objective, model, x, y, np.random.default_rng(0), side_by_side=True)
    new = {k: np.random.default_rng(9).normal(0, 0.1, v.shape) for k, v in model.params.items()}
    model.load_params(new)
    model.layers["drop1"].p = 0.25
    _, grads, _ = whole_batch(model, objective, x, y, np.random.default_rng(1))
    split_loss_and_grads(objective, model, x, y, np.random.default_rng(1), side_by_side=True)
    for name, g in grads.items():
        np.testing.assert_allclose(model.grads[name], g, rtol=1e-11, atol=1e-14, err_msg=name)
    assert split._twins[model].layers["drop1"].p == 0.25


def test_replica_shares_parameters_and_takes_over_pass_state():
    model, objective = lenet_float64()
    x, y = batch(4)
    objective(model, x, y, rng=np.random.default_rng(0))
    fresh = model.replica()
    for name, layer in model.layers.items():
        twin = fresh.layers[name]
        assert twin is not layer and twin.params is layer.params
        assert twin.grads == {} and twin.grads is not layer.grads
        for state in ("_cache", "_shape", "mask"):
            assert getattr(twin, state, None) is None, (name, state)
    objective(fresh, x, y, rng=np.random.default_rng(1))
    later = model.replica(previous=fresh)
    for name in model.layers:
        for state in ("grads", "_cache", "_shape", "mask"):
            if hasattr(fresh.layers[name], state):
                assert getattr(later.layers[name], state) is getattr(fresh.layers[name], state)


def test_an_error_in_either_half_stops_the_step_with_nothing_left_running(monkeypatch):
    x, y = batch(8)
    model, objective = lenet_float64()
    y_bad = y.copy()
    y_bad[-1] = 7                                  # only the second half's labels are bad
    with pytest.raises(ValueError, match="label"):
        split_loss_and_grads(objective, model, x, y_bad, np.random.default_rng(0))

    finished = threading.Event()
    real = type(objective).data_pass

    def slow_second_half(self, model, x, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt            # Ctrl-C during the first half
        time.sleep(0.2)
        out = real(self, model, x, *args, **kwargs)
        finished.set()
        return out

    monkeypatch.setattr(type(objective), "data_pass", slow_second_half)
    with pytest.raises(KeyboardInterrupt):
        split_loss_and_grads(objective, model, x, y, np.random.default_rng(0),
                             side_by_side=True)
    assert finished.is_set()                   # the other half was waited for


@pytest.mark.parametrize("side_by_side", [True, False])
def test_the_second_half_runs_under_the_callers_floating_point_error_state(side_by_side):
    # np.errstate belongs to a thread: the second half's thread must use the caller's (the
    # training loop silences overflow warnings; here the caller asks for errors instead)
    x, y = batch(8)
    x[5:] = np.finfo(np.float64).max                # only the second half overflows
    model, objective = lenet_float64()
    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
        split_loss_and_grads(objective, model, x, y, np.random.default_rng(0), side_by_side)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")              # any RuntimeWarning would fail here
        loss = split_loss_and_grads(objective, model, x, y, np.random.default_rng(0),
                                    side_by_side)
    assert not np.isfinite(loss)


def test_trainer_splits_every_batch_and_threads_decide_only_side_by_side(monkeypatch):
    """The partition follows the batch size alone; the thread count only whether the second
    half runs in the worker thread."""
    calls, workers = [], []
    real, real_executor = split.split_loss_and_grads, split._executor
    monkeypatch.setattr(tb.train, "split_loss_and_grads",
                        lambda *a, **k: calls.append(a[2].shape[0]) or real(*a, **k))
    monkeypatch.setattr(split, "_executor", lambda: workers.append(1) or real_executor())
    model, objective = lenet_float64()
    trainer = tb.train.Trainer(model, objective, tb.optim.SGD(model), seed=0)
    x, y = batch(6)
    for threads, rows, side_by_side in ((1, 6, False), (2, 6, True), (2, 1, False),
                                        (4, 6, True), (3, 6, True)):
        calls.clear(), workers.clear()
        monkeypatch.setattr(split, "step_threads", lambda t=threads: t)
        trainer.step(x[:rows], y[:rows])
        assert calls == [rows] and bool(workers) == side_by_side, (threads, rows)


def test_trainer_in_two_halves_stops_on_a_nan_loss_before_the_update(monkeypatch):
    monkeypatch.setattr(tb.train, "split_parts", lambda *args: 2)
    model, objective = lenet_float64()
    trainer = tb.train.Trainer(model, objective, tb.optim.SGD(model), seed=0)
    x, y = batch(6)
    x[4, 0, 3, 3] = np.nan                         # in the second half
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(tb.train.TrainingDiverged):
        trainer.step(x, y)
    assert trainer.iteration == 0
    for name, value in before.items():
        assert np.array_equal(model.params[name], value), name


def test_the_worker_thread_is_made_anew_after_a_fork(monkeypatch):
    first = split._executor()
    assert split._executor() is first
    monkeypatch.setattr(split.os, "getpid", lambda: -1)
    assert split._executor() is not first


def test_blas_thread_helpers_read_and_limit_the_count():
    """``blas_threads_now`` and ``limit_blas`` agree with threadpoolctl's own report."""
    from threadpoolctl import threadpool_info

    from tinybcnn.threads import blas_threads_now, limit_blas

    def reported() -> int:
        return min(d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas")

    now = blas_threads_now()
    if not now:
        pytest.skip("no BLAS library loaded")
    assert now == reported()
    with limit_blas(1):
        assert blas_threads_now() == 1 == reported()
    assert blas_threads_now() == now


def test_a_blas_library_loaded_after_the_limit_does_not_count(monkeypatch):
    """SciPy's own OpenBLAS, imported after ``--threads 1`` limited NumPy's, still runs 2
    threads: the step must follow the limit that was set (1 thread: its halves one after
    the other), and its partition none of them."""
    from tinybcnn import threads

    class Lib:
        def __init__(self, n: int) -> None:
            self.n = n

        def get_num_threads(self) -> int:
            return self.n

    class Controller:
        lib_controllers = [Lib(2), Lib(1)]

    monkeypatch.setattr(threads, "_blas_controller", lambda: Controller())
    assert threads.blas_threads_now() == 1 and threads.current_blas_threads() == 1
    assert threads.step_threads() == 1
    assert split.split_parts(np.zeros((64, 3)), *lenet_float64()) == 2
    Controller.lib_controllers = [Lib(2), Lib(2)]
    assert threads.step_threads() == 2
    assert split.split_parts(np.zeros((64, 3)), *lenet_float64()) == 2


def test_an_objective_of_ones_own_runs_whole_batches(monkeypatch):
    """The Trainer takes any callable objective; one without ``data_pass`` is not split."""
    monkeypatch.setattr(split, "step_threads", lambda: 2)
    model, objective = lenet_float64()
    calls = []

    def my_objective(model, x, y, rng=None):
        calls.append(x.shape[0])
        return objective(model, x, y, rng=rng)

    trainer = tb.train.Trainer(model, my_objective, tb.optim.SGD(model), seed=0)
    x, y = batch(6)
    trainer.step(x, y)
    assert calls == [6] and trainer.iteration == 1
    assert split.split_parts(x, model, my_objective) == 0
    assert split.split_parts(x, model, objective) == 2


def test_device_arrays_run_whole_batches(monkeypatch):
    """The halves are a NumPy (CPU) matter: array_api_strict, CI's stand-in for CuPy, never
    splits, on any thread count; NumPy batches always do, from two rows."""
    xps = pytest.importorskip("array_api_strict")
    model, objective = lenet_float64()
    for threads in (1, 2):
        monkeypatch.setattr(split, "step_threads", lambda t=threads: t)
        assert split.split_parts(xps.asarray(np.zeros((8, 3))), model, objective) == 0
        assert split.split_parts(np.zeros((8, 3)), model, objective) == 2
        assert split.split_parts(np.zeros((1, 3)), model, objective) == 1
