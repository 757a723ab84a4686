"""Training behaviours no other fast test pinned down: the minibatches are shuffled, training
draws dropout masks (fresh ones at every step), an infinite loss stops a step before its
update, a history row's training loss is the mean since the row before, nothing is saved
before the first update, the time spent survives a resume, ``epochs`` round up to whole
batches, and ``Trainer.evaluate`` reports MC prediction under "mc".

Each test fails on a deliberately planted bug (no shuffle; masks off during training; the
same masks at every step; only NaN taken for divergence; the running loss never reset; a
checkpoint at iteration 0; the elapsed time not saved; epochs rounded down; the standard
prediction reported as MC), checked by planting it.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn.backend import to_numpy
from tinybcnn.metrics import error, nll
from tinybcnn.predict import mc_predict, standard_predict
from tinybcnn.random import step_rng
from tinybcnn.train import Trainer, TrainingDiverged

N, D, K = 24, 4, 3


def make_trainer(seed: int = 0, p: float = 0.5) -> Trainer:
    """A small dropout MLP (D -> 16 -> K) with the prior-derived objective and plain SGD."""
    model = tb.models.mlp((D, 16, K), p=p, seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=N, length_scale=1e-2)
    return Trainer(model, obj, tb.optim.SGD(model, lr=0.05, momentum=0.9), seed=seed)


@pytest.fixture
def indexed_data() -> tuple[np.ndarray, np.ndarray]:
    """Inputs whose first feature is the example's index, so a batch tells which rows it took."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D)).astype(np.float32)
    x[:, 0] = np.arange(N)
    return x, rng.integers(0, K, N)


def _record_batches(trainer: Trainer) -> list[np.ndarray]:
    """Wrap ``trainer.step`` so that each minibatch's row indices are appended to a list."""
    seen: list[np.ndarray] = []
    step = trainer.step

    def recording_step(xb, yb, *options):
        seen.append(np.rint(to_numpy(xb)[:, 0]).astype(int))
        return step(xb, yb, *options)

    trainer.step = recording_step
    return seen


def test_each_epoch_is_a_fresh_random_permutation(indexed_data):
    x, y = indexed_data
    trainer = make_trainer()
    seen = _record_batches(trainer)
    trainer.fit(x, y, iterations=3 * N // 8, batch_size=8, progress=False)   # three epochs
    epochs = np.concatenate(seen).reshape(3, N)
    for order in epochs:
        assert sorted(order) == list(range(N))          # every example once per epoch
    assert not np.array_equal(epochs[0], np.arange(N)), "the data were not shuffled"
    assert not np.array_equal(epochs[0], epochs[1]), "every epoch reuses one order"
    # and another seed shuffles differently
    other = make_trainer(seed=1)
    seen_other = _record_batches(other)
    other.fit(x, y, iterations=N // 8, batch_size=8, progress=False)
    assert not np.array_equal(np.concatenate(seen_other), epochs[0])


def test_a_training_step_draws_dropout_masks(indexed_data):
    x, y = indexed_data
    trainer = make_trainer()
    model, obj = trainer.model, trainer.objective
    # the loss a stochastic pass with the masks of the trainer's first step gives (its
    # generator is keyed by (seed, iteration)), and the deterministic loss: a step must
    # report the former
    like = model.params["ip1.W"]
    stochastic = obj(model, x, y, rng=step_rng(trainer.run_state.dropout_seed, 0, like))
    deterministic = obj(model, x, y)
    assert stochastic != pytest.approx(deterministic, rel=1e-6)
    assert trainer.step(x, y) == pytest.approx(stochastic, rel=1e-6)
    # two steps from the same weights with different masks move the weights differently
    a, b = make_trainer(seed=0), make_trainer(seed=1)
    a.step(x, y)
    b.step(x, y)
    assert not np.allclose(a.model.params["ip1.W"], b.model.params["ip1.W"])


def test_every_step_draws_fresh_masks(indexed_data):
    """Step ``k`` uses the masks of ``step_rng(seed, k)``: not the first step's again."""
    x, y = indexed_data
    trainer = make_trainer()
    model, obj = trainer.model, trainer.objective
    like = model.params["ip1.W"]
    trainer.step(x, y)
    # the loss a step reports is taken before its update: from the weights as they are now
    second = obj(model, x, y, rng=step_rng(trainer.run_state.dropout_seed, 1, like))
    first_again = obj(model, x, y, rng=step_rng(trainer.run_state.dropout_seed, 0, like))
    assert second != pytest.approx(first_again, rel=1e-6)
    assert trainer.step(x, y) == pytest.approx(second, rel=1e-6)


@pytest.mark.parametrize("halves", [False, True])
@pytest.mark.parametrize("loss", [np.inf, -np.inf, np.nan])
def test_a_non_finite_loss_stops_the_step_before_its_update(indexed_data, monkeypatch,
                                                            halves, loss):
    x, y = indexed_data
    trainer = make_trainer()
    trainer.step(x, y)                              # momentum buffers exist now
    monkeypatch.setattr(tb.train, "split_parts", lambda *args: 2 if halves else 0)  # 0: unsplit
    monkeypatch.setattr(tb.train, "split_loss_and_grads", lambda *args: loss)
    monkeypatch.setattr(trainer, "objective", lambda *args, **kwargs: loss)
    before = {k: v.copy() for k, v in trainer.model.params.items()}
    velocity = {k: v.copy() for k, v in trainer.optimizer.buffers.items()}
    with pytest.raises(TrainingDiverged, match="the loss is"):
        trainer.step(x, y)
    assert trainer.iteration == 1
    for name, value in before.items():
        np.testing.assert_array_equal(trainer.model.params[name], value, err_msg=name)
    for name, value in velocity.items():
        np.testing.assert_array_equal(trainer.optimizer.buffers[name], value, err_msg=name)


def test_each_history_row_reports_the_mean_training_loss_since_the_row_before(indexed_data):
    x, y = indexed_data
    trainer = make_trainer()
    losses: list[float] = []
    step = trainer.step
    trainer.step = lambda xb, yb, *options: losses.append(step(xb, yb, *options)) or losses[-1]
    history = trainer.fit(x, y, iterations=12, batch_size=8, eval_every=4, progress=False)
    rows = [row["train_loss"] for row in history.rows]
    assert len(rows) == 3 and len(losses) == 12
    for k, reported in enumerate(rows):
        assert reported == pytest.approx(np.mean(losses[4 * k:4 * k + 4]), rel=1e-12)


def test_nothing_is_saved_before_the_first_update(indexed_data, tmp_path):
    """A run whose first step fails leaves no checkpoint (a run directory holding one is
    refused as the folder of a new run: the user could not simply start again)."""
    x, y = indexed_data
    trainer = make_trainer()

    def failing_step(xb, yb, *options):
        raise RuntimeError("planted")

    trainer.step = failing_step
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(RuntimeError, match="planted"):
        trainer.fit(x, y, iterations=6, batch_size=8, checkpoint_path=path,
                    checkpoint_every=3, progress=False)
    assert not path.exists()


def test_the_time_spent_training_survives_a_resume(indexed_data, tmp_path):
    """The history's ``time`` column counts the seconds of every ``fit``, before a resume
    too: it never runs backwards."""
    x, y = indexed_data
    path = tmp_path / "checkpoint.npz"
    first = make_trainer()
    first.fit(x, y, iterations=4, batch_size=8, eval_every=2, checkpoint_path=path,
              checkpoint_every=2, progress=False)
    spent = first.history.rows[-1]["time"]
    assert spent > 0
    resumed = make_trainer()
    resumed.resume(path)
    assert resumed.state()["elapsed"] >= spent
    resumed.fit(x, y, iterations=6, batch_size=8, eval_every=2, progress=False)
    times = [row["time"] for row in resumed.history.rows]
    assert len(times) == 3 and times == sorted(times)


@pytest.mark.parametrize("epochs, iterations", [(1.0, 3), (1.1, 4), (0.01, 1), (2.5, 8)])
def test_epochs_train_to_the_ceiling_of_epochs_times_batches(indexed_data, epochs, iterations):
    """``fit(epochs=E)`` trains ``ceil(E · N / batch_size)`` updates (N = 24, batches of 8),
    as its docstring says: a started batch is trained, never dropped."""
    x, y = indexed_data
    trainer = make_trainer()
    trainer.fit(x, y, epochs=epochs, batch_size=8, progress=False)
    assert trainer.iteration == iterations


def test_without_dropout_a_step_is_deterministic(indexed_data):
    """The control: with p = 0 the stochastic and deterministic losses coincide."""
    x, y = indexed_data
    trainer = make_trainer(p=0.0)
    loss = trainer.objective(trainer.model, x, y)
    assert trainer.step(x, y) == pytest.approx(loss, rel=1e-6)


def test_evaluate_reports_mc_prediction_under_mc(indexed_data):
    x, y = indexed_data
    trainer = make_trainer()
    trainer.fit(x, y, iterations=6, batch_size=8, progress=False)
    out = trainer.evaluate(x, y, mc_samples=7)
    std = standard_predict(trainer.model, x)
    assert out["std_error"] == error(std.probs, y)
    assert out["std_nll"] == pytest.approx(nll(std.probs, y), rel=1e-12)
    # MC is an average of stochastic passes, so its NLL differs from the deterministic one ...
    assert out["mc_nll"] != pytest.approx(out["std_nll"], rel=1e-6)
    # ... and is the NLL of T = 7 passes drawn with the trainer's evaluation seed
    mc = mc_predict(trainer.model, x, samples=7, seed=trainer.run_state.eval_seed)
    assert out["mc_nll"] == pytest.approx(nll(mc.probs, y), rel=1e-12)
    assert out["mc_error"] == error(mc.probs, y)
    # and the same masks at every call: evaluating twice gives the same numbers
    assert trainer.evaluate(x, y, mc_samples=7) == out
    assert trainer.evaluate(x, y, mc_samples=0)["mc_nll"] is None
