"""One model, one namespace: foreign inputs are refused with a clear error, NumPy data is moved
explicitly, and the device path (array_api_strict standing in for CuPy) trains, resumes bit for
bit, predicts like NumPy with the same masks, and reports a NaN loss it could not see at once."""

from __future__ import annotations

import numpy as np
import pytest
from support.tiny_trainer import (
    BATCH,
    K,
    assert_resume_is_bit_exact,
    tiny_data,
    tiny_model,
    tiny_trainer,
)

import tinybcnn as tb
from tinybcnn import backend
from tinybcnn.backend import NamespaceMismatch, to_numpy
from tinybcnn.checkpoint import read_checkpoint
from tinybcnn.random import CounterRNG
from tinybcnn.train import TrainingDiverged

xps = pytest.importorskip("array_api_strict")


@pytest.fixture
def on_strict():
    """Build models on array_api_strict (restores the backend afterwards)."""
    before = backend.get_backend()
    backend.set_backend("array_api_strict")
    yield
    backend.set_backend(before)


# ------------------------------------------------------------------ no silent mixing


def test_numpy_model_refuses_array_api_strict_input():
    model = tiny_model()
    x = xps.asarray(tiny_data()[0][:2])
    with pytest.raises(NamespaceMismatch, match="x is a array_api_strict array but this model "
                                                "lives on numpy"):
        model.forward(x)


def test_device_model_refuses_numpy_input_to_forward(on_strict):
    model = tiny_model()
    with pytest.raises(NamespaceMismatch, match="x is a numpy array but this model lives on "
                                                "array_api_strict.*to_backend"):
        model.forward(tiny_data()[0][:2])


def test_trainer_and_prediction_refuse_foreign_device_arrays():
    trainer = tiny_trainer()                       # NumPy model
    x, y = tiny_data()
    with pytest.raises(NamespaceMismatch, match="xb is a array_api_strict array"):
        trainer.step(xps.asarray(x[:4]), y[:4])
    with pytest.raises(NamespaceMismatch, match="x is a array_api_strict array"):
        tb.predict.mc_predict(trainer.model, xps.asarray(x[:4]), samples=2)
    assert trainer.iteration == 0


def test_numpy_data_is_moved_to_a_device_model_once(on_strict):
    trainer = tiny_trainer()
    x, y = tiny_data()
    loss = trainer.step(x[:BATCH], y[:BATCH])          # host arrays: copied to the model
    assert backend.xp_of(loss) is xps and np.isfinite(float(loss))
    pred = tb.predict.mc_predict(trainer.model, x[:5], samples=3)
    assert pred.probs.shape == (5, K) and np.allclose(pred.probs.sum(axis=1), 1.0)


def test_host_labels_are_range_checked_before_a_device_step(on_strict):
    trainer = tiny_trainer()
    x, y = tiny_data()
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        trainer.step(x[:4], np.array([0, 1, 2, 3]))


# ------------------------------------------------------------------ the device path


def test_resume_is_bit_exact_on_array_api_strict(on_strict, tmp_path):
    assert_resume_is_bit_exact(tmp_path)


def test_step_masks_depend_on_seed_and_iteration_only(on_strict):
    # the generator of step k is keyed by (seed, k): two trainers at the same iteration draw
    # the same masks whatever happened before; a different iteration draws different ones
    x, y = tiny_data()
    a, b = tiny_trainer(seed=1), tiny_trainer(seed=1)
    a.step(x[:BATCH], y[:BATCH])
    b.run_state.iteration = 1                    # as if resumed at iteration 1
    b.model.load_params(dict(a.model.params))
    b.step(x[:BATCH], y[:BATCH])
    a.step(x[:BATCH], y[:BATCH])
    for name in ("drop1", "drop2", "drop3"):
        np.testing.assert_array_equal(to_numpy(a.model.layers[name].mask),
                                      to_numpy(b.model.layers[name].mask))
    mask_at_1 = to_numpy(a.model.layers["drop3"].mask)
    a.step(x[:BATCH], y[:BATCH])
    assert not np.array_equal(mask_at_1, to_numpy(a.model.layers["drop3"].mask))


def test_mc_prediction_on_the_device_matches_numpy_with_the_same_masks(monkeypatch):
    # the same counter generator runs on both namespaces, so the masks are the same and the
    # device-side summaries (mean, entropy, mutual information, votes) must agree with NumPy's.
    # (A dense network: conv masks are drawn in the output's memory order, which NumPy knows
    # from strides and array_api_strict, having none, takes to be C order.)
    x = tiny_data()[0][:30].reshape(30, -1)
    sizes = (x.shape[1], 64, 64, K)
    host_model = tb.models.mlp(sizes, seed=0)
    before = backend.get_backend()
    backend.set_backend("array_api_strict")
    try:
        device_model = tb.models.mlp(sizes, seed=0)
    finally:
        backend.set_backend(before)
    # tiles of 12 inputs and a few passes (planned for 12 inputs in 256 KiB) on both
    monkeypatch.setattr(tb.mc_tiles, "HOST", tb.mc_tiles.Reference(12, 2**18))
    kw = dict(samples=9, batch_size=12, return_samples=True, std_error=True)
    host = tb.predict.mc_predict(host_model, x, rng=CounterRNG(7, np), **kw)
    dev = tb.predict.mc_predict(device_model, xps.asarray(x), rng=CounterRNG(7, xps), **kw)
    for field in ("probs", "entropy", "mutual_info", "variation_ratio", "sample_probs",
                  "std_error"):
        np.testing.assert_allclose(getattr(dev, field), getattr(host, field), rtol=1e-5,
                                   atol=1e-6, err_msg=field)
    # and the MC mean is the mean of the passes (an oracle independent of the summaries)
    np.testing.assert_allclose(dev.probs, dev.sample_probs.mean(axis=0), rtol=1e-12)


class NaNAt:
    """Wraps an objective: the device loss of call ``k`` (1-based) is NaN."""

    def __init__(self, objective, k):
        self.objective, self.k, self.calls = objective, k, 0

    def __getattr__(self, name):
        return getattr(self.objective, name)

    def loss_and_grads(self, *args, **kwargs):
        self.calls += 1
        value = self.objective.loss_and_grads(*args, **kwargs)
        return value * float("nan") if self.calls == self.k else value


def test_deferred_nan_check_on_the_device_keeps_the_last_good_checkpoint(on_strict, tmp_path):
    x, y = tiny_data()
    trainer = tiny_trainer()
    trainer.objective = NaNAt(trainer.objective, k=8)
    path = tmp_path / "c.npz"
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(x, y, iterations=20, batch_size=BATCH, checkpoint_path=path,
                    checkpoint_every=5, progress=False)
    message = str(info.value)
    assert "between iteration 6 and 10" in message and "not finite" in message
    assert info.value.checkpoint_path == path and info.value.checkpoint_iteration == 5
    ckpt = read_checkpoint(path)
    assert ckpt.trainer["iteration"] == 5
    assert all(np.isfinite(v).all() for v in ckpt.params.values())


def test_device_minibatch_indices_are_the_host_ones_across_epochs(on_strict):
    # the device indices are slices of the epoch's permutation copied to the device; batches
    # that straddle an epoch take the previous copy's tail: compare with the host indices
    trainer = tiny_trainer()
    state, xp = trainer.run_state, trainer.xp
    n, batch = 10, 4                                  # 10 / 4: every other batch straddles
    for _ in range(12):
        host = state.next_indices(n, batch)
        dev = state.device_indices(host, n, batch, xp)
        np.testing.assert_array_equal(to_numpy(dev), host)
    # and after a resume in mid-epoch (no device copy of the old permutation yet)
    state.perm_device = (None, None)
    host = state.next_indices(n, batch)
    np.testing.assert_array_equal(to_numpy(state.device_indices(host, n, batch, xp)), host)
