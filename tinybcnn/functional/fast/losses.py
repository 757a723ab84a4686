"""Fast twin of the softmax cross-entropy: loss and gradient in one pass, scale folded in.

:func:`softmax_cross_entropy_fast` returns what
``softmax_cross_entropy_forward`` followed by ``softmax_cross_entropy_backward(scale, ...)``
return, the loss multiplied by ``scale`` too (the objective's ``weight / tau``). On NumPy the
gradient is bit for bit the textbook one; the loss may differ in its last bit (the scale is
applied once, not as ``/ N``, ``/ tau``, ``· weight``). On a GPU a LeNet step is launch-bound
(every array operation is a kernel launch), and the textbook pair makes 23 operations at
batch 64: a zero array for the select, five operations to turn a label outside ``[0, K)`` into
a NaN loss, the scale in three steps. Here labels known to lie in ``[0, K)`` (host labels,
checked here, or a training run's, checked once before its first step) take their one-hot
rows from the identity matrix in one gather, instead of a comparison and a cast. On a device
those rows come from ``-(scale/N)`` times the identity, so that the loss is one dot product
and the gradient ``(scale/N)·softmax + rows``: 11 operations (15 with the NaN guard of device
labels nobody has checked). That rounds ``scale/N`` into each term instead of once, which is
exact when ``scale/N`` is a power of two (``1/64`` at batch 64): then loss and gradient are
those of NumPy's order bit for bit; otherwise they may differ from them in the last bit.
"""

from __future__ import annotations

import math
from typing import Any

from ...backend import is_numpy, xp_of
from ..losses import check_labels

__all__ = ["softmax_cross_entropy_fast"]

# 0-d NaN, the class indices (1, K) and the identity (K, K), by (namespace, device, dtype
# and K): made once by fill/arange/eye kernels (never copied from the host), only ever read
_CONSTANTS: dict[tuple[Any, ...], Any] = {}


def softmax_cross_entropy_fast(logits: Any, labels: Any, scale: float = 1.0,
                               check_range: bool = True) -> tuple[Any, Any]:
    """``scale ·`` the mean softmax cross-entropy of ``labels``, and its gradient.

    Parameters
    ----------
    logits : array, shape (N, K)
    labels : int array, shape (N,), values in [0, K)
        As for :func:`~tinybcnn.functional.softmax_cross_entropy_forward`: host labels out of
        range raise ValueError, device labels make the loss NaN.
    scale : float
        Multiplies the loss and its gradient.
    check_range : bool
        Check the labels: host labels against [0, K) (ValueError), device labels by the NaN
        guard (four operations). ``False`` when the caller has checked them already, as a
        training run does once before its first step: then neither is done.

    Returns
    -------
    loss : 0-d array
        ``-(scale/N) Σ_n log softmax(logits_n)[labels_n]``.
    d_logits : array, shape (N, K)
        ``(scale/N) (softmax(logits) - onehot(labels))``.
    """
    xp = xp_of(logits)
    labels, on_host = check_labels(logits, labels, check_range)
    n, k = logits.shape
    shifted = logits - xp.max(logits, axis=-1, keepdims=True)
    log_p = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
    guard = check_range and not on_host
    if guard:
        hit = xp.reshape(labels, (-1, 1)) == _classes(xp, logits.device, k)      # (N, K)
    if is_numpy(xp):
        if guard:
            one_hot = xp.astype(hit, logits.dtype)
        else:   # labels known to lie in [0, K): rows of the identity, one gather
            one_hot = xp.take(_identity(xp, logits.device, k, logits.dtype), labels, axis=0)
        # Σ_n log p_n[y_n] as one dot product of the flattened one-hot and log-probabilities
        loss = (xp.reshape(one_hot, (-1,)) @ xp.reshape(log_p, (-1,))) * (-scale / n)
        grad = (xp.exp(log_p) - one_hot) * (scale / n)
    else:
        # a device: the one-hot rows carry -scale/N (from a cached scaled identity, or a
        # select), so the loss is their dot product with log p and the gradient one product
        # and one sum; with scale/N a power of two (batch 64) every value is the one above
        loss, grad = _scaled_rows_loss(xp, log_p, labels, hit if guard else None, scale / n)
    if guard:   # a device label outside [0, K) hits no class: NaN, never a host read
        loss = xp.where(xp.all(xp.any(hit, axis=-1)), loss, _nan(xp, logits.device, loss.dtype))
    return loss, grad


def _scaled_rows_loss(xp: Any, log_p: Any, labels: Any, hit: Any, c: float) -> tuple[Any, Any]:
    """``(-c Σ_n log_p[n, y_n], c·exp(log_p) - c·onehot(y))`` with the one-hot rows made
    already scaled by ``-c``: from the rows of ``-c·I`` (one gather) or, with ``hit`` (the
    boolean one-hot of unchecked labels), by one select. Four operations where multiplying
    the loss and the gradient by ``c`` after the fact makes five."""
    n, k = log_p.shape
    if hit is None:
        rows = xp.take(_identity(xp, log_p.device, k, log_p.dtype, -c), labels, axis=0)
    else:
        rows = xp.where(hit, _full(xp, log_p.device, log_p.dtype, -c), 0.0)
    loss = xp.reshape(rows, (-1,)) @ xp.reshape(log_p, (-1,))
    return loss, xp.exp(log_p) * c + rows


def _classes(xp: Any, device: Any, k: int) -> Any:
    """``arange(K)`` as a (1, K) row, made once per namespace, device and K."""
    key = (xp, str(device), "classes", k)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = xp.reshape(xp.arange(k, device=device), (1, k))
    return _CONSTANTS[key]


def _identity(xp: Any, device: Any, k: int, dtype: Any, scale: float = 1.0) -> Any:
    """``scale`` times the (K, K) identity of ``dtype`` (its rows are the one-hot rows,
    scaled), made once per namespace, device, K, dtype and scale."""
    key = (xp, str(device), "identity", k, str(dtype), scale)
    if key not in _CONSTANTS:
        _forget_if_many()
        eye = xp.eye(k, dtype=dtype, device=device)
        _CONSTANTS[key] = eye if scale == 1.0 else eye * scale
    return _CONSTANTS[key]


def _full(xp: Any, device: Any, dtype: Any, value: float) -> Any:
    """A 0-d ``value`` of ``dtype``, made once per namespace, device, dtype and value."""
    key = (xp, str(device), "full", str(dtype), value)
    if key not in _CONSTANTS:
        _forget_if_many()
        _CONSTANTS[key] = xp.full((), value, dtype=dtype, device=device)
    return _CONSTANTS[key]


def _forget_if_many() -> None:
    """Keep the cache small: scaled constants differ by batch size and part weight."""
    if len(_CONSTANTS) > 64:
        _CONSTANTS.clear()


def _nan(xp: Any, device: Any, dtype: Any) -> Any:
    """A 0-d NaN of ``dtype``, made once per namespace, device and dtype."""
    key = (xp, str(device), "nan", str(dtype))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = xp.full((), math.nan, dtype=dtype, device=device)
    return _CONSTANTS[key]
