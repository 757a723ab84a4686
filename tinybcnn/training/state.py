"""Everything a :class:`~tinybcnn.train.Trainer` remembers between two steps, in one object.

A trainer is its model, objective and optimiser (their own objects) plus one
:class:`TrainerState`: the seeds, the shuffle stream and the position in it, the iteration, the
running loss since the last history row, the history, the time spent, and which checkpoint holds
the last good state. Nothing else keeps any of these, so adding a piece of state means adding a
field here (and to :meth:`TrainerState.to_json` / :meth:`TrainerState.from_checkpoint` if it
decides the next update).

:meth:`TrainerState.from_checkpoint` builds a *complete new* state from a checkpoint and checks it
against the trainer's objective on the way; :func:`tinybcnn.training.checkpointing.resume`
assigns it only once every check has passed, so a refused checkpoint changes nothing whatever
order the checks run in.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import to_namespace, xp_of
from ..checkpoint import Checkpoint, CheckpointError
from ..files.jsonfile import jsonable
from ..random import make_rng, restore_rng, seed_word
from .history import History

__all__ = ["TrainerState", "objective_description"]

# device losses kept aside before they are summed (see TrainerState.count_update)
PENDING_LOSSES_MAX = 1024

# The objective's settings a resumed run must share with the run that wrote the checkpoint.
# ``mask_side`` was added later: a checkpoint that does not record it is not checked on it.
_OBJECTIVE_KEYS = ("likelihood", "tau", "length_scale", "weight_decay", "n_train", "mask_side")
_KEYS_OLD_CHECKPOINTS_LACK = ("mask_side",)


def objective_description(objective: Any) -> dict[str, Any]:
    """The objective's settings that a resumed run must share (``None`` where it has none)."""
    return {k: getattr(objective, k, None) for k in _OBJECTIVE_KEYS}


@dataclass(eq=False)
class TrainerState:
    """A trainer's state between steps (its model and optimiser hold the rest).

    Build one with :meth:`new` (a fresh run) or :meth:`from_checkpoint` (a resumed one).

    Attributes
    ----------
    seed : int
        The run's seed; ``dropout_seed`` and ``eval_seed`` are the words of its ``dropout``
        and ``eval`` streams (:func:`tinybcnn.random.seed_word`), ``shuffle``'s seeds
        ``shuffle_rng``.
    shuffle_rng : numpy.random.Generator
        Draws one permutation of the training set per epoch (on the host).
    perm : ndarray of int, shape (N,), or None
        The current epoch's permutation; ``pos`` of it are used, ``epochs_started`` drawn.
    iteration : int
        Updates applied so far (summed over resumes).
    n_train, batch_size : int or None
        The data size and batch size of the run (a resume must keep them).
    loss_sum, loss_count : float (or 0-d device array), int
        The running loss since the last history row (``last_row``); ``loss_read_at`` is the
        last iteration at which it was read back and found finite.
    history : History
        The evaluation rows so far.
    elapsed : float
        Seconds in ``fit`` before the current call; ``clock`` is ``perf_counter`` at its start.
    saved : (Path, int) or None
        The last checkpoint written or resumed and its iteration; ``saved_at`` is its
        ``(iteration, history rows)``, so a second save of the same state is skipped.
    perm_device : (host perm, device copy)
        The permutation's copy on the device (made once per epoch).
    words_per_step : int
        Random words the last device step drew (the next one reserves as many at once).
    pending_losses : list of 0-d device arrays
        Device losses not yet added to ``loss_sum`` (:meth:`settle_losses` adds them).
    """

    seed: int
    dropout_seed: int
    eval_seed: int
    shuffle_rng: np.random.Generator
    iteration: int = 0
    history: History = field(default_factory=History)
    perm: np.ndarray | None = None
    pos: int = 0
    epochs_started: int = 0
    n_train: int | None = None
    batch_size: int | None = None
    loss_sum: Any = 0.0
    loss_count: int = 0
    loss_read_at: int = 0
    last_row: int = 0
    elapsed: float = 0.0
    clock: float | None = None
    saved: tuple[Path, int] | None = None
    saved_at: tuple[int, int] | None = None
    perm_device: tuple[Any, Any] = (None, None)
    words_per_step: int = 0
    pending_losses: list[Any] = field(default_factory=list)

    @classmethod
    def new(cls, seed: int) -> TrainerState:
        """The state of a run that has not started: streams from ``seed``, nothing done."""
        # indices are drawn on the host: they index host or device arrays alike
        shuffle = make_rng(seed_word(seed, "shuffle"), backend="numpy")
        return cls(seed, seed_word(seed, "dropout"), seed_word(seed, "eval"), shuffle)

    # -- the shuffle stream -----------------------------------------------------------
    def next_indices(self, n: int, batch_size: int) -> np.ndarray:
        """The next ``batch_size`` indices of the shuffled stream, crossing epochs as needed."""
        parts, need = [], batch_size
        while need:
            if self.perm is None or self.pos >= n:
                self.perm = self.shuffle_rng.permutation(n)
                self.pos = 0
                self.epochs_started += 1
            take = min(need, n - self.pos)
            parts.append(self.perm[self.pos:self.pos + take])
            self.pos += take
            need -= take
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def device_indices(self, host_idx: np.ndarray, n: int, batch_size: int, xp: Any) -> Any:
        """The batch's indices (``host_idx``, just drawn) on the device ``xp``, as slices of
        the epoch's permutation there.

        The permutation is copied to the device when it is drawn (once per epoch: the one
        host-to-device copy of the loop); a batch that crosses an epoch boundary is the
        tail of the previous copy and the head of the new one.
        """
        source, perm = self.perm_device
        previous = perm if source is not None and source is not self.perm else None
        if source is not self.perm:
            perm = to_namespace(self.perm, xp)
            self.perm_device = (self.perm, perm)
        if self.pos >= batch_size:  # the whole batch came from the current permutation
            return perm[self.pos - batch_size:self.pos]
        from_previous = batch_size - self.pos
        if previous is not None:
            head = previous[n - from_previous:]
        else:  # resumed in the middle of the epoch: its permutation was never on the device
            head = to_namespace(host_idx[:from_previous], xp)
        return xp.concat([head, perm[:self.pos]])

    @property
    def epoch(self) -> float:
        """Epochs done so far, fractional (``1.5`` = one and a half passes over the data)."""
        if self.perm is None:
            return 0.0
        return self.epochs_started - 1 + self.pos / len(self.perm)

    def stream_position(self) -> tuple[Any, ...]:
        """What a minibatch draw changes, for :meth:`rewind_stream` to put back."""
        return self.shuffle_rng.bit_generator.state, self.perm, self.pos, self.epochs_started

    def rewind_stream(self, position: tuple[Any, ...]) -> None:
        """Put the shuffle stream back where :meth:`stream_position` found it."""
        shuffle, self.perm, self.pos, self.epochs_started = position
        self.shuffle_rng.bit_generator.state = shuffle

    # -- updates, rows, checkpoints ---------------------------------------------------
    def count_update(self, loss: Any) -> None:
        """One update applied, whose batch loss (before it) was ``loss``.

        A host loss (NumPy's float) is added at once. A device loss (a 0-d array) is kept
        aside and added with the others when the sum is read (:meth:`settle_losses`): one
        stack and one sum for many steps, instead of one addition kernel in every step.
        """
        self.iteration += 1
        self.loss_sum = self.loss_sum + loss if isinstance(loss, float) else self._defer(loss)
        self.loss_count += 1

    def _defer(self, loss: Any) -> Any:
        """Keep the device ``loss`` for :meth:`settle_losses`; return ``loss_sum`` as it is."""
        self.pending_losses.append(loss)
        if len(self.pending_losses) >= PENDING_LOSSES_MAX:   # bounded memory on long runs
            self.settle_losses()
        return self.loss_sum

    def settle_losses(self) -> Any:
        """Add the pending device losses to ``loss_sum`` (in one sum) and return it."""
        if self.pending_losses:
            xp = xp_of(self.pending_losses[0])
            self.loss_sum = self.loss_sum + xp.sum(xp.stack(self.pending_losses))
            self.pending_losses = []
        return self.loss_sum

    def row_recorded(self) -> None:
        """A history row was appended at this iteration: the running loss starts again."""
        self.loss_sum, self.loss_count = 0.0, 0
        self.pending_losses = []
        self.last_row = self.iteration

    def mark_saved(self, path: Path) -> None:
        """This state is on disk at ``path`` (written or resumed from)."""
        self.saved = (path, self.iteration)
        self.saved_at = (self.iteration, len(self.history))

    def last_good(self) -> tuple[Path | None, int | None]:
        """The last checkpoint and its iteration, ``(None, None)`` if there is none."""
        return self.saved if self.saved is not None else (None, None)

    def elapsed_now(self) -> float:
        """Seconds spent in ``fit``, the current call included."""
        running = 0.0 if self.clock is None else time.perf_counter() - self.clock
        return self.elapsed + running

    def check_same_run(self, n: int, batch_size: int) -> None:
        """A resumed run must go on with the data size and batch size it was started with;
        then record them."""
        if self.iteration and self.n_train is not None:
            if n != self.n_train:
                raise ValueError(f"this run was trained on {self.n_train} examples, got {n}: "
                                 "resume with the same training data (or start a new Trainer)")
            if batch_size != self.batch_size:
                raise ValueError(f"this run used batch_size {self.batch_size}, got "
                                 f"{batch_size}: resume with the same batch size")
        self.n_train, self.batch_size = n, batch_size

    # -- to and from a checkpoint -----------------------------------------------------
    def to_json(self, objective: Any, backend: str) -> dict[str, Any]:
        """The state as JSON-able values, as a checkpoint's header holds it (the permutation
        goes beside it as an array)."""
        return {
            "seed": self.seed,
            "iteration": self.iteration,
            "epochs_started": self.epochs_started,
            "position": self.pos,
            "n_train": self.n_train,
            "batch_size": self.batch_size,
            "backend": backend,
            "rng": {"dropout": {"keyed_by": "seed,iteration", "seed": self.dropout_seed},
                    "shuffle": _rng_state(self.shuffle_rng)},
            "loss_sum": float(self.settle_losses()),
            "loss_count": self.loss_count,
            "last_row": self.last_row,
            "elapsed": self.elapsed_now(),
            "objective": objective_description(objective),
            "history": [_finite_or_none(row) for row in self.history],
        }

    @classmethod
    def from_checkpoint(cls, ckpt: Checkpoint, objective: Any) -> TrainerState:
        """The complete state saved in ``ckpt``, checked against ``objective``.

        Raises
        ------
        CheckpointError
            If the checkpoint holds no trainer state, was trained with another objective, or
            its permutation, position or shuffle stream are malformed.
        """
        state = ckpt.trainer
        if not isinstance(state, dict):
            raise CheckpointError(f"{ckpt.path}: holds no trainer state (written by "
                                  "save_checkpoint, not Trainer.save)")
        try:
            return cls._from_json(ckpt, state, objective)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"{ckpt.path}: malformed trainer state ({exc!r})") from None

    @classmethod
    def _from_json(cls, ckpt: Checkpoint, state: dict[str, Any], objective: Any) -> TrainerState:
        _check_same_objective(objective, ckpt, state["objective"])
        perm = _checked_perm(ckpt, state)
        shuffle_rng = _numpy_rng(state["rng"]["shuffle"])
        new = cls.new(int(state["seed"]))
        new.shuffle_rng, new.perm = shuffle_rng, perm
        new.iteration = int(state["iteration"])
        new.epochs_started, new.pos = int(state["epochs_started"]), int(state["position"])
        new.n_train, new.batch_size = state["n_train"], state["batch_size"]
        new.loss_sum, new.loss_count = float(state["loss_sum"]), int(state["loss_count"])
        new.loss_read_at = new.iteration  # a checkpoint is only written with a finite loss
        new.last_row, new.elapsed = int(state["last_row"]), float(state["elapsed"])
        new.history = History([dict(row) for row in state["history"]])
        new.mark_saved(ckpt.path)
        return new


def _rng_state(rng: Any) -> dict[str, Any] | None:
    """The JSON-able state of a NumPy generator; ``None`` for CuPy's, which cannot be read."""
    if isinstance(rng, np.random.Generator):
        return jsonable(rng.bit_generator.state)
    return None


def _numpy_rng(state: dict[str, Any]) -> np.random.Generator:
    """A NumPy generator in exactly the saved ``state``."""
    try:
        return restore_rng(state)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None


def _finite_or_none(row: dict[str, Any]) -> dict[str, Any]:
    """A history row with NaN/inf replaced by None (checkpoint headers are strict JSON)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in row.items()}


def _check_same_objective(objective: Any, ckpt: Checkpoint, saved: dict[str, Any]) -> None:
    this = objective_description(objective)
    for key in sorted(this):
        if key in _KEYS_OLD_CHECKPOINTS_LACK and key not in saved:
            continue
        if saved.get(key) != this[key]:
            raise CheckpointError(f"{ckpt.path}: checkpoint was trained with objective "
                                  f"{key}={saved.get(key)}, this trainer's has "
                                  f"{key}={this[key]}")


def _checked_perm(ckpt: Checkpoint, state: dict[str, Any]) -> np.ndarray | None:
    """The saved permutation (int64), refused unless it is one of the training set and the
    saved position lies inside it."""
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
    return None if perm is None else np.array(perm, dtype=np.int64)
