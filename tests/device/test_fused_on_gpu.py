"""The dropout mask's fused kernel on a real GPU: the CuPy ``ElementwiseKernel`` of
:data:`tinybcnn.splitmix.INVERTED_MASK` against its twin, bit for bit (issue 32, item 5).

``tests/device/test_fused_mask_kernel.py`` checks the kernel's body compiled for the CPU; this
runs the kernel CuPy compiles (NVRTC) where there is a GPU (``scripts/gpu_check.sh``, step 6:
``pytest -m gpu``). Skipped without CuPy and a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinybcnn.backend import array_namespace, to_numpy
from tinybcnn.fused import cupy_kernel_class
from tinybcnn.random import CounterRNG, _last_step_keeps_the_comparison, make_rng
from tinybcnn.splitmix import INVERTED_MASK

pytestmark = pytest.mark.gpu


@pytest.fixture
def cupy(cupy_gpu_backend):
    return cupy_gpu_backend


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_kernel_gives_the_twins_masks_bit_for_bit(cupy, dtype):
    xp = array_namespace("cupy")
    assert cupy_kernel_class(xp) is cupy.ElementwiseKernel      # the kernel, not the twin
    for n in (1, 1000, 2**20 + 3):
        for first, key in ((0, 0x0123456789ABCDEF), (5 * 2**40 + 7, 2**64 - 1)):
            for keep in (0.5, 3 / 2**32, 0.7, 0.9214067698922008, 1 - 3 / 2**32, 1.0):
                t = min(int(round(keep * 2**32)), 2**32 - 1)
                for last_step in {True, not _last_step_keeps_the_comparison(t)}:
                    args = (first, key, t << 32, last_step, 1.0 / keep, 0.0)
                    gpu = INVERTED_MASK(xp, None, (n,), np.dtype(dtype), *args)
                    assert isinstance(gpu, cupy.ndarray) and gpu.dtype == np.dtype(dtype)
                    host = INVERTED_MASK.twin(np, None, (n,), np.dtype(dtype), *args)
                    np.testing.assert_array_equal(bits(to_numpy(gpu)), bits(host),
                                                  err_msg=f"{n} {first} {key} {keep} "
                                                          f"{last_step}")
    assert cupy.ElementwiseKernel in INVERTED_MASK._kernels       # built, and kept


def test_a_steps_masks_on_the_gpu_are_the_hosts(cupy):
    """A training step's three masks (one reservation, one kernel) on the GPU equal the
    twin's (CounterRNG on NumPy, the same code as on array_api_strict), bit for bit, as do
    plain draws after it."""
    x = cupy.ones((1,), dtype=cupy.float32)
    shapes = [(64, 20, 24, 24), (64, 50, 8, 8), (64, 500)]
    for seed, keep in (([0, 17], 0.5), (3, 0.7)):
        gpu, cpu = make_rng(seed, like=x), CounterRNG(seed, np)
        for rng in (gpu, cpu):
            rng.reserve(sum(int(np.prod(s)) for s in shapes))
        for shape in shapes + [(3, 7)]:
            n = int(np.prod(shape))
            a = gpu.inverted_mask(n, keep, np.float32)
            assert isinstance(a, cupy.ndarray)
            b = cpu.inverted_mask(n, keep, np.float32)
            np.testing.assert_array_equal(bits(to_numpy(a)), bits(b))
