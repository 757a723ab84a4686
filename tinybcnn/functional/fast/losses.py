"""Fast twin of the softmax cross-entropy: loss and gradient in one pass, scale folded in.

:func:`softmax_cross_entropy_fast` returns what
``softmax_cross_entropy_forward`` followed by ``softmax_cross_entropy_backward(scale, ...)``
return, the loss multiplied by ``scale`` too (the objective's ``weight / tau``). The gradient
is bit for bit the textbook one; the loss may differ in its last bit (the scale is applied
once, not as ``/ N``, ``/ tau``, ``· weight``). On a GPU a LeNet step is launch-bound (every
array operation is a kernel launch), and the textbook pair makes 23 operations at batch 64:
a zero array for the select, five operations to turn a label outside ``[0, K)`` into a NaN
loss, the scale in three steps. This makes 16 with that guard (device labels nobody has
checked), 12 without it: labels known to lie in ``[0, K)`` (host labels, checked here, or a
training run's, checked once before its first step) take their one-hot rows from the
identity matrix in one gather, instead of a comparison and a cast.
"""

from __future__ import annotations

import math
from typing import Any

from ...backend import xp_of
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
        one_hot = xp.astype(hit, logits.dtype)
    else:   # labels known to lie in [0, K): rows of the identity, one gather
        one_hot = xp.take(_identity(xp, logits.device, k, logits.dtype), labels, axis=0)
    # Σ_n log p_n[y_n] as one dot product of the flattened one-hot and log-probabilities
    loss = (xp.reshape(one_hot, (-1,)) @ xp.reshape(log_p, (-1,))) * (-scale / n)
    if guard:   # a device label outside [0, K) hits no class: NaN, never a host read
        loss = xp.where(xp.all(xp.any(hit, axis=-1)), loss, _nan(xp, logits.device, loss.dtype))
    return loss, (xp.exp(log_p) - one_hot) * (scale / n)


def _classes(xp: Any, device: Any, k: int) -> Any:
    """``arange(K)`` as a (1, K) row, made once per namespace, device and K."""
    key = (xp, str(device), "classes", k)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = xp.reshape(xp.arange(k, device=device), (1, k))
    return _CONSTANTS[key]


def _identity(xp: Any, device: Any, k: int, dtype: Any) -> Any:
    """The (K, K) identity of ``dtype`` (its rows are the one-hot rows), made once per
    namespace, device, K and dtype."""
    key = (xp, str(device), "identity", k, str(dtype))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = xp.eye(k, dtype=dtype, device=device)
    return _CONSTANTS[key]


def _nan(xp: Any, device: Any, dtype: Any) -> Any:
    """A 0-d NaN of ``dtype``, made once per namespace, device and dtype."""
    key = (xp, str(device), "nan", str(dtype))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = xp.full((), math.nan, dtype=dtype, device=device)
    return _CONSTANTS[key]
