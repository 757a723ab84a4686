"""SplitMix64 on arrays: the words of tinybcnn's counter-based generators, and the dropout
mask made from them, fused into one kernel on CuPy.

Word ``c`` of the stream with 64-bit ``key`` is ``splitmix64(key + c·φ)`` (all modulo
``2**64``): a hash of the counter, so any range of words is one elementwise computation.
:mod:`tinybcnn.random` (:class:`~tinybcnn.random.CounterRNG`, :class:`~tinybcnn.random.MCStream`)
draws them through this module; it holds no generator state itself.

:data:`INVERTED_MASK` makes an inverted dropout mask from a range of words: on CuPy one
``ElementwiseKernel`` (hash, comparison and select in one launch instead of nine), elsewhere
:func:`_inverted_mask_twin`, the same values in array operations (:mod:`tinybcnn.fused`).
"""

from __future__ import annotations

import math
from typing import Any

from .fused import Elementwise

_MASK64 = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: SplitMix64's counter increment
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def splitmix64(z: int) -> int:
    """SplitMix64's output function on a Python int (the host twin of the array words).

    ``z ^= z >> 30; z *= C1; z ^= z >> 27; z *= C2; z ^= z >> 31`` modulo ``2**64``
    (Steele, Lea & Flood 2014): a bijection of 64-bit words whose outputs for consecutive
    inputs pass BigCrush.
    """
    z &= _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def _mixed_words(xp: Any, device: Any, first: int, n: int, key: int) -> Any:
    """Words ``first, ..., first + n − 1`` of the stream of ``key`` before SplitMix64's last
    step (:func:`_last_xorshift` makes them the words), uint64, shape (n,)."""
    _, mix1, mix2 = _fixed_constants(xp, device)
    z = _plus_word(_counters_times_golden(xp, device, first, n), key)
    z = (z ^ (z >> 30)) * mix1
    return (z ^ (z >> 27)) * mix2


def _last_xorshift(z: Any) -> Any:
    """SplitMix64's last step, ``z ^ (z >> 31)``: what :func:`_mixed_words` leaves out."""
    return z ^ (z >> 31)


def _last_step_keeps_the_comparison(t: int) -> bool:
    """True when ``w < t · 2**32`` equals ``z < t · 2**32`` for ``w = z ^ (z >> 31)``: the high
    half of ``w`` is ``h = z >> 32`` with its lowest bit flipped if its top bit is set, which
    never crosses an even ``t``, nor ``t <= 2**31`` (both ``h`` and the flip are >= 2**31)."""
    return t % 2 == 0 or t <= 2**31


def _plus_word(z: Any, c: int) -> Any:
    """``z + c`` modulo 2**64 for a uint64 array ``z`` and a 64-bit Python int ``c``, with
    scalars below 2**63 only (not every namespace takes a larger Python int): one operation
    (subtracting ``2**64 − c`` above 2**63), two for ``c = 2**63``."""
    if c == 2**63:
        return (z + (2**63 - 1)) + 1
    return z + c if c < 2**63 else z - (2**64 - c)


def _word(xp: Any, device: Any, c: int) -> Any:
    """The 64-bit ``c`` as a 0-d uint64 array, built from 32-bit halves (every namespace
    takes those as scalars; not every one takes a Python int above 2**63)."""
    hi = xp.full((), c >> 32, dtype=xp.uint64, device=device)
    return (hi << 32) | (c & 0xFFFFFFFF)


def _constant(xp: Any, device: Any, what: tuple[Any, ...], make: Any) -> Any:
    """A constant made once per namespace and device by ``make()`` (only ever read); keyed by
    the namespace module itself, so a namespace made anew (a test double) gets its own."""
    where = (xp, str(device), *what)
    found = _SHARED_CONSTANTS.get(where)
    if found is None:
        found = _SHARED_CONSTANTS[where] = make()
    return found


def _fixed_constants(xp: Any, device: Any) -> tuple[Any, ...]:
    """φ and the two mix constants as 0-d device arrays, made by ``full`` (fill kernels, no
    host-to-device copy, which on CUDA waits for the stream), once per namespace and device
    and shared by every generator (training makes one per step)."""
    return _constant(xp, device, (),
                     lambda: tuple(_word(xp, device, c) for c in (_GOLDEN, _MIX1, _MIX2)))


def _counters_times_golden(xp: Any, device: Any, first: int, n: int) -> Any:
    """``(first, ..., first + n − 1) · φ`` modulo 2**64, shape (n,): the same for every key,
    so made once per (namespace, device, first, n); the latest few are kept."""
    where = (xp, str(device), first, n)
    found = _COUNTER_BASES.get(where)
    if found is None:
        golden = _fixed_constants(xp, device)[0]
        found = xp.arange(first, first + n, dtype=xp.uint64, device=device) * golden
        if len(_COUNTER_BASES) >= _COUNTER_BASES_KEPT:
            del _COUNTER_BASES[next(iter(_COUNTER_BASES))]   # the oldest
        _COUNTER_BASES[where] = found
    return found


# ``counter · φ`` of the recent draws, by (namespace, device, first, n); see
# _counters_times_golden (a LeNet step at batch 64 draws about 1e6 words: 8 MB)
_COUNTER_BASES: dict[tuple[Any, ...], Any] = {}
_COUNTER_BASES_KEPT = 4

# fixed constants as 0-d arrays, by (namespace, device, what): see _constant
_SHARED_CONSTANTS: dict[tuple[Any, ...], Any] = {}


# ---------------------------------------------------------------------------------------
# The inverted mask of a range of words: one fused kernel on CuPy, its twin elsewhere
# ---------------------------------------------------------------------------------------

def _inverted_mask_twin(xp: Any, device: Any, shape: tuple[int, ...], dtype: Any, first: int,
                        key: int, limit: int, last_step: bool, scale: float,
                        zero: float) -> Any:
    """``scale`` where word ``first + i`` of the stream of ``key`` (SplitMix64's last step
    applied if ``last_step``) is below ``limit``, else ``zero``, as ``dtype``: the kernel
    :data:`INVERTED_MASK`'s values in array operations: nine of them (the key's add, two
    xorshift-multiply rounds, the comparison and the select) once the counters times φ and
    the constants are cached."""
    z = _mixed_words(xp, device, first, math.prod(shape), key)
    if last_step:
        z = _last_xorshift(z)
    bound, kept, dropped = _constant(
        xp, device, ("mask", limit, scale, zero, str(dtype)),
        lambda: (_word(xp, device, limit), xp.full((), scale, dtype=dtype, device=device),
                 xp.full((), zero, dtype=dtype, device=device)))
    return xp.reshape(xp.where(z < bound, kept, dropped), shape)


# The same, per element i, in CUDA C++: i is ElementwiseKernel's element index (ptrdiff_t);
# the words are uint64 (unsigned long long) arithmetic, which wraps modulo 2**64 as above.
_INVERTED_MASK_BODY = f"""
unsigned long long z = (first + (unsigned long long)i) * {_GOLDEN:#x}ULL + key;
z = (z ^ (z >> 30)) * {_MIX1:#x}ULL;
z = (z ^ (z >> 27)) * {_MIX2:#x}ULL;
if (last_step) z ^= z >> 31;
mask = z < limit ? scale : zero;
"""

#: ``INVERTED_MASK(xp, device, shape, dtype, first, key, limit, last_step, scale, zero)``
INVERTED_MASK = Elementwise(
    "tinybcnn_inverted_mask",
    "uint64 first, uint64 key, uint64 limit, bool last_step, T scale, T zero", "T mask",
    _INVERTED_MASK_BODY, _inverted_mask_twin)
