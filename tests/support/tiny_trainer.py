"""The small LeNet, its trainer and data that the device-path tests train on every namespace
(NumPy, array_api_strict standing in for CuPy, and CuPy on a GPU), and the resume check they
share: the same model and data in each, so a difference is the namespace's."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tinybcnn as tb
from tinybcnn.backend import to_numpy

IN_SHAPE, K, N, BATCH = (1, 16, 16), 3, 96, 40   # 96 / 40: batches straddle epochs


def tiny_model() -> tb.nn.Sequential:
    """lenet-all for (1, 16, 16) inputs and K classes, in the current backend."""
    return tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=0)


def tiny_trainer(seed: int = 0) -> tb.train.Trainer:
    """SGD with momentum and Caffe's "inv" schedule on :func:`tiny_model`."""
    model = tiny_model()
    obj = tb.objective.Objective.for_model(model, n_train=N, length_scale=1e-2)
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9, schedule=tb.optim.inv(1e-2, 0.75))
    return tb.train.Trainer(model, obj, opt, seed=seed)


def tiny_data() -> tuple[np.ndarray, np.ndarray]:
    """N host images (N, 1, 16, 16) float32 and labels (N,): noise with a bright pixel at
    the label's column, so a few steps can learn something."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, K, N)
    x = rng.normal(0, 0.3, (N, *IN_SHAPE)).astype(np.float32)
    x[np.arange(N), 0, 0, y] += 1.0
    return x, y


def assert_resume_is_bit_exact(tmp_path: Path) -> None:
    """7 iterations straight equal 3, a checkpoint, a resume and 4 more, bit for bit: the
    weights and the optimiser's momentum buffers (in the current backend)."""
    x, y = tiny_data()
    straight = tiny_trainer(seed=5)
    straight.fit(x, y, iterations=7, batch_size=BATCH, progress=False)
    first = tiny_trainer(seed=5)
    first.fit(x, y, iterations=3, batch_size=BATCH, progress=False)
    path = first.save(tmp_path / "c.npz")
    resumed = tiny_trainer(seed=5)
    resumed.resume(path)
    resumed.fit(x, y, iterations=7, batch_size=BATCH, progress=False)
    assert resumed.iteration == straight.iteration == 7
    for k, v in straight.model.params.items():
        np.testing.assert_array_equal(to_numpy(resumed.model.params[k]), to_numpy(v), err_msg=k)
    for k, v in straight.optimizer.buffers.items():
        np.testing.assert_array_equal(to_numpy(resumed.optimizer.buffers[k]), to_numpy(v),
                                      err_msg=k)
