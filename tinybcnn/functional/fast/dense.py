"""Fast twin of the dense layer: on a device, the bias as one more row of the weights.

:func:`dense_forward_fast` and :func:`dense_backward_fast` return what
:func:`~tinybcnn.functional.dense_forward` and :func:`~tinybcnn.functional.dense_backward`
return. On NumPy they *are* those functions. On a device (CuPy, array_api_strict), where a
LeNet step is launch-bound, the input gets a column of ones (one ``concat``) and the bias
becomes the last row of the weights, ``[W; b]`` of shape ``(in + 1, out)``: then
``y = [x, 1] · [W; b]`` is one GEMM where ``x W + b`` is two, and the backward's
``[x, 1]ᵀ · dY`` gives ``dW`` and ``db = Σ_n dY[n]`` together, two GEMMs where ``dW``,
``db`` and ``dx`` were three. The model's parameters on a device are views of one flat
vector (:mod:`tinybcnn.flatparams`) in which ``b`` follows ``W``, so ``[W; b]`` is a view of
it, handed in as ``joined``; without it ``[W; b]`` is made by one ``concat``. The bias is
summed inside the GEMM, so the results equal the textbook ones up to rounding (the same
bits whichever way ``[W; b]`` was made).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ...backend import is_numpy, xp_of
from ..checks import check_shape
from ..dense import check_dense_inputs, dense_backward, dense_forward

__all__ = ["dense_forward_fast", "dense_backward_fast", "join_weights", "joined_weights"]


def dense_forward_fast(x: Any, W: Any, b: Any, joined: Any = None) -> tuple[Any, dict]:
    """:func:`~tinybcnn.functional.dense_forward`, on a device with the bias in the GEMM.

    Parameters
    ----------
    x : array, shape (N, in_features)
    W : array, shape (in_features, out_features)
    b : array, shape (out_features,)
    joined : array, shape (in_features + 1, out_features), optional
        ``[W; b]`` (a view of the flat parameter vector), used on a device if given.

    Returns
    -------
    y : array, shape (N, out_features)
        ``x W + b``.
    cache : dict
    """
    xp = xp_of(x)
    if is_numpy(xp):
        return dense_forward(x, W, b)
    check_dense_inputs(x, W, b)
    n, k = x.shape[0], W.shape[1]
    if joined is None:
        joined = xp.concat([W, xp.reshape(b, (1, k))], axis=0)
    x1 = xp.concat([x, ones_column(n, x)], axis=1)                 # (N, in + 1)
    return x1 @ joined, {"x1": x1, "W": W}      # x1 alone: x is its view x1[:, :-1]


def dense_backward_fast(dy: Any, cache: dict, input_grad: bool = True) -> tuple[Any, Any, Any]:
    """:func:`~tinybcnn.functional.dense_backward` for a cache of :func:`dense_forward_fast`.

    Returns ``dx`` (N, in_features) or None, ``dW`` (in_features, out_features) and ``db``
    (out_features,); on a device ``dW`` and ``db`` are views of one ``[x, 1]ᵀ · dY``.
    """
    x1 = cache.get("x1")
    if x1 is None:
        return dense_backward(dy, cache, input_grad)
    W = cache["W"]
    check_shape(dy, (x1.shape[0], W.shape[1]), "dy", "(N, out_features)")
    d_joined = x1.T @ dy                                           # (in + 1, out)
    return (dy @ W.T if input_grad else None), d_joined[:-1, ...], d_joined[-1, ...]


_ONES: dict[tuple[Any, ...], Any] = {}
_ONES_LOCK = threading.Lock()


def ones_column(n: int, like: Any) -> Any:
    """An ``(n, 1)`` array of ones in ``like``'s namespace, device and dtype, made once by a
    fill kernel (never copied from the host) and shared: it is only ever read."""
    xp = xp_of(like)
    key = (n, str(like.dtype), xp, str(like.device))
    found = _ONES.get(key)
    if found is None:
        found = xp.ones((n, 1), dtype=like.dtype, device=like.device)
        with _ONES_LOCK:
            if len(_ONES) > 64:
                _ONES.clear()
            _ONES[key] = found
    return found


# layer -> (W, b, [W; b]) where W and b are views of one flat vector (tinybcnn.flatparams);
# keyed weakly by the layer object, so a copy of a layer (or of its model) starts without
_JOINED: weakref.WeakKeyDictionary[Any, tuple[Any, Any, Any]] = weakref.WeakKeyDictionary()


def join_weights(owner: Any, W: Any, b: Any, joined: Any) -> None:
    """Record that ``joined`` is ``[W; b]`` as a view of the same memory, for ``owner``."""
    _JOINED[owner] = (W, b, joined)


def joined_weights(owner: Any, W: Any, b: Any) -> Any:
    """The ``[W; b]`` recorded for ``owner`` while ``W`` and ``b`` are still the arrays it
    was recorded with (identity), else None."""
    found = _JOINED.get(owner)
    return found[2] if found is not None and found[0] is W and found[1] is b else None
