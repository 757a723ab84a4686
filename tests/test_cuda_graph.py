"""The opt-in CUDA-graph step (tinybcnn.cuda_graph) against the readable Trainer.step.

On array_api_strict the buffered step runs eagerly (``capture=False``): the same buffers, key
words and device learning rate that a replay reads must give, bit for bit, the parameters and
losses of ``Trainer.step``. On a GPU the captured graph must do the same (gpu-marked)."""

from __future__ import annotations

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn import backend
from tinybcnn.backend import to_numpy
from tinybcnn.cuda_graph import GraphStep

IN_SHAPE, K, BATCH = (1, 16, 16), 3, 16


def _trainer():
    model = tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=500, length_scale=1e-2)
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9, schedule=tb.optim.inv(1e-2, 0.75))
    return tb.train.Trainer(model, obj, opt, seed=3)


def _batches(xp, n=4):
    rng = np.random.default_rng(1)
    return [(tb.backend.to_namespace(rng.normal(0, 1, (BATCH, *IN_SHAPE)).astype(np.float32),
                                     xp),
             tb.backend.to_namespace(rng.integers(0, K, BATCH), xp)) for _ in range(n)]


def _compare(name: str, capture: bool, rtol: float = 0.0) -> None:
    before = backend.get_backend()
    backend.set_backend(name)
    try:
        readable, graphed = _trainer(), _trainer()
        batches = _batches(readable.xp)
        step = GraphStep(graphed, (BATCH, *IN_SHAPE), capture=capture)
        for xb, yb in batches:
            a, b = readable.step(xb, yb), step(xb, yb)
            assert float(a) == pytest.approx(float(b), rel=rtol, abs=0)
        assert graphed.iteration == readable.iteration == len(batches)
        assert graphed.optimizer.lr == readable.optimizer.lr
        for k, v in readable.model.params.items():
            np.testing.assert_allclose(to_numpy(graphed.model.params[k]), to_numpy(v),
                                       rtol=rtol, atol=0, err_msg=k)
        assert float(graphed._loss_sum) == pytest.approx(float(readable._loss_sum), rel=rtol,
                                                         abs=0)
    finally:
        backend.set_backend(before)


def test_buffered_step_equals_trainer_step_on_array_api_strict():
    pytest.importorskip("array_api_strict")
    _compare("array_api_strict", capture=False)


def test_capture_needs_cupy():
    trainer = _trainer()   # NumPy model
    with pytest.raises(tb.backend.BackendError, match="needs a model on CuPy"):
        GraphStep(trainer, (BATCH, *IN_SHAPE))


def test_only_sgd():
    trainer = _trainer()
    trainer.optimizer = tb.optim.Adam(trainer.model)
    with pytest.raises(ValueError, match="SGD"):
        GraphStep(trainer, (BATCH, *IN_SHAPE), capture=False)


@pytest.mark.gpu
def test_captured_graph_equals_trainer_step_on_cupy():
    from conftest import cupy_with_gpu

    if not cupy_with_gpu():
        pytest.skip("needs CuPy and a GPU")
    # the same kernels in the same order: equal up to cuBLAS's choice of algorithm, if any
    _compare("cupy", capture=True, rtol=1e-6)
