"""No host synchronisation inside a training step or an MC-prediction chunk.

On a GPU every ``bool()``, ``float()``, ``int()``, ``.item()`` or copy to the host of a device
array waits for the device to finish all queued work; a LeNet step is only a few milliseconds of
GPU work, so one such wait per step makes it host-bound (the GPU run in issue 10 counted 15).
array_api_strict stands in for CuPy here: its Array's host conversions are counted while the
trainer and ``mc_predict`` run, and so are host-to-device copies (``asarray`` of a NumPy
array: on CUDA a copy from pageable memory waits for the stream too).

The counts are compared between runs that differ only in the number of steps (or chunks), so
the test pins the *per-step* count to zero while allowing the fixed, documented reads: the
input check and the label check of ``fit``, the permutation copied once per epoch, the
read-back of the running loss at each history row, and the one read-back of a prediction.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn import backend

xps = pytest.importorskip("array_api_strict")

_CONVERSIONS = ("__bool__", "__float__", "__int__", "__index__", "__array__", "__dlpack__",
                "tolist", "item")


@pytest.fixture
def strict_backend():
    before = backend.get_backend()
    backend.set_backend("array_api_strict")
    yield
    backend.set_backend(before)


@pytest.fixture
def syncs(monkeypatch):
    """A Counter of host synchronisations by kind, filled while the test runs."""
    counts: collections.Counter = collections.Counter()
    array_type = type(xps.asarray(0.0))
    for name in _CONVERSIONS:
        original = getattr(array_type, name, None)
        if original is None:
            continue

        def counted(self, *args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(array_type, name, counted)
    original_asarray = xps.asarray

    def asarray(obj, *args, **kwargs):
        if isinstance(obj, (np.ndarray, np.generic, list, tuple)):
            counts["host-to-device"] += 1
        return original_asarray(obj, *args, **kwargs)

    monkeypatch.setattr(xps, "asarray", asarray)
    original_to_numpy = backend.to_numpy

    def to_numpy(a):
        if not isinstance(a, np.ndarray):
            counts["to_numpy"] += 1
        return original_to_numpy(a)

    for module in (backend, tb.train, tb.predict, tb.optim):
        if hasattr(module, "to_numpy"):
            monkeypatch.setattr(module, "to_numpy", to_numpy)
    return counts


IN_SHAPE, K, N, BATCH = (1, 16, 16), 3, 256, 32   # 8 steps per epoch


def _trainer(seed: int = 0) -> tb.train.Trainer:
    model = tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=N, length_scale=1e-2)
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9, schedule=tb.optim.inv(1e-2, 0.75))
    return tb.train.Trainer(model, obj, opt, seed=seed)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(0, 1, (N, *IN_SHAPE)).astype(np.float32), rng.integers(0, K, N)


def test_the_trainer_runs_on_array_api_strict(strict_backend):
    trainer = _trainer()
    assert trainer.xp is xps and trainer.on_device
    x, y = _data()
    trainer.fit(x, y, iterations=3, batch_size=BATCH, progress=False)
    assert trainer.iteration == 3
    for value in trainer.model.params.values():
        assert backend.xp_of(value) is xps


def test_step_makes_no_host_synchronisation(strict_backend, syncs):
    trainer = _trainer()
    x, y = _data()
    xb, yb = xps.asarray(x[:BATCH]), xps.asarray(y[:BATCH])
    trainer.step(xb, yb)   # first step: the generator's constants, optimiser buffers
    syncs.clear()
    losses = [trainer.step(xb, yb) for _ in range(3)]
    assert dict(syncs) == {}, f"host synchronisations in 3 steps: {dict(syncs)}"
    # the loss is still there, on the device, when someone asks for it (one read each)
    assert all(backend.xp_of(v) is xps and v.shape == () for v in losses)
    assert np.isfinite([float(v) for v in losses]).all()


@pytest.mark.parametrize("more", [3, 6])
def test_fit_syncs_do_not_grow_with_the_number_of_steps(strict_backend, syncs, more):
    x, y = _data()
    counts = []
    for iterations in (2, 2 + more):   # both within the first epoch (8 steps)
        trainer = _trainer()
        syncs.clear()
        trainer.fit(x, y, iterations=iterations, batch_size=BATCH, progress=False)
        counts.append(dict(syncs))
    assert counts[0] == counts[1], f"{counts[0]} for 2 steps, {counts[1]} for {2 + more}"


def test_a_new_epoch_costs_one_host_to_device_copy(strict_backend, syncs):
    # the documented exception: the epoch's permutation goes to the device once
    x, y = _data()
    counts = []
    for iterations in (9, 12):   # both have started their second epoch at step 9
        trainer = _trainer()
        syncs.clear()
        trainer.fit(x, y, iterations=iterations, batch_size=BATCH, progress=False)
        counts.append(dict(syncs))
    assert counts[0] == counts[1]
    one_epoch = _trainer()
    syncs.clear()
    one_epoch.fit(x, y, iterations=4, batch_size=BATCH, progress=False)
    assert counts[0]["host-to-device"] == syncs["host-to-device"] + 1


SMALL_TILES = tb.mc_tiles.Reference(10, 2**20)   # tiles planned for 10 inputs in 1 MiB


def test_mc_prediction_chunks_make_no_host_synchronisation(strict_backend, syncs,
                                                            monkeypatch):
    model = tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=0)
    x = backend.to_backend(_data()[0][:40])
    counts = {}
    # one tile in one chunk, versus 4 tiles of 10 inputs in chunks of a few passes
    for label, reference in (("one chunk", None), ("many chunks", SMALL_TILES)):
        if reference is not None:
            monkeypatch.setattr(tb.mc_tiles, "HOST", reference)
        syncs.clear()
        pred = tb.predict.mc_predict(model, x, samples=12, seed=0, batch_size=10)
        counts[label] = dict(syncs)
        assert pred.probs.shape == (40, K)
    assert counts["one chunk"] == counts["many chunks"], counts
    # and the fixed cost is the read-back of the summaries, nothing per pass
    assert sum(counts["one chunk"].values()) <= 8, counts


def test_many_chunks_really_are_many(strict_backend, monkeypatch):
    # guards the test above: the small reference does split the passes into several chunks
    model = tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=0)
    x = backend.to_backend(_data()[0][:40])
    monkeypatch.setattr(tb.mc_tiles, "HOST", SMALL_TILES)
    tile = tb.mc_tiles.tile_for(model, x, model.first_stochastic(), 12)
    assert tile.images < 40 and tile.passes < 12   # several tiles, several chunks per tile
