"""The training loop: minibatch SGD on the dropout objective, evaluation, checkpoints, resume.

One :class:`Trainer` owns a model, its :class:`~tinybcnn.objective.Objective` and its optimiser,
and two random streams:

* the **dropout** stream draws a fresh Bernoulli mask for every training pass, in the model's
  namespace (so masks are drawn where they are used: on the GPU for a CuPy model). Step ``k``
  uses a generator keyed by ``(seed, k)`` (:func:`tinybcnn.random.step_rng`), so it has no
  state to save and a resumed run draws exactly the masks of an uninterrupted one;
* the **shuffle** stream (always NumPy, on the host) draws one permutation of the training set
  per epoch. Minibatches are consecutive slices of it; a batch that runs past the end of an
  epoch is completed from the next permutation, so every batch has ``batch_size`` examples and
  an iteration count need not be a whole number of epochs (as in Caffe).

Everything that decides the next update (parameters, optimiser buffers, both streams, the
current permutation and the position in it, the iteration) is saved by :meth:`Trainer.save`
and restored by :meth:`Trainer.resume`, so on every backend

    train N iterations → save → resume in a fresh process → train M more

gives bit-for-bit the weights of training N + M iterations straight.

On a device (CuPy, or array_api_strict standing in for it in CI) a step never waits for the
device: inputs are taken from device arrays with device indices (the permutation is copied to
the device once per epoch), masks come from a device generator, and the loss stays on the
device, summed there until a history row, a checkpoint or the progress bar reads it.

This module is the textbook loop (:meth:`Trainer.fit`: shuffle, minibatch, :meth:`Trainer.step`);
what a long run needs around it (checkpoints, the history log, progress, Ctrl-C, divergence)
lives in :mod:`tinybcnn.training`, one idea per module.

Failure modes are explicit: a non-finite loss raises :class:`TrainingDiverged` (and a
non-finite state is never written to disk). On NumPy that happens *before* the bad update is
applied; on a device, where asking would stall every step, at the next point that reads the
loss (a history row, a checkpoint, the end of :meth:`Trainer.fit`), naming the iterations in
which it happened. Ctrl-C saves a checkpoint and raises :class:`TrainingInterrupted`, which
carries its path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .backend import namespace_name, to_numpy, xp_of
from .checkpoint import Checkpoint
from .functional.checks import positive_int
from .metrics import error, nll
from .predict import mc_predict, standard_predict
from .progress import progress_bar
from .random import fresh_seed, step_rng
from .training import checkpointing
from .training.checks import on_model
from .training.errors import TrainingDiverged, TrainingInterrupted
from .training.history import COLUMNS, History
from .training.interrupts import deferred_signals, rewound_on_failure
from .training.run import FitRun
from .training.split import split_loss_and_grads, split_parts
from .training.state import TrainerState

__all__ = ["Trainer", "History", "COLUMNS", "TrainingDiverged", "TrainingInterrupted"]


class Trainer:
    """Minibatch training of a dropout network, with evaluation, checkpoints and exact resume.

    Parameters
    ----------
    model : Sequential
    objective : Objective
        Gives the loss and fills ``model.grads`` (decay included), see
        :meth:`tinybcnn.objective.Objective.__call__`.
    optimizer : SGD or Adam
        Built on the same ``model``.
    seed : int or None
        Seeds the dropout, shuffle and evaluation streams (independent children of one
        ``SeedSequence``). ``None`` draws fresh entropy, recorded in ``self.seed``.

    Attributes
    ----------
    run_state : TrainerState
        Everything remembered between steps (``seed``, ``iteration``, ``history`` and
        ``epoch`` read it), the shuffle stream ``run_state.shuffle_rng`` included.
    """

    def __init__(self, model: Any, objective: Any, optimizer: Any, seed: int | None = 0) -> None:
        if getattr(optimizer, "model", model) is not model:
            raise ValueError("the optimizer was built for another model")
        self.model, self.objective, self.optimizer = model, objective, optimizer
        if seed is None:
            seed = fresh_seed()
        #: everything remembered between steps (:mod:`tinybcnn.training.state`)
        self.run_state = TrainerState.new(positive_int(seed, "seed", minimum=0))

    @property
    def seed(self) -> int:
        """The run's seed (read back from the checkpoint on resume)."""
        return self.run_state.seed

    @property
    def iteration(self) -> int:
        """Updates applied so far (summed over resumes)."""
        return self.run_state.iteration

    @property
    def history(self) -> History:
        """The evaluation rows so far (including those before a resume)."""
        return self.run_state.history

    @property
    def epoch(self) -> float:
        """Epochs done so far, fractional (``1.5`` = one and a half passes over the data)."""
        return self.run_state.epoch

    # -- one update -------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        """The array namespace of the model's parameters (where training computes)."""
        return xp_of(next(iter(self.model.params.values())))

    @property
    def on_device(self) -> bool:
        """True unless the model lives in NumPy (CuPy, or array_api_strict standing in)."""
        return self.xp is not np

    def step(self, xb: Any, yb: Any, labels_checked: bool = False) -> Any:
        """One minibatch update: forward with fresh masks, backward, optimiser step.

        On NumPy, forward and backward run on the two halves of the batch, side by side when
        the step may use two threads (:func:`tinybcnn.threads.step_threads`), one after the
        other otherwise (:mod:`tinybcnn.training.split`): the same masks, the gradient of the
        whole batch up to the rounding of its sums, the same bits on any thread count.

        Parameters
        ----------
        xb : array, shape (B, C, H, W) (or (B, D))
            Inputs, in the model's namespace. NumPy inputs are copied to it (a host-to-device
            copy per step on a GPU: :meth:`fit` moves the data once instead); arrays of any
            other namespace are refused.
        yb : array of int, shape (B,)
            Labels (or regression targets). Device labels are not range-checked (that would
            wait for the device): one outside ``[0, K)`` makes the loss NaN.
        labels_checked : bool
            Device labels were checked (:meth:`fit` checks all once): no NaN guard, 4 launches.

        Returns
        -------
        float or 0-d array
            The objective on this batch *before* the update: a float on NumPy; on a device a
            0-d device array (``float(loss)`` reads it, and waits for the device).

        Raises
        ------
        TrainingDiverged
            On NumPy, if the loss is NaN or infinite; the parameters are then left unchanged.
            On a device the check is deferred (see the module notes).
        """
        state, like = self.run_state, next(iter(self.model.params.values()))
        on_device = xp_of(like) is not np
        check = not (labels_checked or isinstance(yb, np.ndarray))   # on_model checks host yb
        xb = on_model(self.model, self.objective, xb, "xb", like)
        yb = on_model(self.model, self.objective, yb, "yb", like, labels=True)
        rng = step_rng(state.dropout_seed, state.iteration, like)
        if on_device:
            loss = _device_loss(self.objective, self.model, state, xb, yb, rng, check)
        elif split_parts(xb, self.model, self.objective):  # the batch's fixed halves
            loss = split_loss_and_grads(self.objective, self.model, xb, yb, rng)
        else:
            loss = self.objective(self.model, xb, yb, rng=rng)
        if not on_device and not math.isfinite(loss):
            raise TrainingDiverged(state.iteration + 1, f"the loss is {loss}", self.optimizer.lr)
        with deferred_signals():  # apply the whole update and its bookkeeping, or none of it
            self.optimizer.step()
            state.count_update(loss)
        return loss

    # -- the loop ---------------------------------------------------------------------
    def fit(self, x_train: Any, y_train: Any, iterations: int | None = None,
            epochs: float | None = None, batch_size: int = 64, x_val: Any = None,
            y_val: Any = None, eval_every: int | None = None, mc_samples: int = 50,
            log_path: str | os.PathLike[str] | None = None,
            checkpoint_path: str | os.PathLike[str] | None = None,
            checkpoint_every: int | None = None, progress: bool | str = True) -> History:
        """Train until ``self.iteration`` reaches ``iterations`` (or ``epochs`` worth of them).

        The count is a *total*, as Caffe's ``max_iter``: a trainer resumed at iteration 600
        and asked for ``iterations=1000`` trains 400 more, so running the same command again
        after an interruption finishes the same run.

        Parameters
        ----------
        x_train : array, float, shape (N, C, H, W)
            Moved to the backend (and the model's dtype) once, if it is not there already.
        y_train : array of int, shape (N,)
        iterations : int, optional
            Total number of updates. Give exactly one of ``iterations`` and ``epochs``.
        epochs : float, optional
            Passes over the data: ``iterations = ceil(epochs · N / batch_size)``.
        batch_size : int
            Examples per update, 1 to N.
        x_val, y_val : arrays, optional
            Validation data for the evaluation rows.
        eval_every : int, optional
            A history row every ``eval_every`` iterations; there is always one at the end.
        mc_samples : int
            MC-dropout passes per evaluation (0 skips MC evaluation).
        log_path : path, optional
            ``.csv`` or ``.jsonl`` file mirroring the history (rewritten from it at the start).
        checkpoint_path, checkpoint_every : path and int, optional
            A checkpoint every ``checkpoint_every`` iterations, at the end, and on Ctrl-C.
        progress : bool or str
            Report progress: a tqdm bar with the running loss and the learning rate on a
            terminal, a line every few seconds and one per evaluation elsewhere. A string
            labels the report (e.g. ``"lenet-all train"``; default ``"train"``).

        Returns
        -------
        History
            ``self.history``, all rows so far (including those before a resume).

        Raises
        ------
        ValueError
            On inconsistent inputs or arguments.
        TrainingDiverged
            On a NaN or infinite loss; the last checkpoint on disk is the last good one.
        TrainingInterrupted
            On Ctrl-C, after saving a checkpoint to ``checkpoint_path`` (if given).
        """
        run = FitRun(self, x_train=x_train, y_train=y_train, iterations=iterations,
                     epochs=epochs, batch_size=batch_size, x_val=x_val, y_val=y_val,
                     eval_every=eval_every, mc_samples=mc_samples, log_path=log_path,
                     checkpoint_path=checkpoint_path, checkpoint_every=checkpoint_every)
        bar = progress_bar(run.target, self.iteration, enabled=bool(progress),
                           desc=progress if isinstance(progress, str) else "train")
        with run.running(bar):  # timing, progress, Ctrl-C and divergence: tinybcnn.training
            while True:
                run.between_steps()  # a history row and a checkpoint, when due
                if self.iteration >= run.target:
                    break
                # a step that stops early leaves no trace
                with rewound_on_failure(self.run_state):
                    xb, yb = self._next_batch(run.x, run.y, run.n, run.batch_size)
                    self.step(xb, yb, True)   # labels_checked: FitRun checked y_train
                run.show_progress()
        return self.history

    def _next_batch(self, x: Any, y: Any, n: int, batch_size: int) -> tuple[Any, Any]:
        """The next minibatch ``(x[idx], y[idx])`` of the shuffled stream."""
        idx = self.run_state.next_indices(n, batch_size)
        if self.on_device:  # gathered on the device with device indices: no host round trip
            idx = self.run_state.device_indices(idx, n, batch_size, self.xp)
            return self.xp.take(x, idx, axis=0), self.xp.take(y, idx, axis=0)
        return x[idx], y[idx]

    # -- evaluation -------------------------------------------------------------------
    def evaluate(self, x: Any, y: Any, mc_samples: int = 50) -> dict[str, float | None]:
        """Error and NLL of standard and MC-dropout prediction on ``(x, y)``.

        MC prediction uses the same masks at every call (a fixed seed derived from the
        trainer's), so changes between evaluations come from the weights, not the masks.

        Returns ``{std_error, std_nll, mc_error, mc_nll}``; the ``mc_*`` are None if
        ``mc_samples == 0``.
        """
        y = to_numpy(y)
        std = standard_predict(self.model, x)
        if not np.all(np.isfinite(std.probs)):
            # finite weights so large that the logits overflow: the run has diverged
            raise TrainingDiverged(self.iteration, "the predictions are not finite",
                                   self.optimizer.lr, *self.run_state.last_good())
        out: dict[str, float | None] = {"std_error": error(std.probs, y),
                                        "std_nll": nll(std.probs, y),
                                        "mc_error": None, "mc_nll": None}
        if mc_samples:
            mc = mc_predict(self.model, x, samples=mc_samples, seed=self.run_state.eval_seed)
            out["mc_error"], out["mc_nll"] = error(mc.probs, y), nll(mc.probs, y)
        return out

    # -- checkpoints (tinybcnn.training.checkpointing) --------------------------------
    def state(self) -> dict[str, Any]:
        """The trainer's state as JSON-able values (without parameters and optimiser buffers)."""
        return self.run_state.to_json(self.objective, namespace_name(self.xp))

    def save(self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint (model, optimiser, trainer state) atomically to ``path``.

        ``extra`` is any JSON-able dict to keep alongside (e.g. the command line that
        started the run); it is read back as ``read_checkpoint(path).header["extra"]``.

        Raises
        ------
        TrainingDiverged
            If a parameter is NaN or infinite; the file on disk is then left as it was.
        """
        return checkpointing.save(self, path, extra)

    def resume(self, path: str | os.PathLike[str]) -> Checkpoint:
        """Restore parameters, optimiser, RNG streams, position and history from ``path``.

        The checkpoint must come from the same kind of model, optimiser and objective; nothing
        is changed if it does not (who checks what: :mod:`tinybcnn.training.checkpointing`).
        The resumed run is bitwise the uninterrupted one on every backend, given the same
        thread counts (they change float32 rounding; :func:`tinybcnn.runs.train_run` records
        them and resumes on them).

        Raises
        ------
        CheckpointError
            If the file is damaged or does not fit this trainer.
        """
        return checkpointing.resume(self, path)


def _device_loss(objective: Any, model: Any, state: TrainerState, xb: Any, yb: Any, rng: Any,
                 check_labels: bool) -> Any:
    """A device step's loss (a 0-d array) and gradients, its masks drawn as one block
    (:meth:`~tinybcnn.random.CounterRNG.reserve`) of as many words as the last step drew."""
    rng.reserve(state.words_per_step)
    loss = objective.loss_and_grads(model, xb, yb, rng, check_labels=check_labels)
    state.words_per_step = rng.counter
    return loss
