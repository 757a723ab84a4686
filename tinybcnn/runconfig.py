"""A training run's settings (:class:`RunConfig`) and the names of a run folder's files.

The one place for a run's defaults: :mod:`tinybcnn.runs` trains from a :class:`RunConfig`, and
the command line's ``train`` options take their defaults from :meth:`RunConfig.defaults`, so a
default is stated once. Light to import (no SciPy, matplotlib or training code), so
``tinybcnn --help`` stays instant.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .backend import BACKENDS, get_backend
from .files.runlock import LOCK_NAME
from .models import LENET_VARIANTS
from .random import check_drop_probability

__all__ = ["RunConfig", "MODEL_NAMES", "DEFAULT_EPOCHS", "CONFIG", "CHECKPOINT", "HISTORY",
           "METRICS", "RUN_FILES", "MAX_MEMBERS", "member_checkpoint", "member_history"]

#: The models ``--model`` takes: LeNet with dropout after every layer, after the
#: inner-product layers only (the paper's standard baseline), or none.
MODEL_NAMES = tuple(f"lenet-{v}" for v in LENET_VARIANTS)
CONFIG, CHECKPOINT, HISTORY, METRICS = ("config.json", "checkpoint.npz", "history.csv",
                                        "metrics.json")
#: Every name a run directory may hold that this package wrote.
RUN_FILES = (CONFIG, CHECKPOINT, HISTORY, METRICS, LOCK_NAME)
#: Passes over the training set when a run gives neither iterations nor epochs.
DEFAULT_EPOCHS = 10
#: The most members a deep-ensemble run may have (Lakshminarayanan et al. use 5).
MAX_MEMBERS = 100


def member_checkpoint(k: int) -> str:
    """The checkpoint of member ``k`` of an ensemble run (``members > 1``): ``member-<k>.npz``,
    in place of the single run's ``checkpoint.npz``."""
    return f"member-{k}.npz"


def member_history(k: int) -> str:
    """The evaluation rows of member ``k`` of an ensemble run: ``history-<k>.csv``."""
    return f"history-{k}.csv"


@dataclass
class RunConfig:
    """Everything that defines a training run (the paper's LeNet solver by default)."""

    model: str = "lenet-all"
    dataset: str = "embedded"
    data_dir: str | None = None
    train_size: int | None = None       # None: the whole training split
    test_size: int | None = None        # None: the whole test split
    iterations: int | None = None       # give iterations or epochs; both None: DEFAULT_EPOCHS
    epochs: float | None = None
    batch_size: int = 64
    p: float = 0.5
    lr: float = 0.01
    momentum: float = 0.9
    gamma: float = 1e-4
    power: float = 0.75
    weight_decay: float | None = 5e-4   # Caffe-style; or set length_scale instead
    length_scale: float | None = None
    eval_every: int | None = None
    eval_samples: int = 20
    seed: int = 0
    # K > 1: a deep ensemble of K networks of this config, member k seeded by
    # tinybcnn.ensembles.member_seeds(seed, K)[k] (weights, data order, masks), all on the
    # training subset that `seed` draws; checkpoints member-<k>.npz instead of checkpoint.npz
    members: int = 1
    backend: str = field(default_factory=get_backend)  # the current backend by default
    # BLAS threads the run started with, and the threads its training steps used (None in a
    # run of an earlier release: they followed the BLAS count), recorded by train_run: the
    # counts change float32 rounding, so a resumed run uses them again. Not part of what the
    # run *is*: equality (the demo's "same settings?") ignores them.
    blas_threads: int | None = field(default=None, compare=False)
    step_threads: int | None = field(default=None, compare=False)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every field's default (the command line's defaults), without building a config:
        ``backend``'s, the current backend, is left out (reading it validates the
        environment, which ``--help`` must not)."""
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    def validate(self) -> RunConfig:
        """Raise ValueError naming the first bad field; return self."""
        from .functional.checks import positive_int  # here: --help never validates

        for f in fields(self):  # JSON can hold anything: check the kinds first
            value, kinds = getattr(self, f.name), _KINDS[f.name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"{f.name} must be {_kind_names(kinds)}, got {value!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if not (self.gamma >= 0 and self.power >= 0):
            raise ValueError(f"gamma and power must be >= 0, got {self.gamma}, {self.power}")
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model must be one of {MODEL_NAMES}, got {self.model!r}")
        check_drop_probability(self.p, "p")
        for name in ("train_size", "test_size", "iterations", "eval_every", "batch_size",
                     "blas_threads", "step_threads"):
            if getattr(self, name) is not None:
                positive_int(getattr(self, name), name)
        positive_int(self.seed, "seed", minimum=0)
        positive_int(self.members, "members")
        if self.members > MAX_MEMBERS:
            raise ValueError(f"members must be at most {MAX_MEMBERS}, got {self.members}")
        positive_int(self.eval_samples, "eval_samples", minimum=0)
        if self.epochs is not None and not 0 < self.epochs < math.inf:
            raise ValueError(f"epochs must be a positive number, got {self.epochs!r}")
        if self.iterations is not None and self.epochs is not None:
            raise ValueError("give iterations or epochs, not both")
        for name in ("lr",):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if (self.weight_decay is None) == (self.length_scale is None):
            raise ValueError("give exactly one of weight_decay and length_scale")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.length_scale is not None and not self.length_scale > 0:
            raise ValueError(f"length_scale must be > 0, got {self.length_scale!r}")
        return self

    def save(self, path: Path) -> None:
        """Write the config as JSON to ``path`` (atomically)."""
        from .files.jsonfile import write_json  # here, not at the top: --help stays light

        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """Read a config.json, refusing unknown keys (a config from another tool)."""
        from .files.jsonfile import read_json  # here, not at the top: --help stays light

        try:
            raw = read_json(path, max_bytes=1 << 20)  # regular files only, bounded
        except ValueError as exc:
            raise ValueError(f"cannot read run config: {exc}") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) - known:
            raise ValueError(f"{path} is not a tinybcnn run config")
        try:
            return cls(**raw).validate()
        except (TypeError, ValueError) as exc:  # e.g. "batch_size": null
            raise ValueError(f"{path}: invalid run config: {exc}") from None


_NUM = (int, float)
_KINDS: dict[str, tuple[type, ...]] = {
    "model": (str,), "dataset": (str,), "data_dir": (str, type(None)),
    "train_size": (int, type(None)), "test_size": (int, type(None)),
    "iterations": (int, type(None)), "epochs": (*_NUM, type(None)), "batch_size": (int,),
    "p": _NUM, "lr": _NUM, "momentum": _NUM, "gamma": _NUM, "power": _NUM,
    "weight_decay": (*_NUM, type(None)), "length_scale": (*_NUM, type(None)),
    "eval_every": (int, type(None)), "eval_samples": (int,), "seed": (int,), "members": (int,),
    "backend": (str,),
    "blas_threads": (int, type(None)),
    "step_threads": (int, type(None)),
}


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", type(None): "null"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))
