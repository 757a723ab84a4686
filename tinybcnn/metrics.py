"""Evaluation metrics: classification, calibration, ranking and regression.

Every function here runs on the host in NumPy. Inputs may live on any backend (NumPy,
CuPy, ``array_api_strict``, plain lists): each is first copied to the host with
:func:`tinybcnn.backend.to_numpy`. Probabilities and regression values are accumulated in
float64 (float16/float32 inputs widen exactly); scores used only for ranking keep their own
dtype, so no two distinct scores are merged by a cast.

Conventions shared by all functions:

- ``probs`` has shape ``(N, K)``: one row per sample, one column per class, each row a
  probability vector (non-negative, summing to 1 within ``1e-3``). For MC dropout pass the
  mean over samples ``p̄``. ``labels`` has shape ``(N,)`` and holds integer class indices
  in ``[0, K)``.
- The predicted class is the arg-max of a row; on a tie the lowest class index wins
  (:func:`numpy.argmax`).
- Every result is an average over the ``N`` samples and is returned as a Python ``float``
  (error rates are fractions in ``[0, 1]``, never percentages).
- A bad argument raises :class:`ValueError` with a message that names the argument and the
  shape or range it should have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm, rankdata

from .backend import to_numpy
from .functional.checks import positive_int

__all__ = [
    "ECEResult",
    "RiskCoverage",
    "error",
    "nll",
    "nll_from_log_probs",
    "brier",
    "ece",
    "auroc",
    "fpr_at_tpr",
    "risk_coverage",
    "gaussian_log_likelihood",
    "mc_test_log_likelihood",
    "coverage",
]

ArrayLike = Any  # a NumPy or CuPy array, an array-API array, or nested sequences

#: Default floor for probabilities inside ``log`` in :func:`nll`: the smallest positive
#: normal float64, ``2.2250738585072014e-308`` (so ``-log(floor) ≈ 708.40``).
TINY: float = float(np.finfo(np.float64).tiny)

_ROW_SUM_ATOL = 1e-3  # loose enough for float32 softmax outputs, tight enough to catch logits


# --------------------------------------------------------------------------- validation


def _host(a: ArrayLike, name: str) -> np.ndarray:
    """``a`` as a host NumPy array with a real numeric (or bool) dtype."""
    try:
        out = np.asarray(to_numpy(a))
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be an array, could not convert it: {exc}") from exc
    if out.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {out.dtype}")
    return out


def _float64(a: np.ndarray, name: str, *, allow_neg_inf: bool = False) -> np.ndarray:
    """Widen to float64 and reject NaN and infinities (``-inf`` only if allowed)."""
    out = a.astype(np.float64, copy=False)
    bad = np.isnan(out) | (out == np.inf)
    if not allow_neg_inf:
        bad |= out == -np.inf
    if np.any(bad):
        what = "NaN or +inf" if allow_neg_inf else "NaN or infinite values"
        raise ValueError(f"{name} contains {what}")
    return out


def _check_probs(probs: ArrayLike, name: str = "probs") -> np.ndarray:
    """Validate a ``(N, K)`` probability matrix and return it as float64."""
    p = _host(probs, name)
    if p.ndim != 2:
        raise ValueError(f"{name} must have shape (N, K), got shape {p.shape}")
    n, k = p.shape
    if n == 0 or k == 0:
        raise ValueError(f"{name} must have shape (N, K) with N >= 1 and K >= 1, got {p.shape}")
    p = _float64(p, name)
    if np.any(p < 0):
        raise ValueError(f"{name} must be non-negative probabilities, got min {p.min():.6g}")
    sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > _ROW_SUM_ATOL:
        raise ValueError(
            f"each row of {name} must sum to 1 (probabilities, not logits or log-probs); "
            f"row {worst} sums to {sums[worst]:.6g}"
        )
    return p


def _check_labels(labels: ArrayLike, n: int, k: int, name: str = "labels") -> np.ndarray:
    """Validate ``(N,)`` integer class indices in ``[0, K)`` and return them as int64."""
    y = _host(labels, name)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape (N,) = ({n},), got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{name} must be integer class indices, got non-integer values")
    elif y.dtype.kind == "u" and y.size and y.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} must lie in [0, {k - 1}], got values up to {y.max()}")
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(
            f"{name} must lie in [0, {k - 1}] (K = {k} classes), "
            f"got values in [{y.min()}, {y.max()}]"
        )
    return y.astype(np.int64)


def _check_binary(a: ArrayLike, n: int, name: str) -> np.ndarray:
    """Validate a ``(N,)`` indicator (bool, or numbers in {0, 1}) and return it as bool."""
    b = _host(a, name)
    if b.shape != (n,):
        raise ValueError(f"{name} must have shape (N,) = ({n},), got shape {b.shape}")
    if b.dtype.kind != "b":
        if np.any((b != 0) & (b != 1)):
            raise ValueError(f"{name} must be boolean (or 0/1), got other values")
        b = b != 0
    return b


def _check_1d(a: ArrayLike, name: str) -> np.ndarray:
    """Validate a non-empty ``(N,)`` array of finite numbers (dtype kept)."""
    s = _host(a, name)
    if s.ndim != 1 or s.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N,) with N >= 1, got shape {s.shape}")
    if s.dtype.kind == "f" and not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return s


def _check_probs_labels(probs: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = _check_probs(probs)
    return p, _check_labels(labels, *p.shape)


def _check_regression(y: ArrayLike, shape: tuple[int, ...] | None, name: str = "y") -> np.ndarray:
    """Validate regression targets/predictions of shape ``(N,)`` or ``(N, D)``."""
    a = _float64(_host(y, name), name)
    if shape is None:
        if a.ndim not in (1, 2) or a.shape[0] == 0 or a.size == 0:
            raise ValueError(
                f"{name} must have shape (N,) or (N, D) with N, D >= 1, got shape {a.shape}"
            )
    elif a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got shape {a.shape}")
    return a


def _check_spread(a: ArrayLike, shape: tuple[int, ...], name: str, *, strict: bool) -> np.ndarray:
    """A variance or standard deviation: a scalar or an array of ``shape``, > 0 (or >= 0)."""
    s = _float64(_host(a, name), name)
    if s.shape not in ((), shape):
        raise ValueError(f"{name} must be a scalar or have shape {shape}, got shape {s.shape}")
    too_small = (s <= 0) if strict else (s < 0)
    if np.any(too_small):
        raise ValueError(f"{name} must be {'positive' if strict else 'non-negative'}")
    return s


def _check_unit_interval(x: float, name: str, *, closed_right: bool) -> float:
    x = float(x)
    ok = 0.0 < x <= 1.0 if closed_right else 0.0 < x < 1.0
    if not ok:
        interval = "(0, 1]" if closed_right else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {x}")
    return x


# --------------------------------------------------------------------------- classification


def error(probs: ArrayLike, labels: ArrayLike) -> float:
    """Misclassification rate: the fraction of samples whose arg-max class is wrong.

    Parameters
    ----------
    probs : array, shape (N, K)
        Predicted class probabilities, one row per sample.
    labels : array of int, shape (N,)
        True classes in ``[0, K)``.

    Returns
    -------
    float
        Error rate in ``[0, 1]``.

    Notes
    -----
    .. math:: \\mathrm{err} = \\frac{1}{N}\\sum_n [\\arg\\max_k p_{nk} \\ne y_n]

    On a tie the lowest class index is the prediction.
    """
    p, y = _check_probs_labels(probs, labels)
    return float(np.mean(np.argmax(p, axis=1) != y))


def nll(probs: ArrayLike, labels: ArrayLike, eps: float = TINY) -> float:
    """Mean negative log-likelihood of the true classes under ``probs``.

    Parameters
    ----------
    probs : array, shape (N, K)
        Predicted class probabilities (for MC dropout, the mean ``p̄`` over samples).
    labels : array of int, shape (N,)
        True classes in ``[0, K)``.
    eps : float, optional
        Floor applied to ``p_{n, y_n}`` before the log, so a probability of exactly 0 gives a
        large finite loss, ``-log(eps)``, instead of ``inf``. Default :data:`TINY`, the
        smallest normal float64 (``≈ 2.2e-308``, ``-log ≈ 708.4``). Must lie in ``(0, 1)``.

    Returns
    -------
    float
        Mean NLL in nats, ``>= 0``.

    Notes
    -----
    .. math:: \\mathrm{NLL} = -\\frac{1}{N}\\sum_n \\log \\max(\\bar p_{n, y_n}, \\epsilon)

    The log is taken of the mean probability (the predictive distribution), not averaged over
    MC samples. If log-probabilities are at hand, :func:`nll_from_log_probs` avoids the floor.
    """
    p, y = _check_probs_labels(probs, labels)
    eps = float(eps)
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")
    p_true = p[np.arange(p.shape[0]), y]
    return float(-np.mean(np.log(np.maximum(p_true, eps))))


def nll_from_log_probs(log_probs: ArrayLike, labels: ArrayLike) -> float:
    """Mean negative log-likelihood from log-probabilities (no floor needed).

    Parameters
    ----------
    log_probs : array, shape (N, K)
        Log class probabilities, e.g. a log-softmax, or ``logsumexp_t log p_t - log T`` for
        an MC-dropout mean. Values must be ``<= 0``; ``-inf`` is allowed (and gives ``inf``
        if it is the true class).
    labels : array of int, shape (N,)
        True classes in ``[0, K)``.

    Returns
    -------
    float
        Mean NLL in nats.

    Notes
    -----
    .. math:: \\mathrm{NLL} = -\\frac{1}{N}\\sum_n \\log p_{n, y_n}

    the same quantity as :func:`nll`, exact where ``p`` underflows.
    """
    lp = _host(log_probs, "log_probs")
    if lp.ndim != 2 or 0 in lp.shape:
        raise ValueError(f"log_probs must have shape (N, K) with N, K >= 1, got shape {lp.shape}")
    lp = _float64(lp, "log_probs", allow_neg_inf=True)
    if np.any(lp > 1e-6):
        raise ValueError(f"log_probs must be <= 0 (log-probabilities), got max {lp.max():.6g}")
    y = _check_labels(labels, *lp.shape)
    return float(-np.mean(lp[np.arange(lp.shape[0]), y]))


def brier(probs: ArrayLike, labels: ArrayLike) -> float:
    """Brier score: squared distance between ``probs`` and the one-hot labels.

    Parameters
    ----------
    probs : array, shape (N, K)
        Predicted class probabilities.
    labels : array of int, shape (N,)
        True classes in ``[0, K)``.

    Returns
    -------
    float
        Brier score in ``[0, 2]`` (0 is perfect).

    Notes
    -----
    Summed over classes, averaged over samples (the original multi-class form of Brier, 1950;
    some libraries divide again by ``K``):

    .. math:: \\mathrm{BS} = \\frac{1}{N}\\sum_n \\sum_k (p_{nk} - [y_n = k])^2
    """
    p, y = _check_probs_labels(probs, labels)
    d = p.copy()
    d[np.arange(d.shape[0]), y] -= 1.0
    return float(np.mean(np.sum(d * d, axis=1)))


@dataclass(frozen=True, eq=False)
class ECEResult:
    """Expected calibration error and the reliability-diagram data behind it.

    Attributes
    ----------
    ece : float
        Expected calibration error in ``[0, 1]``.
    bin_edges : ndarray, shape (B + 1,)
        ``linspace(0, 1, B + 1)``; bin ``b`` is ``(bin_edges[b], bin_edges[b + 1]]``.
    bin_confidence : ndarray, shape (B,)
        Mean confidence of the samples in each bin (NaN for an empty bin).
    bin_accuracy : ndarray, shape (B,)
        Fraction of correct predictions in each bin (NaN for an empty bin).
    bin_counts : ndarray of int64, shape (B,)
        Number of samples in each bin; sums to ``N``.
    """

    ece: float
    bin_edges: np.ndarray
    bin_confidence: np.ndarray
    bin_accuracy: np.ndarray
    bin_counts: np.ndarray


def ece(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> ECEResult:
    """Expected calibration error over equal-width confidence bins (with reliability data).

    Parameters
    ----------
    probs : array, shape (N, K)
        Predicted class probabilities.
    labels : array of int, shape (N,)
        True classes in ``[0, K)``.
    n_bins : int, optional
        Number ``B`` of equal-width bins on ``[0, 1]`` (default 15).

    Returns
    -------
    ECEResult
        ``.ece`` and the per-bin edges, mean confidence, accuracy and counts.

    Notes
    -----
    The confidence of sample ``n`` is ``c_n = max_k p_nk`` and it is correct when the arg-max
    class equals ``y_n``. Bins are half-open on the left, ``B_b = (b/B, (b+1)/B]``, except that
    ``c = 0`` goes to the first bin; a confidence exactly on an edge therefore belongs to the
    lower bin (``c = 0.5`` with ``B = 2`` is in bin 0), and ``c = 1`` is in the last bin.

    .. math:: \\mathrm{ECE} = \\sum_b \\frac{|B_b|}{N}\\,
              \\bigl|\\mathrm{acc}(B_b) - \\mathrm{conf}(B_b)\\bigr|

    with ``acc`` and ``conf`` the mean correctness and mean confidence inside the bin (empty
    bins contribute 0).
    """
    p, y = _check_probs_labels(probs, labels)
    n_bins = positive_int(n_bins, "n_bins")
    n = p.shape[0]
    conf = p.max(axis=1)
    correct = (np.argmax(p, axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted(side="left") gives i with edges[i-1] < c <= edges[i], i.e. bin i - 1;
    # c = 0 (i = 0) and rows summing to slightly over 1 (i = B + 1) are clipped into range.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_correct = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, sum_conf / counts, np.nan)
        accuracy = np.where(counts > 0, sum_correct / counts, np.nan)
    # (|B_b| / N) |acc_b - conf_b| = |sum correct - sum conf| / N: no division per bin.
    value = float(np.sum(np.abs(sum_correct - sum_conf)) / n)
    return ECEResult(value, edges, mean_conf, accuracy, counts.astype(np.int64))


# --------------------------------------------------------------------------- ranking


def auroc(scores: ArrayLike, is_positive: ArrayLike) -> float:
    """Area under the ROC curve: how well ``scores`` rank positives above negatives.

    Parameters
    ----------
    scores : array, shape (N,)
        One real score per sample; a higher score means "more likely positive" (for
        out-of-distribution detection: an uncertainty such as the predictive entropy, with
        the out-of-distribution samples as positives).
    is_positive : array of bool, shape (N,)
        True for positives. At least one positive and one negative are needed.

    Returns
    -------
    float
        AUROC in ``[0, 1]``; 0.5 is chance, 1 is perfect separation.

    Notes
    -----
    The probability that a random positive scores higher than a random negative, ties
    counting one half (the Mann–Whitney U statistic over ``n_+ n_-``):

    .. math:: \\mathrm{AUROC} = \\frac{1}{n_+ n_-} \\sum_{i \\in +} \\sum_{j \\in -}
              \\bigl([s_i > s_j] + \\tfrac12 [s_i = s_j]\\bigr)
              = \\frac{R_+ - n_+(n_+ + 1)/2}{n_+ n_-}

    where ``R_+`` is the sum of the positives' ranks in the pooled sample, tied scores
    sharing their average rank. Cost ``O(N log N)``.
    """
    s = _check_1d(scores, "scores")
    pos = _check_binary(is_positive, s.shape[0], "is_positive")
    n_pos = int(pos.sum())
    n_neg = pos.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"is_positive must mark at least one positive and one negative, "
            f"got {n_pos} positive and {n_neg} negative"
        )
    ranks = rankdata(s, method="average")  # float64; ranks of the original dtype, no cast
    u = float(ranks[pos].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def fpr_at_tpr(scores: ArrayLike, is_positive: ArrayLike, tpr: float = 0.95) -> float:
    """False-positive rate at the first threshold whose true-positive rate reaches ``tpr``.

    Parameters
    ----------
    scores : array, shape (N,)
        One real score per sample; a sample is called positive when ``score >= t``.
    is_positive : array of bool, shape (N,)
        True for positives. At least one positive and one negative are needed.
    tpr : float, optional
        Target true-positive rate in ``(0, 1]`` (default 0.95, as in "FPR at 95% TPR").

    Returns
    -------
    float
        False-positive rate in ``[0, 1]``; lower is better.

    Notes
    -----
    The threshold ``t`` runs down the distinct score values, from the highest; at each,

    .. math:: \\mathrm{TPR}(t) = \\frac{\\#\\{i \\in + : s_i \\ge t\\}}{n_+}, \\qquad
              \\mathrm{FPR}(t) = \\frac{\\#\\{j \\in - : s_j \\ge t\\}}{n_-}

    and the result is ``FPR(t*)`` for the largest ``t*`` with ``TPR(t*) >= tpr``. Tied
    scores cross the threshold together, so the result does not depend on the sample order.
    No interpolation between ROC points.
    """
    s = _check_1d(scores, "scores")
    pos = _check_binary(is_positive, s.shape[0], "is_positive")
    tpr = _check_unit_interval(tpr, "tpr", closed_right=True)
    n_pos = int(pos.sum())
    n_neg = pos.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"is_positive must mark at least one positive and one negative, "
            f"got {n_pos} positive and {n_neg} negative"
        )
    uniq, inv = np.unique(s, return_inverse=True)  # ascending distinct thresholds
    inv = inv.reshape(-1)
    pos_at = np.bincount(inv[pos], minlength=uniq.size)[::-1]  # descending thresholds
    neg_at = np.bincount(inv[~pos], minlength=uniq.size)[::-1]
    tpr_curve = np.cumsum(pos_at) / n_pos  # one correctly rounded division: k/n == tpr works
    first = int(np.argmax(tpr_curve >= tpr))  # exists: the lowest threshold has TPR = 1
    return float(np.cumsum(neg_at)[first] / n_neg)


@dataclass(frozen=True, eq=False)
class RiskCoverage:
    """A risk–coverage curve for selective prediction.

    Attributes
    ----------
    coverage : ndarray, shape (N,)
        ``k / N`` for ``k = 1 .. N``.
    risk : ndarray, shape (N,)
        Error rate among the ``k`` most confident samples.
    aurc : float
        Area under the risk–coverage curve, ``mean(risk)`` (lower is better).
    """

    coverage: np.ndarray
    risk: np.ndarray
    aurc: float


def risk_coverage(confidence: ArrayLike, correct: ArrayLike) -> RiskCoverage:
    """Risk–coverage curve and its area (AURC): keep the most confident, measure the error.

    Parameters
    ----------
    confidence : array, shape (N,)
        Higher means more confident (e.g. ``max_k p̄_nk``, or minus the predictive entropy).
    correct : array of bool, shape (N,)
        Whether each prediction is correct.

    Returns
    -------
    RiskCoverage
        ``coverage`` (``k/N``), ``risk`` and ``aurc``.

    Notes
    -----
    Sort the samples by confidence, highest first. At coverage ``k/N`` the risk is the error
    rate of the first ``k``:

    .. math:: r_k = \\frac{1}{k}\\sum_{i=1}^{k} [\\text{sample } (i) \\text{ is wrong}],
              \\qquad \\mathrm{AURC} = \\frac{1}{N}\\sum_{k=1}^{N} r_k

    Ties: samples of equal confidence cannot be ordered, so where ``k`` falls inside a tied
    group the wrong predictions of that group are counted pro rata (``j`` of its ``m``
    members taken contribute ``j e / m`` errors if ``e`` of them are wrong). This is the
    expected risk over a random order within ties; it does not depend on the input order,
    and ``r_N`` is exactly the overall error rate.
    """
    c = _check_1d(confidence, "confidence")
    n = c.shape[0]
    wrong = ~_check_binary(correct, n, "correct")
    uniq, inv = np.unique(c, return_inverse=True)  # groups of equal confidence, ascending
    inv = inv.reshape(-1)
    m = np.bincount(inv, minlength=uniq.size)[::-1].astype(np.float64)  # group sizes, desc.
    e = np.bincount(inv[wrong], minlength=uniq.size)[::-1].astype(np.float64)  # group errors
    start = np.cumsum(m) - m  # samples before each group
    err_before = np.cumsum(e) - e
    g = np.repeat(np.arange(m.size), m.astype(np.int64))  # group of the k-th kept sample
    k = np.arange(1, n + 1, dtype=np.float64)
    # cumulative errors = err_before + (k - start) e / m; integers until the one division.
    risk = (err_before[g] * m[g] + (k - start[g]) * e[g]) / (m[g] * k)
    return RiskCoverage(coverage=k / n, risk=risk, aurc=float(np.mean(risk)))


# --------------------------------------------------------------------------- regression


def gaussian_log_likelihood(mean: ArrayLike, var: ArrayLike, y: ArrayLike) -> float:
    """Mean log-density of the targets under independent Gaussians ``N(mean, var)``.

    Parameters
    ----------
    mean : array, shape (N,) or (N, D)
        Predictive means.
    var : float or array of the shape of ``mean``
        Predictive variances, positive (for MC dropout ``1/tau + Var_t ŷ_t``).
    y : array of the shape of ``mean``
        Targets.

    Returns
    -------
    float
        Mean over the ``N`` points of the log-density (nats; higher is better).

    Notes
    -----
    .. math:: \\mathrm{LL} = \\frac{1}{N}\\sum_n \\sum_{d} \\Bigl(-\\tfrac12\\log(2\\pi
              \\sigma^2_{nd}) - \\frac{(y_{nd} - \\mu_{nd})^2}{2\\sigma^2_{nd}}\\Bigr)

    For ``D > 1`` the ``D`` outputs of a point are one joint (diagonal) Gaussian: summed over
    ``d``, averaged over ``n``.
    """
    mu = _check_regression(mean, None, "mean")
    yy = _check_regression(y, mu.shape, "y")
    v = _check_spread(var, mu.shape, "var", strict=True)
    ll = -0.5 * (np.log(2.0 * np.pi) + np.log(v) + (yy - mu) ** 2 / v)
    ll = np.broadcast_to(ll, mu.shape)
    per_point = ll.sum(axis=1) if ll.ndim == 2 else ll
    return float(np.mean(per_point))


def mc_test_log_likelihood(samples: ArrayLike, y: ArrayLike, tau: float) -> float:
    """Gal's MC-dropout test log-likelihood: log of the mean likelihood over ``T`` passes.

    Parameters
    ----------
    samples : array, shape (T, N) or (T, N, D)
        Stochastic forward passes ``ŷ_t`` (``T >= 1``).
    y : array, shape (N,) or (N, D)
        Targets; its shape is ``samples.shape[1:]``.
    tau : float
        Model precision ``τ > 0``: the likelihood is ``N(y; ŷ_t, τ⁻¹ I)``.

    Returns
    -------
    float
        Mean over the ``N`` points of the predictive log-likelihood (nats; higher is better).

    Notes
    -----
    The predictive density is the mixture ``(1/T) Σ_t N(y_n; ŷ_nt, τ⁻¹ I)``, so, with the
    log-sum-exp taken stably over ``t``,

    .. math:: \\mathrm{LL} = \\frac{1}{N}\\sum_n \\Bigl(\\operatorname{logsumexp}_t
              \\bigl(-\\tfrac{\\tau}{2}\\lVert y_n - \\hat y_{nt}\\rVert^2\\bigr) - \\log T
              - \\tfrac{D}{2}\\log 2\\pi + \\tfrac{D}{2}\\log\\tau\\Bigr)

    For ``D = 1`` this is the formula of Gal & Ghahramani (2016). For ``D > 1`` the
    outputs of a point form one joint Gaussian (squared norm inside the log-sum-exp), which
    differs from averaging a per-output log-sum-exp over the ``D`` outputs. With ``T = 1``
    it equals :func:`gaussian_log_likelihood` with ``var = 1/τ``.
    """
    s = _float64(_host(samples, "samples"), "samples")
    if s.ndim not in (2, 3) or 0 in s.shape:
        raise ValueError(
            f"samples must have shape (T, N) or (T, N, D) with T, N, D >= 1, got shape {s.shape}"
        )
    yy = _check_regression(y, s.shape[1:], "y")
    tau_f = float(tau)
    if not (math.isfinite(tau_f) and tau_f > 0):
        raise ValueError(f"tau must be a positive finite number, got {tau!r}")
    sq = (yy[None] - s) ** 2
    if sq.ndim == 3:
        sq = sq.sum(axis=2)  # (T, N): squared norm over the D outputs
    d = 1 if s.ndim == 2 else s.shape[2]
    t = s.shape[0]
    ll = (
        logsumexp(-0.5 * tau_f * sq, axis=0)
        - math.log(t)
        + 0.5 * d * (math.log(tau_f) - math.log(2.0 * math.pi))
    )
    return float(np.mean(ll))


def coverage(mean: ArrayLike, std: ArrayLike, y: ArrayLike, level: float = 0.95) -> float:
    """Fraction of targets inside the central Gaussian predictive interval at ``level``.

    Parameters
    ----------
    mean : array, shape (N,) or (N, D)
        Predictive means.
    std : float or array of the shape of ``mean``
        Predictive standard deviations, ``>= 0``.
    y : array of the shape of ``mean``
        Targets.
    level : float, optional
        Nominal coverage in ``(0, 1)`` (default 0.95).

    Returns
    -------
    float
        Empirical coverage in ``[0, 1]`` over all ``N·D`` values; a calibrated model gives
        about ``level``.

    Notes
    -----
    With ``z = Φ⁻¹((1 + level)/2)`` (1.95996… for 0.95), the interval is closed:

    .. math:: \\mathrm{cov} = \\frac{1}{ND}\\sum_{n,d} [\\,|y_{nd} - \\mu_{nd}| \\le
              z\\,\\sigma_{nd}\\,]
    """
    mu = _check_regression(mean, None, "mean")
    yy = _check_regression(y, mu.shape, "y")
    sd = _check_spread(std, mu.shape, "std", strict=False)
    level = _check_unit_interval(level, "level", closed_right=False)
    z = float(norm.ppf(0.5 + 0.5 * level))
    inside = np.abs(yy - mu) <= z * sd
    return float(np.mean(np.broadcast_to(inside, mu.shape)))
