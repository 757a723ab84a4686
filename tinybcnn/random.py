"""Seeded random generators and Bernoulli dropout masks: the only random code in tinybcnn.

A generator is a NumPy :class:`numpy.random.Generator` on the ``numpy`` backend and a
``cupy.random.Generator`` on the ``cupy`` backend, so a mask is drawn where it is used.
Same seed + same backend = same masks, bit for bit; NumPy and CuPy streams differ, so
NumPy-vs-CuPy comparisons inject masks instead of seeds.

Masks are *inverted* dropout masks: ``z / keep`` with ``z ~ Bernoulli(keep)`` and
``keep = 1 - p``, where ``p`` is the drop probability.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import get_backend, get_xp

__all__ = ["make_rng", "check_drop_probability", "bernoulli_mask", "keep_threshold"]


def make_rng(seed: int | None = None, backend: str | None = None) -> Any:
    """A seeded generator for ``backend`` (the current backend by default)."""
    backend = backend or get_backend()
    if backend == "cupy":
        return get_xp().random.default_rng(seed)
    return np.random.default_rng(seed)


def check_drop_probability(p: float, name: str = "p") -> float:
    """Return ``float(p)`` if it is a valid drop probability in [0, 1), else raise ValueError."""
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} is a drop probability and must lie in [0, 1), got {p}")
    return p


def keep_threshold(keep: float) -> tuple[np.dtype, int]:
    """The narrowest unsigned integer type in which ``keep`` is a whole fraction.

    A unit is kept when a uniformly random integer ``u`` of that type satisfies
    ``u < threshold``, so ``P(keep) = threshold / 2**bits``: exact for keep = 0.5, 0.75, ...
    in one random byte per unit, and within 2**-32 of ``keep`` otherwise. Comparing
    random bytes with a threshold is several times cheaper than drawing floats.
    """
    for dtype in (np.uint8, np.uint16, np.uint32):
        scale = 2 ** (8 * np.dtype(dtype).itemsize)
        threshold = keep * scale
        if threshold == round(threshold) or dtype is np.uint32:
            return np.dtype(dtype), int(round(threshold))
    raise AssertionError("unreachable")


def bernoulli_mask(rng: Any, shape: tuple[int, ...], p: float, dtype: Any = np.float32,
                   xp: Any = None) -> Any:
    """An inverted dropout mask ``z / (1 - p)``, ``z ~ Bernoulli(1 - p)`` elementwise.

    Parameters
    ----------
    rng : numpy.random.Generator or cupy.random.Generator
        Source of randomness (see :func:`make_rng`).
    shape : tuple of int
        Shape of the mask.
    p : float
        Drop probability in [0, 1).
    dtype : dtype
        Floating dtype of the mask (float32 by default, float64 for gradient checks).
    xp : namespace, optional
        Array namespace to return the mask in (e.g. ``array_api_strict``); by default the
        generator's own (NumPy or CuPy).

    Returns
    -------
    mask : array of ``shape``
        Entries are ``0`` or ``1 / (1 - p)``.
    """
    p = check_drop_probability(p)
    keep = 1.0 - p
    if isinstance(rng, np.random.Generator):
        foreign = xp is not None and xp is not np
        # array_api_strict dtypes are not NumPy dtypes: draw in float64, cast once at the end
        mask = _numpy_mask(rng, shape, keep, np.float64 if foreign else dtype)
        return xp.asarray(mask, dtype=dtype) if foreign else mask
    # CuPy: uniform floats are cheap on a GPU
    cp = get_xp()
    kept = rng.random(shape, dtype=cp.float32) < keep
    return kept.astype(dtype) * cp.asarray(1.0 / keep, dtype=dtype)


def _numpy_mask(rng: np.random.Generator, shape: tuple[int, ...], keep: float,
                dtype: Any) -> np.ndarray:
    """Inverted mask from random integers compared with :func:`keep_threshold`."""
    int_type, threshold = keep_threshold(keep)
    if threshold > np.iinfo(int_type).max:  # keep == 1: nothing is dropped
        return np.ones(shape, dtype=dtype)
    u = _random_uints(rng, int(np.prod(shape, dtype=np.int64)), int_type).reshape(shape)
    mask = (u < int_type.type(threshold)).astype(dtype)
    mask *= np.asarray(1.0 / keep, dtype=dtype)
    return mask


def _random_uints(rng: np.random.Generator, size: int, int_type: np.dtype) -> np.ndarray:
    """``size`` uniformly random unsigned integers of ``int_type``.

    Drawn as full-range 64-bit integers (the bit generator's raw output, several times faster
    than ``rng.bytes`` here) and reinterpreted as the narrower type.
    """
    n64 = -(-size * int_type.itemsize // 8)
    words = rng.integers(0, np.iinfo(np.uint64).max, size=n64, dtype=np.uint64, endpoint=True)
    return words.view(int_type)[:size]

