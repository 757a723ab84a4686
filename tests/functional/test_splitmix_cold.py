"""SplitMix64's words and masks made from cold caches, on a device that is not the default.

:mod:`tinybcnn.splitmix` makes its constants, the counters times φ and the mask values once
per namespace and device and keeps them. A process that drew masks once never runs that
creation code again, so the tests that draw masks check it only the first time; mutmut,
which forks every mutant from a process that has run the tests, found 33 mutants there that
no test noticed (issue 35). Here the caches start empty, and the generator lives on
``array_api_strict``'s ``device1``, which it refuses to combine with the default device: an
array made without the generator's device (``device=None``) fails the draw.

The oracle is SplitMix64 written out in ``tests/support/splitmix_oracle.py``, checked here
against its published first outputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.splitmix_oracle import (
    GOLDEN,
    MASK64,
    splitmix64,
    state,
    undo_first_two_steps,
    word,
)

from tinybcnn import splitmix
from tinybcnn.random import CounterRNG

xp = pytest.importorskip("array_api_strict")
DEVICE = xp.Device("device1")
HOST = xp.Device("CPU_DEVICE")


def on_host(a) -> np.ndarray:
    """A NumPy copy of an array of ``device1`` (NumPy cannot read that device directly)."""
    return np.asarray(a.to_device(HOST))


def words_by_hand(key: int, first: int, n: int) -> np.ndarray:
    """Words ``first ... first + n - 1`` of the stream of ``key``, from the oracle."""
    return np.array([word(key, c) for c in range(first, first + n)], dtype=np.uint64)


def test_the_oracle_and_the_host_twin_give_splitmix64s_published_first_outputs():
    # SplitMix64 seeded with 0 (the reference C code): outputs of the states φ, 2φ, 3φ
    published = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    states = [state(0, k) for k in (1, 2, 3)]
    assert [splitmix64(s) for s in states] == published
    assert [splitmix.splitmix64(s) for s in states] == published


@pytest.fixture
def cold_caches(monkeypatch):
    """splitmix's caches empty for this test (and left as they were after it)."""
    monkeypatch.setattr(splitmix, "_SHARED_CONSTANTS", {})
    monkeypatch.setattr(splitmix, "_COUNTER_BASES", {})


# seed 0 gives a key above 2**63, seed 1 one below (NumPy's SeedSequence)
@pytest.mark.parametrize("seed", [0, 1])
def test_words_from_cold_caches_on_another_device(seed, cold_caches):
    rng = CounterRNG(seed, xp, device=DEVICE)
    assert (rng.key >= 2**63) == (seed == 0)
    for first, n in ((0, 37), (37, 5)):          # the second draw goes on from the first
        words = rng.uint64(n)
        assert words.device == DEVICE
        np.testing.assert_array_equal(on_host(words), words_by_hand(rng.key, first, n))


@pytest.mark.parametrize("reserve", [False, True])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("keep", [0.5, 0.7, 1 - 3 / 2**32])
def test_masks_from_cold_caches_on_another_device(seed, keep, dtype_name, reserve,
                                                   cold_caches):
    dtype = getattr(xp, dtype_name)
    rng = CounterRNG(seed, xp, device=DEVICE)
    if reserve:
        rng.reserve(64)                          # both draws are slices of one reservation
    t = min(round(keep * 2**32), 2**32 - 1)
    first = 0
    for n in (40, 24):
        mask = rng.inverted_mask(n, keep, dtype)
        assert mask.device == DEVICE and mask.dtype == dtype and mask.shape == (n,)
        kept = (words_by_hand(rng.key, first, n) >> np.uint64(32)) < np.uint64(t)
        expected = np.where(kept, np.array(1 / keep, dtype=dtype_name),
                            np.array(0, dtype=dtype_name))
        np.testing.assert_array_equal(on_host(mask), expected)
        first += n


def test_two_devices_never_share_a_cached_array(cold_caches):
    """The caches are keyed by device: a mask drawn on ``device2`` after one on ``device1``
    gets its own constants (a key without the device hands it device1's, which
    array_api_strict refuses to combine with device2's arrays)."""
    other = xp.Device("device2")
    for device in (DEVICE, other, DEVICE):
        rng = CounterRNG(1, xp, device=device)
        mask = rng.inverted_mask(16, 0.5, xp.float32)
        assert mask.device == device
        expected = (words_by_hand(rng.key, 0, 16) >> np.uint64(32)) < np.uint64(2**31)
        np.testing.assert_array_equal(on_host(mask), np.where(expected, 2.0, 0.0))


def _counter_of_mixed_word(key: int, z: int) -> int:
    """The counter whose word *before* SplitMix64's last xorshift is ``z``, for ``key``:
    the first two steps undone, then the state ``key + c·φ`` solved for ``c`` (φ is odd)."""
    return (undo_first_two_steps(z) - key) * pow(GOLDEN, -1, 2**64) & MASK64


@pytest.mark.parametrize("keep", [0.5, 0.25])
def test_a_word_exactly_at_the_threshold_is_dropped(keep, cold_caches):
    """Kept means ``u < t`` for the word's high half ``u`` and ``t = keep · 2**32``: the one
    word whose value before the last step is exactly ``t · 2**32`` (the comparison the
    generator makes, the last step skipped where it decides nothing) must be dropped."""
    t = round(keep * 2**32)
    rng = CounterRNG(3, xp, device=DEVICE)
    rng.counter = counter = _counter_of_mixed_word(rng.key, t << 32)
    word = int(words_by_hand(rng.key, counter, 1)[0])
    # the last step flips at most the high half's lowest bit (when its top bit is set):
    # the word's high half is t or t + 1, not below t, so the unit is dropped
    assert word >> 32 in (t, t + 1)
    mask = rng.inverted_mask(1, keep, xp.float32)
    assert on_host(mask).tolist() == [0.0]
