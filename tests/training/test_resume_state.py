"""Resume state that no bitwise comparison sees (issue 27): when the running loss was last
read (the divergence message names the iterations a NaN may come from) and a finished run
resumed again (its checkpoint must not be rewritten)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn import backend, cli
from tinybcnn.train import TrainingDiverged, TrainingInterrupted

xps = pytest.importorskip("array_api_strict")

IN_SHAPE, K, N = (1, 16, 16), 3, 48


@pytest.fixture
def on_strict():
    before = backend.get_backend()
    backend.set_backend("array_api_strict")
    yield
    backend.set_backend(before)


def _trainer():
    model = tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=N, length_scale=1e-2)
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9, schedule=tb.optim.inv(1e-2, 0.75))
    return tb.train.Trainer(model, obj, opt, seed=0)


def _data():
    rng = np.random.default_rng(3)
    y = rng.integers(0, K, N)
    x = rng.normal(0, 0.3, (N, *IN_SHAPE)).astype(np.float32)
    return x, y


class Wrapped:
    """An objective whose call ``k`` (1-based) raises Ctrl-C or gives a NaN loss."""

    def __init__(self, objective, k, what):
        self.objective, self.k, self.what, self.calls = objective, k, what, 0

    def __getattr__(self, name):
        return getattr(self.objective, name)

    def loss_and_grads(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.k and self.what == "interrupt":
            raise KeyboardInterrupt
        value = self.objective.loss_and_grads(*args, **kwargs)
        return value * float("nan") if self.calls == self.k else value


def test_divergence_after_resume_names_only_iterations_after_the_checkpoint(on_strict,
                                                                            tmp_path):
    x, y = _data()
    path = tmp_path / "c.npz"
    first = _trainer()
    first.objective = Wrapped(first.objective, 7, "interrupt")   # Ctrl-C at iteration 7
    with pytest.raises(TrainingInterrupted):
        first.fit(x, y, iterations=20, batch_size=16, eval_every=4, mc_samples=0,
                  checkpoint_path=path, progress=False)
    assert tb.checkpoint.read_checkpoint(path).trainer["iteration"] == 6  # last row at 4
    second = _trainer()
    second.resume(path)
    second.objective = Wrapped(second.objective, 1, "nan")       # iteration 7's loss is NaN
    with pytest.raises(TrainingDiverged) as info:
        second.fit(x, y, iterations=20, batch_size=16, eval_every=4, mc_samples=0,
                   checkpoint_path=path, progress=False)
    # iterations 5 and 6 were read (finite) before the checkpoint: only 7..8 can be the NaN
    assert "between iteration 7 and 8" in str(info.value)
    assert info.value.checkpoint_iteration == 6


def _train(out, *extra):
    return cli.main(["train", "--out", str(out), "--train-size", "64", "--test-size", "32",
                     "--eval-samples", "2", "--quiet", "--threads", "1", *extra])


def test_resuming_a_finished_run_rewrites_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--iterations", "2") == 0
    files = {name: ((out / name).read_bytes(), os.stat(out / name).st_mtime_ns)
             for name in ("checkpoint.npz", "config.json", "history.csv")}
    os.utime(out / "checkpoint.npz", ns=(1_000_000_000, 1_000_000_000))
    before_ns = os.stat(out / "checkpoint.npz").st_mtime_ns
    assert _train(out, "--resume") == 0
    assert "trained 2 iterations" in capsys.readouterr().out
    assert os.stat(out / "checkpoint.npz").st_mtime_ns == before_ns
    for name, (data, _) in files.items():
        assert (out / name).read_bytes() == data, name
    # the same total given again is a resume of a finished run too
    assert _train(out, "--resume", "--iterations", "2") == 0
    assert os.stat(out / "checkpoint.npz").st_mtime_ns == before_ns
    assert (out / "checkpoint.npz").read_bytes() == files["checkpoint.npz"][0]
