"""The dropout mask's fused CUDA kernel, checked without a GPU (issue 32, item 5).

On CuPy a mask of :class:`tinybcnn.random.CounterRNG` is one ``ElementwiseKernel``
(:data:`tinybcnn.splitmix.INVERTED_MASK`), everywhere else its twin in array operations. CI
has no GPU, so the kernel's exact body string is compiled here as C++ inside the loop CuPy
wraps it in (``tests/support/cuda_body.py``) and compared bit for bit with the twin and with
SplitMix64 recomputed in Python integers; then the whole CuPy call path (the output
allocated, the scalars in the parameters' order, one kernel for a step's masks) runs on the
CuPy-rules double with a stand-in ``ElementwiseKernel`` that executes the compiled body.
``tests/device/test_fused_on_gpu.py`` runs the real kernel where there is a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.cuda_body import CompiledBody, compiler
from support.splitmix_oracle import first_two_steps, state, word

from tinybcnn import splitmix
from tinybcnn.backend import to_numpy
from tinybcnn.random import CounterRNG, _last_step_keeps_the_comparison, make_rng
from tinybcnn.splitmix import INVERTED_MASK

xp_strict = pytest.importorskip("array_api_strict")

pytestmark = pytest.mark.skipif(compiler() is None,
                                reason="no C++ compiler (g++, c++, gcc or cc) to compile the "
                                       "kernel's CUDA body on the CPU")


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    """The kernel body compiled once per output dtype."""
    folder = tmp_path_factory.mktemp("mask_kernel")
    return {dt: CompiledBody(INVERTED_MASK.in_params, INVERTED_MASK.out_params,
                             INVERTED_MASK.body, np.dtype(dt), folder / dt)
            for dt in ("float32", "float64")}


def kernel_args(first, key, keep, last_step):
    """The scalars of the kernel as ``CounterRNG.inverted_mask`` gives them."""
    t = min(int(round(keep * 2**32)), 2**32 - 1)
    return first, key, t << 32, last_step, 1.0 / keep, 0.0


def python_mask(first, key, keep, n, dtype):
    """The documented mask in Python integers: kept where the high half of
    ``splitmix64(key + c·φ)`` is below ``round(keep · 2**32)`` (capped at 2**32 − 1)."""
    t = min(int(round(keep * 2**32)), 2**32 - 1)
    out = [word(key, c) >> 32 < t for c in range(first, first + n)]
    return np.where(np.array(out, dtype=bool), np.asarray(1.0 / keep, dtype=dtype),
                    np.asarray(0.0, dtype=dtype))


def deciding_keep(first, key):
    """A keep whose mask SplitMix64's last step decides near counter ``first``: ``t = h + 1``
    for the first even high half ``h >= 2**31`` of a word before that step, which the step
    makes ``h + 1`` (not below ``t``: dropped) though ``h < t`` (kept without it)."""
    for c in range(first, first + 64):
        h = first_two_steps(state(key, c)) >> 32
        if h >= 2**31 and h % 2 == 0:
            return (h + 1) / 2**32
    raise AssertionError("no such word in 64: try another key")


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}")


# (first counter, key, keep, n): keep 1/2 (t even), near 0 (t = 3: odd, small) and near 1
# (t = 2**32 − 3 and the cap 2**32 − 1: odd and large, where the last step decides), 0.7
# (odd t above 2**31); keys below and above 2**63, counters from 0 to MC-sized ones
CASES = [
    (0, 0x0123456789ABCDEF, 0.5, 1000),
    (17, 0xFEDCBA9876543210, 3 / 2**32, 1500),
    (5 * 2**40 + 3, 0x8000000000000000, 1 - 3 / 2**32, 1200),
    (123_456_789, 2**64 - 1, 0.7, 2000),
    (2**63 - 500, 42, 1.0, 700),
    (9, 0x9E3779B97F4A7C15, 0.25, 1),
    (1000, 0x5DEECE66D, deciding_keep(1000, 0x5DEECE66D), 300),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("first, key, keep, n", CASES)
def test_the_kernel_body_is_the_twin_bit_for_bit(bodies, first, key, keep, n, dtype):
    t = min(int(round(keep * 2**32)), 2**32 - 1)
    want = python_mask(first, key, keep, n, dtype)
    for last_step in (True, False):
        args = kernel_args(first, key, keep, last_step)
        got = bodies[dtype](n, *args)
        for xp in (np, xp_strict):
            twin = INVERTED_MASK.twin(xp, None, (n,), getattr(xp, dtype), *args)
            np.testing.assert_array_equal(bits(got), bits(to_numpy(twin)))
        # the last step may be left out exactly where CounterRNG leaves it out
        if last_step or _last_step_keeps_the_comparison(t):
            np.testing.assert_array_equal(bits(got), bits(want))
    assert got.dtype == np.dtype(dtype) and got.shape == (n,)


def test_a_case_where_the_last_step_decides_a_unit(bodies):
    """The last case above has a unit that only SplitMix64's last step drops, so a body that
    always (or never) takes that step fails the comparison there."""
    first, key, keep, n = CASES[-1]
    with_step = bodies["float32"](n, *kernel_args(first, key, keep, True))
    without = bodies["float32"](n, *kernel_args(first, key, keep, False))
    assert 1 <= int(np.sum(with_step != without)) <= 2


def test_the_harness_sees_a_changed_body(tmp_path):
    """The comparison above has teeth: the body with one shift changed (27 → 28), compiled
    the same way, gives other masks."""
    planted = INVERTED_MASK.body.replace("z >> 27", "z >> 28")
    assert planted != INVERTED_MASK.body
    body = CompiledBody(INVERTED_MASK.in_params, INVERTED_MASK.out_params, planted,
                        np.dtype("float32"), tmp_path)
    args = kernel_args(0, 0x0123456789ABCDEF, 0.5, False)
    assert not np.array_equal(body(1000, *args), python_mask(0, 0x0123456789ABCDEF, 0.5, 1000,
                                                              "float32"))


class _HarnessKernel:
    """A stand-in for ``cupy.ElementwiseKernel`` on the CuPy-rules double: takes CuPy's
    arguments (``cupy/_core/_kernel.pyx``, v14.2.0: the inputs, then the output arrays),
    casts the scalars as ``CScalar.apply_dtype`` does (an out-of-range int raises) and
    fills the output with the compiled body's values."""

    made: list[str] = []
    calls: list[int] = []
    bodies: dict = {}

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        assert operation == INVERTED_MASK.body and not kwargs
        self.in_params, self.out_params, self.name = in_params, out_params, name
        self.types = [p.split()[0] for p in in_params.split(",")]
        _HarnessKernel.made.append(name)

    def __call__(self, *args, **kwargs):
        from support.cupy_double import ndarray

        assert not kwargs, kwargs             # no size=: the output array sets the size
        *scalars, out = args
        assert len(scalars) == len(self.types) and isinstance(out, ndarray)
        for typ, value in zip(self.types, scalars, strict=True):
            assert isinstance(value, (bool, int, float)), (typ, value)   # Python scalars
            if typ == "uint64":
                np.array(value, dtype=np.uint64)          # OverflowError outside [0, 2**64)
            if typ == "bool":
                assert isinstance(value, bool)
        values = self.bodies[out.dtype.name](out.size, *scalars)
        out._a[...] = values.reshape(out.shape)
        _HarnessKernel.calls.append(out.size)
        return out


def test_the_cupy_path_runs_one_kernel_for_a_steps_masks(cupy_double_backend, bodies,
                                                         monkeypatch):
    """CounterRNG on "CuPy" (the double, with the stand-in kernel): the masks of a reserved
    step (three layers) and of plain draws are the twin's masks on array_api_strict, bit for
    bit, from one kernel per reservation; the kernel is built once."""
    cp = cupy_double_backend
    monkeypatch.setattr(cp, "ElementwiseKernel", _HarnessKernel, raising=False)
    monkeypatch.setattr(INVERTED_MASK, "_kernels", {})
    monkeypatch.setattr(_HarnessKernel, "made", [])
    monkeypatch.setattr(_HarnessKernel, "calls", [])
    monkeypatch.setattr(_HarnessKernel, "bodies", bodies)
    like = cp.zeros((1,), dtype=np.float32)
    shapes = [(4, 3, 5, 5), (4, 7), (4, 11)]
    for seed, keep in (([9, 2], 0.5), (5, 0.7), (6, 1 - 3 / 2**32)):
        device, strict = make_rng(seed, like=like), CounterRNG(seed, xp_strict)
        assert isinstance(device, CounterRNG)
        calls_before = len(_HarnessKernel.calls)
        for rng in (device, strict):
            rng.reserve(sum(int(np.prod(s)) for s in shapes))
        for shape in shapes:
            n = int(np.prod(shape))
            a = device.inverted_mask(n, keep, np.float32)
            b = strict.inverted_mask(n, keep, xp_strict.float32)
            assert type(a).__module__ == "cupy._core.core"     # the double's array
            np.testing.assert_array_equal(bits(to_numpy(a)), bits(to_numpy(b)))
        assert _HarnessKernel.calls[calls_before:] == [300 + 28 + 44]   # one, for all three
        for dtype in ("float64", "float32"):     # past the reservation: one kernel a draw
            a = device.inverted_mask(37, keep, np.dtype(dtype))
            b = strict.inverted_mask(37, keep, getattr(xp_strict, dtype))
            assert to_numpy(a).dtype == np.dtype(dtype)
            np.testing.assert_array_equal(bits(to_numpy(a)), bits(to_numpy(b)))
        assert device.counter == strict.counter == 372 + 74
    assert _HarnessKernel.made == ["tinybcnn_inverted_mask"]


def test_the_words_are_still_the_words(cupy_double_backend):
    """The words themselves (``uint64``) within a reservation are made only when asked for,
    and are the same as drawn one by one (the masks no longer make them)."""
    like = cupy_double_backend.zeros((1,), dtype=np.float32)
    ahead, plain = make_rng(3, like=like), make_rng(3, like=like)
    ahead.reserve(50)
    ahead.inverted_mask(20, 0.5, np.float32)
    plain.inverted_mask(20, 0.5, np.float32)
    assert ahead._block[2] is None                    # no words made for the mask
    np.testing.assert_array_equal(to_numpy(ahead.uint64(30)), to_numpy(plain.uint64(30)))
    assert ahead.counter == plain.counter == 50


def test_the_fused_operation_uses_the_twin_off_cupy():
    assert splitmix.INVERTED_MASK.name == "tinybcnn_inverted_mask"
    from tinybcnn.fused import cupy_kernel_class

    assert cupy_kernel_class(np) is None and cupy_kernel_class(xp_strict) is None
