"""SplitMix64 written out on Python ints: the tests' oracle for the counter generators' words
(``tinybcnn/splitmix.py``), independent of the package. Word ``c`` of the stream of ``key`` is
``splitmix64(key + c·φ)`` modulo 2**64. Checked against SplitMix64's published first outputs
in ``tests/functional/test_splitmix_cold.py``.
"""

from __future__ import annotations

MASK64 = 2**64 - 1
GOLDEN = 0x9E3779B97F4A7C15          # φ: the counter's increment
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def first_two_steps(z: int) -> int:
    """SplitMix64's output function without its last xorshift (Steele, Lea & Flood 2014)."""
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    return ((z ^ (z >> 27)) * MIX2) & MASK64


def splitmix64(z: int) -> int:
    """SplitMix64's output function: the two steps above, then ``z ^ (z >> 31)``."""
    z = first_two_steps(z & MASK64)
    return z ^ (z >> 31)


def state(key: int, c: int) -> int:
    """The hashed state of counter ``c``: ``key + c·φ`` modulo 2**64."""
    return (key + c * GOLDEN) & MASK64


def word(key: int, c: int) -> int:
    """Word ``c`` of the stream of ``key``."""
    return splitmix64(state(key, c))


def _undo_xorshift(y: int, shift: int) -> int:
    """The ``x`` with ``x ^ (x >> shift) == y`` (64 bits): each pass fixes ``shift`` more
    of the high bits."""
    x = y
    for _ in range(64 // shift + 1):
        x = y ^ (x >> shift)
    return x


def undo_first_two_steps(z: int) -> int:
    """The ``x`` with ``first_two_steps(x) == z``: xorshifts and multiplications by odd
    constants (invertible modulo 2**64), undone in reverse order."""
    z = _undo_xorshift((z * pow(MIX2, -1, 2**64)) & MASK64, 27)
    return _undo_xorshift((z * pow(MIX1, -1, 2**64)) & MASK64, 30)


def unsplitmix64(w: int) -> int:
    """The ``z`` with ``splitmix64(z) == w``: SplitMix64's output function is a bijection."""
    return undo_first_two_steps(_undo_xorshift(w, 31))


def key_for_word(w: int, c: int = 0) -> int:
    """A key whose word ``c`` is ``w``: ``key + c·φ == unsplitmix64(w)`` modulo 2**64."""
    return (unsplitmix64(w) - c * GOLDEN) & MASK64
