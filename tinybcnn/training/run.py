"""One call of :meth:`~tinybcnn.train.Trainer.fit`, seen from outside the loop.

:class:`FitRun` checks the call's arguments, then answers the loop's run-management questions:
is a history row due (evaluate, log, reset the running loss), is a checkpoint due, what does the
progress bar show, and what does an exception that ends the loop become (a divergence names the
last good checkpoint; Ctrl-C saves one and becomes
:class:`~tinybcnn.training.errors.TrainingInterrupted`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..functional.checks import positive_int
from ..progress import LineProgress
from .checkpointing import save
from .checks import check_inputs, check_targets, check_validation, target_iteration
from .errors import TrainingDiverged, TrainingInterrupted
from .history import EvalLog, log_format
from .readback import check_finite, running_loss

__all__ = ["FitRun"]

# On a device, the progress bar reads the running loss back (and so checks it is finite) every
# this many iterations: one wait for the device per 50 steps instead of one per step.
_DEVICE_READ_EVERY = 50


class FitRun:
    """The arguments of one ``fit`` call, checked, and the bookkeeping between its steps.

    Parameters
    ----------
    trainer : Trainer
        The trainer whose ``fit`` this is; the other parameters are those of
        :meth:`tinybcnn.train.Trainer.fit`.

    Attributes
    ----------
    x, y : arrays
        The training data on the model's namespace (``x`` in its dtype, ``y`` checked).
    n, batch_size, target : int
        Training-set size, examples per update, the iteration to train to.
    """

    def __init__(self, trainer: Any, *, x_train: Any, y_train: Any, iterations: int | None,
                 epochs: float | None, batch_size: int, x_val: Any, y_val: Any,
                 eval_every: int | None, mc_samples: int,
                 log_path: str | os.PathLike[str] | None,
                 checkpoint_path: str | os.PathLike[str] | None,
                 checkpoint_every: int | None) -> None:
        model, objective = trainer.model, trainer.objective
        self.trainer = trainer
        self.x = check_inputs(model, x_train, "x_train")
        self.n = n = int(self.x.shape[0])
        self.y = check_targets(model, objective, y_train, n, "y_train")
        self.batch_size = positive_int(batch_size, "batch_size")
        if self.batch_size > n:
            raise ValueError(f"batch_size ({batch_size}) is larger than the training set ({n})")
        self.target = target_iteration(iterations, epochs, n, self.batch_size)
        self.val = check_validation(model, objective, x_val, y_val)
        self.eval_every = None if eval_every is None else positive_int(eval_every, "eval_every")
        self.mc_samples = positive_int(mc_samples, "mc_samples", minimum=0)
        if checkpoint_every is not None:
            checkpoint_every = positive_int(checkpoint_every, "checkpoint_every")
            if checkpoint_path is None:
                raise ValueError("checkpoint_every needs a checkpoint_path")
        self.checkpoint_path, self.checkpoint_every = checkpoint_path, checkpoint_every
        if log_path is not None:
            log_format(Path(log_path))  # fail before training, not at the first row
        trainer.run_state.check_same_run(n, self.batch_size)
        self.log = EvalLog(log_path, trainer.history) if log_path is not None else None
        self.bar: Any = None
        # the folders written that exist now: one removed later stops training (_check_folder)
        self._folders = {Path(p).parent for p in (checkpoint_path, log_path)
                         if p is not None and Path(p).parent.is_dir()}

    # -- between steps ----------------------------------------------------------------
    def between_steps(self) -> None:
        """Write the history row and the checkpoint that are due at this iteration, if any."""
        trainer, it = self.trainer, self.trainer.iteration
        self._check_folder()
        if it > trainer.run_state.last_row and (
                it == self.target or (self.eval_every is not None and it % self.eval_every == 0)):
            self.record_row()
        if self.checkpoint_path is not None and self._checkpoint_due():
            save(trainer, self.checkpoint_path, None)

    def _check_folder(self) -> None:
        """Stop if the folder being written was removed (``rm -r`` of the run while it trains):
        writing on would make it again, holding a checkpoint and no config.json, and report
        success. ``os.stat`` of one folder per step costs microseconds."""
        for folder in self._folders:
            if not folder.is_dir():
                raise ValueError(f"{folder} was removed while training (at iteration "
                                 f"{self.trainer.iteration}): stopped without making it "
                                 "again; train afresh into an --out that stays")

    def _removed(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path``'s folder existed when training began and is gone now."""
        folder = Path(path).parent
        return folder in self._folders and not folder.is_dir()

    def _checkpoint_due(self) -> bool:
        trainer = self.trainer
        if trainer.iteration == 0 or trainer.run_state.saved_at == (trainer.iteration,
                                                                    len(trainer.history)):
            return False
        every = self.checkpoint_every
        return trainer.iteration == self.target or (
            every is not None and trainer.iteration % every == 0)

    def show_progress(self) -> None:
        """Advance the bar and show the running loss and the learning rate.

        The running mean since the last row, as one minibatch's loss is too noisy. On a device
        reading it waits for the device, so only every few steps and only for a bar that is
        shown.
        """
        trainer, bar = self.trainer, self.bar
        bar.update(1)
        if not bar.disable and (not trainer.on_device
                                or trainer.iteration % _DEVICE_READ_EVERY == 0):
            bar.set_postfix(loss=f"{running_loss(trainer):.4f}",
                            lr=f"{trainer.optimizer.lr:.3g}", refresh=False)

    def record_row(self) -> dict[str, Any]:
        """Evaluate, append a history row (and a log line), and reset the running loss."""
        trainer, bar, val, mc_samples = self.trainer, self.bar, self.val, self.mc_samples
        # finite loss but non-finite weights (one update overflowed): diverged, not bad input
        check_finite(trainer)
        if bar is not None and val is not None:  # an evaluation takes seconds: say so
            bar.set_postfix(status=f"evaluating (MC T={mc_samples})" if mc_samples
                            else "evaluating")
        metrics = (trainer.evaluate(*val, mc_samples=mc_samples) if val is not None
                   else dict.fromkeys(("std_error", "std_nll", "mc_error", "mc_nll")))
        if bar is not None:
            bar.set_postfix()  # evaluation over; the next update shows the loss again
        state = trainer.run_state
        train_loss = running_loss(trainer) if state.loss_count else None
        row = {"iteration": state.iteration, "epoch": state.epoch, "train_loss": train_loss,
               "lr": trainer.optimizer.lr, **metrics, "time": state.elapsed_now()}
        state.history.rows.append(row)
        state.row_recorded()
        if self.log is not None:
            self.log.append(row)
        if isinstance(bar, LineProgress) and val is not None:  # off a terminal: a line each
            mc = "" if row["mc_error"] is None else f", MC T={mc_samples} {row['mc_error']:.4f}"
            bar.write(f"{bar.desc}: iteration {row['iteration']}: test error standard "
                      f"{row['std_error']:.4f}{mc}")
        return row

    # -- around the loop --------------------------------------------------------------
    @contextlib.contextmanager
    def running(self, bar: Any) -> Iterator[None]:
        """Time the loop, report on ``bar``, and turn what ends it early into the run's errors.

        A divergence names the last good checkpoint; Ctrl-C (or a handled SIGTERM) saves a
        checkpoint, if there is a path, and becomes :class:`TrainingInterrupted`.
        """
        trainer, state = self.trainer, self.trainer.run_state
        state.clock = time.perf_counter()
        self.bar = bar
        # divergence is detected explicitly (TrainingDiverged); NumPy's overflow warnings on
        # the way there would only clutter the terminal
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                yield
            except TrainingDiverged as exc:
                raise TrainingDiverged(exc.iteration, exc.what, exc.lr,
                                       *state.last_good()) from None
            except KeyboardInterrupt as exc:
                if isinstance(exc, TrainingInterrupted):
                    raise
                path = (save(trainer, self.checkpoint_path, None)
                        if self.checkpoint_path is not None
                        and not self._removed(self.checkpoint_path) else None)
                raise TrainingInterrupted(trainer.iteration, path) from None
            finally:
                bar.close()
                state.elapsed, state.clock = state.elapsed_now(), None
