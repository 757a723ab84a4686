"""The dropout mask's less travelled paths, each against a direct comparison in NumPy.

``bernoulli_mask`` dispatches on its generator: a NumPy generator, a CounterRNG, an MC
block, a split batch's draws, or a caller's own generator with a ``random(shape, dtype)``
method (``cupy.random.default_rng``), for which the mask is ``(u < keep) / keep`` over
uniform float32 draws. A CPU has no CuPy, so a stand-in with the same method checks that
path; the oracle compares the same uniforms with ``keep`` directly. Also: the refusals name
the namespaces involved, and an MC block or a CounterRNG at ``p = 0`` gives ones of the asked
shape and dtype
(found by mutmut: none of these were tested).
"""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

from tinybcnn.random import MCStream, SharedDraws, bernoulli_mask, make_rng


class UniformSource:
    """A caller's generator as ``cupy.random.default_rng`` is used: ``random(shape, dtype)``
    only (not a ``numpy.random.Generator``, so ``bernoulli_mask`` takes its last path)."""

    def __init__(self, draws):
        self.draws = draws

    def random(self, shape, dtype):
        assert dtype == np.float32, dtype
        return self.draws(shape).astype(np.float32)


def test_a_callers_generator_keeps_the_units_whose_uniform_is_below_keep():
    """Oracle: the same float32 uniforms compared with keep in NumPy."""
    shape, p = (6, 7), 0.3
    source = UniformSource(lambda s: np.random.default_rng(5).random(s, dtype=np.float32))
    mask = bernoulli_mask(source, shape, p)
    u = np.random.default_rng(5).random(shape, dtype=np.float32)
    expected = np.where(u < np.float32(0.7), np.float32(1 / 0.7), np.float32(0))
    assert mask.dtype == np.float32 and mask.shape == shape
    np.testing.assert_allclose(mask, expected, rtol=1e-6)
    assert 0 < np.count_nonzero(mask) < mask.size


def test_a_uniform_equal_to_keep_is_dropped_and_float64_masks_stay_float64():
    """u < keep, strictly: a draw of exactly keep (possible in float32) is dropped."""
    source = UniformSource(lambda s: np.array([0.25, 0.5, 0.75, 0.0]).reshape(s))
    mask = bernoulli_mask(source, (4,), 0.5, dtype=np.float64)
    assert mask.dtype == np.float64
    np.testing.assert_array_equal(mask, [2.0, 0.0, 0.0, 2.0])


def test_a_numpy_generator_is_refused_for_other_arrays_naming_them():
    with pytest.raises(TypeError, match=r"for array_api_strict arrays \(it would draw on the "
                       r"host.*use tinybcnn.random.make_rng\(seed, like=x\)"):
        bernoulli_mask(np.random.default_rng(0), (2, 3), 0.5, xp=xps)


def test_an_mc_stream_refuses_arrays_of_another_namespace_naming_both():
    block = MCStream(0).block(0, 1, 0, 2)
    with pytest.raises(TypeError, match="an MC stream on numpy cannot draw masks for "
                       "array_api_strict arrays"):
        bernoulli_mask(block, (2, 3), 0.5, xp=xps)


def test_a_split_batchs_draws_refuse_other_arrays_naming_them():
    part = SharedDraws(np.random.default_rng(0), 4).part(0, 2)
    with pytest.raises(TypeError, match="a split batch's draws are NumPy arrays; they cannot "
                       "be masks for array_api_strict arrays"):
        bernoulli_mask(part, (2, 3), 0.5, xp=xps)


@pytest.mark.parametrize("xp", [np, xps], ids=["numpy", "array_api_strict"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_mc_block_at_p_zero_gives_ones_of_the_shape_and_dtype(xp, dtype):
    block = MCStream(0, xp).block(0, 2, 0, 3)
    mask = bernoulli_mask(block, (6, 4, 5), 0.0, dtype=getattr(xp, dtype), xp=xp)
    assert mask.shape == (6, 4, 5) and mask.dtype == getattr(xp, dtype)
    assert np.array_equal(np.asarray(mask), np.ones((6, 4, 5)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_counter_generator_at_p_zero_gives_ones_of_the_shape_and_dtype(dtype):
    mask = bernoulli_mask(make_rng(3, backend="array_api_strict"), (3, 4, 5), 0.0,
                          dtype=getattr(xps, dtype))
    assert mask.shape == (3, 4, 5) and mask.dtype == getattr(xps, dtype)
    assert np.array_equal(np.asarray(mask), np.ones((3, 4, 5)))
