"""Standard and Monte Carlo dropout prediction, with the uncertainty they carry.

*Standard dropout* runs the network once with dropout off; with inverted masks that is the
weight-averaging approximation. *MC dropout* averages ``T`` stochastic passes, each with fresh
Bernoulli masks — ``T`` samples from the approximate posterior over the weights::

    p̄(y | x) = (1/T) Σ_t softmax(f(x; ω̂_t))

The network before its first dropout layer is deterministic, so :func:`mc_predict` runs that
prefix once per tile of inputs, then stacks the copies of its output for a chunk of passes
along the batch axis: every later layer is one GEMM for those passes.

Prediction runs in the model's namespace. On a device (CuPy, or array_api_strict standing in
for it) the per-pass outputs and their summaries (sums, entropies, votes) stay on the device
and come back to the host once, at the end: no chunk waits for the device.

A prediction's bits follow neither the machine nor the caller's knobs. BLAS libraries round
a row of a product by where it falls in the product (measured with NumPy's OpenBLAS 0.3.31,
Haswell kernels: rows are computed 12 at a time, and the leftover rows, and the rows of a
block that starts elsewhere, round otherwise; cuBLAS picks its tiling by the shape), so
two rules fix the products:

- *Shapes*: every product of an MC prediction runs on a tile of ``I`` inputs × ``P``
  stacked passes cut from ``x[0]``, ``I`` and ``P`` fixed by the model, ``T`` and the
  namespace kind (CPU or GPU) alone (:mod:`tinybcnn.mc_tiles`); :func:`standard_predict`
  on tiles of :data:`STANDARD_TILE` inputs. ``batch_size`` only says how many inputs one
  step summarises; ``memory_budget`` only refuses a tile it cannot hold; the GPU's free
  memory is not read.
- *Threads* (:class:`_Parts`): OpenBLAS cuts the rows among its threads, so every product
  runs on one BLAS thread, and each tile is cut into the same two parts by its shapes
  alone (the inputs and passes in it, the model's size); the BLAS count in force decides
  only *when* the parts run: side by side in two threads on 2 or more, one after the other
  on 1. The parts do no extra work: the same rows in the same products, cut in two.

So the same seed, ``T`` and inputs give the same probabilities bit for bit for any batch
size, budget, thread count, load or free memory. What still moves the last bits: ``T``, the
inputs and their count (they decide the last tile), a caller's own split by
``first_image``, ``stacked``, and the backend; float32 results then agree to about float32's
epsilon (with exact arithmetic, e.g. dyadic float64 weights, bit for bit: the masks, drawn
by (seed, pass, image, layer), do not move).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import check_namespace, to_namespace, to_numpy, xp_of
from .functional import log_softmax
from .functional.checks import positive_int
from .mc_tiles import Tile, check_budget, reference, stack_passes, steps, tile_for
from .metrics import mc_test_log_likelihood
from .random import MCStream, mc_stream

__all__ = ["Prediction", "RegressionPrediction", "standard_predict", "mc_predict",
           "mc_predict_loop", "mc_predict_regression", "entropy", "variation_ratio_probs",
           "default_memory_budget", "default_batch_size", "inputs_for"]


def default_memory_budget(xp: Any = np) -> int:
    """The memory budget (bytes) MC prediction's tiles are planned for, for namespace ``xp``.

    64 MiB on a CPU (NumPy, array_api_strict), 2 GiB on CuPy: the reference of
    :mod:`tinybcnn.mc_tiles`, a constant of the kind (never the GPU's free memory). A
    ``memory_budget`` given to :func:`mc_predict` only refuses a tile it cannot hold.
    """
    return reference(xp).memory_budget


def default_batch_size(xp: Any = np) -> int:
    """Inputs per step by default, and the batch the tiles are planned for: 200 on a CPU,
    1000 on a GPU (:mod:`tinybcnn.mc_tiles`)."""
    return reference(xp).batch_size


def entropy(probs: Any, axis: int = -1) -> Any:
    """Shannon entropy in nats, ``H[p] = −Σ_k p_k log p_k`` (with ``0 log 0 = 0``).

    NumPy input (or lists) gives a float64 NumPy result; a device array stays on its device.
    """
    xp = xp_of(probs)
    if xp is np:
        probs = np.asarray(probs, dtype=np.float64)
    logs = xp.log(xp.where(probs > 0, probs, xp.ones_like(probs)))
    return -xp.sum(probs * logs, axis=axis)


def variation_ratio_probs(probs: Any, axis: int = -1) -> Any:
    """The variation ratio of the mean prediction, ``1 − max_k p̄_k``.

    This is the form of Gal, Islam & Ghahramani (2017, the active-learning paper). It is a
    different statistic from the vote count ``1 − f_mode / T`` of Freeman (1965), which Gal's
    thesis uses and :attr:`Prediction.variation_ratio` holds: if every pass outputs
    ``(0.6, 0.4)`` the vote count is 0 for any ``T`` and this is 0.4. Neither approximates the
    other as ``T`` grows (docs/uncertainty-at-work.md).

    Parameters
    ----------
    probs : array (..., K)
        Mean predictive probabilities ``p̄`` (for MC dropout, the mean over the passes).
    axis : int
        The class axis.

    Returns
    -------
    array (...)
        In ``[0, 1 − 1/K]``. NumPy input (or lists) gives float64; a device array stays on its
        device.
    """
    xp = xp_of(probs)
    if xp is np:
        probs = np.asarray(probs, dtype=np.float64)
    return 1.0 - xp.max(probs, axis=axis)


@dataclass
class Prediction:
    """Predictive distribution over classes and its uncertainty, for N inputs and K classes.

    Attributes
    ----------
    probs : ndarray (N, K)
        Mean predictive probabilities ``p̄`` (float64, on the host).
    entropy : ndarray (N,)
        Predictive entropy ``H[p̄]``.
    mutual_info : ndarray (N,)
        ``H[p̄] − mean_t H[p_t]``: the part of the entropy due to uncertainty about the weights
        (zero for standard prediction).
    variation_ratio : ndarray (N,)
        ``1 − f_mode / T`` with ``f_mode`` the number of passes voting for the modal class
        (zero for standard prediction): Freeman's vote count, as in Gal's thesis. The other
        variation ratio, ``1 − max_k p̄_k``, is :attr:`variation_ratio_probs`.
    samples : int
        ``T`` (1 for standard prediction).
    sample_probs : ndarray (T, N, K), optional
        Per-pass probabilities, when asked for.
    std_error : ndarray (N, K), optional
        Monte Carlo standard error of ``probs``: ``std_t(p_t) / sqrt(T)``, when asked for.
    """

    probs: np.ndarray
    entropy: np.ndarray
    mutual_info: np.ndarray
    variation_ratio: np.ndarray
    samples: int = 1
    sample_probs: np.ndarray | None = None
    std_error: np.ndarray | None = None

    @property
    def labels(self) -> np.ndarray:
        """Predicted classes ``argmax_k p̄_k``, shape (N,)."""
        return np.argmax(self.probs, axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """``max_k p̄_k``, shape (N,)."""
        return np.max(self.probs, axis=1)

    @property
    def variation_ratio_probs(self) -> np.ndarray:
        """``1 − max_k p̄_k``, shape (N,): the variation ratio of Gal, Islam & Ghahramani (2017).

        Not the vote count :attr:`variation_ratio`; see :func:`variation_ratio_probs`.
        """
        return variation_ratio_probs(self.probs)


#: Inputs per product of :func:`standard_predict`, on every backend: a constant, so its bits
#: follow no argument (1000 was its default batch size before, so its products are unchanged).
STANDARD_TILE = 1000


#: The least work (rows × passes × parameters) cut in two parts, as a training step's
#: (tinybcnn.threads.MIN_SPLIT_WORK): below it two threads cost more than they save.
_MIN_PART_WORK = 4 * 2**20
_worker: tuple[int, ThreadPoolExecutor] | None = None   # (pid that made it, executor)


@functools.cache
def _blas() -> Any:
    """threadpoolctl's handle on the BLAS libraries loaded now (found once: about 2 ms)."""
    from threadpoolctl import ThreadpoolController  # a dependency; imported when used

    return ThreadpoolController().select(user_api="blas")


class _Parts:
    """A prediction's work in fixed parts, each on one BLAS thread (see the module's notes).

    Made once per prediction: it reads the BLAS count in force (2 or more: the parts run side
    by side, the second on a :meth:`~tinybcnn.nn.Sequential.replica` of the model; 1: one
    after the other, both on the model) and, as a context manager, holds every product to one
    BLAS thread until the prediction ends. Arrays other than NumPy's, and a model of one's own
    with no ``replica``, run in one part (on CuPy the CPU's threads do not enter).
    """

    def __init__(self, model: Any, x: Any) -> None:
        self.model, self.twin = model, None
        self.splits = isinstance(x, np.ndarray) and hasattr(model, "replica")
        self.params = sum(math.prod(p.shape) for p in model.params.values())
        self.side_by_side = min((lib.get_num_threads() for lib in _blas().lib_controllers),
                                default=1) >= 2
        self._limit: AbstractContextManager | None = None

    def __enter__(self) -> _Parts:
        self._limit = _blas().limit(limits=1)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._limit.__exit__(*exc)

    def bounds(self, rows: int, passes: int = 1) -> list[tuple[int, int]]:
        """The parts of ``range(rows)``: two halves (the first one row longer for odd
        ``rows``) from two rows and enough work, else one. Shapes alone decide."""
        if not (self.splits and rows >= 2 and rows * passes * self.params >= _MIN_PART_WORK):
            return [(0, rows)]
        half = (rows + 1) // 2
        return [(0, half), (half, rows)]

    def run(self, rows: int, fn: Callable[[Any, int, int, int], Any],
            passes: int = 1) -> list[Any]:
        """``[fn(model, k, start, stop) for the parts k of range(rows)]``: the second part
        side by side with the first (in the one worker thread, on the replica) where the BLAS
        count allows."""
        parts = self.bounds(rows, passes)
        if len(parts) == 1 or not self.side_by_side:
            return [fn(self.model, k, *part) for k, part in enumerate(parts)]
        if self.twin is None:   # one replica for the whole prediction: its buffers stay warm
            self.twin = self.model.replica()
        errors = np.geterr()    # NumPy's error state is per thread: the second part takes ours

        def second() -> Any:
            with np.errstate(**errors):
                return fn(self.twin, 1, *parts[1])

        other: Future = _executor().submit(second)
        try:
            first = fn(self.model, 0, *parts[0])
        finally:                # never leave the other part running (e.g. on Ctrl-C)
            wait([other])
        return [first, other.result()]


def _executor() -> ThreadPoolExecutor:
    """The one worker thread of prediction's second parts (a new one after a fork)."""
    global _worker
    if _worker is None or _worker[0] != os.getpid():
        _worker = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="tinybcnn-part"))
    return _worker[1]


def _check_input(model: Any, x: Any) -> Any:
    in_shape = getattr(model, "in_shape", None)
    if x.ndim < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {tuple(x.shape)}")
    if in_shape is not None and tuple(x.shape[1:]) != tuple(in_shape):
        raise ValueError(f"x must have shape (N, {', '.join(map(str, in_shape))}) for this "
                         f"model, got {tuple(x.shape)}")
    like = next(iter(model.params.values()))
    if isinstance(x, np.ndarray):  # host data: moved to the model's namespace, once
        return to_namespace(x, xp_of(like), like.dtype)
    check_namespace(x, like, "x", "the model")
    return x


def _validate_inputs(x: Any, batch_size: Any) -> None:
    """Refuse inputs that would give wrong probabilities silently (as ``Trainer.step`` does).

    Raw ``uint8`` images (0-255 instead of the training scale, see
    :func:`tinybcnn.data.as_float`) and other non-float arrays are refused, as are an empty
    batch, a ``batch_size`` below 1 and, for NumPy inputs, NaN or infinite values. The finite
    check runs once per call on the input, never per batch; device arrays (CuPy) skip it,
    because reading the answer back would stall the GPU before any work is queued.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"x must be an array (N, ...), got {type(x).__name__}")
    if batch_size is not None:  # None: the namespace's default, chosen later
        positive_int(batch_size, "batch_size")
    if not xp_of(x).isdtype(x.dtype, "real floating"):
        raise ValueError(f"x must be floating point (images scaled as in training, see "
                         f"tinybcnn.data.as_float), got {x.dtype}")
    if len(x.shape) == 0 or x.shape[0] == 0:
        raise ValueError(f"x must hold at least one input, got shape {tuple(x.shape)}")
    if isinstance(x, np.ndarray) and not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")


def inputs_for(model: Any, x: Any) -> Any:
    """``x`` checked (as every prediction checks it) and moved to the model's namespace.

    For a caller that predicts the same inputs more than once (standard and MC): host data
    then goes to the device once, not once per prediction.
    """
    _validate_inputs(x, None)
    return _check_input(model, x)


def standard_predict(model: Any, x: Any, batch_size: int | None = None) -> Prediction:
    """One deterministic pass (dropout off: weight averaging).

    Parameters
    ----------
    model : Sequential
    x : array (N, C, H, W) or (N, D)
    batch_size : int, optional
        Accepted (and checked) as before; it changes nothing: the products run on tiles of
        :data:`STANDARD_TILE` inputs cut from ``x[0]``.

    Returns
    -------
    Prediction
        ``mutual_info`` and ``variation_ratio`` are zero: one pass has no spread.

    Notes
    -----
    The same bits on any BLAS thread count and for any ``batch_size`` (see the module's
    notes); the inputs and their count decide which rows share a product.
    """
    _validate_inputs(x, batch_size)
    x = _check_input(model, x)
    chunks = []
    with _Parts(model, x) as parts:   # fixed parts on one BLAS thread: see the module's notes
        for s in steps(x.shape[0], STANDARD_TILE, STANDARD_TILE):
            # same rounding as mc_predict: log-softmax in the model's dtype, exp in float64
            chunks += parts.run(s.stop - s.start, lambda m, _k, a, b, s=s: log_softmax(
                m.forward(x[s.start + a:s.start + b, ...])))
    probs = np.exp(to_numpy(_cat(chunks)).astype(np.float64))   # one read-back, at the end
    zeros = np.zeros(probs.shape[0])
    return Prediction(probs=probs, entropy=entropy(probs), mutual_info=zeros,
                      variation_ratio=zeros.copy(), samples=1)


def _sample_outputs(model: Any, xb: Any, samples: int, start: int, stream: MCStream,
                    first_image: int, chunk: int, stacked: bool = True,
                    transform: Any = None) -> Any:
    """Outputs of ``samples`` passes on the inputs ``xb``, shape (T, B, ...), float64.

    ``xb`` holds images ``first_image …`` of the stream. Stacked: the deterministic prefix
    (layers before ``start``) runs once, then ``chunk`` passes run as one stacked batch at a
    time. ``transform`` (e.g. log-softmax) is applied in the model's dtype; the result stays
    in the model's namespace (on the device for CuPy).
    """
    transform = transform or (lambda out: out)
    xp = xp_of(xb)
    b = xb.shape[0]
    parts = []
    if not stacked:  # the naive way: T full passes, prefix included
        for t in range(samples):
            rng = stream.block(t, 1, first_image, b)
            parts.append(transform(model.forward(xb, rng=rng))[None, ...])
    else:
        h = model.forward(xb, stop=start)                         # deterministic prefix, once
        for t0 in range(0, samples, chunk):
            t = min(chunk, samples - t0)
            rng = stream.block(t0, t, first_image, b)             # the masks of these rows
            out = transform(model.forward(stack_passes(h, t), rng=rng, start=start))   # (t·B, ...)
            parts.append(xp.reshape(out, (t, b, *out.shape[1:])))
    out = parts[0] if len(parts) == 1 else xp.concat(parts)
    return xp.astype(out, xp.float64)


def _step_outputs(parts: _Parts, streams: list[MCStream], x: Any, step: slice, tile: Tile,
                  samples: int, start: int, first_image: int, stacked: bool = True,
                  transform: Any = None) -> Any:
    """:func:`_sample_outputs` of the inputs ``x[step]``, tile by tile (``step`` is made of
    whole tiles, :func:`tinybcnn.mc_tiles.steps`), each tile in ``parts`` (its images cut in
    two), each part with its own copy of the mask stream (the same masks); (T, B, ...)."""
    outs = []
    for begin in range(step.start, step.stop, tile.images):
        xb = x[begin:min(begin + tile.images, step.stop), ...]
        outs += parts.run(xb.shape[0], lambda m, k, a, b, xb=xb, begin=begin: _sample_outputs(
            m, xb[a:b, ...], samples, start, streams[k], first_image + begin + a, tile.passes,
            stacked, transform), passes=samples)
    return _cat(outs, axis=1)


def _streams(stream: MCStream) -> list[MCStream]:
    """The stream and an equal copy, one per part: a stream caches its keys as it goes, so
    two threads do not share one."""
    return [stream, MCStream(stream.seed, stream.xp, stream.device)]


def mc_predict(model: Any, x: Any, samples: int = 50, seed: int | None = 0, rng: Any = None,
               batch_size: int | None = None, memory_budget: int | None = None,
               return_samples: bool = False, std_error: bool = False,
               stacked: bool = True, first_image: int = 0,
               on_batch: Callable[[int], Any] | None = None) -> Prediction:
    """Monte Carlo dropout prediction: average ``samples`` stochastic passes.

    Parameters
    ----------
    model : Sequential
    x : array (N, C, H, W) or (N, D)
    samples : int
        Number of passes ``T``.
    seed : int, optional
        Keys the masks (see Notes); None draws fresh entropy. Ignored when ``rng`` is given.
    rng : numpy.random.Generator or CounterRNG, optional
        Keys the masks by one draw from it instead of ``seed``
        (:func:`tinybcnn.random.mc_stream`), on any backend.
    batch_size : int, optional
        Inputs summarised per step, rounded up to whole tiles (default
        :func:`default_batch_size`: 200 on a CPU, 1000 on a GPU); it shapes no product.
    memory_budget : int, optional
        Bytes of activations prediction may use: a budget below what one tile needs raises
        ``ValueError``; any larger one changes nothing. Default: no check (the tiles are
        planned for :func:`default_memory_budget`: 64 MiB on a CPU, 2 GiB on CuPy).
    return_samples : bool
        Also return the per-pass probabilities (T, N, K).
    std_error : bool
        Also return the Monte Carlo standard error of the mean probabilities.
    stacked : bool
        ``False`` runs ``T`` separate full passes instead (the naive way, for benchmarks).
    first_image : int
        The index of ``x[0]`` in the mask stream: predicting ``x[a:b]`` with
        ``first_image=a`` draws the masks of rows ``a:b`` of predicting ``x`` (see Notes).
    on_batch : callable, optional
        Called with each step's input count after its ``T`` passes (a bar's ``update``).

    Returns
    -------
    Prediction

    Notes
    -----
    ``p̄ = (1/T) Σ_t p_t``, ``H[p̄] = −Σ_k p̄_k log p̄_k``,
    ``MI = H[p̄] − (1/T) Σ_t H[p_t]``, ``variation ratio = 1 − f_mode / T``.

    The mask of pass ``t`` for image ``first_image + n`` at the ``l``-th dropout layer
    depends on ``(seed, t, first_image + n, l)`` only (:class:`tinybcnn.random.MCStream`),
    on every backend. :func:`mc_predict_loop` is the textbook twin.

    Every product runs on a tile of ``I`` inputs × ``P`` passes cut from ``x[0]``, fixed by
    the model, ``T`` and the namespace kind (CPU or GPU) alone (:mod:`tinybcnn.mc_tiles`):
    the same seed, ``T`` and inputs give the same bits for any ``batch_size``,
    ``memory_budget``, BLAS thread count, load or free GPU memory. ``T``, the inputs and
    their count, a caller's own split (by ``first_image``), ``stacked`` and the backend
    move the last bits (see the module's notes).
    """
    _validate_inputs(x, batch_size)
    samples = positive_int(samples, "samples")
    x = _check_input(model, x)
    xp = xp_of(x)
    first_image = positive_int(first_image, "first_image", minimum=0)
    streams = _streams(mc_stream(seed, rng, like=x))
    start = model.first_stochastic()
    stats, per_sample = [], []
    with _Parts(model, x) as parts:   # fixed parts on one BLAS thread: see the module's notes
        tile = tile_for(model, x, start, samples)
        check_budget(tile, memory_budget)
        for s in steps(x.shape[0], tile.images, batch_size or default_batch_size(xp)):
            p_t = xp.exp(_step_outputs(parts, streams, x, s, tile, samples, start, first_image,
                                       stacked, transform=log_softmax))      # (T, B, K)
            stats.append(_pass_statistics(p_t))
            if return_samples:
                per_sample.append(p_t)
            if on_batch is not None:
                on_batch(s.stop - s.start)
    result = _summarise(*zip(*stats, strict=True), samples=samples, std_error=std_error)
    if return_samples:
        result.sample_probs = to_numpy(_cat(per_sample, axis=1))
    return result


def _pass_statistics(p_t: Any) -> tuple[Any, Any, Any, Any]:
    """Per input of a batch, on the model's namespace: ``Σ_t p_t``, ``Σ_t p_t²``,
    ``mean_t H[p_t]`` and the votes per class (how many passes put the input in class k)."""
    xp = xp_of(p_t)
    k = p_t.shape[-1]
    winner = xp.argmax(p_t, axis=-1)[..., None]              # (T, B, 1)
    classes = xp.reshape(xp.arange(k, device=p_t.device), (1, 1, k))
    return (xp.sum(p_t, axis=0), xp.sum(p_t * p_t, axis=0), xp.mean(entropy(p_t), axis=0),
            xp.sum(xp.astype(winner == classes, xp.int64), axis=0))


def _summarise(sums: Sequence[Any], squares: Sequence[Any], exp_entropy: Sequence[Any],
               votes: Sequence[Any], samples: int, std_error: bool) -> Prediction:
    """The :class:`Prediction` from the batches' :func:`_pass_statistics`: the one read-back
    of the whole prediction."""
    probs = to_numpy(_cat(sums)) / samples
    h_mean = entropy(probs)
    result = Prediction(probs=probs, entropy=h_mean,
                        mutual_info=h_mean - to_numpy(_cat(exp_entropy)),
                        variation_ratio=1.0 - to_numpy(_cat(votes)).max(axis=1) / samples,
                        samples=samples)
    if std_error:
        # unbiased variance over the passes, then the standard error of their mean
        var = np.maximum(to_numpy(_cat(squares)) / samples - probs**2, 0.0)
        var *= samples / max(samples - 1, 1)
        result.std_error = np.sqrt(var / samples)
    return result


def mc_predict_loop(model: Any, x: Any, samples: int = 50, seed: int = 0,
                    first_image: int = 0) -> Prediction:
    """The textbook twin of :func:`mc_predict`: ``T`` full stochastic passes in a loop.

    Pass ``t`` runs the whole network over all of ``x`` with the masks of pass ``t``, the
    same masks :func:`mc_predict` draws for the same ``seed`` and ``first_image``; the
    summaries are Gal's, computed on the host in float64. Slow (no shared prefix, no
    stacking) and memory-hungry on large ``x``: for checks and teaching.
    """
    _validate_inputs(x, None)
    x = _check_input(model, x)
    stream = mc_stream(seed, like=x)
    p_t = np.stack([np.exp(to_numpy(log_softmax(model.forward(
        x, rng=stream.block(t, 1, first_image, x.shape[0])))).astype(np.float64))
        for t in range(samples)])                                   # (T, N, K)
    p_mean = np.sum(p_t, axis=0) / samples                          # p̄ = (1/T) Σ_t p_t
    votes = np.stack([np.sum(np.argmax(p_t, axis=-1) == k, axis=0)
                      for k in range(p_t.shape[-1])], axis=-1)     # passes per class (N, K)
    return Prediction(probs=p_mean, entropy=entropy(p_mean),
                      mutual_info=entropy(p_mean) - np.mean(entropy(p_t), axis=0),
                      variation_ratio=1.0 - votes.max(axis=1) / samples, samples=samples,
                      sample_probs=p_t)


def _cat(parts: list[Any], axis: int = 0) -> Any:
    """Concatenate per-batch results in their own namespace (no copy for a single batch)."""
    return parts[0] if len(parts) == 1 else xp_of(parts[0]).concat(parts, axis=axis)


@dataclass
class RegressionPrediction:
    """MC dropout regression: predictive mean and variance for N inputs, D outputs.

    Attributes
    ----------
    mean : ndarray (N, D) or (N,)
        ``(1/T) Σ_t ŷ_t``.
    variance : ndarray, shape of ``mean``
        ``1/tau + Var_t(ŷ_t)`` (population variance over the passes).
    samples : ndarray (T, N, D) or (T, N)
        The passes ``ŷ_t``.
    test_ll : float or None
        Gal's MC test log-likelihood, when targets were given:
        ``mean_n [logsumexp_t(−tau/2 ‖y_n − ŷ_nt‖²) − log T − (D/2) log 2π + (D/2) log tau]``.
    """

    mean: np.ndarray
    variance: np.ndarray
    samples: np.ndarray
    test_ll: float | None = None


def mc_predict_regression(model: Any, x: Any, tau: float, samples: int = 50,
                          seed: int | None = 0, rng: Any = None, y: Any = None,
                          batch_size: int | None = None,
                          memory_budget: int | None = None) -> RegressionPrediction:
    """MC dropout for a regression network (Gaussian likelihood of precision ``tau``).

    Parameters
    ----------
    model : Sequential
        Outputs (N, D) or (N,) predictions.
    x : array (N, ...)
    tau : float
        Model precision; the predictive variance includes the noise ``1/tau``.
    samples : int
        Number of passes ``T``.
    seed : int, optional
        Seeds a fresh mask generator (ignored when ``rng`` is given).
    rng : generator, optional
    y : array, optional
        Targets, shape of the output; when given, ``test_ll`` is computed.
    batch_size, memory_budget : int
        As in :func:`mc_predict`.
    """
    if not 0 < tau < math.inf:
        raise ValueError(f"tau must be finite and > 0, got {tau}")
    _validate_inputs(x, batch_size)
    samples = positive_int(samples, "samples")
    x = _check_input(model, x)
    stream = mc_stream(seed, rng, like=x)
    start = model.first_stochastic()
    outs, streams = [], _streams(stream)
    with _Parts(model, x) as parts:   # fixed parts on one BLAS thread: see the module's notes
        tile = tile_for(model, x, start, samples)
        check_budget(tile, memory_budget)
        for s in steps(x.shape[0], tile.images, batch_size or default_batch_size(xp_of(x))):
            outs.append(_step_outputs(parts, streams, x, s, tile, samples, start, 0))
    y_t = to_numpy(_cat(outs, axis=1))                            # (T, N) or (T, N, D)
    result = RegressionPrediction(mean=y_t.mean(axis=0), variance=1.0 / tau + y_t.var(axis=0),
                                  samples=y_t)
    if y is not None:
        result.test_ll = mc_test_log_likelihood(y_t, to_numpy(y), tau)
    return result
