"""Optimisers (SGD with momentum, as in the paper's Caffe solver, and Adam) and LR schedules.

An optimiser reads ``model.params`` and ``model.grads`` and updates the parameters *in place*,
so the layers keep the same arrays. Its state (iteration count, momentum buffers) round-trips
through :meth:`state_dict` / :meth:`load_state_dict`, which checkpoints use to resume bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .backend import to_namespace, to_numpy, xp_of
from .flatparams import FlatParams, flat_params

__all__ = ["inv", "fixed", "SGD", "Adam", "Schedule"]

Schedule = Callable[[float, int], float]


def inv(gamma: float = 1e-4, power: float = 0.75) -> Schedule:
    """Caffe's ``"inv"`` policy: ``lr = base_lr · (1 + gamma · iter)^(-power)``."""
    if gamma < 0 or power < 0:
        raise ValueError(f"gamma and power must be >= 0, got gamma={gamma}, power={power}")

    def schedule(base_lr: float, iteration: int) -> float:
        return base_lr * (1.0 + gamma * iteration) ** (-power)

    schedule.__doc__ = f"inv(gamma={gamma}, power={power})"
    return schedule


def fixed() -> Schedule:
    """A constant learning rate."""
    return lambda base_lr, iteration: base_lr


class _Optimizer:
    def __init__(self, model: Any, lr: float, schedule: Schedule | None) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.model = model
        self.base_lr = float(lr)
        self.schedule = schedule or fixed()
        self.iteration = 0
        self.buffers: dict[str, Any] = {}

    @property
    def lr(self) -> float:
        """Learning rate of the next step."""
        return self.schedule(self.base_lr, self.iteration)

    def state_dict(self) -> dict[str, Any]:
        """Iteration count and buffers as host arrays (for checkpoints)."""
        # copies: a snapshot must not change when the optimiser steps on
        return {"iteration": self.iteration,
                "buffers": {k: to_numpy(v).copy() for k, v in self.buffers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        params = self.model.params
        self.buffers = {}
        for k, v in state["buffers"].items():
            ref = params[k.split(":", 1)[1]]
            if tuple(v.shape) != tuple(ref.shape):
                raise ValueError(f"optimiser buffer {k!r} has shape {tuple(v.shape)}, "
                                 f"expected {tuple(ref.shape)}")
            # a host copy first: never alias the caller's array; then to the model's namespace
            self.buffers[k] = to_namespace(np.array(to_numpy(v), copy=True), xp_of(ref),
                                           ref.dtype)

    def _buffer(self, kind: str, name: str, like: Any) -> Any:
        key = f"{kind}:{name}"
        if key not in self.buffers:
            self.buffers[key] = xp_of(like).zeros_like(like)
        return self.buffers[key]


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum, in Caffe's form.

    Notes
    -----
    ``v ← momentum · v + lr_t · g``,  ``θ ← θ − v``, with ``lr_t`` from the schedule
    (defaults: base lr 0.01, momentum 0.9, as in the paper's LeNet solver).
    """

    def __init__(self, model: Any, lr: float = 0.01, momentum: float = 0.9,
                 schedule: Schedule | None = None) -> None:
        super().__init__(model, lr, schedule)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self._flat_velocity: tuple[Any, dict[str, Any]] | None = None   # device path only

    def step(self) -> None:
        """Update every parameter from ``model.grads`` in place, then advance the iteration.

        On a device the same update runs on the flat parameter vector
        (:mod:`tinybcnn.flatparams`): four operations instead of four per parameter, the same
        numbers element by element.
        """
        lr = self.lr
        flat = flat_params(self.model)
        if flat is not None:
            self._flat_step(flat, lr)
            self.iteration += 1
            return
        params, grads = self.model.params, self.model.grads
        for name, theta in params.items():
            v = self._buffer("velocity", name, theta)
            v *= self.momentum
            v += lr * grads[name]
            theta -= v
        self.iteration += 1


    def _flat_step(self, flat: FlatParams, lr: float) -> None:
        """``v ← m v + lr g``, ``θ ← θ − v`` on whole vectors. The velocity vector's views are
        this optimiser's buffers (so :meth:`state_dict` sees them); a buffer replaced by
        :meth:`load_state_dict` is copied into a new vector on the next step."""
        params = self.model.params
        grad, _ = flat.vector_of(self.model.grads, flat.grads)   # the objective's, if current
        velocity = {k: self._buffer("velocity", k, params[k]) for k in flat.names}
        v, views = flat.vector_of(velocity, self._flat_velocity)
        if views is not (self._flat_velocity or (None, None))[1]:
            self._flat_velocity = (v, views)
            self.buffers.update({f"velocity:{k}": views[k] for k in flat.names})
        v *= self.momentum
        v += lr * grad
        flat.theta -= v


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction.

    Notes
    -----
    ``m ← β1 m + (1−β1) g``, ``s ← β2 s + (1−β2) g²``,
    ``θ ← θ − lr_t · m̂ / (sqrt(ŝ) + eps)`` with ``m̂ = m / (1−β1^t)``, ``ŝ = s / (1−β2^t)``.
    """

    def __init__(self, model: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, schedule: Schedule | None = None) -> None:
        super().__init__(model, lr, schedule)
        self.beta1, self.beta2 = (float(b) for b in betas)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = float(eps)
        self._flat_moments: dict[str, tuple[Any, dict[str, Any]]] = {}   # device path only

    def step(self) -> None:
        """Update every parameter from ``model.grads`` in place, then advance the iteration.

        On a device the same update runs on the flat parameter vector
        (:mod:`tinybcnn.flatparams`), as SGD's does: about ten operations in all instead of
        about ten per parameter, the same numbers element by element.
        """
        lr = self.lr
        t = self.iteration + 1
        c1, c2 = 1.0 - self.beta1**t, 1.0 - self.beta2**t
        flat = flat_params(self.model)
        if flat is not None:
            self._flat_step(flat, lr, c1, c2)
            self.iteration = t
            return
        params, grads = self.model.params, self.model.grads
        for name, theta in params.items():
            g = grads[name]
            m = self._buffer("m", name, theta)
            s = self._buffer("s", name, theta)
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            s *= self.beta2
            s += (1.0 - self.beta2) * (g * g)
            theta -= (lr / c1) * m / (xp_of(s).sqrt(s / c2) + self.eps)
        self.iteration = t

    def _flat_step(self, flat: FlatParams, lr: float, c1: float, c2: float) -> None:
        """The update of :meth:`step` on whole vectors. The moment vectors' views are this
        optimiser's ``m:`` and ``s:`` buffers (so :meth:`state_dict` sees them); a buffer
        replaced by :meth:`load_state_dict` is copied into a new vector on the next step."""
        params = self.model.params
        g, _ = flat.vector_of(self.model.grads, flat.grads)      # the objective's, if current
        moments = []
        for kind in ("m", "s"):
            per_param = {k: self._buffer(kind, k, params[k]) for k in flat.names}
            cached = self._flat_moments.get(kind)
            vector, views = flat.vector_of(per_param, cached)
            if cached is None or views is not cached[1]:
                self._flat_moments[kind] = (vector, views)
                self.buffers.update({f"{kind}:{k}": views[k] for k in flat.names})
            moments.append(vector)
        m, s = moments
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        s *= self.beta2
        s += (1.0 - self.beta2) * (g * g)
        flat.theta -= (lr / c1) * m / (flat.xp.sqrt(s / c2) + self.eps)
