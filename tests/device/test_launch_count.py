"""Fewer launches per device step (issue 23): the count, and that each cut changed no number.

A LeNet-all step at batch 64 made 395 compute operations on the device path at commit
cae64ca (each a kernel launch on CuPy). The cuts: one gather per im2col/col2im and whole-array
pooling (``tests/device/test_fast_device.py``), the decay and SGD update on one flat parameter
vector (:mod:`tinybcnn.flatparams`), the step's dropout words drawn at once and the generator's
fixed constants made once (:mod:`tinybcnn.random`). 113 at b09a879; then (issue 32) the
loss and its gradient in one fast twin, the step's three masks from one comparison, pooling
by max and argmax of the floats, no zeros kernels (72 at 94336d3); then the loss's scale in
its one-hot rows, the conv input gradient as one gather and one GEMM, and the dense bias as
a row of ``[W; b]`` (68 at 665831f); then the step's dropout masks as one fused operation,
hash, comparison and select in one CuPy kernel (:mod:`tinybcnn.fused`; 60). Here: the count
against its bar, and each cut against a NumPy oracle computed element by element.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn import backend
from tinybcnn.backend import to_namespace, to_numpy
from tinybcnn.random import CounterRNG, bernoulli_mask

xp = pytest.importorskip("array_api_strict")
ROOT = Path(__file__).resolve().parents[2]
BAR = 60    # compute operations per step: 113 at b09a879, 82 at ddf528d, 72 at 94336d3,
            # 68 at 665831f (the goal of issue 32)


def _count_launches():
    spec = importlib.util.spec_from_file_location(
        "count_launches", ROOT / "benchmarks" / "count_launches.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def strict_backend():
    before = backend.get_backend()
    backend.set_backend("array_api_strict")
    yield
    backend.set_backend(before)


def test_lenet_step_makes_at_most_bar_compute_operations(capsys):
    counter = _count_launches()
    counts = counter.step_counts(64)
    compute, views = counter.split(counts)
    with capsys.disabled():
        print(f"\nLeNet-all step, batch 64, array_api_strict: {compute} compute operations, "
              f"{views} views/indexing (bar {BAR}; 395 at cae64ca, 113 at b09a879, "
              "82 at ddf528d, 72 at 94336d3, 68 at 665831f)")
    assert compute <= BAR, counts.most_common(20)
    assert counts["__setitem__"] == 0        # no slice-by-slice copies left in a step


def test_the_counter_counts_what_it_is_shown():
    counter = _count_launches()
    with counter.counting() as counts:
        a = xp.ones((3, 4))
        b = xp.reshape(a, (4, 3)) @ a          # a view, a GEMM
        b[0, :] = xp.sum(b, axis=0)             # a reduction, an index and a copy
        _ = -b.T
    assert dict(counts) == {"ones": 1, "reshape": 1, "__matmul__": 1, "sum": 1,
                            "__setitem__": 1, "T": 1, "__neg__": 1}
    assert counter.split(counts) == (5, 2)


def test_a_fused_operation_counts_as_one_launch():
    """A fused operation (:class:`tinybcnn.fused.Elementwise`) is one kernel on CuPy; on
    array_api_strict its twin's operations (nine, and the counters and constants it makes the
    first time) count as that one, named after the kernel."""
    counter = _count_launches()
    rng = CounterRNG(3, xp)
    with counter.counting() as counts:
        mask = rng.inverted_mask(1000, 0.75, xp.float32)
    assert dict(counts) == {"fused:tinybcnn_inverted_mask": 1}
    assert counter.split(counts) == (1, 0)
    # and the count changes nothing: the same mask as an uncounted generator's
    np.testing.assert_array_equal(to_numpy(mask),
                                  to_numpy(CounterRNG(3, xp).inverted_mask(1000, 0.75, xp.float32)))


def _model_and_grads(seed=0):
    model = tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=3, seed=seed)
    rng = np.random.default_rng(seed + 1)
    host = {k: to_numpy(v).copy() for k, v in model.params.items()}
    grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in host.items()}
    return model, host, grads


def test_flat_sgd_update_is_the_per_parameter_update_bit_for_bit(strict_backend):
    model, theta, grads = _model_and_grads()
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9)
    velocity = {k: np.zeros_like(v) for k, v in theta.items()}
    for step in range(3):
        for k, g in grads.items():   # fresh gradient arrays, as a backward pass leaves them
            name, _, p = k.partition(".")
            model.layers[name].grads[p] = to_namespace(g * (step + 1), xp)
        opt.step()
        for k in theta:              # the textbook loop, in float32 on the host
            velocity[k] *= np.float32(0.9)
            velocity[k] += np.float32(0.05) * (grads[k] * (step + 1))
            theta[k] -= velocity[k]
    for k, v in model.params.items():
        np.testing.assert_array_equal(to_numpy(v), theta[k])
        np.testing.assert_array_equal(to_numpy(opt.buffers[f"velocity:{k}"]), velocity[k])


def test_flat_update_follows_replaced_parameters_and_buffers(strict_backend):
    """load_params and load_state_dict replace arrays: the flat vectors are rebuilt from the
    new ones, never updated stale (the resume case)."""
    model, theta, grads = _model_and_grads()
    opt = tb.optim.SGD(model, lr=0.1, momentum=0.5)
    for k, g in grads.items():
        name, _, p = k.partition(".")
        model.layers[name].grads[p] = to_namespace(g, xp)
    opt.step()
    state = opt.state_dict()
    new_theta = {k: v + 1.0 for k, v in theta.items()}
    model.load_params({k: to_namespace(v, xp) for k, v in new_theta.items()})
    doubled = {k: 2 * v for k, v in state["buffers"].items()}
    opt.load_state_dict({"iteration": 1, "buffers": doubled})
    opt.step()
    for k, v in model.params.items():
        want = doubled[f"velocity:{k}"] * np.float32(0.5) + np.float32(0.1) * grads[k]
        np.testing.assert_array_equal(to_numpy(opt.buffers[f"velocity:{k}"]), want)
        np.testing.assert_array_equal(to_numpy(v), new_theta[k] - want)


def test_flat_decay_gives_each_gradient_what_the_loop_gives(strict_backend):
    model, theta, _ = _model_and_grads()
    objective = tb.objective.Objective.for_model(model, n_train=100, length_scale=0.5)
    rng = np.random.default_rng(3)
    x = to_namespace(rng.random((4, 1, 16, 16), dtype=np.float32), xp)
    y = to_namespace(rng.integers(0, 3, 4), xp)
    masks = {n: to_namespace((rng.random(s) < 0.5).astype(np.float32) * 2, xp)
             for n, s in (("drop1", (4, 20, 12, 12)), ("drop2", (4, 50, 2, 2)),
                          ("drop3", (4, 500)))}
    data = objective.data_pass(model, x, y, masks=masks, check_labels=False)
    data_grads = {k: to_numpy(v).copy() for k, v in model.grads.items()}
    total = objective.loss_and_grads(model, x, y, masks=masks, check_labels=False)
    penalty = 0.0
    for k, g in model.grads.items():
        lam = objective.decay.get(k, 0.0)
        want = data_grads[k] + np.float32(2 * lam) * theta[k]
        np.testing.assert_array_equal(to_numpy(g), want)
        penalty += lam * float(np.sum(theta[k].astype(np.float64) ** 2))
    np.testing.assert_allclose(float(total), float(data) + penalty, rtol=1e-5)


def test_reserved_words_are_the_words_drawn_one_by_one():
    shapes = [(5, 7), (3,), (11, 2)]
    plain, ahead = CounterRNG(42, xp), CounterRNG(42, xp)
    ahead.reserve(5 * 7 + 3)           # less than all: the last draw is made as usual
    for shape in shapes:
        np.testing.assert_array_equal(
            to_numpy(bernoulli_mask(ahead, shape, 0.5, xp=xp)),
            to_numpy(bernoulli_mask(plain, shape, 0.5, xp=xp)))
    assert ahead.counter == plain.counter == 35 + 3 + 22


def test_only_a_step_on_unchecked_device_labels_pays_for_the_nan_guard(strict_backend):
    """fit checks the labels once, so its steps skip the per-batch guard; a bare step on
    device labels keeps it: a label outside [0, K) still makes the loss NaN."""
    counter = _count_launches()
    fit_step, _ = counter.split(counter.step_counts(8))
    bare_step, _ = counter.split(counter.step_counts(8, labels_checked=False))
    # the guard: a comparison and a cast for the one-hot (not one gather), any, all, where
    assert bare_step == fit_step + 4
    model = tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=3, seed=0)
    objective = tb.objective.Objective.for_model(model, n_train=100, length_scale=0.5)
    trainer = tb.train.Trainer(model, objective, tb.optim.SGD(model, lr=0.01), seed=0)
    x = to_namespace(np.zeros((2, 1, 16, 16), dtype=np.float32), xp)
    assert np.isnan(float(trainer.step(x, xp.asarray([0, 3]))))
    assert np.isfinite(float(trainer.step(x, xp.asarray([0, 2]), labels_checked=True)))


def test_device_losses_are_summed_when_read_not_in_every_step(strict_backend, monkeypatch):
    """A device step adds nothing to the running loss (one launch saved per step); reading it
    (a history row, a progress line, a checkpoint) adds the pending losses in one sum."""
    from tinybcnn.training import readback
    from tinybcnn.training import state as state_module
    monkeypatch.setattr(state_module, "PENDING_LOSSES_MAX", 3)   # settles at the 3rd step
    model = tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=3, seed=0)
    objective = tb.objective.Objective.for_model(model, n_train=100, length_scale=0.5)
    trainer = tb.train.Trainer(model, objective, tb.optim.SGD(model, lr=0.01), seed=0)
    rng = np.random.default_rng(4)
    x = to_namespace(rng.random((4, 1, 16, 16), dtype=np.float32), xp)
    y = xp.asarray([0, 2, 1, 1])
    losses = [float(trainer.step(x, y, labels_checked=True)) for _ in range(4)]
    run = trainer.run_state
    assert len(run.pending_losses) == 1 and run.loss_count == 4   # 3 summed, 1 pending
    assert float(run.to_json(objective, "array_api_strict")["loss_sum"]) == pytest.approx(
        sum(losses), rel=1e-6)
    assert run.pending_losses == []
    losses.append(float(trainer.step(x, y, labels_checked=True)))
    assert readback.running_loss(trainer) == pytest.approx(np.mean(losses), rel=1e-6)


def test_numpy_training_takes_none_of_the_device_only_cuts(monkeypatch):
    """The cuts of 94336d3..: the loss's scaled one-hot rows, the conv input gradient as one
    gather, the dense bias in ``[W; b]`` are device paths; NumPy keeps its own code and so
    its bits (a run trained before and after them is the same bit for bit). Booby-trapped
    here, they must not be reached by NumPy steps, whole or split in halves."""
    from tinybcnn import flatparams
    from tinybcnn.functional.fast import conv, dense, losses

    def trap(*args, **kwargs):
        raise AssertionError("a device-only path ran on NumPy")

    for module, name in ((losses, "_scaled_rows_loss"), (conv, "gradient_patch_index"),
                         (dense, "ones_column"), (flatparams, "join_weights")):
        monkeypatch.setattr(module, name, trap)
    model = tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=3, seed=0)
    objective = tb.objective.Objective.for_model(model, n_train=100, length_scale=0.5)
    trainer = tb.train.Trainer(model, objective, tb.optim.SGD(model, lr=0.01), seed=0)
    rng = np.random.default_rng(5)
    # one row runs whole (the objective's textbook pair), 96 in two halves (data_pass and
    # the fast twins: enough work to split, tinybcnn.threads.parts_for)
    for batch in (1, 96):
        x = rng.random((batch, 1, 16, 16), dtype=np.float32)
        assert np.isfinite(trainer.step(x, rng.integers(0, 3, batch)))
