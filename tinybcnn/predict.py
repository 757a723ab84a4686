"""Standard and Monte Carlo dropout prediction, with the uncertainty they carry.

*Standard dropout* runs the network once with dropout off; with inverted masks that is the
weight-averaging approximation. *MC dropout* averages ``T`` stochastic passes, each with fresh
Bernoulli masks — ``T`` samples from the approximate posterior over the weights::

    p̄(y | x) = (1/T) Σ_t softmax(f(x; ω̂_t))

The network before its first dropout layer is deterministic, so :func:`mc_predict` runs that
prefix once per batch, then stacks the ``T`` copies of its output along the batch axis: every
later layer is one GEMM for all samples. The stacked batch is chunked to fit a memory budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import to_backend, to_numpy, xp_of
from .functional import log_softmax
from .functional._checks import check_positive_int
from .metrics import mc_test_log_likelihood
from .random import make_rng

__all__ = ["Prediction", "RegressionPrediction", "standard_predict", "mc_predict",
           "mc_predict_regression", "entropy"]

# Bytes of activations MC prediction may hold by default. Moderate chunks stay in cache and
# avoid page faults on huge temporaries: on 2 CPU cores, budgets of tens of MiB ran about
# twice as fast as 512 MiB.
_DEFAULT_BUDGET = 64 * 2**20


def entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats, ``H[p] = −Σ_k p_k log p_k`` (with ``0 log 0 = 0``)."""
    probs = np.asarray(probs, dtype=np.float64)
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -np.sum(probs * logs, axis=axis)


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
        (zero for standard prediction).
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


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _check_input(model: Any, x: Any) -> Any:
    in_shape = getattr(model, "in_shape", None)
    if x.ndim < 2:
        raise ValueError(f"x must be a batch (N, ...), got shape {tuple(x.shape)}")
    if in_shape is not None and tuple(x.shape[1:]) != tuple(in_shape):
        raise ValueError(f"x must have shape (N, {', '.join(map(str, in_shape))}) for this "
                         f"model, got {tuple(x.shape)}")
    dtype = next(iter(model.params.values())).dtype
    return to_backend(x, dtype) if isinstance(x, np.ndarray) else x


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
    check_positive_int(batch_size, "batch_size")
    if np.dtype(x.dtype).kind != "f":
        raise ValueError(f"x must be floating point (images scaled as in training, see "
                         f"tinybcnn.data.as_float), got {x.dtype}")
    if len(x.shape) == 0 or x.shape[0] == 0:
        raise ValueError(f"x must hold at least one input, got shape {tuple(x.shape)}")
    if isinstance(x, np.ndarray) and not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite values")


def standard_predict(model: Any, x: Any, batch_size: int = 1000) -> Prediction:
    """One deterministic pass (dropout off: weight averaging).

    Parameters
    ----------
    model : Sequential
    x : array (N, C, H, W) or (N, D)
    batch_size : int

    Returns
    -------
    Prediction
        ``mutual_info`` and ``variation_ratio`` are zero: one pass has no spread.
    """
    _validate_inputs(x, batch_size)
    x = _check_input(model, x)
    # same rounding as mc_predict: log-softmax in the model's dtype, exp in float64
    chunks = [to_numpy(log_softmax(model.forward(x[s]))) for s in _batches(x.shape[0], batch_size)]
    probs = np.exp(np.concatenate(chunks).astype(np.float64))
    zeros = np.zeros(probs.shape[0])
    return Prediction(probs=probs, entropy=entropy(probs), mutual_info=zeros,
                      variation_ratio=zeros.copy(), samples=1)


def _held_bytes(layer: Any) -> int:
    """Bytes of the arrays a layer holds after a forward pass (its cache, its mask)."""
    total = 0
    for value in vars(layer).values():
        items = value.values() if isinstance(value, dict) else (value,)
        total += sum(v.nbytes for v in items if hasattr(v, "nbytes") and hasattr(v, "shape"))
    return total


def _bytes_per_row(model: Any, rows: Any, start: int, stop: int) -> int:
    """Bytes one more row costs in layers ``start:stop``: outputs plus what the layers keep.

    Measured, not modelled: run 1 and 2 rows through the layers and take the difference, so
    the parameters (held either way) cancel. A throwaway generator keeps the caller's stream.
    """
    probe_rng = make_rng(0)
    layers = list(model.layers.values())

    def held(n: int) -> int:
        out, total = _stack(rows[:1], n), 0
        for i in range(start, stop):
            out = model.forward(out, rng=probe_rng, start=i, stop=i + 1)
            total += out.nbytes + _held_bytes(layers[i])
        return total

    return max(held(2) - held(1), 1)


def _plan(model: Any, x: Any, start: int, samples: int, batch_size: int,
          memory_budget: int) -> tuple[int, int]:
    """Inputs per batch and stacked passes per chunk that keep MC prediction in the budget.

    A chunk of ``t`` passes over ``B`` inputs holds about ``B·prefix + t·B·suffix`` bytes,
    ``prefix`` and ``suffix`` being what one row costs before and after the first dropout.
    Twice that is allowed for, for the temporaries inside a layer and the caches of the
    previous chunk that a layer drops only when it runs again. The batch shrinks only when
    even one pass over it would not fit.
    """
    h1 = model.forward(x[:1], stop=start)
    prefix = _bytes_per_row(model, x[:1], 0, start) if start > 0 else 0
    suffix = _bytes_per_row(model, h1, start, len(model))
    usable = memory_budget // 2
    batch = max(1, min(batch_size, usable // (prefix + suffix)))
    passes = max(1, min(samples, (usable - batch * prefix) // (batch * suffix)))
    return batch, passes


def _stack(h: Any, samples: int) -> Any:
    """``samples`` copies of ``h`` on the batch axis; row ``t·B + b`` is copy ``t`` of ``b``."""
    xp = xp_of(h)
    return xp.reshape(xp.broadcast_to(h[None, ...], (samples, *h.shape)),
                      (samples * h.shape[0], *h.shape[1:]))


def _check_samples(samples: Any) -> int:
    if isinstance(samples, bool) or int(samples) != samples or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    return int(samples)


def _sample_outputs(model: Any, xb: Any, samples: int, start: int, rng: Any, chunk: int,
                    stacked: bool = True, transform: Any = None) -> np.ndarray:
    """Outputs of ``samples`` passes on the inputs ``xb``, shape (T, B, ...), on the host.

    Stacked: the deterministic prefix (layers before ``start``) runs once, then ``chunk``
    passes run as one stacked batch at a time. ``transform`` (e.g. log-softmax) is applied on
    the backend; the result is float64.
    """
    transform = transform or (lambda out: out)
    parts = []
    if not stacked:  # the naive way: T full passes, prefix included
        for _ in range(samples):
            parts.append(to_numpy(transform(model.forward(xb, rng=rng)))[None])
    else:
        h = model.forward(xb, stop=start)                         # deterministic prefix, once
        b = h.shape[0]
        for t0 in range(0, samples, chunk):
            t = min(chunk, samples - t0)
            out = transform(model.forward(_stack(h, t), rng=rng, start=start))   # (t·B, ...)
            parts.append(to_numpy(out).reshape(t, b, *out.shape[1:]))
    return np.concatenate(parts).astype(np.float64)


def mc_predict(model: Any, x: Any, samples: int = 50, seed: int | None = 0, rng: Any = None,
               batch_size: int = 200, memory_budget: int = _DEFAULT_BUDGET,
               return_samples: bool = False, std_error: bool = False,
               stacked: bool = True) -> Prediction:
    """Monte Carlo dropout prediction: average ``samples`` stochastic passes.

    Parameters
    ----------
    model : Sequential
    x : array (N, C, H, W) or (N, D)
    samples : int
        Number of passes ``T``.
    seed : int, optional
        Seeds a fresh mask generator (ignored when ``rng`` is given).
    rng : generator, optional
    batch_size : int
        Inputs per deterministic-prefix batch.
    memory_budget : int
        Bytes of activations prediction may use; the ``T`` copies of a batch are split into
        chunks of passes that fit (at least one pass at a time), and the batch shrinks below
        ``batch_size`` if even one pass over it would not fit.
    return_samples : bool
        Also return the per-pass probabilities (T, N, K).
    std_error : bool
        Also return the Monte Carlo standard error of the mean probabilities.
    stacked : bool
        ``False`` runs ``T`` separate full passes instead (the naive way, for benchmarks).

    Returns
    -------
    Prediction

    Notes
    -----
    ``p̄ = (1/T) Σ_t p_t``, ``H[p̄] = −Σ_k p̄_k log p̄_k``,
    ``MI = H[p̄] − (1/T) Σ_t H[p_t]``, ``variation ratio = 1 − f_mode / T``.
    """
    _validate_inputs(x, batch_size)
    samples = _check_samples(samples)
    x = _check_input(model, x)
    rng = rng if rng is not None else make_rng(seed)
    start = model.first_stochastic()

    sums, squares, exp_entropy, votes, per_sample = [], [], [], [], []
    batch_size, chunk = _plan(model, x, start, samples, batch_size, memory_budget)
    for s in _batches(x.shape[0], batch_size):
        p_t = np.exp(_sample_outputs(model, x[s], samples, start, rng, chunk, stacked,
                                     transform=log_softmax))      # (T, B, K)
        sums.append(p_t.sum(axis=0))
        squares.append((p_t * p_t).sum(axis=0))
        exp_entropy.append(entropy(p_t).mean(axis=0))
        # votes[b, k]: how many passes put input b in class k
        votes.append((p_t.argmax(axis=-1)[..., None] == np.arange(p_t.shape[-1])).sum(axis=0))
        if return_samples:
            per_sample.append(p_t)

    probs = np.concatenate(sums) / samples
    h_mean = entropy(probs)
    result = Prediction(probs=probs, entropy=h_mean,
                        mutual_info=h_mean - np.concatenate(exp_entropy),
                        variation_ratio=1.0 - np.concatenate(votes).max(axis=1) / samples,
                        samples=samples)
    if return_samples:
        result.sample_probs = np.concatenate(per_sample, axis=1)
    if std_error:
        # unbiased variance over the passes, then the standard error of their mean
        var = np.maximum(np.concatenate(squares) / samples - probs**2, 0.0)
        var *= samples / max(samples - 1, 1)
        result.std_error = np.sqrt(var / samples)
    return result


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
                          batch_size: int = 200,
                          memory_budget: int = _DEFAULT_BUDGET) -> RegressionPrediction:
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
    samples = _check_samples(samples)
    x = _check_input(model, x)
    rng = rng if rng is not None else make_rng(seed)
    start = model.first_stochastic()
    outs = []
    batch_size, chunk = _plan(model, x, start, samples, batch_size, memory_budget)
    for s in _batches(x.shape[0], batch_size):
        outs.append(_sample_outputs(model, x[s], samples, start, rng, chunk))
    y_t = np.concatenate(outs, axis=1)                            # (T, N) or (T, N, D)
    result = RegressionPrediction(mean=y_t.mean(axis=0), variance=1.0 / tau + y_t.var(axis=0),
                                  samples=y_t)
    if y is not None:
        result.test_ll = mc_test_log_likelihood(y_t, to_numpy(y), tau)
    return result
