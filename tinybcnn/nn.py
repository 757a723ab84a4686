"""Thin layer classes over :mod:`tinybcnn.functional`.

A layer keeps its parameters in ``params`` (name -> array), fills ``grads`` (same names) in
``backward``, and remembers only what its backward needs. There is no train/test flag:
``forward(x, rng=None)`` is deterministic ("standard dropout", weight averaging) and
``forward(x, rng=rng)`` draws fresh Bernoulli masks. Masks can also be injected
(``masks={"drop1": m}``) and read back (``layer.mask``), for gradient checks and
NumPy-vs-CuPy parity.

The layers run the fast twins of the textbook functions (:mod:`tinybcnn.functional.fast`):
the same numbers, in the memory layout of ``docs/architecture.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from . import functional as F
from .backend import check_namespace, to_backend, xp_of
from .functional import fast
from .random import check_drop_probability, stream

__all__ = [
    "Layer", "Conv2D", "Dense", "MaxPool2D", "AvgPool2D", "ReLU", "Flatten", "Dropout",
    "Sequential", "glorot_uniform",
]


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int,
                   fan_out: int) -> np.ndarray:
    """Glorot/Xavier uniform initialisation, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``.

    Drawn on the host in float64 from a NumPy generator, so the same seed gives the same
    initial weights on every backend.
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def _init_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else stream(seed, "init")


# What a pass leaves on a layer: the forward's cache for the backward (``_cache``, ``_shape``,
# a dropout layer's ``mask``) and the gradients. Everything else is parameters and settings.
PASS_STATE = ("grads", "_cache", "_shape", "mask")


class Layer:
    """Base class: no parameters, identity forward and backward."""

    params: dict[str, Any]
    grads: dict[str, Any]

    def __init__(self) -> None:
        self.params = {}
        self.grads = {}

    def forward(self, x: Any, rng: Any = None) -> Any:
        return x

    def backward(self, dy: Any) -> Any:
        return dy

    def replica(self, previous: Layer | None = None) -> Layer:
        """A twin with this layer's parameter arrays and settings, and its own pass state.

        Two replicas can run forward and backward on different inputs at the same time (the
        two halves of a split batch, :mod:`tinybcnn.training.split`); an in-place update of
        the parameters is seen by both. The pass state (:data:`PASS_STATE`: what a forward
        keeps for the backward, and the gradients) is the twin's own: taken over from
        ``previous``, an earlier replica, if given, else empty. Taking it over matters for
        speed: the old arrays are then freed one by one as the next pass replaces them, as in
        the layer itself, instead of all at once, which made the memory allocator give the
        pages back to the system and fault them in again (3,200 page faults a step against
        600, 6 ms of a 19 ms LeNet step).
        """
        twin = copy.copy(self)   # the same params dict and settings
        for name in PASS_STATE:
            if name not in vars(twin):
                continue
            if previous is not None and name in vars(previous):
                setattr(twin, name, getattr(previous, name))
            else:                # empty: no gradients, nothing cached
                setattr(twin, name, {} if name == "grads" else None)
        return twin

    def astype(self, dtype: Any) -> Layer:
        """Cast the parameters to ``dtype`` in place (e.g. float64 for gradient checks)."""
        for name, value in self.params.items():
            self.params[name] = value.astype(dtype)
        self.grads = {}
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Conv2D(Layer):
    """2-D convolution, ``W`` of shape (C_out, C_in, kh, kw), bias (C_out,).

    Input (N, C_in, H, W) -> output (N, C_out, OH, OW). See
    :func:`tinybcnn.functional.conv2d_forward`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, pad: int = 0, seed: int | np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        self.stride, self.pad = stride, pad
        shape = (out_channels, in_channels, kh, kw)
        w = glorot_uniform(_init_rng(seed), shape, in_channels * kh * kw, out_channels * kh * kw)
        self.params = {"W": to_backend(w, dtype), "b": to_backend(np.zeros(out_channels), dtype)}
        self._cache: dict | None = None

    def forward(self, x: Any, rng: Any = None) -> Any:
        # the last pass's x* is written over (a new one of several MB would be page-faulted
        # in): its backward is done, or will never come, once a new forward starts
        y, self._cache = fast.conv2d_forward_fast(x, self.params["W"], self.params["b"],
                                                  self.stride, self.pad, reuse=self._cache)
        return y

    def backward(self, dy: Any, input_grad: bool = True) -> Any:
        dx, self.grads["W"], self.grads["b"] = fast.conv2d_backward_fast(dy, self._cache,
                                                                           input_grad)
        return dx

    def __repr__(self) -> str:
        c_out, c_in, kh, kw = self.params["W"].shape
        return f"Conv2D({c_in}, {c_out}, kernel={kh}x{kw}, stride={self.stride}, pad={self.pad})"


class Dense(Layer):
    """Fully connected layer, ``W`` of shape (in_features, out_features), bias (out_features,)."""

    def __init__(self, in_features: int, out_features: int,
                 seed: int | np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        super().__init__()
        w = glorot_uniform(_init_rng(seed), (in_features, out_features), in_features,
                           out_features)
        self.params = {"W": to_backend(w, dtype), "b": to_backend(np.zeros(out_features), dtype)}
        self._cache: dict | None = None

    def forward(self, x: Any, rng: Any = None) -> Any:
        W, b = self.params["W"], self.params["b"]
        # [W; b] as a view, where the parameters are views of one flat vector (flatparams)
        joined = fast.joined_weights(self, W, b)
        y, self._cache = fast.dense_forward_fast(x, W, b, joined=joined)
        return y

    def backward(self, dy: Any, input_grad: bool = True) -> Any:
        dx, self.grads["W"], self.grads["b"] = fast.dense_backward_fast(dy, self._cache,
                                                                         input_grad)
        return dx

    def __repr__(self) -> str:
        return f"Dense({self.params['W'].shape[0]}, {self.params['W'].shape[1]})"


class _Pool(Layer):
    _forward = staticmethod(fast.maxpool2d_forward_fast)
    _backward = staticmethod(fast.maxpool2d_backward_fast)

    def __init__(self, size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.size, self.stride = size, stride
        self._cache: dict | None = None

    def forward(self, x: Any, rng: Any = None) -> Any:
        y, self._cache = self._forward(x, self.size, self.stride)
        return y

    def backward(self, dy: Any) -> Any:
        return self._backward(dy, self._cache)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, stride={self.stride or self.size})"


class MaxPool2D(_Pool):
    """Max pooling (ties: the first maximum in row-major window order gets the gradient)."""


class AvgPool2D(_Pool):
    """Average pooling."""

    _forward = staticmethod(F.avgpool2d_forward)
    _backward = staticmethod(F.avgpool2d_backward)


class ReLU(Layer):
    """Rectified linear unit."""

    def forward(self, x: Any, rng: Any = None) -> Any:
        y, self._cache = F.relu_forward(x)
        return y

    def backward(self, dy: Any) -> Any:
        return F.relu_backward(dy, self._cache)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C·H·W), in C order (matching Caffe's inner-product input)."""

    def forward(self, x: Any, rng: Any = None) -> Any:
        self._shape = tuple(x.shape)
        return xp_of(x).reshape(x, (x.shape[0], -1))

    def backward(self, dy: Any) -> Any:
        return xp_of(dy).reshape(dy, self._shape)


class Dropout(Layer):
    """Inverted Bernoulli dropout with drop probability ``p`` in [0, 1).

    ``forward(x)`` with no ``rng`` and no ``mask`` is the identity (standard dropout);
    with an ``rng`` it draws a fresh mask; an injected ``mask`` is used as is. The mask of
    the last pass is kept in ``self.mask`` (``None`` after a deterministic pass).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_drop_probability(p)
        self.mask: Any = None

    @property
    def keep(self) -> float:
        """Keep probability ``1 - p`` (the paper's ``p_i``)."""
        return 1.0 - self.p

    def forward(self, x: Any, rng: Any = None, mask: Any = None) -> Any:
        y, cache = fast.dropout_forward_fast(x, self.p, rng=rng, mask=mask)
        self.mask = cache["mask"]
        return y

    def backward(self, dy: Any) -> Any:
        return fast.dropout_backward_fast(dy, {"mask": self.mask})

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class Sequential(Layer):
    """A chain of named layers; ``params`` and ``grads`` are flat dicts ``"layer.param"``.

    Parameters
    ----------
    layers : iterable of (name, Layer) pairs, or of Layers (named ``"0"``, ``"1"``, ...)
    """

    def __init__(self, layers: Iterable[tuple[str, Layer] | Layer]) -> None:
        # no Layer.__init__: params and grads are views of the layers', not stores of their own
        self.layers: dict[str, Layer] = {}
        self.in_shape: tuple[int, ...] | None = None   # input shape without N, when known
        self.variant: str | None = None                # e.g. "all" for lenet("all")
        for i, item in enumerate(layers):
            name, layer = item if isinstance(item, tuple) else (str(i), item)
            if name in self.layers or "." in name:
                raise ValueError(f"layer names must be unique and contain no '.', got {name!r}")
            self.layers[name] = layer

    # Parameters are read through the layers, so an optimiser updating model.params[k] in
    # place updates the layer, and a layer replacing an array is seen here.
    @property
    def params(self) -> dict[str, Any]:  # type: ignore[override]
        """All parameters, ``"layer.name" -> array`` (the layers' own arrays, not copies)."""
        return {f"{n}.{k}": v for n, layer in self.layers.items() for k, v in layer.params.items()}

    @property
    def grads(self) -> dict[str, Any]:  # type: ignore[override]
        """Gradients of the last backward pass, with the same names as :attr:`params`."""
        return {f"{n}.{k}": v for n, layer in self.layers.items() for k, v in layer.grads.items()}

    def load_params(self, params: dict[str, Any]) -> None:
        """Replace parameters by name; shapes must match and every name must be known."""
        for key, value in params.items():
            layer_name, _, pname = key.partition(".")
            layer = self.layers.get(layer_name)
            if layer is None or pname not in layer.params:
                raise KeyError(f"unknown parameter {key!r}")
            old = layer.params[pname]
            if tuple(value.shape) != tuple(old.shape):
                raise ValueError(f"parameter {key!r} must have shape {tuple(old.shape)}, "
                                 f"got {tuple(value.shape)}")
            layer.params[pname] = value

    def replica(self, previous: Sequential | None = None) -> Sequential:  # type: ignore[override]
        """The same chain of :meth:`Layer.replica` twins: shared parameters, own pass state
        (taken over from the layers of the same names in ``previous``, if given)."""
        earlier = previous.layers if previous is not None else {}
        twin = copy.copy(self)
        twin.layers = {name: layer.replica(earlier.get(name))
                       for name, layer in self.layers.items()}
        return twin

    def __iter__(self) -> Iterator[tuple[str, Layer]]:
        return iter(self.layers.items())

    def astype(self, dtype: Any) -> Sequential:
        for layer in self.layers.values():
            layer.astype(dtype)
        return self

    def dropout_layers(self) -> dict[str, Dropout]:
        """The dropout layers by name, in order."""
        return {n: layer for n, layer in self.layers.items() if isinstance(layer, Dropout)}

    def first_stochastic(self) -> int:
        """Index of the first dropout layer with ``p > 0`` (``len(self)`` if none).

        Everything before it is deterministic, so MC prediction runs it once per batch.
        """
        for i, layer in enumerate(self.layers.values()):
            if isinstance(layer, Dropout) and layer.p > 0:
                return i
        return len(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: Any, rng: Any = None, masks: dict[str, Any] | None = None,
                start: int = 0, stop: int | None = None) -> Any:
        """Run layers ``start:stop`` (all by default) on ``x``.

        Parameters
        ----------
        x : array
            Input of layer ``start``.
        rng : generator, optional
            Fresh dropout masks when given; a deterministic pass otherwise.
        masks : dict name -> array, optional
            Masks injected into the named dropout layers (take precedence over ``rng``).
        start, stop : int
            Run only a slice of the chain (MC prediction runs the deterministic prefix once).
        """
        params = self.params
        if params:  # arrays of another namespace: one clear error, not a failure deep inside
            check_namespace(x, next(iter(params.values())), "x", "this model")
        masks = masks or {}
        unknown = set(masks) - set(self.dropout_layers())
        if unknown:
            raise KeyError(f"masks given for layers that are not dropout layers: {sorted(unknown)}")
        for name, layer in list(self.layers.items())[start:stop]:
            if isinstance(layer, Dropout):
                x = layer.forward(x, rng=rng, mask=masks.get(name))
            else:
                x = layer.forward(x, rng=rng)
        return x

    def backward(self, dy: Any, input_grad: bool = True) -> Any:
        """Backpropagate through the last forward pass; fills every layer's ``grads``.

        Returns the gradient with respect to the input, or ``None`` with ``input_grad=False``,
        which lets a first conv or dense layer skip its input gradient (training needs none).
        """
        layers = list(self.layers.values())
        for i, layer in enumerate(reversed(layers)):
            if i == len(layers) - 1 and not input_grad and isinstance(layer, (Conv2D, Dense)):
                return layer.backward(dy, input_grad=False)
            dy = layer.backward(dy)
        return dy

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({n}): {layer!r}" for n, layer in self.layers.items())
        return f"Sequential(\n{inner}\n)"
