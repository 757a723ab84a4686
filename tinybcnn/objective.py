"""The objective derived from the deep-Gaussian-process view of dropout.

Minimising the KL divergence between the Bernoulli variational distribution and the
posterior of a deep GP gives (Gal & Ghahramani 2016, eq. 4, in this package's inverted form)::

    L = (1/|B|) Σ_{n∈B} −log p(y_n | x_n, ω̂_n) / tau  +  Σ_i λ_i ‖W_i‖²  +  Σ_i λ_b ‖b_i‖²

    λ_i = l² / (2 N tau keep_i),   λ_b = l² / (2 N tau)

with prior length-scale ``l``, dataset size ``N``, model precision ``tau`` (1 for a softmax
likelihood) and ``keep_i = 1 - p_i`` the keep probability of the dropout on layer ``i``'s
outputs. The paper writes ``keep_i · l² / (2 N tau)`` for *non*-inverted masks; inverted masks
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
from .nn import Conv2D, Dense, Dropout, Sequential
from .random import check_drop_probability

__all__ = [
    "Objective",
    "dropout_keep_per_layer",
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


def dropout_keep_per_layer(model: Sequential) -> dict[str, float]:
    """Keep probability of the dropout acting on each weight layer's outputs.

    The dropout that belongs to a weight layer is the first one with ``p > 0`` after it and
    before the next weight layer (ReLU, pooling and flattening in between do not change which
    units it drops); a weight layer with none has keep 1. Not covered by the derivation, and
    so not modelled: a dropout before the first weight layer (on the input) is credited to no
    layer, and a second dropout on the same outputs is ignored.

    Returns
    -------
    dict
        Weight-layer name -> ``keep`` in (0, 1].
    """
    keep: dict[str, float] = {}
    owner: str | None = None
    for name, layer in model:
        if isinstance(layer, (Conv2D, Dense)):
            owner = name
            keep[name] = 1.0
        elif isinstance(layer, Dropout) and owner is not None and keep[owner] == 1.0:
            keep[owner] = layer.keep
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
    """

    decay: dict[str, float]
    likelihood: str = "softmax"
    tau: float = 1.0
    length_scale: float | None = None
    weight_decay: float | None = None
    n_train: int | None = None
    keep: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        _check_positive(tau=self.tau)

    @classmethod
    def for_model(cls, model: Sequential, n_train: int, length_scale: float | None = None,
                  tau: float = 1.0, weight_decay: float | dict[str, float] | None = None,
                  likelihood: str = "softmax") -> Objective:
        """Build the objective of ``model`` from a prior length-scale or a Caffe weight decay.

        Parameters
        ----------
        model : Sequential
        n_train : int
            Training-set size ``N``.
        length_scale : float, optional
            Prior length-scale ``l``: per-layer decay ``λ_i = l²/(2 N tau keep_i)`` on kernels and
            ``λ_b = l²/(2 N tau)`` on biases, with ``keep_i`` read off the model.
        tau : float
            Model precision (1 for classification).
        weight_decay : float or dict, optional
            Caffe-style decay instead: gradient ``+= weight_decay · θ``, i.e.
            ``λ = weight_decay / 2``. A float applies to every parameter (Caffe's default); a
            dict gives each parameter its own (Caffe's ``weight_decay · decay_mult``), which is
            how a Caffe solver reproduces the prior form exactly (see :meth:`weight_decays`).
            Give exactly one of ``length_scale`` and ``weight_decay``.
        likelihood : {"softmax", "gaussian"}
        """
        if (length_scale is None) == (weight_decay is None):
            raise ValueError("give exactly one of length_scale and weight_decay")
        if isinstance(n_train, bool) or int(n_train) != n_train or n_train < 1:
            raise ValueError(f"n_train must be a positive integer, got {n_train!r}")
        _check_positive(tau=tau)
        keep = dropout_keep_per_layer(model)
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
                   weight_decay=scalar_wd, n_train=int(n_train), keep=keep)

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
            ``mean_n −log p(y_n | x_n) / tau``: softmax cross-entropy, or the Gaussian
            ``−log N(y_n; ŷ_n, 1/tau)``, whose quadratic part ``(tau/2)(y − ŷ)²`` divided by tau
            is Gal's ``½ (y − ŷ)²``. Dividing by tau puts the data term on the scale of the
            decay ``λ_i``, which carries ``1/tau``.
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
                total += lam * float(xp_of(theta).sum(theta * theta))
        return total

    def add_penalty_grad(self, params: dict[str, Any], grads: dict[str, Any]) -> None:
        """``grads[k] += 2 λ_k θ_k``, in place (so the layers' own ``grads`` arrays see it)."""
        for name, lam in self.decay.items():
            if lam:
                grads[name] += (2 * lam) * params[name]

    def loss_and_grads(self, model: Sequential, x: Any, target: Any, rng: Any = None,
                       masks: dict[str, Any] | None = None, check_labels: bool = True) -> Any:
        """As :meth:`__call__`, but ``L`` stays a 0-d array in the model's namespace.

        Nothing is read back to the host (with ``check_labels=False``), so on a GPU the step
        runs without waiting for the device; read the value with ``float()`` when it is needed
        (e.g. when logging).
        """
        output = model.forward(x, rng=rng, masks=masks)
        if self.likelihood == "softmax":
            loss, cache = F.softmax_cross_entropy_forward(output, target, check_range=check_labels)
            d_output = F.softmax_cross_entropy_backward(1.0 / self.tau, cache)
        else:
            loss, cache = F.gaussian_nll_forward(output, target, self.tau)
            d_output = F.gaussian_nll_backward(1.0 / self.tau, cache)
        model.backward(d_output, input_grad=False)
        params = model.params
        self.add_penalty_grad(params, model.grads)
        total = loss / self.tau
        for name, lam in self.decay.items():
            if lam:
                theta = params[name]
                total = total + lam * xp_of(theta).sum(theta * theta)
        return total

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
