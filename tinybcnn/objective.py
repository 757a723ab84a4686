"""The objective derived from the deep-Gaussian-process view of dropout.

Minimising the KL divergence between the Bernoulli variational distribution and the
posterior of a deep GP gives (Gal & Ghahramani 2016, eq. 4, in this package's inverted form)::

    L = (1/|B|) Σ_{n∈B} −log p(y_n | x_n, ω̂_n) / tau  +  Σ_i λ_i ‖W_i‖²  +  Σ_i λ_b ‖b_i‖²

    λ_i = l² / (2 N tau keep_i),   λ_b = l² / (2 N tau)

with prior length-scale ``l``, dataset size ``N``, model precision ``tau`` (1 for a softmax
likelihood) and ``keep_i = 1 - p_i`` the keep probability of the dropout credited to layer
``i`` (by default the one on its outputs; ``mask_side="input"`` credits the one on its
inputs). The paper writes ``keep_i · l² / (2 N tau)`` for *non*-inverted masks; inverted masks
``z / keep`` scale the effective weights by ``1 / keep``, so the decay on the stored weights
is divided by ``keep`` instead (derived in ``docs/objective.md``).

Caffe-style training instead adds ``weight_decay · θ`` to every gradient, which is the term
``(weight_decay / 2) ‖θ‖²``; :func:`weight_decay_from_prior` and
:func:`length_scale_from_weight_decay` convert between the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import functional as F
from .backend import xp_of
from .flatparams import FlatParams, flat_params, set_grads
from .functional import fast
from .functional.checks import positive_int
from .nn import Conv2D, Dense, Dropout, Flatten, ReLU, Sequential
from .random import check_drop_probability

__all__ = [
    "Objective",
    "dropout_keep_per_layer",
    "MASK_SIDES",
    "weight_decay_from_prior",
    "length_scale_from_weight_decay",
    "LIKELIHOODS",
]

LIKELIHOODS = ("softmax", "gaussian")


def weight_decay_from_prior(length_scale: float, p: float, n_train: int,
                            tau: float = 1.0) -> float:
    """Caffe-style ``weight_decay`` equal to the prior's decay on a layer with drop prob ``p``.

    Notes
    -----
    ``weight_decay = 2 λ = l² / (N tau keep)`` with ``keep = 1 - p`` (inverted dropout).
    With ``p = 0`` it is the bias decay ``l² / (N tau)``.
    """
    _check_positive(length_scale=length_scale, n_train=n_train, tau=tau)
    p = check_drop_probability(p)
    return length_scale**2 / (n_train * tau * (1.0 - p))


def length_scale_from_weight_decay(weight_decay: float, p: float, n_train: int,
                                   tau: float = 1.0) -> float:
    """Prior length-scale implied by a Caffe-style ``weight_decay``: ``l = sqrt(wd N tau keep)``."""
    _check_positive(weight_decay=weight_decay, n_train=n_train, tau=tau)
    p = check_drop_probability(p)
    return math.sqrt(weight_decay * n_train * tau * (1.0 - p))


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not 0 < value < math.inf:
            raise ValueError(f"{name} must be > 0, got {value}")


MASK_SIDES = ("output", "input")

# Layers through which an elementwise mask passes unchanged: relu(a ⊙ z) = relu(a) ⊙ z for
# z ≥ 0, flattening only reorders the units, and a dropout is another mask.
_MASK_COMMUTES = (ReLU, Flatten, Dropout)


def dropout_keep_per_layer(model: Sequential, mask_side: str = "output") -> dict[str, float]:
    """Keep probability of the dropout that each weight layer's variational family uses.

    Two readings of Gal & Ghahramani's Bernoulli family, both valid bounds for the same
    network (``docs/objective.md``, "Which dropout belongs to which weight layer"):

    ``mask_side="output"`` (the 2015 CNN paper, ``W · diag(z_n)`` per patch)
        A layer's mask is the first dropout with ``p > 0`` after it and before the next
        weight layer: it multiplies the layer's outputs (its columns). ReLU, pooling and
        flattening in between keep it a mask on those outputs (a mask after max pooling is a
        mask before it, shared over each window). A dropout before the first weight layer is
        credited to no layer.
    ``mask_side="input"`` (ICML 2016, ``W_i = M_i diag(z_i)`` over layer ``i``'s inputs)
        A layer's mask is the first dropout with ``p > 0`` before it and after the previous
        weight layer, provided only ReLU, Flatten and Dropout stand between it and the layer:
        then it multiplies the layer's inputs (its rows). A pooling layer in between does not
        commute with the mask, so such a dropout is credited to no layer; so is a dropout
        after the last weight layer. Input dropout is the family of the first layer.

    In either reading, two dropouts on the same units multiply: the inverted masks
    ``z1 / keep1 * z2 / keep2`` are one inverted mask ``z / (keep1 * keep2)`` with
    ``z = z1 z2 ~ Bernoulli(keep1 * keep2)``, so the layer is credited the product of the keeps.
    A dropout with ``p = 0`` is no dropout, and a weight layer with no dropout credited to it
    has keep 1.

    Parameters
    ----------
    model : Sequential
    mask_side : {"output", "input"}

    Returns
    -------
    dict
        Weight-layer name -> ``keep`` in (0, 1].
    """
    if mask_side not in MASK_SIDES:
        raise ValueError(f"mask_side must be one of {MASK_SIDES}, got {mask_side!r}")
    keep: dict[str, float] = {}
    if mask_side == "output":
        owner: str | None = None
        for name, layer in model:
            if isinstance(layer, (Conv2D, Dense)):
                owner = name
                keep[name] = 1.0
            elif isinstance(layer, Dropout) and owner is not None:
                keep[owner] *= layer.keep     # a second mask on the same units multiplies
        return keep
    pending: float | None = None      # keep of the dropout waiting for the next weight layer
    for name, layer in model:
        if isinstance(layer, (Conv2D, Dense)):
            keep[name] = 1.0 if pending is None else pending
            pending = None
        elif isinstance(layer, Dropout) and layer.keep < 1.0:
            pending = layer.keep * (1.0 if pending is None else pending)   # masks multiply
        elif not isinstance(layer, _MASK_COMMUTES):
            pending = None            # e.g. max pooling: the mask no longer sits on the inputs
    return keep


@dataclass
class Objective:
    """Data term plus per-parameter L2 decay, with forward and gradient written by hand.

    Attributes
    ----------
    decay : dict
        Parameter name (``"conv1.W"``) -> λ, the coefficient of ``‖θ‖²``; its gradient is ``2 λ θ``.
    likelihood : {"softmax", "gaussian"}
    tau : float
        Model precision: the data term is divided by it for ``softmax``, and it is the noise
        precision of ``N(y; ŷ, 1/tau)`` for ``gaussian``.
    length_scale, weight_decay : float or None
        The form the objective was built from (for reports).
    n_train : int or None
        Training-set size ``N`` it was built for.
    keep : dict
        Weight-layer name -> keep probability of the dropout credited to it.
    mask_side : {"output", "input"}
        Which reading of the variational family credited the dropouts (see
        :func:`dropout_keep_per_layer`).
    """

    decay: dict[str, float]
    likelihood: str = "softmax"
    tau: float = 1.0
    length_scale: float | None = None
    weight_decay: float | None = None
    n_train: int | None = None
    keep: dict[str, float] = field(default_factory=dict)
    mask_side: str = "output"

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        _check_positive(tau=self.tau)

    @classmethod
    def for_model(cls, model: Sequential, n_train: int, length_scale: float | None = None,
                  tau: float = 1.0, weight_decay: float | dict[str, float] | None = None,
                  likelihood: str = "softmax", mask_side: str = "output") -> Objective:
        """Build the objective of ``model`` from a prior length-scale or a Caffe weight decay.

        Parameters
        ----------
        model : Sequential
        n_train : int
            Training-set size ``N``.
        length_scale : float, optional
            Prior length-scale ``l``: per-layer decay ``λ_i = l²/(2 N tau keep_i)`` on kernels and
            ``λ_b = l²/(2 N tau)`` on biases, with ``keep_i`` read off the model (see
            ``mask_side``).
        tau : float
            Model precision (1 for classification).
        weight_decay : float or dict, optional
            Caffe-style decay instead: gradient ``+= weight_decay · θ``, i.e.
            ``λ = weight_decay / 2``. A float applies to every parameter (Caffe's default); a
            dict gives each parameter its own (Caffe's ``weight_decay · decay_mult``), which is
            how a Caffe solver reproduces the prior form exactly (see :meth:`weight_decays`).
            Give exactly one of ``length_scale`` and ``weight_decay``.
        likelihood : {"softmax", "gaussian"}
        mask_side : {"output", "input"}
            Which weight layer a dropout mask belongs to: ``"output"`` (default) credits a
            dropout to the weight layer before it, whose outputs it masks (the 2015 CNN
            paper's ``W · diag(z_n)`` per patch); ``"input"`` to the weight layer after it,
            whose inputs it masks (ICML 2016's ``W_i = M_i diag(z_i)``). The ``1/keep`` of
            the kernel decay goes to the layer credited. Biases get ``λ_b`` either way. See
            :func:`dropout_keep_per_layer` and ``docs/objective.md``.
        """
        if (length_scale is None) == (weight_decay is None):
            raise ValueError("give exactly one of length_scale and weight_decay")
        positive_int(n_train, "n_train")
        _check_positive(tau=tau)
        keep = dropout_keep_per_layer(model, mask_side)
        names = list(model.params)
        if weight_decay is not None:
            per_param = (weight_decay if isinstance(weight_decay, dict)
                         else dict.fromkeys(names, weight_decay))
            unknown = set(per_param) - set(names)
            if unknown:
                raise ValueError(f"weight_decay names unknown parameters: {sorted(unknown)}")
            if not all(0 <= wd < math.inf for wd in per_param.values()):
                raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
            decay = {name: per_param.get(name, 0.0) / 2 for name in names}
        else:
            _check_positive(length_scale=length_scale)
            decay = {}
            for name in names:
                layer, _, kind = name.partition(".")
                # kernels see their layer's dropout; the prior on biases does not
                k = keep.get(layer, 1.0) if kind == "W" else 1.0
                decay[name] = length_scale**2 / (2 * n_train * tau * k)
        scalar_wd = None if isinstance(weight_decay, dict) else weight_decay
        return cls(decay=decay, likelihood=likelihood, tau=tau, length_scale=length_scale,
                   weight_decay=scalar_wd, n_train=int(n_train), keep=keep, mask_side=mask_side)

    def weight_decays(self) -> dict[str, float]:
        """Per-parameter Caffe ``weight_decay · decay_mult`` (``2 λ``) giving this objective."""
        return {name: 2 * lam for name, lam in self.decay.items()}

    def implied_length_scales(self) -> dict[str, float]:
        """The prior length-scale each weight layer's kernel decay implies (for reports).

        For an objective built from ``length_scale`` every entry equals it; for a Caffe-style
        ``weight_decay`` it is ``sqrt(weight_decay N tau keep_i)`` per layer.
        """
        if self.n_train is None:
            raise ValueError("n_train is unknown; build the objective with Objective.for_model")
        return {
            name.partition(".")[0]: math.sqrt(2 * lam * self.n_train * self.tau
                                              * self.keep.get(name.partition(".")[0], 1.0))
            for name, lam in self.decay.items() if name.endswith(".W")
        }

    # -- the two terms -------------------------------------------------------------------
    def data_term(self, output: Any, target: Any) -> tuple[float, Any]:
        """Likelihood term and its gradient with respect to the network output.

        Parameters
        ----------
        output : array, shape (B, K) logits, or (B,) / (B, D) regression predictions
        target : int labels (B,) or regression targets of the shape of ``output``

        Returns
        -------
        value : float
            ``mean_n −log p(y_n | x_n) / tau`` over the ``B`` points: softmax cross-entropy, or
            the Gaussian ``−log N(y_n; ŷ_n, I/tau)`` of a point's ``D`` outputs together,
            whose quadratic part ``(tau/2)‖y_n − ŷ_n‖²`` (summed over the ``D`` outputs)
            divided by tau is Gal's ``½ ‖y_n − ŷ_n‖²``. Dividing by tau puts the data term on
            the scale of the decay ``λ_i``, which carries ``1/tau``.
        d_output : array, shape of ``output``
        """
        if self.likelihood == "softmax":
            loss, cache = F.softmax_cross_entropy_forward(output, target)
            return float(loss) / self.tau, F.softmax_cross_entropy_backward(1.0 / self.tau, cache)
        loss, cache = F.gaussian_nll_forward(output, target, self.tau)
        return float(loss) / self.tau, F.gaussian_nll_backward(1.0 / self.tau, cache)

    def penalty(self, params: dict[str, Any]) -> float:
        """``Σ_k λ_k ‖θ_k‖²`` over the parameters."""
        total = 0.0
        for name, lam in self.decay.items():
            if lam:
                theta = params[name]
                total += lam * float(squared_norm(theta))
        return total

    def add_penalty_grad(self, params: dict[str, Any], grads: dict[str, Any]) -> None:
        """``grads[k] += 2 λ_k θ_k``, in place (so the layers' own ``grads`` arrays see it)."""
        for name, lam in self.decay.items():
            if lam:
                grads[name] += (2 * lam) * params[name]

    def loss_and_grads(self, model: Sequential, x: Any, target: Any, rng: Any = None,
                       masks: dict[str, Any] | None = None, check_labels: bool = True) -> Any:
        """As :meth:`__call__`, but ``L`` stays a 0-d array in the model's namespace.

        Nothing is read back to the host from device labels, so on a GPU the step runs
        without waiting for the device; read the value with ``float()`` when it is needed
        (e.g. when logging). ``check_labels=False`` says the caller has range-checked the
        labels: host labels are then not checked again, and device labels get no NaN guard
        (see :func:`~tinybcnn.functional.fast.softmax_cross_entropy_fast`).
        """
        total = self.data_pass(model, x, target, rng=rng, masks=masks, check_labels=check_labels)
        flat = flat_params(model)   # device path: the decay as three operations on one vector
        if flat is not None:
            return total + self._flat_decay(flat, model)
        params = model.params
        self.add_penalty_grad(params, model.grads)
        for name, lam in self.decay.items():
            if lam:
                theta = params[name]
                total = total + lam * squared_norm(theta)
        return total

    def _flat_decay(self, flat: FlatParams, model: Sequential) -> Any:
        """:meth:`add_penalty_grad` and the decay's value on the flat parameter vector.

        ``g += 2λ ⊙ θ`` gives every element exactly what the per-parameter loop gives it;
        ``Σ λ θ²`` is one dot product (its rounding may differ from the per-parameter sum's).
        The layers then hold views of the gradient vector, which the optimiser reuses.
        """
        decay = tuple(sorted(self.decay.items()))
        grad, views = flat.vector_of(model.grads)
        grad += flat.per_element({k: 2 * lam for k, lam in decay}, ("2λ", decay)) * flat.theta
        flat.grads = (grad, views)
        set_grads(model, views)
        lam = flat.per_element(dict(decay), ("λ", decay))
        return (lam * flat.theta) @ flat.theta

    def data_pass(self, model: Sequential, x: Any, target: Any, rng: Any = None,
                  masks: dict[str, Any] | None = None, check_labels: bool = True,
                  weight: float = 1.0) -> Any:
        """Forward, likelihood term and backward, without the decay.

        Returns ``weight ·`` the data term (a 0-d array) and fills ``model.grads`` with
        ``weight ·`` its gradient. A batch split into parts (:mod:`tinybcnn.training.split`)
        weights each part by its share of the rows, so the parts' terms and gradients add
        up to the whole batch's mean.
        """
        output = model.forward(x, rng=rng, masks=masks)
        scale = weight / self.tau
        if self.likelihood == "softmax":   # the fast twin: loss and gradient, scale folded in
            value, d_output = fast.softmax_cross_entropy_fast(output, target, scale,
                                                            check_range=check_labels)
        else:
            loss, cache = F.gaussian_nll_forward(output, target, self.tau)
            d_output = F.gaussian_nll_backward(scale, cache)
            value = (loss / self.tau) * weight   # exactly loss / tau for the whole batch
        model.backward(d_output, input_grad=False)
        return value

    def __call__(self, model: Sequential, x: Any, target: Any, rng: Any = None,
                 masks: dict[str, Any] | None = None) -> float:
        """Forward and backward through ``model``: returns ``L`` and fills ``model.grads``.

        ``rng`` draws fresh dropout masks; ``masks`` injects them by layer name (see
        :meth:`tinybcnn.nn.Sequential.forward`). ``model.grads`` then holds the gradient of the
        whole objective, decay included.
        """
        output = model.forward(x, rng=rng, masks=masks)
        value, d_output = self.data_term(output, target)
        model.backward(d_output, input_grad=False)
        self.add_penalty_grad(model.params, model.grads)
        return value + self.penalty(model.params)


def squared_norm(theta: Any) -> Any:
    """``‖θ‖²`` as a 0-d array: one dot product of the flattened array with itself.

    A BLAS dot reads ``θ`` once and writes nothing; ``sum(θ * θ)`` writes a temporary of
    ``θ``'s size first (about 4× slower on ip1's 400,000 weights).
    """
    flat = xp_of(theta).reshape(theta, (-1,))
    return flat @ flat
