"""Seeded random generators and Bernoulli dropout masks: the only random code in tinybcnn.

Two kinds of generator, one per kind of namespace, so a mask is always drawn where it is used:

* on NumPy, a :class:`numpy.random.Generator` (PCG64): masks come from its raw 64-bit words
  compared with a threshold, the fastest way to draw them on a CPU;
* on CuPy and on ``array_api_strict`` (its CI stand-in), a :class:`CounterRNG`: a
  counter-based generator written in array-API operations, so it runs as device kernels,
  never touches the host, and gives the *same bits* on CuPy and on array_api_strict. Its
  words are SplitMix64 hashes of the counter (:mod:`tinybcnn.splitmix`); on CuPy a mask is
  one fused kernel (hash, comparison and select), elsewhere the same array operations.

Same seed + same backend = same masks, bit for bit. NumPy and device streams differ, so
NumPy-vs-CuPy comparisons inject masks instead of seeds. A NumPy generator is refused for
device arrays (it would draw on the host and copy every mask).

Every stream a run draws is derived from its seed through :func:`seed_sequence` with a named
purpose (``init``, ``subset``, ``shuffle``, ``dropout``, ...; :data:`PURPOSES` lists them all),
so two purposes never share a stream by accident (:mod:`tinybcnn.seeds`, re-exported here).
Training keys each step's generator by
``(dropout key, iteration)`` (:func:`step_rng`), so a run resumed from a checkpoint draws
exactly the masks an uninterrupted run draws, on every backend, without saving any
generator state.

Masks are *inverted* dropout masks: ``z / keep`` with ``z ~ Bernoulli(keep)`` and
``keep = 1 - p``, where ``p`` is the drop probability.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from .backend import _dtype_in, array_namespace, get_backend, namespace_name, xp_of
from .seeds import (  # re-exported: tinybcnn.random is where users look for them
    PURPOSES,
    SHARED_PURPOSES,
    Purpose,
    fresh_seed,
    restore_rng,
    seed_sequence,
    seed_word,
    stream,
)
from .splitmix import (  # splitmix64 re-exported; the rest is the generators' arithmetic
    _GOLDEN,
    _MIX1,
    _MIX2,
    _SHARED_CONSTANTS,
    INVERTED_MASK,
    _last_step_keeps_the_comparison,
    _last_xorshift,
    _mixed_words,
    _word,
    splitmix64,
)

__all__ = ["Purpose", "PURPOSES", "SHARED_PURPOSES", "seed_sequence", "stream", "seed_word",
           "fresh_seed", "restore_rng", "make_rng", "step_rng", "step_key", "CounterRNG",
           "check_drop_probability", "bernoulli_mask", "keep_threshold", "splitmix64",
           "SharedDraws", "PartDraws", "MCStream", "MCBlock", "mc_stream"]

def _key_from_seed(seed: Any) -> int:
    """A 64-bit key from an int or a sequence of ints (NumPy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])


class CounterRNG:
    """A counter-based generator in array-API operations: word ``i`` is ``splitmix64(key + i·φ)``.

    The state is two host integers, the 64-bit ``key`` and the ``counter`` of words drawn
    so far; a draw of ``n`` words computes them all at once from ``arange(counter, counter +
    n)``, as elementwise device kernels. Nothing is read back from the device, and the same
    key gives the same words on every namespace (CuPy, array_api_strict, NumPy).

    Parameters
    ----------
    seed : int or sequence of int
        Hashed into the key (``SeedSequence``), so ``(seed, iteration)`` pairs give
        independent streams.
    xp : namespace
        Where the words are computed (CuPy, array_api_strict).
    device : optional
        The device of the arrays (``x.device``); the namespace default if None.

    Notes
    -----
    SplitMix64 is the generator Java's ``SplittableRandom`` uses; as a counter-based
    generator it is Salmon et al.'s (2011) construction with a bijective mixing function.
    """

    def __init__(self, seed: Any, xp: Any, device: Any = None) -> None:
        self.key = _key_from_seed(seed)
        self.xp, self.device = xp, device
        self.counter = 0
        self._ahead = 0                           # words to draw in one go (reserve)
        # the reservation: [first counter, size, its words (made when asked for), masks]
        self._block: list[Any] | None = None

    def reserve(self, n: int) -> None:
        """Announce that about ``n`` words will be drawn next: the first draw computes them all
        at once and later draws are slices of them (on a GPU, one set of kernels instead of
        one per draw). The words are the same either way (word ``i`` depends on ``i`` only);
        draws past the reserved words are computed as usual, and a new reservation replaces
        one still in use (from the next draw on)."""
        self._ahead = max(0, int(n))
        self._block = None

    def uint32(self, n: int) -> Any:
        """``n`` random 32-bit words (the high halves of ``n`` SplitMix64 outputs), shape (n,)."""
        return self.xp.astype(self.uint64(n) >> 32, self.xp.uint32)

    def uint64(self, n: int) -> Any:
        """The next ``n`` SplitMix64 outputs (uint64), shape (n,)."""
        at = self._reserved(n)
        if at is not None:
            return _last_xorshift(self._block_words()[at:at + n])
        out = _last_xorshift(self._mixed(self.counter, n))
        self.counter += n
        return out

    def inverted_mask(self, n: int, keep: float, dtype: Any) -> Any:
        """``n`` inverted-mask values from the next ``n`` words, shape (n,): ``1 / keep`` where
        the word's high half is below ``t = round(keep · 2**32)``, else 0.

        Compared as 64-bit words with the threshold shifted up 32 bits (``w >> 32 < t`` is
        ``w < t · 2**32``): no shift, no cast; and before SplitMix64's last step where that
        decides the same (:func:`_last_step_keeps_the_comparison`). Hash, comparison and
        select are one fused operation (:data:`tinybcnn.splitmix.INVERTED_MASK`: one kernel
        on CuPy). Within reserved words the mask of the whole reservation is made by the
        first draw, and later draws of the same ``keep`` and dtype are slices of it.
        """
        t = min(int(round(keep * 2**32)), 2**32 - 1)
        dtype = _dtype_in(self.xp, dtype)
        # key, limit, last step, the kept and the dropped value: the kernel's scalars
        args = (self.key, t << 32, not _last_step_keeps_the_comparison(t), 1.0 / keep, 0.0)
        at = self._reserved(n)
        if at is None:
            mask = INVERTED_MASK(self.xp, self.device, (n,), dtype, self.counter, *args)
            self.counter += n
            return mask
        first, size, _, masks = self._block
        if (t, str(dtype)) not in masks:
            masks[t, str(dtype)] = INVERTED_MASK(self.xp, self.device, (size,), dtype, first,
                                                 *args)
        return masks[t, str(dtype)][at:at + n]

    def _reserved(self, n: int) -> int | None:
        """The offset of the next ``n`` words in the reservation (advancing the counter past
        them); None when they are not all reserved."""
        if self._ahead and self._block is None and n <= self._ahead:
            self._block = [self.counter, self._ahead, None, {}]
            self._ahead = 0
        if self._block is None:
            return None
        start, size = self._block[:2]
        if self.counter + n > start + size:
            self._block = None
            return None
        at = self.counter - start
        self.counter += n
        return at

    def _block_words(self) -> Any:
        """The reservation's words before SplitMix64's last step, made on first use (the
        masks never need them: their kernel hashes its own counters)."""
        if self._block[2] is None:
            self._block[2] = self._mixed(self._block[0], self._block[1])
        return self._block[2]

    def _mixed(self, first: int, n: int) -> Any:
        """Words ``first, ..., first + n − 1`` of this generator's stream before SplitMix64's
        last step (:func:`_last_xorshift` makes them the words), uint64, shape (n,)."""
        return _mixed_words(self.xp, self.device, first, n, self.key)

    def __repr__(self) -> str:
        return f"CounterRNG(key={self.key:#x}, counter={self.counter}, xp={self.xp.__name__})"


def make_rng(seed: Any = None, backend: str | None = None, like: Any = None) -> Any:
    """A seeded generator for ``backend`` (the current one by default) or for arrays ``like``.

    NumPy: a :class:`numpy.random.Generator`; CuPy and array_api_strict: a
    :class:`CounterRNG` computing on that namespace (on ``like``'s device if given).
    """
    if like is not None:
        xp = xp_of(like)
        device = None if xp is np else like.device
    else:
        xp, device = array_namespace(backend or get_backend()), None
    if xp is np:
        return np.random.default_rng(seed)
    if seed is None:
        seed = fresh_seed()
    return CounterRNG(seed, xp, device)


def step_key(seed: int, iteration: int) -> int:
    """The 64-bit key of training step ``iteration``'s device generator (see :func:`step_rng`)."""
    return _key_from_seed([int(seed), int(iteration)])


def step_rng(seed: int, iteration: int, like: Any) -> Any:
    """The generator of training step ``iteration`` (0-based) for arrays like ``like``.

    Keyed by ``(seed, iteration)``, so step ``k`` draws the same masks whether the run went
    straight to ``k`` or was resumed there from a checkpoint. Creating one per step costs a
    ``SeedSequence`` hash (microseconds; see ``tests/device/test_sync.py`` for the measured share).
    """
    return make_rng([int(seed), int(iteration)], like=like)


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
    rng : numpy.random.Generator, CounterRNG or PartDraws (or cupy.random.Generator)
        Source of randomness (see :func:`make_rng`); it decides the namespace of the mask.
        A :class:`PartDraws` hands out rows of masks drawn for a whole batch.
    shape : tuple of int
        Shape of the mask.
    p : float
        Drop probability in [0, 1).
    dtype : dtype
        Floating dtype of the mask (float32 by default, float64 for gradient checks).
    xp : namespace, optional
        The namespace of the arrays the mask will multiply; a NumPy generator is refused
        for any other than NumPy.

    Returns
    -------
    mask : array of ``shape``
        Entries are ``0`` or ``1 / (1 - p)``.
    """
    p = check_drop_probability(p)
    keep = 1.0 - p
    if isinstance(rng, np.random.Generator):
        if xp is not None and xp is not np:
            raise TypeError(f"a NumPy generator cannot draw masks for {namespace_name(xp)} "
                            "arrays (it would draw on the host and copy each mask); use "
                            "tinybcnn.random.make_rng(seed, like=x), a generator on x's device")
        return _numpy_mask(rng, shape, keep, dtype)
    if isinstance(rng, CounterRNG):
        return _counter_mask(rng, shape, keep, dtype)
    if isinstance(rng, MCBlock):
        if xp is not None and namespace_name(xp) != namespace_name(rng.stream.xp):
            raise TypeError(f"an MC stream on {namespace_name(rng.stream.xp)} cannot draw masks "
                            f"for {namespace_name(xp)} arrays")
        return rng.mask(tuple(shape), keep, dtype)
    if isinstance(rng, PartDraws):
        if xp is not None and xp is not np:
            raise TypeError("a split batch's draws are NumPy arrays; they cannot be masks for "
                            f"{namespace_name(xp)} arrays")
        return rng.mask(tuple(shape), keep, dtype)
    # a CuPy generator (cupy.random.default_rng) given by the caller: uniform floats on the GPU
    kept = rng.random(shape, dtype=np.float32) < keep
    return kept.astype(dtype) * (1.0 / keep)   # a Python scalar: no host-to-device copy


def _counter_mask(rng: CounterRNG, shape: tuple[int, ...], keep: float, dtype: Any) -> Any:
    """Inverted mask from 32-bit counter words: kept where ``u < round(keep · 2**32)``."""
    xp = rng.xp
    n = int(np.prod(shape, dtype=np.int64))
    if keep >= 1.0:
        return xp.ones(shape, dtype=_dtype_in(xp, dtype), device=rng.device)
    # one select: exactly the values of astype(kept) * (1 / keep), in one kernel, not three
    return xp.reshape(rng.inverted_mask(n, keep, dtype), shape)


def _mask_values(rng: CounterRNG, keep: float, dtype: Any) -> tuple[Any, Any]:
    """``1 / keep`` and ``0`` as 0-d arrays of ``dtype`` on the generator's device, made once
    per namespace, device, ``keep`` and dtype (they are only ever read)."""
    where = (rng.xp, str(rng.device), keep, str(dtype))
    found = _SHARED_CONSTANTS.get(where)
    if found is None:
        xp = rng.xp
        found = (xp.full((), 1.0 / keep, dtype=dtype, device=rng.device),
                 xp.zeros((), dtype=dtype, device=rng.device))
        _SHARED_CONSTANTS[where] = found
    return found


def _numpy_mask(rng: np.random.Generator, shape: tuple[int, ...], keep: float,
                dtype: Any) -> np.ndarray:
    """Inverted mask from random integers compared with :func:`keep_threshold`."""
    return _mask_from_bits(_numpy_bits(rng, shape, keep), shape, keep, dtype)


def _numpy_bits(rng: np.random.Generator, shape: tuple[int, ...], keep: float) -> Any:
    """The random integers (of ``shape``) behind a NumPy mask; None when keep == 1 (none
    are drawn)."""
    int_type, threshold = keep_threshold(keep)
    if threshold > np.iinfo(int_type).max:  # keep == 1: nothing is dropped
        return None
    return _random_uints(rng, int(np.prod(shape, dtype=np.int64)), int_type).reshape(shape)


def _mask_from_bits(bits: Any, shape: tuple[int, ...], keep: float, dtype: Any) -> np.ndarray:
    """``(bits < threshold) / keep`` as ``dtype``: the mask of :func:`_numpy_bits`' integers."""
    if bits is None:
        return np.ones(shape, dtype=dtype)
    int_type, threshold = keep_threshold(keep)
    mask = (bits < int_type.type(threshold)).astype(dtype)
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


class SharedDraws:
    """The dropout draws of one batch, shared by parts of it that run side by side.

    A training step may split its batch and run the parts in separate threads
    (:mod:`tinybcnn.training.split`). Each part must use the masks one pass over the whole
    batch draws, from the same generator in the same order, so that splitting changes
    nothing but the order of some sums. So the ``k``-th mask any part asks for is drawn once,
    for the whole batch (shape ``(B, ...)``), whichever part asks first, under a lock; every
    part then takes its own rows. Every part meets the dropout layers in the same order, so
    draw ``k`` is always the ``k``-th dropout layer's, as in a single pass.

    Parameters
    ----------
    rng : numpy.random.Generator
        The step's generator (:func:`step_rng`).
    batch : int
        Rows of the whole batch, ``B``.
    """

    def __init__(self, rng: np.random.Generator, batch: int) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError("SharedDraws needs a numpy.random.Generator, got "
                            f"{type(rng).__name__}")
        self.rng, self.batch = rng, int(batch)
        self._draws: list[tuple[tuple[int, ...], float, Any]] = []
        self._lock = threading.Lock()

    def part(self, start: int, stop: int) -> PartDraws:
        """The draws of rows ``start:stop``, to pass as the ``rng`` of that part's pass."""
        if not 0 <= start < stop <= self.batch:
            raise ValueError(f"rows {start}:{stop} are not a part of a batch of {self.batch}")
        return PartDraws(self, start, stop)

    def bits(self, k: int, shape: tuple[int, ...], keep: float) -> Any:
        """Draw ``k``'s random integers for the whole batch, drawn on its first request."""
        full = (self.batch, *shape[1:])
        with self._lock:
            if k == len(self._draws):
                self._draws.append((full, keep, _numpy_bits(self.rng, full, keep)))
            drawn_shape, drawn_keep, bits = self._draws[k]
        if drawn_shape != full or drawn_keep != keep:
            raise RuntimeError(f"the parts of a split batch asked for different masks at draw "
                               f"{k}: {drawn_shape} with keep {drawn_keep}, then {full} with "
                               f"keep {keep}")
        return bits


class PartDraws:
    """Rows ``start:stop`` of a :class:`SharedDraws`: the ``rng`` of one part of a batch.

    :func:`bernoulli_mask` given one returns the rows of the whole batch's mask, the same
    numbers one pass over the whole batch draws.
    """

    def __init__(self, shared: SharedDraws, start: int, stop: int) -> None:
        self.shared, self.start, self.stop = shared, start, stop
        self._next = 0

    def mask(self, shape: tuple[int, ...], keep: float, dtype: Any) -> np.ndarray:
        """The next mask of this part: ``shape[0]`` must be the part's row count."""
        if shape[0] != self.stop - self.start:
            raise ValueError(f"a mask for rows {self.start}:{self.stop} needs "
                             f"{self.stop - self.start} rows, not {shape[0]}")
        bits = self.shared.bits(self._next, shape, keep)
        self._next += 1
        rows = None if bits is None else bits[self.start:self.stop]
        return _mask_from_bits(rows, shape, keep, dtype)

    def __repr__(self) -> str:
        return f"PartDraws(rows {self.start}:{self.stop} of {self.shared.batch})"


# ---------------------------------------------------------------------------------------
# MC dropout: masks keyed by (seed, pass, image, layer)
# ---------------------------------------------------------------------------------------

_MC_TAG = 0x4D43          # "MC": keeps MC keys apart from training's (seed, iteration) keys
_PASS_SHIFT = 40          # counter = pass · 2**40 + image · words_per_image + word
_MAX_PASSES = 2**(64 - _PASS_SHIFT)


def _lane_bits(keep: float) -> tuple[int, int]:
    """Bits per mask element and the threshold below which an element is kept.

    One bit when ``keep`` is 1/2 (the usual case: 64 elements per random word), else the
    width :func:`keep_threshold` picks (8, 16 or 32 bits), so ``P(kept) = threshold / 2**bits``.
    """
    if keep * 2 == 1.0:
        return 1, 1
    int_type, threshold = keep_threshold(keep)
    return 8 * int_type.itemsize, threshold


class MCStream:
    """The masks of Monte Carlo dropout, each a function of (seed, pass, image, layer) only.

    Mask element ``j`` of image ``i`` in pass ``t`` at the ``l``-th dropout layer is a lane
    of SplitMix64 word ``(t · 2**40 + i · W_l + j // L)`` of the stream keyed by
    ``(seed, l)`` (``W_l`` words per image, ``L`` lanes per word): the same bits whichever
    batch, chunk of passes or memory budget the image is predicted in, and on every
    namespace (NumPy, array_api_strict, CuPy), so a GPU's MC prediction equals the CPU's
    up to rounding.

    Parameters
    ----------
    seed : int or sequence of int
        Hashed with the layer index into each layer's 64-bit key (``SeedSequence``).
    xp : namespace
        Where masks are computed (the model's).
    device : optional
        The arrays' device (``x.device``); the namespace default if None.

    Notes
    -----
    A forward pass asks for masks through a :class:`MCBlock` (:meth:`block`): the rows of
    the stacked batch it runs, pass-major as ``tinybcnn.predict`` stacks them.
    """

    def __init__(self, seed: Any, xp: Any = np, device: Any = None) -> None:
        self.seed = [int(s) for s in (seed if isinstance(seed, (list, tuple)) else [seed])]
        self.xp, self.device = xp, device
        self._keys: list[int] = []
        self._consts: tuple[Any, ...] | None = None

    def key(self, layer: int) -> int:
        """The 64-bit key of the ``layer``-th dropout layer's stream."""
        while len(self._keys) <= layer:
            self._keys.append(_key_from_seed([*self.seed, _MC_TAG, len(self._keys)]))
        return self._keys[layer]

    def block(self, first_pass: int, passes: int, first_image: int, images: int) -> MCBlock:
        """The masks of passes ``first_pass …+passes`` over images ``first_image …+images``,
        for one forward pass over their stacked rows (row ``t·images + b``)."""
        if first_pass < 0 or first_pass + passes > _MAX_PASSES or first_image < 0:
            raise ValueError(f"passes {first_pass}+{passes} or first image {first_image} out "
                             f"of the MC stream's range (passes < {_MAX_PASSES})")
        return MCBlock(self, first_pass, passes, first_image, images)

    def words(self, layer: int, first_pass: int, passes: int, first_image: int, images: int,
              per_image: int) -> Any:
        """SplitMix64 words of a block at one layer, shape ``(passes · images, per_image)``."""
        if (first_image + images) * per_image > 2**_PASS_SHIFT:
            raise ValueError(f"{first_image + images} images of {per_image} words each "
                             f"overflow the MC stream's 2**{_PASS_SHIFT} words per pass")
        xp, dev, u64 = self.xp, self.device, self.xp.uint64
        golden, mix1, mix2 = self._constants()
        t = xp.arange(first_pass, first_pass + passes, dtype=u64, device=dev) << _PASS_SHIFT
        i = xp.arange(first_image, first_image + images, dtype=u64, device=dev) * per_image
        row = xp.reshape(xp.reshape(t, (passes, 1)) + xp.reshape(i, (1, images)),
                         (passes * images, 1))
        j = xp.reshape(xp.arange(0, per_image, dtype=u64, device=dev), (1, per_image))
        z = _word(xp, dev, self.key(layer)) + (row + j) * golden
        z = (z ^ (z >> 30)) * mix1
        z = (z ^ (z >> 27)) * mix2
        return z ^ (z >> 31)

    def _constants(self) -> tuple[Any, ...]:
        if self._consts is None:
            self._consts = tuple(_word(self.xp, self.device, c) for c in (_GOLDEN, _MIX1, _MIX2))
        return self._consts

    def __repr__(self) -> str:
        return f"MCStream(seed={self.seed}, xp={namespace_name(self.xp)})"


class MCBlock:
    """The ``rng`` of one stacked forward pass of MC prediction (see :meth:`MCStream.block`).

    Each call of :func:`bernoulli_mask` is the next dropout layer's; its mask has one row per
    (pass, image) of the block, pass-major.
    """

    def __init__(self, stream: MCStream, first_pass: int, passes: int, first_image: int,
                 images: int) -> None:
        self.stream = stream
        self.first_pass, self.passes = first_pass, passes
        self.first_image, self.images = first_image, images
        self.layer = 0

    def mask(self, shape: tuple[int, ...], keep: float, dtype: Any) -> Any:
        """The next dropout layer's inverted mask, ``shape = (passes · images, ...)``."""
        rows = self.passes * self.images
        if shape[0] != rows:
            raise ValueError(f"an MC block of {self.passes} passes over {self.images} images "
                             f"draws masks of {rows} rows, not {shape[0]}")
        layer, self.layer = self.layer, self.layer + 1
        stream, xp = self.stream, self.stream.xp
        if keep >= 1.0:
            return xp.ones(shape, dtype=_dtype_in(xp, dtype), device=stream.device)
        per_row = math.prod(shape[1:])
        bits, threshold = _lane_bits(keep)
        lanes = 64 // bits
        words = stream.words(layer, self.first_pass, self.passes, self.first_image,
                             self.images, -(-per_row // lanes))
        if xp is np:
            return _mask_from_lanes(words, bits, threshold, shape, keep, dtype)
        shifts = xp.arange(0, 64, bits, dtype=xp.uint64, device=stream.device)
        u = (xp.reshape(words, (*words.shape, 1)) >> shifts) & (2**bits - 1)
        u = xp.reshape(u, (rows, words.shape[1] * lanes))[:, :per_row]
        scale, zero = _mask_values(_Where(xp, stream.device), keep, _dtype_in(xp, dtype))
        return xp.reshape(xp.where(u < threshold, scale, zero), shape)

    def uniform(self, shape: tuple[int, ...], bits: int, dtype: Any) -> Any:
        """The next stochastic layer's uniform noise (a Concrete mask's), ``shape = (passes ·
        images, ...)``: ``(2k + 1) / 2**(bits + 1)`` with ``k`` the high ``bits`` bits of
        each element's own word, so it too depends on (seed, pass, image, layer) only."""
        rows = self.passes * self.images
        if shape[0] != rows:
            raise ValueError(f"an MC block of {self.passes} passes over {self.images} images "
                             f"draws noise of {rows} rows, not {shape[0]}")
        layer, self.layer = self.layer, self.layer + 1
        xp = self.stream.xp
        words = self.stream.words(layer, self.first_pass, self.passes, self.first_image,
                                  self.images, math.prod(shape[1:]))
        k = xp.astype(words >> (64 - bits), _dtype_in(xp, dtype))
        return xp.reshape((k * 2.0 + 1.0) / float(2**(bits + 1)), shape)

    def __repr__(self) -> str:
        return (f"MCBlock(passes {self.first_pass}+{self.passes}, images "
                f"{self.first_image}+{self.images}, next layer {self.layer})")


class _Where:
    """The (xp, device) pair :func:`_mask_values` reads off a generator."""

    def __init__(self, xp: Any, device: Any) -> None:
        self.xp, self.device = xp, device


def _mask_from_lanes(words: np.ndarray, bits: int, threshold: int, shape: tuple[int, ...],
                     keep: float, dtype: Any) -> np.ndarray:
    """NumPy's fast way to the same lanes: a little-endian view of the words (bit ``k`` of a
    word is lane ``k`` for one-bit lanes, via ``unpackbits``), then the mask."""
    rows, per_row = shape[0], math.prod(shape[1:])
    little = words.astype("<u8", copy=False)
    scale = np.asarray(1.0 / keep, dtype=dtype)
    if bits == 1:  # kept where the bit is 0 (u < 1): the inverted bits are the kept flags
        kept = np.unpackbits((~little).view(np.uint8), axis=1, bitorder="little")[:, :per_row]
        return np.multiply(kept, scale, dtype=dtype).reshape(shape)    # one pass, no compare
    u = little.view(f"<u{bits // 8}").reshape(rows, -1)[:, :per_row]
    mask = (u < u.dtype.type(threshold)).astype(dtype)
    mask *= scale
    return mask.reshape(shape)


def mc_stream(seed: Any = 0, rng: Any = None, like: Any = None) -> MCStream:
    """The :class:`MCStream` of an MC prediction, for arrays ``like``.

    Keyed by ``seed`` (fresh entropy if None), or, when ``rng`` is given, by one draw from it:
    a 63-bit integer from a :class:`numpy.random.Generator` (whatever the arrays' namespace:
    no mask is drawn on the host), or the key and counter of a :class:`CounterRNG`, whose
    counter then moves on by one. Either way the caller's generator moves on by the same
    amount however many images or passes are predicted.
    """
    if rng is not None:
        if isinstance(rng, np.random.Generator):
            seed = int(rng.integers(2**63))
        elif isinstance(rng, CounterRNG):
            seed, rng.counter = [rng.key, rng.counter], rng.counter + 1
        else:
            raise TypeError("MC prediction takes a seed, a numpy.random.Generator or a "
                            f"tinybcnn CounterRNG as its generator, not {type(rng).__name__}")
    elif seed is None:
        seed = fresh_seed()
    if like is None:
        return MCStream(seed)
    xp = xp_of(like)
    return MCStream(seed, xp, None if xp is np else like.device)
