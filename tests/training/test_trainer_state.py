"""One object owns a trainer's state (issue 31): nothing outside train.py reaches into a
trainer's private fields, a refused resume changes nothing, FitRun takes keywords only, and the
Trainer class stays short enough to read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from tinybcnn.training.run import FitRun

PACKAGE = Path(tb.__file__).parent
K, N, IN_SHAPE = 3, 24, (1, 16, 16)


def _trainer(seed=0):
    model = tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=seed)
    obj = tb.objective.Objective.for_model(model, n_train=N, length_scale=1e-2)
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9)
    return tb.train.Trainer(model, obj, opt, seed=seed)


def _data():
    rng = np.random.default_rng(5)
    return rng.normal(0, 0.3, (N, *IN_SHAPE)).astype(np.float32), rng.integers(0, K, N)


def test_no_module_but_train_py_touches_a_trainers_private_fields():
    pattern = re.compile(r"trainer\._[A-Za-z]")
    offenders = [f"{path.relative_to(PACKAGE)}:{i}: {line.strip()}"
                 for path in sorted(PACKAGE.rglob("*.py")) if path.name != "train.py"
                 or path.parent != PACKAGE
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders, "\n".join(offenders)


def test_the_trainer_class_is_at_most_250_lines():
    tree = ast.parse((PACKAGE / "train.py").read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Trainer"]
    assert cls.end_lineno - cls.lineno + 1 <= 250


def test_fitrun_takes_its_arguments_by_keyword_only():
    x, y = _data()
    with pytest.raises(TypeError):
        FitRun(_trainer(), x, y, 4, None, 8, None, None, None, 0, None, None, None)
    run = FitRun(_trainer(), x_train=x, y_train=y, iterations=4, epochs=None, batch_size=8,
                 x_val=None, y_val=None, eval_every=None, mc_samples=0, log_path=None,
                 checkpoint_path=None, checkpoint_every=None)
    assert (run.n, run.batch_size, run.target) == (N, 8, 4)


def _json_of(trainer):
    return {k: v for k, v in trainer.state().items() if k != "elapsed"}


@pytest.mark.parametrize("spoil", ["shuffle", "history", "loss_count"])
def test_a_refused_resume_changes_nothing(tmp_path, spoil):
    # the last things a resume reads (the shuffle stream, the history, the running loss) are
    # spoiled: the trainer being resumed keeps its own state, parameters and buffers
    x, y = _data()
    source = _trainer()
    source.fit(x, y, iterations=5, batch_size=8, progress=False)
    good = source.save(tmp_path / "good.npz")
    ckpt = read_checkpoint(good)
    state = dict(ckpt.trainer)
    if spoil == "shuffle":
        state["rng"] = {**state["rng"], "shuffle": {"bit_generator": "Nope"}}
    elif spoil == "history":
        state["history"] = 7
    else:
        state["loss_count"] = "many"
    bad = save_checkpoint(tmp_path / "bad.npz", source.model, source.optimizer, trainer=state,
                          arrays={"perm": source.run_state.perm})
    target = _trainer(seed=1)
    target.fit(x, y, iterations=3, batch_size=8, progress=False)
    before_state, before_json = target.run_state, _json_of(target)
    before_params = {k: np.array(v) for k, v in target.model.params.items()}
    with pytest.raises(CheckpointError):
        target.resume(bad)
    assert target.run_state is before_state and _json_of(target) == before_json
    for name, value in target.model.params.items():
        np.testing.assert_array_equal(value, before_params[name])
    target.resume(good)  # and the good one is taken whole
    assert _json_of(target) == _json_of(source)
