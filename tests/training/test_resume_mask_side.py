"""Resume compares the objective's ``mask_side``: the two readings of which weight layer a
dropout mask belongs to give different per-layer decays, so a run must not switch mid-way.
Checkpoints written before ``mask_side`` was recorded still resume."""

from __future__ import annotations

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from tinybcnn.train import Trainer

IN_SHAPE = (1, 16, 16)
N, K, BATCH = 40, 3, 16


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return (rng.normal(0, 1, (N, *IN_SHAPE)).astype(np.float32), rng.integers(0, K, N))


def make_trainer(mask_side: str, seed: int = 0) -> Trainer:
    model = tb.models.lenet("all", p=0.5, in_shape=IN_SHAPE, n_classes=K, seed=seed)
    obj = tb.objective.Objective.for_model(model, n_train=N, length_scale=1e-2,
                                           mask_side=mask_side)
    return Trainer(model, obj, tb.optim.SGD(model, lr=0.01, momentum=0.9), seed=seed)


def test_the_two_readings_differ_in_their_decays():
    # the premise of the check: otherwise switching would be harmless
    out, inp = make_trainer("output"), make_trainer("input")
    assert out.objective.weight_decays() != inp.objective.weight_decays()


@pytest.mark.parametrize(("saved", "other"), [("output", "input"), ("input", "output")])
def test_resume_refuses_the_other_mask_side_and_changes_nothing(data, tmp_path, saved, other):
    x, y = data
    trainer = make_trainer(saved)
    trainer.fit(x, y, iterations=2, batch_size=BATCH, progress=False)
    path = trainer.save(tmp_path / "c.npz")

    fresh = make_trainer(other, seed=5)
    before = {k: v.copy() for k, v in fresh.model.params.items()}
    with pytest.raises(CheckpointError, match=f"mask_side={saved}, this trainer's has "
                                              f"mask_side={other}"):
        fresh.resume(path)
    assert fresh.iteration == 0
    for k, v in before.items():
        assert np.array_equal(fresh.model.params[k], v), k

    same = make_trainer(saved, seed=5)
    same.resume(path)
    assert same.iteration == 2


def test_a_checkpoint_without_mask_side_still_resumes_exactly(data, tmp_path):
    # written as before mask_side was recorded: the same state, that one key left out
    x, y = data
    straight = make_trainer("output")
    straight.fit(x, y, iterations=5, batch_size=BATCH, progress=False)

    first = make_trainer("output")
    first.fit(x, y, iterations=3, batch_size=BATCH, progress=False)
    state = first.state()
    del state["objective"]["mask_side"]
    path = save_checkpoint(tmp_path / "old.npz", first.model, first.optimizer, trainer=state,
                           arrays={"perm": first.run_state.perm})
    assert "mask_side" not in read_checkpoint(path).trainer["objective"]

    resumed = make_trainer("output", seed=9)
    resumed.resume(path)
    resumed.fit(x, y, iterations=5, batch_size=BATCH, progress=False)
    for k, v in straight.model.params.items():
        assert np.array_equal(resumed.model.params[k], v), k
