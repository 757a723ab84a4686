"""CounterRNG's stream itself, against an independent oracle (issue 27).

The NumPy-vs-device comparisons run the same generator on both sides, so a counter that
never advances (every draw the same words, every dropout layer of a step the same mask)
passes them. Here the words are recomputed from the documented algorithm in plain Python:
word ``i`` of seed ``s`` is the high half of SplitMix64's output on ``key + i·φ`` modulo
2**64, with ``key`` the first 64-bit word of ``numpy.random.SeedSequence(s)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.splitmix_oracle import word

from tinybcnn.random import (
    CounterRNG,
    _last_step_keeps_the_comparison,
    bernoulli_mask,
)


def oracle_words(seed, first, n):
    """Words ``first .. first + n - 1`` of CounterRNG(seed), from the published constants."""
    key = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])
    return np.array([word(key, i) >> 32 for i in range(first, first + n)], dtype=np.uint64)


def _namespaces():
    names = [np]
    try:
        import array_api_strict

        names.append(array_api_strict)
    except ImportError:  # pragma: no cover
        pass
    return names


@pytest.mark.parametrize("xp", _namespaces(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("seed", [0, 7, [3, 11]])
def test_successive_draws_continue_the_stream(xp, seed):
    rng = CounterRNG(seed, xp)
    a = np.asarray(rng.uint32(5), dtype=np.uint64)
    b = np.asarray(rng.uint32(3), dtype=np.uint64)
    c = np.asarray(rng.uint32(1), dtype=np.uint64)
    assert rng.counter == 9
    np.testing.assert_array_equal(np.concatenate([a, b, c]), oracle_words(seed, 0, 9))
    assert not np.array_equal(a[:3], b)          # a second draw is not the first again


@pytest.mark.parametrize("xp", _namespaces(), ids=lambda m: m.__name__)
def test_reserved_words_are_the_same_stream(xp):
    rng = CounterRNG(5, xp)
    rng.reserve(10)
    parts = [np.asarray(rng.uint32(n), dtype=np.uint64) for n in (4, 4, 4, 2)]  # past the block
    np.testing.assert_array_equal(np.concatenate(parts), oracle_words(5, 0, 14))
    assert rng.counter == 14


def test_two_masks_of_one_generator_differ():
    rng = CounterRNG(1, np)
    m1 = np.asarray(bernoulli_mask(rng, (64,), 0.5, xp=np))
    m2 = np.asarray(bernoulli_mask(rng, (64,), 0.5, xp=np))
    assert not np.array_equal(m1, m2)
    # and each is the oracle's: kept where the word < 2**31, scaled by 1/keep
    words = oracle_words(1, 0, 128)
    np.testing.assert_array_equal(m1, np.where(words[:64] < 2**31, 2.0, 0.0))
    np.testing.assert_array_equal(m2, np.where(words[64:] < 2**31, 2.0, 0.0))


@pytest.mark.parametrize("xp", _namespaces(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("reserve", [0, 20, 1000])
def test_masks_in_a_reservation_are_the_oracles_whatever_keep_and_dtype(xp, reserve):
    """A reserved step makes each (keep, dtype)'s mask once for the whole reservation and
    slices it; the masks must still be the oracle's words, in order, compared one by one."""
    rng = CounterRNG(9, xp)
    rng.reserve(reserve)
    draws = [((3, 4), 0.5, xp.float32), ((5,), 0.25, xp.float32), ((2, 3), 0.5, xp.float64),
             ((4,), 0.5, xp.float32), ((7,), 0.3, xp.float32)]
    first = 0
    for shape, p, dtype in draws:
        n = int(np.prod(shape))
        mask = np.asarray(bernoulli_mask(rng, shape, p, dtype=dtype, xp=xp))
        keep = 1.0 - p
        threshold = min(round(keep * 2**32), 2**32 - 1)
        words = oracle_words(9, first, n).reshape(shape)
        want = np.where(words < threshold, 1.0 / keep, 0.0).astype(mask.dtype)
        assert mask.dtype == np.dtype("float32" if dtype == xp.float32 else "float64")
        np.testing.assert_array_equal(mask, want)
        first += n
    assert rng.counter == first


@pytest.mark.parametrize("xp", _namespaces(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("key", [0, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1])
def test_words_of_any_64_bit_key(xp, key):
    """The key is added with Python scalars below 2**63 (a Python int above int64 is not a
    scalar every namespace takes): subtracted as ``2**64 − key`` above 2**63."""
    rng = CounterRNG(0, xp)
    rng.key = key
    got = np.asarray(rng.uint32(3), dtype=np.uint64)
    want = [word(key, i) >> 32 for i in range(3)]
    np.testing.assert_array_equal(got, np.array(want, dtype=np.uint64))


THRESHOLDS = [1, 2, 3, 2**31 - 1, 2**31, 2**31 + 1, 2**31 + 2, 3006477107, 2**32 - 2, 2**32 - 1]


@pytest.mark.parametrize("t", THRESHOLDS)
def test_masks_skip_splitmix64s_last_step_only_where_it_decides_nothing(t):
    """A mask compares the word before SplitMix64's last step (``w = z ^ (z >> 31)``) when
    ``t`` is even or at most 2**31; checked here by brute force on random words and on the
    words around ``t · 2**32``, where an odd ``t`` above 2**31 does change the comparison."""
    rng = np.random.default_rng(t)
    near = [((t + d) % 2**32) << 32 | low for d in (-2, -1, 0, 1) for low in (0, 2**32 - 1)]
    z = np.concatenate([rng.integers(0, 2**64 - 1, 4000, dtype=np.uint64, endpoint=True),
                        np.array(near + [2**63, 2**64 - 1], dtype=np.uint64)])
    w = z ^ (z >> np.uint64(31))
    limit = np.uint64(t << 32)
    same = np.array_equal(w < limit, z < limit)
    assert same == _last_step_keeps_the_comparison(t)


# -- found by mutation testing (scripts/mutation.py) -----------------------------------------


def test_the_first_generator_of_a_new_namespace_makes_the_right_constants():
    """The 64-bit constants are made once per namespace and shared; a namespace no generator
    has met yet (here a fresh copy of array_api_strict's names) has CounterRNG make them from
    32-bit halves. Its words must still be the oracle's (mutants of CounterRNG._word went
    unnoticed: an earlier MC stream had always made the shared constants)."""
    import types

    strict = pytest.importorskip("array_api_strict")
    fresh = types.ModuleType("fresh_strict")
    fresh.__dict__.update({k: getattr(strict, k) for k in dir(strict) if not k.startswith("__")})
    rng = CounterRNG([5, 9], fresh)
    got = np.asarray(rng.uint64(6)) >> np.uint64(32)
    np.testing.assert_array_equal(got, oracle_words([5, 9], 0, 6))


def test_step_key_and_step_rng_are_keyed_by_seed_and_iteration():
    from tinybcnn.random import step_key, step_rng

    want = int(np.random.SeedSequence([4, 17]).generate_state(1, np.uint64)[0])
    assert step_key(4, 17) == want
    strict = pytest.importorskip("array_api_strict")
    rng = step_rng(4, 17, like=strict.asarray([1.0]))
    assert isinstance(rng, CounterRNG) and rng.key == want and rng.xp is strict
