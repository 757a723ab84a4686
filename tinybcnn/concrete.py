"""Concrete dropout as layers, a model and an objective: the drop probability is learnt.

:class:`ConcreteDropout` holds the logit of its drop probability as a parameter
(``params["p_logit"]``, a 0-d array), so the optimisers of :mod:`tinybcnn.optim` update it
with the weights, checkpoints save it and a resumed run continues from it.
:func:`with_concrete_dropout` swaps every dropout of a model for one (:func:`concrete_lenet`
does it for the paper's LeNet), and :class:`ConcreteObjective` is the objective with the
regulariser of Gal, Hron & Kendall (2017) in place of the fixed-p weight decay
(``docs/concrete-dropout.md``).

Which weight layer a mask belongs to follows the package's default reading
(``mask_side="output"`` of :func:`tinybcnn.objective.dropout_keep_per_layer`): a mask on the
outputs of the weight layer before it, the patch-masking reading for a convolution. The
number of Bernoulli variables of that layer's family, which multiplies the entropy of ``p``,
is then its number of outputs: ``out_features`` for a dense layer, ``C_out`` for a conv.
Gal, Hron & Kendall's reference code counts the wrapped layer's input elements instead
(channels in its spatial variant); ``docs/concrete-dropout.md`` ("How many units") compares
the two and says why ``C_out`` is kept; ``n_units=`` overrides it per layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import check_namespace, to_backend, to_namespace, xp_of
from .functional.checks import positive_int
from .functional.concrete_dropout import (
    TEMPERATURE,
    check_temperature,
    concrete_dropout_backward,
    concrete_dropout_forward,
    concrete_regulariser,
    logit,
    sigmoid,
)
from .models import lenet
from .nn import Conv2D, Dense, Dropout, Layer, Sequential
from .objective import Objective, squared_norm

__all__ = ["ConcreteDropout", "ConcreteSequential", "with_concrete_dropout", "concrete_lenet",
           "ConcreteObjective", "learnt_p"]


class ConcreteDropout(Layer):
    """Inverted Concrete dropout whose drop probability ``p`` is a parameter.

    Parameters
    ----------
    p : float
        Initial drop probability in (0, 1); 0.1 by default, as in Gal, Hron & Kendall.
    temperature : float
        Of the relaxed mask (0.1).
    dtype : floating dtype
        Of the parameter (that of the model's weights).
    like : array, optional
        The parameter is made in this array's namespace (a model's weight); in the current
        backend's otherwise, as every layer's.

    Attributes
    ----------
    params : dict
        ``{"p_logit": a}``, a 0-d array, ``p = sigmoid(a)``.
    mask : array or None
        The relaxed mask of the last pass (``None`` after a deterministic pass).

    Notes
    -----
    ``forward(x)`` with no ``rng`` and no ``noise`` is the identity (the expected mask is 1:
    weight averaging, as for :class:`tinybcnn.nn.Dropout`). ``noise`` injects the uniform
    draws ``u`` that decide the mask. This is not a :class:`~tinybcnn.nn.Dropout`: its ``p``
    changes as it learns, and a checkpoint records it among the parameters, not as a setting.
    """

    def __init__(self, p: float = 0.1, temperature: float = TEMPERATURE,
                 dtype: Any = np.float32, like: Any = None) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        a = np.asarray(logit(p))
        self.params = {"p_logit": to_backend(a, dtype) if like is None
                       else to_namespace(a, xp_of(like), dtype)}
        self.mask: Any = None
        self._cache: dict | None = None

    @property
    def p(self) -> float:
        """The current drop probability ``sigmoid(p_logit)`` (read back to the host)."""
        return float(sigmoid(self.params["p_logit"]))

    @property
    def keep(self) -> float:
        """``1 - p``."""
        return 1.0 - self.p

    def forward(self, x: Any, rng: Any = None, noise: Any = None) -> Any:
        y, self._cache = concrete_dropout_forward(x, self.params["p_logit"], rng=rng,
                                                  noise=noise, temperature=self.temperature)
        self.mask = self._cache["mask"]
        return y

    def backward(self, dy: Any) -> Any:
        dx, d_logit = concrete_dropout_backward(dy, self._cache)
        # a 0-d array, not a NumPy scalar: the optimisers and the objective add to it in place
        self.grads["p_logit"] = xp_of(dy).asarray(d_logit)
        return dx

    def __repr__(self) -> str:
        return f"ConcreteDropout(p={self.p:.4g}, temperature={self.temperature})"


class ConcreteSequential(Sequential):
    """A :class:`~tinybcnn.nn.Sequential` that knows its Concrete dropout layers are random.

    MC prediction runs the layers before the first random one once
    (:meth:`first_stochastic`); here a Concrete layer counts as random. ``forward`` also takes
    ``noise={name: u}`` to inject a Concrete layer's uniform draws.
    """

    def concrete_layers(self) -> dict[str, ConcreteDropout]:
        """The Concrete dropout layers by name, in order."""
        return {n: layer for n, layer in self.layers.items() if isinstance(layer, ConcreteDropout)}

    def first_stochastic(self) -> int:
        """Index of the first dropout with ``p > 0`` or Concrete dropout (``len(self)`` if none)."""
        for i, layer in enumerate(self.layers.values()):
            if isinstance(layer, ConcreteDropout) or (isinstance(layer, Dropout) and layer.p > 0):
                return i
        return len(self.layers)

    def forward(self, x: Any, rng: Any = None, masks: dict[str, Any] | None = None,
                start: int = 0, stop: int | None = None,
                noise: dict[str, Any] | None = None) -> Any:
        """:meth:`Sequential.forward`, with ``noise`` injected into named Concrete layers."""
        if not noise:
            return super().forward(x, rng=rng, masks=masks, start=start, stop=stop)
        unknown = set(noise) - set(self.concrete_layers())
        if unknown:
            raise KeyError(f"noise given for layers that are not Concrete dropout layers: "
                           f"{sorted(unknown)}")
        params = self.params
        if params:
            check_namespace(x, next(iter(params.values())), "x", "this model")
        masks = masks or {}
        for name, layer in list(self.layers.items())[start:stop]:
            if isinstance(layer, ConcreteDropout):
                x = layer.forward(x, rng=rng, noise=noise.get(name))
            elif isinstance(layer, Dropout):
                x = layer.forward(x, rng=rng, mask=masks.get(name))
            else:
                x = layer.forward(x, rng=rng)
        return x

    def learnt_p(self) -> dict[str, float]:
        """The current drop probability of each Concrete layer, by name."""
        return {n: layer.p for n, layer in self.concrete_layers().items()}


def learnt_p(model: Sequential) -> dict[str, float]:
    """Drop probability of every Concrete dropout layer of ``model`` (empty if none)."""
    return {n: layer.p for n, layer in model if isinstance(layer, ConcreteDropout)}


def with_concrete_dropout(model: Sequential, p: float = 0.1,
                          temperature: float = TEMPERATURE) -> ConcreteSequential:
    """``model`` with every :class:`~tinybcnn.nn.Dropout` replaced by a Concrete one.

    The other layers (and so the weights) are shared with ``model``, not copied; the new
    layers keep the dropouts' names and take the dtype of the model's parameters. ``in_shape``
    is kept; ``variant`` becomes ``"concrete-<variant>"`` (checkpoints then name the model
    ``lenet-concrete-all``, not the fixed-p LeNet).

    Parameters
    ----------
    model : Sequential
    p : float
        Initial drop probability of every Concrete layer, in (0, 1).
    temperature : float
    """
    params = model.params
    like = next(iter(params.values()), None)
    dtype = like.dtype if like is not None else np.float32
    layers = [(name, ConcreteDropout(p, temperature, dtype, like=like)
               if isinstance(layer, Dropout) else layer) for name, layer in model]
    out = ConcreteSequential(layers)
    out.in_shape = getattr(model, "in_shape", None)
    variant = getattr(model, "variant", None)
    out.variant = f"concrete-{variant}" if variant else None
    return out


def concrete_lenet(variant: str = "all", p: float = 0.1,
                   in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 10,
                   seed: int | None = 0, dtype: Any = np.float32,
                   temperature: float = TEMPERATURE) -> ConcreteSequential:
    """The paper's LeNet (:func:`tinybcnn.models.lenet`) with Concrete dropout in place of
    every dropout: after both convs and after ReLU(ip1) for ``"all"``, after ReLU(ip1) only
    for ``"ip"``. The weights are those of ``lenet(variant, seed=seed)``; ``p`` is the initial
    drop probability of every Concrete layer."""
    return with_concrete_dropout(lenet(variant, p=0.5, in_shape=in_shape, n_classes=n_classes,
                                       seed=seed, dtype=dtype), p=p, temperature=temperature)


def _owners(model: Sequential) -> dict[str, str]:
    """Concrete layer name -> the weight layer whose outputs it masks (the output-side reading
    of :func:`tinybcnn.objective.dropout_keep_per_layer`)."""
    owners: dict[str, str] = {}
    owner: str | None = None
    claimed: set[str] = set()
    for name, layer in model:
        if isinstance(layer, (Conv2D, Dense)):
            owner = name
        elif isinstance(layer, Dropout) and layer.p > 0 and owner is not None:
            claimed.add(owner)
        elif isinstance(layer, ConcreteDropout):
            if owner is None:
                raise ValueError(f"Concrete dropout {name!r} comes before every weight layer: "
                                 "it masks no layer's outputs, so no prior constrains its p")
            if owner in claimed:
                raise ValueError(f"Concrete dropout {name!r} masks the outputs of {owner!r}, "
                                 "which another dropout already masks")
            owners[name] = owner
            claimed.add(owner)
    return owners


def _n_outputs(layer: Any) -> int:
    """Output units of a weight layer: ``out_features`` (dense) or ``C_out`` (conv)."""
    W = layer.params["W"]
    return int(W.shape[0] if isinstance(layer, Conv2D) else W.shape[1])


@dataclass
class ConcreteObjective:
    """The objective of a model with Concrete dropout: data term, fixed decay, learnt-p terms.

    ``L = data/tau + Σ_{fixed} λ ‖θ‖² + Σ_c [l²/(2 N tau (1 − p_c)) ‖W_c‖² − K_c H(p_c)/(N tau)]``

    where ``c`` runs over the Concrete layers, ``W_c`` is the kernel of the weight layer whose
    outputs ``c`` masks and ``K_c`` its number of outputs. Biases, and kernels no dropout
    masks, keep :class:`~tinybcnn.objective.Objective`'s decay. At a fixed ``p`` this is
    :class:`~tinybcnn.objective.Objective` (plus a constant).

    Attributes
    ----------
    base : Objective
        The data term and the decay of the parameters no Concrete layer owns (the owned
        kernels and the ``p_logit`` have ``λ = 0`` there).
    owners : dict
        Concrete layer -> weight layer.
    n_units : dict
        Concrete layer -> ``K``.

    Notes
    -----
    A training step runs as one pass: the two-thread split of
    :mod:`tinybcnn.training.split` shares Bernoulli draws between the halves, and there are
    no Concrete ones (so this class has no ``data_pass``).
    """

    base: Objective
    owners: dict[str, str]
    n_units: dict[str, int]
    mask_side: str = field(default="output", init=False)
    weight_decay: None = field(default=None, init=False)

    @classmethod
    def for_model(cls, model: Sequential, n_train: int, length_scale: float, tau: float = 1.0,
                  likelihood: str = "softmax",
                  n_units: dict[str, int] | None = None) -> ConcreteObjective:
        """Build the objective of ``model`` from the prior length-scale ``l``.

        Parameters
        ----------
        model : Sequential
            With :class:`ConcreteDropout` layers (and possibly fixed dropouts too).
        n_train : int
            Training-set size ``N``.
        length_scale : float
            ``l`` (there is no Caffe ``weight_decay`` form: the decay of a learnt layer
            changes with its ``p``).
        tau : float
        likelihood : {"softmax", "gaussian"}
        n_units : dict, optional
            ``K`` of named Concrete layers, replacing the default (the owner's number of
            outputs, ``docs/concrete-dropout.md#how-many-units``); e.g. ``C_in·kh·kw`` to
            count a conv kernel's inputs as Concrete Dropout's paper counts a layer's inputs.
        """
        base = Objective.for_model(model, n_train, length_scale=length_scale, tau=tau,
                                   likelihood=likelihood)
        owners = _owners(model)
        for concrete, owner in owners.items():
            base.decay[f"{owner}.W"] = 0.0        # the regulariser holds it, with its 1/(1 − p)
            base.decay[f"{concrete}.p_logit"] = 0.0
        units = {c: _n_outputs(model.layers[w]) for c, w in owners.items()}
        for name, k in (n_units or {}).items():
            if name not in units:
                raise ValueError(f"n_units names {name!r}, which is not a Concrete dropout "
                                 f"layer with a weight layer: {sorted(units)}")
            units[name] = positive_int(k, f"n_units[{name!r}]")
        return cls(base=base, owners=owners, n_units=units)

    # the settings a checkpoint records and a resumed run must share (objective_description)
    @property
    def likelihood(self) -> str:
        return self.base.likelihood

    @property
    def tau(self) -> float:
        return self.base.tau

    @property
    def length_scale(self) -> float | None:
        return self.base.length_scale

    @property
    def n_train(self) -> int | None:
        return self.base.n_train

    def regulariser(self, model: Sequential, add_grads: bool = True) -> Any:
        """``Σ_c`` of the learnt-p terms (a 0-d array); adds their gradients to ``model``'s
        layers (owned kernels and ``p_logit``) unless ``add_grads`` is False."""
        params = model.params
        total = 0.0
        for concrete, owner in self.owners.items():
            value, dW, d_logit = concrete_regulariser(
                params[f"{owner}.W"], params[f"{concrete}.p_logit"], self.length_scale,
                self.n_train, self.n_units[concrete], self.tau)
            total = total + value
            if add_grads:
                _add_grad(model.layers[owner], "W", dW)
                _add_grad(model.layers[concrete], "p_logit", d_logit)
        return total

    def penalty(self, model: Sequential) -> float:
        """Everything but the data term: the fixed decay plus the learnt-p terms (no grads)."""
        return self.base.penalty(model.params) + float(self.regulariser(model, add_grads=False))

    def _fixed_decay(self, model: Sequential) -> Any:
        """``Σ λ ‖θ‖²`` of the base objective, its gradient added (one pass per parameter)."""
        params, total = model.params, 0.0
        for name, lam in self.base.decay.items():
            if lam:
                layer, _, pname = name.partition(".")
                _add_grad(model.layers[layer], pname, (2 * lam) * params[name])
                total = total + lam * squared_norm(params[name])
        return total

    def loss_and_grads(self, model: Sequential, x: Any, target: Any, rng: Any = None,
                       masks: dict[str, Any] | None = None, check_labels: bool = True) -> Any:
        """``L`` as a 0-d array (nothing read back to the host) and ``model.grads`` filled."""
        data = self.base.data_pass(model, x, target, rng=rng, masks=masks,
                                   check_labels=check_labels)
        return data + self._fixed_decay(model) + self.regulariser(model)

    def __call__(self, model: Sequential, x: Any, target: Any, rng: Any = None,
                 masks: dict[str, Any] | None = None,
                 noise: dict[str, Any] | None = None) -> float:
        """Forward and backward through ``model``: returns ``L`` and fills ``model.grads``.

        ``noise`` injects Concrete layers' uniform draws by name (gradient checks).
        """
        output = model.forward(x, rng=rng, masks=masks, noise=noise) if noise else \
            model.forward(x, rng=rng, masks=masks)
        value, d_output = self.base.data_term(output, target)
        model.backward(d_output, input_grad=False)
        return value + float(self._fixed_decay(model)) + float(self.regulariser(model))


def _add_grad(layer: Layer, name: str, g: Any) -> None:
    """``layer.grads[name] += g`` as a new array (a NumPy reduction may be a scalar)."""
    old = layer.grads[name]
    layer.grads[name] = xp_of(old).asarray(old + g)
