"""The device path on a real GPU (CuPy): what tests/device/test_sync.py and
tests/device/test_namespaces.py check on array_api_strict, checked again where it matters.
Skipped without CuPy and a GPU."""

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
from tinybcnn.backend import to_numpy

pytestmark = pytest.mark.gpu


@pytest.fixture
def cupy(cupy_gpu_backend):
    return cupy_gpu_backend


def returns_before_the_gpu_is_done(cupy, fn) -> bool:
    """Whether ``fn()`` returned while GPU work queued before it was still running: then it
    never waited for the device (a read, a host copy or a synchronisation would have waited
    for the queued products). ``Stream.done`` is ``cudaStreamQuery``
    (``cupy/cuda/stream.pyx``); ``cupyx.allow_synchronize``, used here before, is deprecated
    in CuPy 14 and sees only ``get()`` and ``Device.synchronize()``."""
    a = cupy.ones((8192, 8192), dtype=cupy.float32)
    stream = cupy.cuda.get_current_stream()
    stream.synchronize()
    for _ in range(30):          # about 33 TFLOP: hundreds of ms on any current GPU
        a @ a
    fn()
    busy = not stream.done
    stream.synchronize()
    return busy


def test_training_step_never_synchronises(cupy):
    trainer = tiny_trainer()
    x, y = tiny_data()
    xb, yb = cupy.asarray(x[:BATCH]), cupy.asarray(y[:BATCH])
    trainer.step(xb, yb)
    losses = []
    assert returns_before_the_gpu_is_done(
        cupy, lambda: losses.extend(trainer.step(xb, yb) for _ in range(3)))
    assert np.isfinite(float(losses[-1]))
    # the detector sees a read
    assert not returns_before_the_gpu_is_done(cupy, lambda: float(trainer.step(xb, yb)))


def test_mc_prediction_chunk_never_synchronises(cupy):
    model = tiny_model()
    x = cupy.asarray(tiny_data()[0][:20])
    start = model.first_stochastic()
    stream = tb.random.mc_stream(0, like=x)
    tb.predict._sample_outputs(model, x, 4, start, stream, 0, 2)        # warm-up
    out = []
    assert returns_before_the_gpu_is_done(cupy, lambda: out.append(tb.predict._sample_outputs(
        model, x, 4, start, stream, 0, 2, transform=tb.functional.log_softmax)))
    assert out[0].shape == (4, 20, K)


def test_mc_masks_on_the_gpu_equal_numpys(cupy):
    x = cupy.ones((1,), dtype=cupy.float32)
    gpu = tb.random.mc_stream(7, like=x).block(2, 3, 11, 5)
    host = tb.random.MCStream(7).block(2, 3, 11, 5)
    for shape, p in [((15, 20, 24, 24), 0.5), ((15, 500), 0.5), ((15, 50, 8, 8), 0.3)]:
        mask = tb.random.bernoulli_mask(gpu, shape, p, dtype=np.float32, xp=backend.xp_of(x))
        np.testing.assert_array_equal(to_numpy(mask), tb.random.bernoulli_mask(host, shape, p))


def test_masks_come_from_the_device_generator_and_match_the_host_words(cupy):
    x = cupy.ones((64, 33), dtype=cupy.float32)
    rng = tb.random.make_rng(5, like=x)
    assert isinstance(rng, tb.random.CounterRNG)
    mask = tb.random.bernoulli_mask(rng, (64, 33), 0.5, dtype=x.dtype, xp=backend.xp_of(x))
    assert isinstance(mask, cupy.ndarray)
    host = tb.random.CounterRNG(5, np).uint32(64 * 33)
    expected = np.where(host < 2**31, 2.0, 0.0).reshape(64, 33)
    np.testing.assert_array_equal(to_numpy(mask), expected)


def test_resume_is_bit_exact_on_the_gpu(cupy, tmp_path):
    assert_resume_is_bit_exact(tmp_path)


def test_default_budget_is_the_device_reference_whatever_is_free(cupy):
    xp = backend.array_namespace("cupy")
    assert tb.predict.default_memory_budget(xp) == tb.mc_tiles.DEVICE.memory_budget
    assert tb.predict.default_batch_size(xp) == 1000


def test_a_model_on_the_gpu_refuses_numpy_input(cupy):
    model = tiny_model()
    with pytest.raises(backend.NamespaceMismatch, match="numpy array but this model lives on cupy"):
        model.forward(tiny_data()[0][:2])
