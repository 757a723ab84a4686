"""Checks of the arguments and data given to a trainer, each failing with one clear line.

Data are checked once, when :meth:`~tinybcnn.train.Trainer.fit` starts, and moved to the
model's namespace and dtype then, so bad data is reported as bad data (not as a divergence
hundreds of iterations later) and no step has to check anything on the device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import check_namespace, to_namespace, to_numpy, xp_of
from ..functional.checks import positive_int

__all__ = ["target_iteration", "param_dtype", "check_inputs", "check_targets",
           "check_validation", "on_model"]


def target_iteration(iterations: Any, epochs: Any, n: int, batch_size: int) -> int:
    """The iteration count to train to: ``iterations``, or ``ceil(epochs · n / batch_size)``."""
    if (iterations is None) == (epochs is None):
        raise ValueError("give exactly one of iterations and epochs")
    if iterations is not None:
        return positive_int(iterations, "iterations")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float, np.number)) \
            or not 0 < epochs < math.inf:
        raise ValueError(f"epochs must be a positive number, got {epochs!r}")
    return max(1, math.ceil(epochs * n / batch_size))


def param_dtype(model: Any) -> Any:
    """The dtype of the model's parameters (a dtype of the model's namespace)."""
    return next(iter(model.params.values())).dtype


def _n_outputs(model: Any) -> int | None:
    """Width of the model's last weight layer (the number of classes of a classifier)."""
    ws = [v for k, v in model.params.items() if k.endswith(".W")]
    if not ws:
        return None
    w = ws[-1]
    return int(w.shape[-1] if w.ndim == 2 else w.shape[0])


def _is_classifier(objective: Any) -> bool:
    return getattr(objective, "likelihood", "softmax") == "softmax"


def check_inputs(model: Any, x: Any, name: str) -> Any:
    """``x`` on the model's namespace in its dtype, after checking its shape and kind.

    Parameters
    ----------
    x : array, float, shape (N, *model.in_shape)
    """
    if x is None or not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise ValueError(f"{name} must be an array, got {type(x).__name__}")
    if not xp_of(x).isdtype(x.dtype, "real floating"):
        raise ValueError(f"{name} must be floating point (scaled images, see "
                         f"tinybcnn.data.as_float), got {x.dtype}")
    in_shape = getattr(model, "in_shape", None)
    if in_shape is not None and tuple(x.shape[1:]) != tuple(in_shape):
        raise ValueError(f"{name} must have shape (N, {', '.join(map(str, in_shape))}) for "
                         f"this model, got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    like = next(iter(model.params.values()))
    x = to_namespace(x, xp_of(like), like.dtype)
    # checked once here, so bad data is reported as bad data rather than as divergence
    xp = xp_of(x)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_targets(model: Any, objective: Any, y: Any, n: int, name: str) -> Any:
    """Labels (int64, in range) or regression targets, on the model's namespace, ``n`` of them.

    Parameters
    ----------
    y : array, shape (N,)
        Class labels in ``[0, K)`` for a classifier (softmax likelihood), else targets.
    """
    if y is None or not hasattr(y, "shape"):
        raise ValueError(f"{name} must be an array, got {type(y).__name__}")
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} entries but there are {n} inputs")
    xp = xp_of(next(iter(model.params.values())))
    if not _is_classifier(objective):
        return to_namespace(y, xp, param_dtype(model))
    host = to_numpy(y)
    if host.ndim != 1 or host.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer class labels of shape ({n},), "
                         f"got {host.dtype} {host.shape}")
    k = _n_outputs(model)
    if k is not None and host.size and (host.min() < 0 or host.max() >= k):
        raise ValueError(f"{name} must lie in [0, {k}) for this {k}-class model, got "
                         f"labels from {host.min()} to {host.max()}")
    return to_namespace(host, xp, np.int64)


def check_validation(model: Any, objective: Any, x_val: Any,
                     y_val: Any) -> tuple[Any, np.ndarray] | None:
    """``(x_val on the model's namespace, y_val on the host)``, or None without validation."""
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    if x_val is None:
        return None
    if not _is_classifier(objective):
        raise ValueError("evaluation during fit is for classifiers; leave x_val out")
    x = check_inputs(model, x_val, "x_val")
    return x, to_numpy(check_targets(model, objective, y_val, int(x.shape[0]), "y_val"))


def on_model(model: Any, objective: Any, a: Any, name: str, like: Any,
             labels: bool = False) -> Any:
    """``a`` (a step's inputs or, with ``labels``, its targets) in the namespace of ``like``
    (a parameter of ``model``): NumPy arrays are moved there, other namespaces refused.

    Labels moved to a device are range-checked on the way (on the host, before the copy).
    """
    xp = xp_of(like)
    if xp is not np and isinstance(a, np.ndarray):
        if labels and getattr(objective, "likelihood", "softmax") == "softmax":
            a = check_targets(model, objective, a, int(a.shape[0]), name)
        return to_namespace(a, xp)
    check_namespace(a, like, name, "the model")
    return a
