"""Concrete dropout (Gal, Hron & Kendall 2017): a dropout whose drop probability is learnt.

A Bernoulli mask has no gradient with respect to its probability. Concrete dropout replaces
the 0/1 *drop indicator* ``z ~ Bernoulli(p)`` by its continuous relaxation (the Concrete, or
relaxed Bernoulli, distribution of Maddison et al. and Jang et al., 2017)::

    z̃ = sigmoid((log p − log(1 − p) + log u − log(1 − u)) / t),    u ~ Uniform(0, 1)

with temperature ``t`` (0.1, as in the paper). As ``t → 0``, ``z̃`` tends to the indicator
of ``log p − log(1 − p) + log u − log(1 − u) > 0``, an event of probability exactly ``p``:
the hard Bernoulli draw. The inverted mask is ``(1 − z̃) / (1 − p)``, so the expected mask
is 1 (exactly in the limit) and a pass without a mask is standard dropout's weight averaging.

``p`` is the **drop** probability, as everywhere in tinybcnn. It is held as its logit
``a = log p − log(1 − p)`` (the learnt parameter): every ``a`` is a valid probability, and
``a`` enters the relaxation additively. The noise ``u`` can be injected, which fixes the
mask, so gradient checks see a deterministic function of ``x`` and ``a``.

For a convolution the mask is elementwise on the output ``y`` (N, C_out, OH, OW), exactly as
:func:`~tinybcnn.functional.dropout_forward`: one ``z̃`` per output unit and patch position,
the patch-masking reading ``x*_n · W · diag(1 − z̃_n)`` (``docs/patch-masking.md``).

The regulariser (:func:`concrete_regulariser`) is the KL term of the same variational family
with ``p`` free; ``docs/concrete-dropout.md`` derives it and shows that at fixed ``p`` it is
the weight decay of :class:`tinybcnn.objective.Objective`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import xp_of
from ..random import CounterRNG, MCBlock
from .checks import check_shape

__all__ = ["TEMPERATURE", "sigmoid", "softplus", "uniform_noise", "concrete_drop",
           "concrete_dropout_forward", "concrete_dropout_backward", "bernoulli_entropy",
           "concrete_regulariser", "logit", "check_temperature"]

TEMPERATURE = 0.1
"""The relaxation's temperature in Gal, Hron & Kendall (2017)."""

# u is drawn on the grid (2k + 1) / 2**24, k < 2**23: every value and 1 − u are exact in
# float32, strictly inside (0, 1) and symmetric about 1/2, so log u − log(1 − u) is finite
# (within ±16.6) and has mean exactly 0, on every backend, without clipping.
_U_BITS = 23


def sigmoid(z: Any) -> Any:
    """``1 / (1 + exp(−z))`` without overflow: ``exp`` only ever sees ``−|z|``."""
    xp = xp_of(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(z: Any) -> Any:
    """``log(1 + exp(z))`` without overflow: ``max(z, 0) + log1p(exp(−|z|))``."""
    xp = xp_of(z)
    return xp.maximum(z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))


def logit(p: float) -> float:
    """``log p − log(1 − p)``, the parameter that holds a drop probability ``p`` in (0, 1)."""
    p = float(p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"a learnt drop probability must lie in (0, 1), got {p}")
    return math.log(p) - math.log1p(-p)


def uniform_noise(rng: Any, shape: tuple[int, ...], dtype: Any = np.float32,
                  xp: Any = None) -> Any:
    """Uniform noise ``u`` in (0, 1) for a Concrete mask, drawn where the mask is used.

    Parameters
    ----------
    rng : numpy.random.Generator, tinybcnn.random.CounterRNG or tinybcnn.random.MCBlock
        A NumPy generator draws on the host (refused for other namespaces, as for Bernoulli
        masks); a counter generator draws on its device; an MC block (MC prediction) draws
        each element from its (seed, pass, image, layer) word.
    shape : tuple of int
    dtype : floating dtype
    xp : namespace, optional
        The namespace of the arrays the noise will meet.

    Returns
    -------
    u : array of ``shape``
        Values ``(2k + 1) / 2**24`` with ``k`` uniform on ``{0, ..., 2**23 − 1}``.
    """
    n = math.prod(shape)
    if isinstance(rng, np.random.Generator):
        if xp is not None and xp is not np:
            raise TypeError("a NumPy generator cannot draw noise for device arrays; use "
                            "tinybcnn.random.make_rng(seed, like=x)")
        k = rng.integers(0, 2**_U_BITS, size=shape, dtype=np.uint32)
        return ((2 * k + 1).astype(np.float64) / 2.0**(_U_BITS + 1)).astype(dtype)
    if isinstance(rng, CounterRNG):
        dev = rng.xp
        k = rng.uint32(n) >> (32 - _U_BITS)   # the high bits of each word
        u = (dev.astype(k, dtype) * 2.0 + 1.0) / float(2**(_U_BITS + 1))
        return dev.reshape(u, shape)
    if isinstance(rng, MCBlock):   # MC prediction: noise per (seed, pass, image, layer)
        return rng.uniform(shape, _U_BITS, dtype)
    raise TypeError(f"cannot draw Concrete noise from {type(rng).__name__}; give a NumPy "
                    "Generator or a tinybcnn.random.CounterRNG (tinybcnn.random.make_rng)")


def concrete_drop(p_logit: Any, u: Any, temperature: float = TEMPERATURE) -> tuple[Any, Any]:
    """The relaxed drop indicator ``z̃`` and its complement ``1 − z̃``, both computed directly.

    ``z̃ = sigmoid((a + log u − log(1 − u)) / t)``; ``1 − z̃ = sigmoid(−(…) / t)`` is computed
    as such, not as ``1 − z̃``, so a kept unit's mask keeps its relative precision.
    """
    xp = xp_of(u)
    s = (p_logit + xp.log(u) - xp.log1p(-u)) / temperature
    return sigmoid(s), sigmoid(-s)


def check_temperature(temperature: float) -> float:
    """``float(temperature)`` if it is finite and > 0, else ValueError."""
    temperature = float(temperature)
    if not 0.0 < temperature < math.inf:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return temperature


def concrete_dropout_forward(x: Any, p_logit: Any, rng: Any = None, noise: Any = None,
                             temperature: float = TEMPERATURE) -> tuple[Any, dict]:
    """Multiply ``x`` by an inverted Concrete dropout mask ``(1 − z̃) / (1 − p)``.

    Parameters
    ----------
    x : array, any shape, floating
        E.g. a dense activation (B, K) or a conv output (N, C_out, OH, OW).
    p_logit : 0-d array or float
        ``a = log p − log(1 − p)``, the logit of the drop probability ``p``.
    rng : generator, optional
        Draws the noise (:func:`uniform_noise`) when ``noise`` is not given.
    noise : array, shape of ``x``, optional
        Injected uniform noise ``u`` in (0, 1); fixes the mask.
    temperature : float
        ``t > 0``; 0.1 by default, as in the paper.

    Returns
    -------
    y : array, shape of ``x``
        ``x ⊙ mask``; ``x`` itself when there is neither ``rng`` nor ``noise`` (the
        deterministic pass, weight averaging).
    cache : dict
        ``x``, ``mask``, ``drop`` (``z̃``), ``p`` and ``temperature``, for the backward pass;
        ``mask`` is ``None`` for the deterministic pass.

    Notes
    -----
    ``z̃ = σ((a + log u − log(1 − u)) / t)``, ``mask = (1 − z̃) / (1 − p)``, ``p = σ(a)``.
    """
    xp = xp_of(x)
    if not xp.isdtype(x.dtype, "real floating"):
        raise ValueError(f"x must be a floating array, got dtype {x.dtype}")
    temperature = check_temperature(temperature)
    p_logit = xp.asarray(p_logit, dtype=x.dtype)
    if noise is None and rng is None:
        return x, {"mask": None, "x": x}
    if noise is None:
        noise = uniform_noise(rng, tuple(x.shape), dtype=x.dtype, xp=xp)
    check_shape(noise, tuple(x.shape), "noise", "the shape of x")
    drop, keep_soft = concrete_drop(p_logit, noise, temperature)
    mask = keep_soft / sigmoid(-p_logit)          # (1 − z̃) / (1 − p)
    return x * mask, {"x": x, "mask": mask, "drop": drop, "p": sigmoid(p_logit),
                      "temperature": temperature, "noise": noise}


def concrete_dropout_backward(dy: Any, cache: dict) -> tuple[Any, Any]:
    """Gradients of a Concrete dropout pass with respect to its input and to ``p``'s logit.

    Parameters
    ----------
    dy : array, shape of the output
    cache : dict
        From :func:`concrete_dropout_forward`.

    Returns
    -------
    dx : array, shape of ``x``
        ``dy ⊙ mask``.
    d_logit : 0-d array
        ``∂L/∂a = Σ dy ⊙ x ⊙ mask ⊙ (p − z̃/t)``; zero for the deterministic pass. The
        gradient with respect to ``p`` itself is ``d_logit / (p (1 − p))``.

    Notes
    -----
    With ``mask = (1 − z̃)(1 + e^a)``: ``∂z̃/∂a = z̃(1 − z̃)/t`` and ``∂(1 + e^a)/∂a = e^a =
    p/(1 − p)``, so ``∂mask/∂a = −z̃(1 − z̃)/(t(1 − p)) + (1 − z̃) p/(1 − p) = mask (p − z̃/t)``.
    """
    mask = cache["mask"]
    xp = xp_of(dy)
    if mask is None:
        return dy, xp.zeros((), dtype=dy.dtype, device=dy.device)
    dx = dy * mask
    d_logit = xp.sum(dx * cache["x"] * (cache["p"] - cache["drop"] / cache["temperature"]))
    return dx, d_logit


def bernoulli_entropy(p_logit: Any) -> Any:
    """``H(p) = −p log p − (1 − p) log(1 − p)`` in nats, from the logit ``a`` of ``p``.

    ``log p = −softplus(−a)`` and ``log(1 − p) = −softplus(a)``: finite for every ``a``.
    """
    p = sigmoid(p_logit)
    return p * softplus(-p_logit) + (1.0 - p) * softplus(p_logit)


def concrete_regulariser(W: Any, p_logit: Any, length_scale: float, n_train: int,
                         n_units: int, tau: float = 1.0) -> tuple[Any, Any, Any]:
    """The KL term of a layer whose dropout probability is learnt, and its gradients.

    Parameters
    ----------
    W : array
        The stored (inverted-dropout) kernel of the weight layer the mask belongs to.
    p_logit : 0-d array
        Logit ``a`` of that mask's drop probability ``p``.
    length_scale : float
        Prior length-scale ``l``.
    n_train : int
        Training-set size ``N``.
    n_units : int
        ``K``, the number of Bernoulli variables of the layer's variational family: the units
        the mask switches (``docs/concrete-dropout.md``, "How many units").
    tau : float
        Model precision (1 for classification).

    Returns
    -------
    value : 0-d array
        ``l² / (2 N tau (1 − p)) ‖W‖² − K H(p) / (N tau)``.
    dW : array, shape of ``W``
        ``l² / (N tau (1 − p)) W``.
    d_logit : 0-d array
        ``l² ‖W‖² p / (2 N tau (1 − p)) + K a p (1 − p) / (N tau)``.

    Notes
    -----
    At a fixed ``p`` the first term is :class:`tinybcnn.objective.Objective`'s decay
    ``λ = l² / (2 N tau keep)`` and the second a constant: the package's objective. Gal, Hron
    & Kendall write ``l²(1 − p)/2 ‖M‖²`` for the non-inverted mean ``M = W / (1 − p)``, the
    same number. The entropy term pushes ``p`` towards 1/2; the data term and the weight
    term (which grows as ``p`` grows) pull against it. ``dH/da = −a p (1 − p)``.
    """
    xp = xp_of(W)
    for name, value in (("length_scale", length_scale), ("n_train", n_train),
                        ("n_units", n_units), ("tau", tau)):
        if not 0 < value < math.inf:
            raise ValueError(f"{name} must be > 0, got {value}")
    p_logit = xp.asarray(p_logit, dtype=W.dtype)
    p = sigmoid(p_logit)
    keep = sigmoid(-p_logit)
    scale = length_scale**2 / (2.0 * n_train * tau)
    flat = xp.reshape(W, (-1,))
    sq = flat @ flat
    entropy_weight = n_units / (n_train * tau)
    value = scale / keep * sq - entropy_weight * bernoulli_entropy(p_logit)
    dW = (2.0 * scale / keep) * W
    d_logit = scale * sq * p / keep + entropy_weight * p_logit * p * keep
    return value, dW, d_logit
