"""FAST PATH (device only): a model's parameters as views of one flat buffer.

On a GPU every array operation is a kernel launch; the weight decay and the SGD update,
written per parameter, are 8 parameters × 7 operations = 56 launches of a LeNet step. With
the parameters stored as views of one flat vector, each is one operation on the vector:
``g += 2λ ⊙ θ``, ``v ← m v + lr g``, ``θ ← θ − v`` (a classic of fused optimisers, e.g.
PyTorch's ``foreach`` and Apex's flat-buffer optimisers). Each element is computed exactly as
the per-parameter loop computes it, so the parameters are the same bit for bit (the decay's
*value* in the loss, one dot product instead of one per parameter, may differ by rounding).

Only the device path uses it (CuPy, array_api_strict; :func:`flat_params` returns ``None`` on
NumPy, whose per-parameter loops stay as they are and as fast). Replacing a parameter array
(``load_params``, ``Trainer.resume``, ``astype``) is noticed by identity on the next use, and
the buffer is rebuilt from the arrays the model holds then; nothing is ever read from a stale
buffer.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from .backend import to_namespace, xp_of
from .functional.fast import join_weights

__all__ = ["FlatParams", "flat_params", "set_grads"]


class FlatParams:
    """The parameters of ``model`` moved into one flat vector ``theta``; the model then holds
    views of it (``model.load_params``), in the order of ``model.params``."""

    def __init__(self, model: Any) -> None:
        params = model.params
        first = next(iter(params.values()))
        self.xp = xp_of(first)
        self.dtype = first.dtype
        self.names = list(params)
        self.shapes = {k: tuple(v.shape) for k, v in params.items()}
        self.spans: dict[str, tuple[int, int]] = {}
        start = 0
        for k in self.names:
            stop = start + math.prod(self.shapes[k])
            self.spans[k] = (start, stop)
            start = stop
        self.theta = self.flatten(params)
        self.views = self.unflatten(self.theta)
        model.load_params(self.views)
        self._join_dense(model)
        self._vectors: dict[tuple[Any, ...], Any] = {}
        # the gradient vector the objective made, and its views (which the layers then hold)
        self.grads: tuple[Any, dict[str, Any]] | None = None

    def _join_dense(self, model: Any) -> None:
        """Record for each layer whose matrix ``W`` (in, out) this buffer holds followed by
        its bias ``b`` (out,) the view ``[W; b]`` (in + 1, out): a dense forward and backward
        then need no bias operation of their own
        (:func:`~tinybcnn.functional.fast.dense_forward_fast`)."""
        for name, layer in getattr(model, "layers", {}).items():
            w_key, b_key = f"{name}.W", f"{name}.b"
            if w_key not in self.spans or b_key not in self.spans:
                continue
            shape_w, (start, stop_w), (start_b, stop) = (self.shapes[w_key], self.spans[w_key],
                                                         self.spans[b_key])
            if len(shape_w) == 2 and stop_w == start_b and self.shapes[b_key] == shape_w[1:]:
                joined = self.xp.reshape(self.theta[start:stop], (shape_w[0] + 1, shape_w[1]))
                join_weights(layer, self.views[w_key], self.views[b_key], joined)

    def flatten(self, arrays: dict[str, Any]) -> Any:
        """One new vector holding ``arrays`` (by name, in this buffer's order): one copy."""
        xp = self.xp
        return xp.concat([xp.reshape(arrays[k], (-1,)) for k in self.names])

    def unflatten(self, flat: Any) -> dict[str, Any]:
        """Views of ``flat`` with the parameters' names and shapes (no copies)."""
        xp = self.xp
        return {k: xp.reshape(flat[a:b], self.shapes[k]) for k, (a, b) in self.spans.items()}

    def vector_of(self, arrays: dict[str, Any],
                  cached: tuple[Any, dict[str, Any]] | None = None) -> tuple[Any, dict[str, Any]]:
        """``(vector, views)``: per-parameter ``arrays`` as one vector and views of it.

        ``cached`` (an earlier result) is returned as it is while ``arrays`` are still its
        views (identity); otherwise the arrays are copied into a new vector (one operation).
        """
        if cached is not None and all(arrays.get(k) is cached[1].get(k) for k in self.names):
            return cached
        vector = self.flatten(arrays)
        return vector, self.unflatten(vector)

    def holds(self, model: Any) -> bool:
        """True while ``model`` still holds this buffer's views (identity, not values)."""
        params = model.params
        return list(params) == self.names and all(params[k] is self.views[k] for k in self.names)

    def per_element(self, values: dict[str, float], key: Any) -> Any:
        """A vector of ``values[name]`` repeated over each parameter's span (0 where absent),
        in the parameters' dtype; made once per ``key`` and kept on the device."""
        vector = self._vectors.get(key)
        if vector is None:
            host = np.zeros(self.theta.shape[0], dtype=np.float64)
            for k, (a, b) in self.spans.items():
                host[a:b] = values.get(k, 0.0)
            vector = to_namespace(host, self.xp, self.dtype)
            self._vectors[key] = vector
        return vector


_FLAT: weakref.WeakKeyDictionary[Any, FlatParams] = weakref.WeakKeyDictionary()


def flat_params(model: Any) -> FlatParams | None:
    """The flat buffer of ``model``'s parameters, made (or remade, after a parameter was
    replaced) on first use; ``None`` on NumPy or when the parameters' dtypes differ."""
    params = model.params
    if not params:
        return None
    first = next(iter(params.values()))
    if xp_of(first) is np or any(v.dtype != first.dtype for v in params.values()):
        return None
    flat = _FLAT.get(model)
    if flat is None or not flat.holds(model):
        flat = FlatParams(model)
        _FLAT[model] = flat
    return flat


def set_grads(model: Any, grads: dict[str, Any]) -> None:
    """Make the layers of ``model`` hold ``grads`` (by ``"layer.name"``) as their gradients."""
    for key, value in grads.items():
        layer_name, _, pname = key.partition(".")
        model.layers[layer_name].grads[pname] = value
