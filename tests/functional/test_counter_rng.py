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


# -- found by mutation testing, stop 7 ---------------------------------------------------------
# A second device: array_api_strict refuses to mix arrays of two devices, as CuPy does across
# GPUs, so an array made on the default device where the generator's was meant is an error
# (or a result on the wrong device) here, not only on a machine with two GPUs.


def _strict_device1():
    strict = pytest.importorskip("array_api_strict")
    return strict, strict.Device("device1")


def test_a_generators_words_and_masks_are_made_on_its_device():
    strict, dev = _strict_device1()
    rng = CounterRNG(4, strict, device=dev)
    words, mask = rng.uint64(5), rng.inverted_mask(6, 0.5, strict.float32)
    assert words.device == dev and mask.device == dev
    rng.reserve(10)
    reserved = [rng.inverted_mask(4, 0.5, strict.float32), rng.uint64(3)]
    assert all(a.device == dev for a in reserved)
    on_cpu = np.asarray(words.to_device(strict.Device("CPU_DEVICE")))
    np.testing.assert_array_equal(on_cpu >> np.uint64(32), oracle_words(4, 0, 5))


def test_mc_masks_are_made_on_the_streams_device_in_the_asked_dtype(monkeypatch):
    """MC masks on array_api_strict's second device, from emptied constant caches (mutmut
    forks from a warm process, where the code that fills them never runs): the scale and the
    zero must be made on that device, in the asked dtype, and kept apart from the default
    device's (which are made first here), and the masks must equal NumPy's."""
    import tinybcnn.random as random_mod
    from tinybcnn.random import MCStream

    strict, dev = _strict_device1()
    monkeypatch.setattr(random_mod, "_SHARED_CONSTANTS", {})
    shape = (2 * 3, 10)   # 2 passes over 3 images, 10 units
    for keep in (0.5, 0.75):
        want = MCStream(4).block(0, 2, 0, 3).mask(shape, keep, np.float32)
        default = MCStream(4, strict).block(0, 2, 0, 3).mask(shape, keep, strict.float32)
        got = MCStream(4, strict, dev).block(0, 2, 0, 3).mask(shape, keep, strict.float32)
        assert got.device == dev and got.dtype == strict.float32 and default.dtype == got.dtype
        back = np.asarray(got.to_device(strict.Device("CPU_DEVICE")))
        np.testing.assert_array_equal(back, want)


@pytest.fixture
def masks_made(monkeypatch):
    """Every computation of a mask (the fused operation: one kernel on a GPU), as (words,
    first counter); a slice of a reservation's mask computes nothing."""
    import tinybcnn.random as random_mod

    made = []
    fused = random_mod.INVERTED_MASK

    def counting(xp, device, shape, dtype, first, *args):
        made.append((shape[0], first))
        return fused(xp, device, shape, dtype, first, *args)

    monkeypatch.setattr(random_mod, "INVERTED_MASK", counting)
    return made


def test_a_reservation_makes_each_mask_once_and_slices_it(masks_made):
    """What reserve() is for: a step's first mask of each (keep, dtype) computes the whole
    reservation in one call (one kernel on a GPU), later ones are slices of it, one that
    ends exactly at the reservation's end is still a slice, and a draw past it is computed
    as usual; the masks are the oracle's words whichever way they were made. The
    reservation starts after earlier draws (its words are counted from there)."""
    made = masks_made
    rng = CounterRNG(9, np)
    rng.inverted_mask(1, 0.5, np.float32)                     # before the reservation
    rng.reserve(30)
    draws = [(12, 0.5, np.float32), (5, 0.75, np.float32), (6, 0.5, np.float64),
             (7, 0.5, np.float32),                            # ends at the reservation's end
             (4, 0.5, np.float32)]                            # past it
    first = 1
    for n, keep, dtype in draws:
        mask = rng.inverted_mask(n, keep, dtype)
        threshold = min(round(keep * 2**32), 2**32 - 1)
        want = np.where(oracle_words(9, first, n) < threshold, 1.0 / keep, 0.0)
        assert mask.dtype == dtype
        np.testing.assert_array_equal(mask, want.astype(dtype))
        first += n
    assert made == [(1, 0), (30, 1), (30, 1), (30, 1), (4, 31)]
    assert rng.counter == 35


def test_reserved_words_are_hashed_once_for_the_reservation(monkeypatch):
    calls = []
    mixed = CounterRNG._mixed
    monkeypatch.setattr(CounterRNG, "_mixed", lambda self, first, n: calls.append((first, n))
                        or mixed(self, first, n))
    rng = CounterRNG(5, np)
    rng.uint64(2)
    rng.reserve(8)
    parts = [rng.uint64(n) for n in (3, 5, 1)]
    assert calls == [(0, 2), (2, 8), (10, 1)]
    np.testing.assert_array_equal(np.concatenate(parts) >> np.uint64(32), oracle_words(5, 2, 9))


def test_numpy_masks_draw_the_bit_generators_raw_words():
    """A NumPy mask's random integers are PCG64's raw 64-bit outputs, reinterpreted: full
    range (2**64 − 1 included), none rejected or redrawn."""
    from tinybcnn.random import _random_uints

    for int_type in (np.uint8, np.uint16, np.uint32):
        got = _random_uints(np.random.default_rng(3), 21, np.dtype(int_type))
        raw = np.random.PCG64(np.random.SeedSequence(3)).random_raw(11).astype(np.uint64)
        np.testing.assert_array_equal(got, raw.view(int_type)[:21])


def test_mc_stream_keys_from_a_seed_a_numpy_generator_or_a_counter_rng():
    from tinybcnn.random import MCStream, mc_stream

    assert mc_stream().key(0) == MCStream(0).key(0)            # the default seed is 0
    # one 63-bit draw from a NumPy generator: 200 streams of one generator are all
    # different (a draw from fewer than 200 values would repeat one)
    rng = np.random.default_rng(1)
    assert len({mc_stream(rng=rng).key(0) for _ in range(200)}) == 200
    counter = CounterRNG(3, np)
    first, second = mc_stream(rng=counter), mc_stream(rng=counter)
    assert counter.counter == 2                                 # one count per stream
    assert first.key(0) == MCStream([counter.key, 0]).key(0)
    assert second.key(0) == MCStream([counter.key, 1]).key(0)
    with pytest.raises(TypeError) as refused:
        mc_stream(rng=object())
    assert str(refused.value) == ("MC prediction takes a seed, a numpy.random.Generator or a "
                                  "tinybcnn CounterRNG as its generator, not object")


def test_split_draws_name_what_they_refuse():
    from tinybcnn.random import SharedDraws

    with pytest.raises(TypeError) as refused:
        SharedDraws(CounterRNG(0, np), 8)
    assert str(refused.value) == "SharedDraws needs a numpy.random.Generator, got CounterRNG"
    part = SharedDraws(np.random.default_rng(0), 8).part(2, 5)
    with pytest.raises(ValueError) as refused:
        part.mask((4, 3), 0.5, np.float32)
    assert str(refused.value) == "a mask for rows 2:5 needs 3 rows, not 4"


def test_the_oracles_inverse_is_an_inverse():
    from support.splitmix_oracle import key_for_word, unsplitmix64

    for w in (0, 1, 2**63, 2**64 - 1, 0xFFFFFFFE_00000000, 0x0123456789ABCDEF):
        assert word(key_for_word(w, 5), 5) == w
        assert word(unsplitmix64(w), 0) == w


# words at the very top of the range, made on purpose (a key chosen through SplitMix64's
# inverse): the threshold's cap and the comparison's last step decide these, and random
# words reach them once in 2**32
TOP = 0xFFFFFFFF_00000000


@pytest.mark.parametrize("xp", _namespaces(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("high, kept", [(2**32 - 2, True), (2**32 - 1, False)])
def test_a_keep_that_rounds_to_2_to_the_32_still_drops_the_top_word(xp, high, kept):
    """keep = 1 − 2**-33 rounds to t = 2**32, capped at 2**32 − 1: a word whose high half is
    2**32 − 1 is dropped and one of 2**32 − 2 kept. Either half differs between the word
    and the state before SplitMix64's last step (``z ^ (z >> 31)`` flips bit 32 with bit
    63), so comparing the wrong one gets both wrong; a cap of 2**32 would keep the top word
    (and its limit, 2**64, is not a 64-bit scalar)."""
    from support.splitmix_oracle import key_for_word

    keep = 1 - 2**-33
    rng = CounterRNG(0, xp)
    for low in (0, 2**32 - 1):
        rng.key, rng.counter = key_for_word((high << 32) | low), 0
        mask = np.asarray(rng.inverted_mask(1, keep, xp.float64))
        np.testing.assert_array_equal(mask, [1 / keep if kept else 0.0])


def test_a_drop_probability_is_named_p_unless_told():
    from tinybcnn.random import check_drop_probability

    with pytest.raises(ValueError) as refused:
        check_drop_probability(1.5)
    assert str(refused.value) == "p is a drop probability and must lie in [0, 1), got 1.5"
    with pytest.raises(ValueError, match="^mc_p is a drop"):
        check_drop_probability(-0.1, "mc_p")


def test_generators_made_like_an_array_draw_on_its_device():
    from tinybcnn.random import make_rng, mc_stream

    strict, dev = _strict_device1()
    x = strict.asarray([1.0, 2.0], device=dev)
    rng = make_rng(3, like=x)
    assert isinstance(rng, CounterRNG) and rng.device == dev
    for p in (0.5, 0.0):              # p = 0: all ones, in the default dtype made strict's
        mask = bernoulli_mask(rng, (4,), p, xp=strict)
        assert mask.device == dev and mask.dtype == strict.float32
    assert make_rng(None, like=x).device == dev                  # fresh entropy, same device
    stream = mc_stream(3, like=x)
    assert stream.device == dev
    for keep in (0.5, 1.0):
        mask = stream.block(0, 1, 0, 2).mask((2, 5), keep, np.float32)
        assert mask.device == dev and mask.dtype == strict.float32
    assert mc_stream(None).key(0) != mc_stream(None).key(0)     # fresh entropy each time


def test_a_reservation_waits_for_a_draw_it_holds(masks_made):
    """A draw larger than the reservation is computed as usual and leaves it for the next
    draw it holds; a reservation announced while another is in use replaces it from the next
    draw on. Either way the words are the oracle's."""
    made = masks_made
    rng = CounterRNG(2, np)
    rng.reserve(6)
    sizes = [10, 4, 2]            # too big; then the reservation of 6 at counter 10
    sizes += [3]                  # a new reservation is announced before this draw ...
    masks = []
    for k, n in enumerate(sizes):
        if k == 3:
            rng.reserve(8)        # ... while the first one (10..16) is in use: it starts at 16
        masks.append(rng.inverted_mask(n, 0.5, np.float64))
    masks.append(rng.inverted_mask(5, 0.5, np.float64))          # inside the new one
    assert made == [(10, 0), (6, 10), (8, 16)]
    want = np.where(oracle_words(2, 0, 24) < 2**31, 2.0, 0.0)
    np.testing.assert_array_equal(np.concatenate(masks), want)
