"""A trainer's state, written with its model and optimiser, and read back for an exact resume.

Everything that decides the next update is saved: parameters and optimiser buffers (by
:mod:`tinybcnn.checkpoint`), the seed, the shuffle stream's state, the epoch's permutation and
the position in it, the iteration, the running loss and the history. The dropout stream needs
no state: each step's generator is keyed by ``(seed, iteration)``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import namespace_name
from ..checkpoint import (
    Checkpoint,
    CheckpointError,
    apply_checkpoint,
    check_compatible,
    read_checkpoint,
    save_checkpoint,
)
from ..files.jsonfile import jsonable
from .history import History
from .readback import check_finite

__all__ = ["child_seeds", "objective_description", "trainer_state", "save", "resume"]

# Bit generators whose state may be restored from a checkpoint (names are looked up in
# np.random, so only these are ever instantiated from a file).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")

# The objective's settings a resumed run must share with the run that wrote the checkpoint.
# ``mask_side`` was added later: a checkpoint that does not record it is not checked on it.
_OBJECTIVE_KEYS = ("likelihood", "tau", "length_scale", "weight_decay", "n_train", "mask_side")
_KEYS_OLD_CHECKPOINTS_LACK = ("mask_side",)


def child_seeds(seed: int | list[int], n: int) -> list[int]:
    """``n`` independent 64-bit seeds derived from ``seed`` (NumPy's SeedSequence spawning)."""
    return [int(s.generate_state(1, np.uint64)[0])
            for s in np.random.SeedSequence(seed).spawn(n)]


def _rng_state(rng: Any) -> dict[str, Any] | None:
    """The JSON-able state of a NumPy generator; ``None`` for CuPy's, which cannot be read."""
    if isinstance(rng, np.random.Generator):
        return jsonable(rng.bit_generator.state)
    return None


def _numpy_rng(state: dict[str, Any]) -> np.random.Generator:
    """A NumPy generator in exactly the saved ``state``."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise CheckpointError(f"cannot restore a random generator of type {name!r}")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _finite_or_none(row: dict[str, Any]) -> dict[str, Any]:
    """A history row with NaN/inf replaced by None (checkpoint headers are strict JSON)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in row.items()}


def objective_description(objective: Any) -> dict[str, Any]:
    """The objective's settings that a resumed run must share (``None`` where it has none)."""
    return {k: getattr(objective, k, None) for k in _OBJECTIVE_KEYS}


def trainer_state(trainer: Any) -> dict[str, Any]:
    """The trainer's state as JSON-able values (without parameters and optimiser buffers)."""
    return {
        "seed": trainer.seed,
        "iteration": trainer.iteration,
        "epochs_started": trainer._epochs_started,
        "position": trainer._pos,
        "n_train": trainer._n_train,
        "batch_size": trainer._batch_size,
        "backend": namespace_name(trainer.xp),
        "rng": {"dropout": {"keyed_by": "seed,iteration", "seed": trainer._dropout_seed},
                "shuffle": _rng_state(trainer.shuffle_rng)},
        "loss_sum": float(trainer._loss_sum),
        "loss_count": trainer._loss_count,
        "last_row": trainer._last_row,
        "elapsed": trainer._elapsed_now(),
        "objective": objective_description(trainer.objective),
        "history": [_finite_or_none(row) for row in trainer.history],
    }


def save(trainer: Any, path: str | os.PathLike[str], extra: dict[str, Any] | None) -> Path:
    """Write ``trainer``'s checkpoint atomically to ``path`` (see :meth:`Trainer.save`)."""
    check_finite(trainer)
    arrays = {"perm": trainer._perm} if trainer._perm is not None else {}
    path = save_checkpoint(path, trainer.model, trainer.optimizer, trainer=trainer_state(trainer),
                           arrays=arrays, extra=extra)
    trainer._saved = (path, trainer.iteration)
    trainer._saved_at = (trainer.iteration, len(trainer.history))
    return path


def resume(trainer: Any, path: str | os.PathLike[str]) -> Checkpoint:
    """Restore ``trainer`` from the checkpoint at ``path`` (see :meth:`Trainer.resume`).

    Everything is checked before anything is changed.
    """
    ckpt = read_checkpoint(path)
    check_compatible(ckpt, trainer.model, trainer.optimizer)
    state = ckpt.trainer
    if not isinstance(state, dict):
        raise CheckpointError(f"{ckpt.path}: holds no trainer state (written by "
                              "save_checkpoint, not Trainer.save)")
    try:
        shuffle_rng, perm = _restored_streams(trainer, ckpt, state)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{ckpt.path}: malformed trainer state ({exc!r})") from None
    apply_checkpoint(ckpt, trainer.model, trainer.optimizer)
    trainer.shuffle_rng, trainer._perm = shuffle_rng, perm
    trainer.seed = int(state["seed"])
    trainer._dropout_seed, _, trainer._eval_seed = child_seeds(trainer.seed, 3)
    trainer.iteration = int(state["iteration"])
    trainer._epochs_started, trainer._pos = int(state["epochs_started"]), int(state["position"])
    trainer._n_train, trainer._batch_size = state["n_train"], state["batch_size"]
    trainer._loss_sum, trainer._loss_count = float(state["loss_sum"]), int(state["loss_count"])
    trainer._loss_read_at = trainer.iteration  # a checkpoint is only written with a finite loss
    trainer._last_row, trainer._elapsed = int(state["last_row"]), float(state["elapsed"])
    trainer.history = History([dict(row) for row in state["history"]])
    trainer._saved = (ckpt.path, trainer.iteration)
    trainer._saved_at = (trainer.iteration, len(trainer.history))
    return ckpt


def _check_same_objective(trainer: Any, ckpt: Checkpoint, saved: dict[str, Any]) -> None:
    this = objective_description(trainer.objective)
    for key in sorted(this):
        if key in _KEYS_OLD_CHECKPOINTS_LACK and key not in saved:
            continue
        if saved.get(key) != this[key]:
            raise CheckpointError(f"{ckpt.path}: checkpoint was trained with objective "
                                  f"{key}={saved.get(key)}, this trainer's has "
                                  f"{key}={this[key]}")


def _restored_streams(trainer: Any, ckpt: Checkpoint,
                      state: dict[str, Any]) -> tuple[np.random.Generator, Any]:
    """Check the saved state against this trainer and rebuild its random streams."""
    _check_same_objective(trainer, ckpt, state["objective"])
    perm = ckpt.arrays.get("perm")
    if perm is not None and (perm.ndim != 1 or perm.dtype.kind not in "iu"
                             or len(perm) != state["n_train"]
                             or not np.array_equal(np.sort(perm), np.arange(len(perm)))):
        # a checksum only proves the file is as written: refuse indices that are not a
        # permutation of the training set (they would index out of range later)
        raise CheckpointError(f"{ckpt.path}: malformed permutation in trainer state")
    position = state["position"]
    if isinstance(position, bool) or not isinstance(position, int) or not (
            0 <= position <= (len(perm) if perm is not None else 0)):
        raise CheckpointError(f"{ckpt.path}: position {position!r} in trainer state is "
                              "outside the saved permutation")
    shuffle = _numpy_rng(state["rng"]["shuffle"])
    return shuffle, None if perm is None else np.array(perm, dtype=np.int64)
