"""Training a deep ensemble: ``K`` members from ``K`` seeds, each resumable on its own.

Member ``k`` gets the seed :func:`tinybcnn.ensembles.member_seeds` ``(seed, K)[k]``, which
decides its initial weights and its :class:`~tinybcnn.train.Trainer` streams (data order and
dropout masks): Lakshminarayanan et al.'s recipe of random initialisation and shuffling, with
no bagging (every member sees the whole training set). Each member is checkpointed to its own
file, ``member-<k>.npz``, so an interrupted ensemble resumes member by member: finished
members are loaded, the interrupted one continues bit for bit, the others start.

Files are written with :meth:`Trainer.save` (atomic); choosing and locking the folder is the
caller's (the run-folder rule of the command line).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .ensembles import member_seeds
from .models import lenet
from .objective import Objective
from .optim import SGD, inv
from .train import Trainer

__all__ = ["train_ensemble", "lenet_trainer", "member_path"]


def lenet_trainer(seed: int, n_train: int, variant: str = "all", p: float = 0.5,
                  in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 10,
                  weight_decay: float = 5e-4, lr: float = 0.01, momentum: float = 0.9) -> Trainer:
    """A trainer for one member: the paper's LeNet and Caffe solver (SGD, ``inv`` schedule),
    initial weights and trainer streams both from ``seed``."""
    model = lenet(variant, p=p, in_shape=in_shape, n_classes=n_classes, seed=seed)
    objective = Objective.for_model(model, n_train=n_train, weight_decay=weight_decay)
    return Trainer(model, objective, SGD(model, lr=lr, momentum=momentum, schedule=inv()),
                   seed=seed)


def member_path(directory: str | os.PathLike[str], k: int) -> Path:
    """The checkpoint of member ``k`` in ``directory``: ``member-<k>.npz``."""
    return Path(directory) / f"member-{k}.npz"


def train_ensemble(x: Any, y: Any, members: int = 5, seed: int = 0,
                   make_trainer: Callable[[int], Trainer] | None = None,
                   checkpoint_dir: str | os.PathLike[str] | None = None,
                   **fit: Any) -> list[Trainer]:
    """Train ``members`` networks from different seeds; return their trainers.

    Parameters
    ----------
    x, y : arrays
        The training set, shared by every member.
    members : int
        ``K`` (5 in Lakshminarayanan et al.).
    seed : int
        The ensemble's seed; member ``k`` gets ``member_seeds(seed, members)[k]``.
    make_trainer : callable, optional
        ``make_trainer(member_seed) -> Trainer``, building the member's model (initialised
        from the seed), objective and optimiser. Default: :func:`lenet_trainer` with
        ``n_train = len(x)``.
    checkpoint_dir : path, optional
        Where ``member-<k>.npz`` is written (at the end of each member's training, and every
        ``checkpoint_every`` iterations if given in ``fit``) and, if present, resumed from.
    **fit
        Passed to :meth:`Trainer.fit` (``iterations`` or ``epochs``, ``batch_size``, ...).

    Returns
    -------
    list of Trainer
        One per member, in order; ``trainer.model`` is the member.
    """
    if make_trainer is None:
        n_train = int(x.shape[0])

        def make_trainer(member_seed: int) -> Trainer:
            return lenet_trainer(member_seed, n_train=n_train)

    progress = fit.pop("progress", False)
    trainers = []
    for k, member_seed in enumerate(member_seeds(seed, members)):
        trainer = make_trainer(member_seed)
        path = None
        if checkpoint_dir is not None:
            path = member_path(checkpoint_dir, k)
            if path.exists():
                trainer.resume(path)
        trainer.fit(x, y, checkpoint_path=path, progress=progress and f"member {k}", **fit)
        trainers.append(trainer)
    return trainers
