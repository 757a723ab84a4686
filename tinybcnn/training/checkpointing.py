"""A trainer's checkpoint: written with its model and optimiser, and read back for an exact resume.

Everything that decides the next update is saved: parameters and optimiser buffers (by
:mod:`tinybcnn.checkpoint`) and the trainer's :class:`~tinybcnn.training.state.TrainerState`
(the seed, the shuffle stream's state, the epoch's permutation and the position in it, the
iteration, the running loss and the history). The dropout stream needs no state: each step's
generator is keyed by ``(seed, iteration)``. Which layer checks what on resume is said once, in
:mod:`tinybcnn.checkpoint`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..backend import namespace_name
from ..checkpoint import (
    Checkpoint,
    apply_checkpoint,
    check_compatible,
    read_checkpoint,
    save_checkpoint,
)
from .readback import check_finite
from .state import TrainerState

__all__ = ["save", "resume"]


def save(trainer: Any, path: str | os.PathLike[str], extra: dict[str, Any] | None) -> Path:
    """Write ``trainer``'s checkpoint atomically to ``path`` (see :meth:`Trainer.save`)."""
    check_finite(trainer)
    state = trainer.run_state
    arrays = {"perm": state.perm} if state.perm is not None else {}
    path = save_checkpoint(path, trainer.model, trainer.optimizer,
                           trainer=state.to_json(trainer.objective, namespace_name(trainer.xp)),
                           arrays=arrays, extra=extra)
    state.mark_saved(path)
    return path


def resume(trainer: Any, path: str | os.PathLike[str]) -> Checkpoint:
    """Restore ``trainer`` from the checkpoint at ``path`` (see :meth:`Trainer.resume`).

    The new state is built whole and checked before anything is changed: the model and
    optimiser are written, and the new state assigned, only after every check has passed.
    """
    ckpt = read_checkpoint(path)
    check_compatible(ckpt, trainer.model, trainer.optimizer)
    state = TrainerState.from_checkpoint(ckpt, trainer.objective)
    apply_checkpoint(ckpt, trainer.model, trainer.optimizer)
    trainer.run_state = state
    return ckpt
