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

Failure modes are explicit: a non-finite loss raises :class:`TrainingDiverged` (and a
non-finite state is never written to disk). On NumPy that happens *before* the bad update is
applied; on a device, where asking would stall every step, at the next point that reads the
loss (a history row, a checkpoint, the end of :meth:`Trainer.fit`), naming the iterations in
which it happened. Ctrl-C saves a checkpoint and raises :class:`TrainingInterrupted`, which
carries its path.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_write_text
from ._json import jsonable
from .backend import check_namespace, namespace_name, to_namespace, to_numpy, xp_of
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    apply_checkpoint,
    check_compatible,
    read_checkpoint,
    save_checkpoint,
)
from .metrics import error, nll
from .predict import mc_predict, standard_predict
from .progress import LineProgress, progress_bar
from .random import step_rng

__all__ = ["Trainer", "History", "COLUMNS", "TrainingDiverged", "TrainingInterrupted"]

#: Columns of an evaluation row, in log order.
COLUMNS = ("iteration", "epoch", "train_loss", "lr", "std_error", "std_nll", "mc_error",
           "mc_nll", "time")

# On a device, the progress bar reads the running loss back (and so checks it is finite) every
# this many iterations: one wait for the device per 50 steps instead of one per step.
_DEVICE_READ_EVERY = 50

# Bit generators whose state may be restored from a checkpoint (names are looked up in
# np.random, so only these are ever instantiated from a file).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


class TrainingDiverged(RuntimeError):
    """The loss (or a parameter) became NaN or infinite; training stopped before applying it.

    Attributes
    ----------
    iteration : int
        The iteration that produced the non-finite value (1-based).
    checkpoint_path : Path or None
        The last checkpoint written (all finite), if any.
    """

    def __init__(self, iteration: int, what: str, lr: float,
                 checkpoint_path: Path | None = None,
                 checkpoint_iteration: int | None = None) -> None:
        self.iteration, self.what, self.lr = iteration, what, lr
        self.checkpoint_path, self.checkpoint_iteration = checkpoint_path, checkpoint_iteration
        kept = (f"the last good checkpoint is {checkpoint_path} (iteration "
                f"{checkpoint_iteration})" if checkpoint_path is not None
                else "no checkpoint was written")
        super().__init__(f"training diverged at iteration {iteration}: {what} (lr {lr:.3g}); "
                         f"try a lower learning rate, e.g. {lr / 10:.3g}; {kept}")


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); the state was saved to ``checkpoint_path`` if given.

    A ``KeyboardInterrupt``, so code that does not know it still stops; the CLI catches it,
    prints the message and exits with status 130.
    """

    def __init__(self, iteration: int, checkpoint_path: Path | None) -> None:
        self.iteration, self.checkpoint_path = iteration, checkpoint_path
        saved = (f"checkpoint saved to {checkpoint_path}; run the same command to resume"
                 if checkpoint_path is not None else "no checkpoint path was given, nothing saved")
        super().__init__(f"training interrupted at iteration {iteration}: {saved}")


# ---------------------------------------------------------------------------------------
# History and its log file
# ---------------------------------------------------------------------------------------


@dataclass
class History:
    """Evaluation rows, one dict per evaluation with the keys of :data:`COLUMNS`.

    ``train_loss`` is the mean minibatch loss since the previous row; ``lr`` the learning rate
    at the row's iteration; ``std_*`` and ``mc_*`` the validation error (fraction) and NLL
    (nats) of standard and MC-dropout prediction (``None`` without validation data);
    ``time`` the seconds spent in :meth:`Trainer.fit` so far (summed over resumes).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def column(self, name: str) -> np.ndarray:
        """One column as a float array, ``None`` as NaN (e.g. ``history.column("mc_error")``)."""
        if name not in COLUMNS:
            raise KeyError(f"unknown column {name!r}; columns are {COLUMNS}")
        return np.array([np.nan if r[name] is None else r[name] for r in self.rows], dtype=float)


def _log_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ValueError(f"log_path must end in .csv or .jsonl, got {path}")


class _EvalLog:
    """The history as CSV or JSON lines, one row per evaluation, rewritten atomically each time.

    Opening it rewrites the file from the history so far, so after a resume the file holds
    exactly the rows of the restored run (rows logged after the checkpoint, by the run that
    was interrupted, are dropped because they are evaluated again). The file is small (one
    row per evaluation), so each row rewrites it whole: a crash never leaves half a row.
    """

    def __init__(self, path: str | os.PathLike[str], history: History) -> None:
        self.path = Path(path)
        self.format = _log_format(self.path)
        self.rows = [dict(row) for row in history]
        self._flush()

    def _flush(self) -> None:
        f = io.StringIO(newline="")
        if self.format == "csv":
            csv.writer(f).writerow(COLUMNS)
            for row in self.rows:
                csv.writer(f).writerow(["" if row[c] is None else row[c] for c in COLUMNS])
        else:
            for row in self.rows:
                f.write(json.dumps({c: row[c] for c in COLUMNS}) + "\n")
        atomic_write_text(self.path, f.getvalue())

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))
        self._flush()


# ---------------------------------------------------------------------------------------
# Random streams and their states
# ---------------------------------------------------------------------------------------


def _child_seeds(seed: int | list[int], n: int) -> list[int]:
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


def _deferrable_signals() -> list[int]:
    """Ctrl-C, and SIGTERM where a Python handler turns it into an exception (the CLI's)."""
    signals = [signal.SIGINT]
    if callable(signal.getsignal(signal.SIGTERM)):
        signals.append(signal.SIGTERM)
    return signals


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C (and a handled SIGTERM) until the block ends, so an update is applied
    completely or not at all.

    The optimiser changes parameters one array at a time; an interrupt in the middle would
    leave a state that no uninterrupted run ever passes through. Signals can only be
    handled in the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _deferrable_signals()}
    previous = {s: h for s, h in previous.items() if h is not None}  # None: set from C
    caught: list[tuple[int, Any]] = []
    for s in previous:
        signal.signal(s, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            signum, frame = caught[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)  # default_int_handler raises KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _target_iteration(iterations: Any, epochs: Any, n: int, batch_size: int) -> int:
    """The iteration count to train to: ``iterations``, or ``ceil(epochs · n / batch_size)``."""
    if (iterations is None) == (epochs is None):
        raise ValueError("give exactly one of iterations and epochs")
    if iterations is not None:
        return _positive_int(iterations, "iterations")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float, np.number)) \
            or not 0 < epochs < math.inf:
        raise ValueError(f"epochs must be a positive number, got {epochs!r}")
    return max(1, math.ceil(epochs * n / batch_size))


def _param_dtype(model: Any) -> Any:
    """The dtype of the model's parameters (a dtype of the model's namespace)."""
    return next(iter(model.params.values())).dtype


def _n_outputs(model: Any) -> int | None:
    """Width of the model's last weight layer (the number of classes of a classifier)."""
    ws = [v for k, v in model.params.items() if k.endswith(".W")]
    if not ws:
        return None
    w = ws[-1]
    return int(w.shape[-1] if w.ndim == 2 else w.shape[0])


# ---------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------


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
    iteration : int
        Updates applied so far (summed over resumes).
    history : History
        Evaluation rows so far.
    """

    def __init__(self, model: Any, objective: Any, optimizer: Any, seed: int | None = 0) -> None:
        if getattr(optimizer, "model", model) is not model:
            raise ValueError("the optimizer was built for another model")
        self.model, self.objective, self.optimizer = model, objective, optimizer
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        self.seed = _positive_int(seed, "seed", minimum=0)
        self._dropout_seed, shuffle_seed, self._eval_seed = _child_seeds(self.seed, 3)
        # indices are drawn on the host: they index host or device arrays alike
        self.shuffle_rng = np.random.default_rng(shuffle_seed)
        self.iteration = 0
        self.history = History()
        self._perm: np.ndarray | None = None  # permutation of the current epoch
        self._perm_device: tuple[Any, Any] = (None, None)  # (host perm, its device copy)
        self._pos = 0  # how much of it has been used
        self._epochs_started = 0
        self._n_train: int | None = None  # data size and batch size of the run (checked on resume)
        self._batch_size: int | None = None
        # since the last history row; on a device the sum is a 0-d device array
        self._loss_sum: Any = 0.0
        self._loss_count = 0
        self._loss_read_at = 0  # the last iteration at which the running loss was read, finite
        self._last_row = 0  # iteration of the last history row
        self._elapsed = 0.0  # seconds in fit() before the current call
        self._clock: float | None = None  # perf_counter at the start of the current fit()
        self._saved: tuple[Path, int] | None = None  # last checkpoint written or resumed
        self._saved_at: tuple[int, int] | None = None  # its (iteration, history rows)

    # -- one update -------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        """The array namespace of the model's parameters (where training computes)."""
        return xp_of(next(iter(self.model.params.values())))

    @property
    def on_device(self) -> bool:
        """True unless the model lives in NumPy (CuPy, or array_api_strict standing in)."""
        return self.xp is not np

    def step(self, xb: Any, yb: Any) -> Any:
        """One minibatch update: forward with fresh masks, backward, optimiser step.

        Parameters
        ----------
        xb : array, shape (B, C, H, W) (or (B, D))
            Inputs, in the model's namespace. NumPy inputs are copied to it (a host-to-device
            copy per step on a GPU: :meth:`fit` moves the data once instead); arrays of any
            other namespace are refused.
        yb : array of int, shape (B,)
            Labels (or regression targets). Labels on the device are not range-checked
            (that would wait for the device); :meth:`fit` checks them once.

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
        like = next(iter(self.model.params.values()))
        on_device = xp_of(like) is not np
        xb, yb = self._on_model(xb, "xb", like), self._on_model(yb, "yb", like, labels=True)
        rng = step_rng(self._dropout_seed, self.iteration, like)
        if on_device:
            loss = self.objective.loss_and_grads(self.model, xb, yb, rng=rng, check_labels=False)
        else:
            loss = self.objective(self.model, xb, yb, rng=rng)
            if not math.isfinite(loss):
                raise TrainingDiverged(self.iteration + 1, f"the loss is {loss}",
                                       self.optimizer.lr)
        with _sigint_deferred():  # apply the whole update and its bookkeeping, or none of it
            self.optimizer.step()
            self.iteration += 1
            self._loss_sum = self._loss_sum + loss
            self._loss_count += 1
        return loss

    def _on_model(self, a: Any, name: str, like: Any, labels: bool = False) -> Any:
        """``a`` in the namespace of ``like`` (a parameter): NumPy arrays are moved there,
        other namespaces refused."""
        xp = xp_of(like)
        if xp is not np and isinstance(a, np.ndarray):
            if labels and getattr(self.objective, "likelihood", "softmax") == "softmax":
                a = self._check_targets(a, int(a.shape[0]), name)
            return to_namespace(a, xp)
        check_namespace(a, like, name, "the model")
        return a

    def _running_loss(self) -> float:
        """The mean loss since the last row, read back to the host (once, here)."""
        mean = float(self._loss_sum) / self._loss_count
        if not math.isfinite(mean):
            first = max(self._last_row, self._loss_read_at) + 1
            raise TrainingDiverged(self.iteration, f"a loss between iteration {first} and "
                                   f"{self.iteration} is not finite", self.optimizer.lr,
                                   *(self._saved or (None, None)))
        self._loss_read_at = self.iteration
        return mean

    # -- minibatches ------------------------------------------------------------------
    def _next_indices(self, n: int, batch_size: int) -> np.ndarray:
        """The next ``batch_size`` indices of the shuffled stream, crossing epochs as needed."""
        parts, need = [], batch_size
        while need:
            if self._perm is None or self._pos >= n:
                self._perm = self.shuffle_rng.permutation(n)
                self._pos = 0
                self._epochs_started += 1
            take = min(need, n - self._pos)
            parts.append(self._perm[self._pos:self._pos + take])
            self._pos += take
            need -= take
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    @property
    def epoch(self) -> float:
        """Epochs done so far, fractional (``1.5`` = one and a half passes over the data)."""
        if self._perm is None:
            return 0.0
        return self._epochs_started - 1 + self._pos / len(self._perm)

    def _streams(self) -> tuple[Any, ...]:
        """Everything a minibatch step draws from, to rewind a step that did not complete.

        (The dropout stream is keyed by the iteration, so it rewinds with it.)
        """
        return (self.shuffle_rng.bit_generator.state, self._perm, self._pos,
                self._epochs_started)

    def _rewind(self, streams: tuple[Any, ...]) -> None:
        shuffle, self._perm, self._pos, self._epochs_started = streams
        self.shuffle_rng.bit_generator.state = shuffle

    def _device_indices(self, host_idx: np.ndarray, n: int, batch_size: int) -> Any:
        """The batch's indices on the device, as slices of the epoch's permutation there.

        The permutation is copied to the device when it is drawn (once per epoch: the one
        host-to-device copy of the loop); a batch that crosses an epoch boundary is the
        tail of the previous copy and the head of the new one.
        """
        xp = self.xp
        source, perm = self._perm_device
        previous = perm if source is not None and source is not self._perm else None
        if source is not self._perm:
            perm = to_namespace(self._perm, xp)
            self._perm_device = (self._perm, perm)
        if self._pos >= batch_size:  # the whole batch came from the current permutation
            return perm[self._pos - batch_size:self._pos]
        from_previous = batch_size - self._pos
        if previous is not None:
            head = previous[n - from_previous:]
        else:  # resumed in the middle of the epoch: its permutation was never on the device
            head = to_namespace(host_idx[:from_previous], xp)
        return xp.concat([head, perm[:self._pos]])

    def _fit_step(self, x: Any, y: Any, n: int, batch_size: int) -> float:
        """:meth:`step` on the next minibatch; rewinds the streams if the step does not finish.

        So after a Ctrl-C or a divergence in the middle of a step, the trainer is exactly in
        the state after the last completed iteration, and saving it resumes the same run.
        """
        streams, done = self._streams(), self.iteration
        try:
            idx = self._next_indices(n, batch_size)
            if self.on_device:
                idx = self._device_indices(idx, n, batch_size)
                return self.step(self.xp.take(x, idx, axis=0), self.xp.take(y, idx, axis=0))
            return self.step(x[idx], y[idx])
        except BaseException:
            if self.iteration == done:
                self._rewind(streams)
            raise

    # -- evaluation -------------------------------------------------------------------
    def evaluate(self, x: Any, y: Any, mc_samples: int = 50) -> dict[str, float | None]:
        """Error and NLL of standard and MC-dropout prediction on ``(x, y)``.

        MC prediction uses the same masks at every call (a fixed seed derived from the
        trainer's), so changes between evaluations come from the weights, not the masks.

        Returns
        -------
        dict
            ``std_error, std_nll, mc_error, mc_nll`` (the ``mc_*`` are None if
            ``mc_samples == 0``).
        """
        y = to_numpy(y)
        std = standard_predict(self.model, x)
        if not np.all(np.isfinite(std.probs)):
            # finite weights so large that the logits overflow: the run has diverged
            raise TrainingDiverged(self.iteration, "the predictions are not finite",
                                   self.optimizer.lr, *(self._saved or (None, None)))
        out: dict[str, float | None] = {"std_error": error(std.probs, y),
                                        "std_nll": nll(std.probs, y),
                                        "mc_error": None, "mc_nll": None}
        if mc_samples:
            mc = mc_predict(self.model, x, samples=mc_samples, seed=self._eval_seed)
            out["mc_error"], out["mc_nll"] = error(mc.probs, y), nll(mc.probs, y)
        return out

    def _elapsed_now(self) -> float:
        running = 0.0 if self._clock is None else time.perf_counter() - self._clock
        return self._elapsed + running

    def _record_row(self, val: tuple[Any, Any] | None, mc_samples: int,
                    log: _EvalLog | None, bar: Any = None) -> dict[str, Any]:
        """Evaluate, append a history row (and a log line), and reset the running loss."""
        # finite loss but non-finite weights (one update overflowed): diverged, not bad input
        self._check_finite()
        if bar is not None and val is not None:  # an evaluation takes seconds: say so
            bar.set_postfix(status=f"evaluating (MC T={mc_samples})" if mc_samples
                            else "evaluating")
        metrics = (self.evaluate(*val, mc_samples=mc_samples) if val is not None
                   else dict.fromkeys(("std_error", "std_nll", "mc_error", "mc_nll")))
        if bar is not None:
            bar.set_postfix()  # evaluation over; the next update shows the loss again
        train_loss = self._running_loss() if self._loss_count else None
        row = {"iteration": self.iteration, "epoch": self.epoch, "train_loss": train_loss,
               "lr": self.optimizer.lr, **metrics, "time": self._elapsed_now()}
        self.history.rows.append(row)
        self._loss_sum, self._loss_count = 0.0, 0
        self._last_row = self.iteration
        if log is not None:
            log.append(row)
        if isinstance(bar, LineProgress) and val is not None:  # off a terminal: a line each
            mc = "" if row["mc_error"] is None else f", MC T={mc_samples} {row['mc_error']:.4f}"
            bar.write(f"{bar.desc}: iteration {row['iteration']}: test error standard "
                      f"{row['std_error']:.4f}{mc}")
        return row

    # -- input checks -----------------------------------------------------------------
    def _check_inputs(self, x: Any, name: str) -> Any:
        """``x`` on the backend in the model's dtype, after checking its shape and kind."""
        if x is None or not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise ValueError(f"{name} must be an array, got {type(x).__name__}")
        if not xp_of(x).isdtype(x.dtype, "real floating"):
            raise ValueError(f"{name} must be floating point (scaled images, see "
                             f"tinybcnn.data.as_float), got {x.dtype}")
        in_shape = getattr(self.model, "in_shape", None)
        if in_shape is not None and tuple(x.shape[1:]) != tuple(in_shape):
            raise ValueError(f"{name} must have shape (N, {', '.join(map(str, in_shape))}) for "
                             f"this model, got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} is empty")
        x = to_namespace(x, self.xp, _param_dtype(self.model))
        # checked once here, so bad data is reported as bad data rather than as divergence
        xp = xp_of(x)
        if not bool(xp.all(xp.isfinite(x))):
            raise ValueError(f"{name} contains NaN or infinite values")
        return x

    def _check_targets(self, y: Any, n: int, name: str) -> Any:
        """Labels (int64, in range) or regression targets, on the backend, ``n`` of them."""
        if y is None or not hasattr(y, "shape"):
            raise ValueError(f"{name} must be an array, got {type(y).__name__}")
        if y.shape[0] != n:
            raise ValueError(f"{name} has {y.shape[0]} entries but there are {n} inputs")
        if getattr(self.objective, "likelihood", "softmax") != "softmax":
            return to_namespace(y, self.xp, _param_dtype(self.model))
        host = to_numpy(y)
        if host.ndim != 1 or host.dtype.kind not in "iu":
            raise ValueError(f"{name} must be integer class labels of shape ({n},), "
                             f"got {host.dtype} {host.shape}")
        k = _n_outputs(self.model)
        if k is not None and host.size and (host.min() < 0 or host.max() >= k):
            raise ValueError(f"{name} must lie in [0, {k}) for this {k}-class model, got "
                             f"labels from {host.min()} to {host.max()}")
        return to_namespace(host, self.xp, np.int64)

    def _check_same_run(self, n: int, batch_size: int) -> None:
        """A resumed run must go on with the data size and batch size it was started with."""
        if self.iteration and self._n_train is not None:
            if n != self._n_train:
                raise ValueError(f"this run was trained on {self._n_train} examples, got {n}: "
                                 "resume with the same training data (or start a new Trainer)")
            if batch_size != self._batch_size:
                raise ValueError(f"this run used batch_size {self._batch_size}, got "
                                 f"{batch_size}: resume with the same batch size")
        self._n_train, self._batch_size = n, batch_size

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
        checkpoint_path : path, optional
            Written every ``checkpoint_every`` iterations, at the end, and on Ctrl-C.
        checkpoint_every : int, optional
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
        x = self._check_inputs(x_train, "x_train")
        n = int(x.shape[0])
        y = self._check_targets(y_train, n, "y_train")
        batch_size = _positive_int(batch_size, "batch_size")
        if batch_size > n:
            raise ValueError(f"batch_size ({batch_size}) is larger than the training set ({n})")
        target = _target_iteration(iterations, epochs, n, batch_size)
        val = self._check_validation(x_val, y_val)
        eval_every = None if eval_every is None else _positive_int(eval_every, "eval_every")
        mc_samples = _positive_int(mc_samples, "mc_samples", minimum=0)
        if checkpoint_every is not None:
            checkpoint_every = _positive_int(checkpoint_every, "checkpoint_every")
            if checkpoint_path is None:
                raise ValueError("checkpoint_every needs a checkpoint_path")
        if log_path is not None:
            _log_format(Path(log_path))  # fail before training, not at the first row
        self._check_same_run(n, batch_size)
        log = _EvalLog(log_path, self.history) if log_path is not None else None

        self._clock = time.perf_counter()
        bar = progress_bar(target, self.iteration, enabled=bool(progress),
                           desc=progress if isinstance(progress, str) else "train")
        # divergence is detected explicitly (TrainingDiverged); NumPy's overflow warnings on
        # the way there would only clutter the terminal
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                while True:
                    if self.iteration > self._last_row and (
                            self.iteration == target
                            or (eval_every is not None and self.iteration % eval_every == 0)):
                        self._record_row(val, mc_samples, log, bar)
                    due = self._checkpoint_due(target, checkpoint_every)
                    if checkpoint_path is not None and due:
                        self.save(checkpoint_path)
                    if self.iteration >= target:
                        break
                    self._fit_step(x, y, n, batch_size)
                    bar.update(1)
                    # the running mean since the last row: one minibatch's loss is too noisy.
                    # On a device reading it waits for the device, so only every few steps
                    # and only for a bar that is shown.
                    if not bar.disable and (not self.on_device
                                            or self.iteration % _DEVICE_READ_EVERY == 0):
                        bar.set_postfix(loss=f"{self._running_loss():.4f}",
                                        lr=f"{self.optimizer.lr:.3g}", refresh=False)
            except TrainingDiverged as exc:
                saved_path, saved_it = self._saved if self._saved is not None else (None, None)
                raise TrainingDiverged(exc.iteration, exc.what, exc.lr, saved_path,
                                       saved_it) from None
            except KeyboardInterrupt as exc:
                if isinstance(exc, TrainingInterrupted):
                    raise
                path = self.save(checkpoint_path) if checkpoint_path is not None else None
                raise TrainingInterrupted(self.iteration, path) from None
            finally:
                bar.close()
                self._elapsed, self._clock = self._elapsed_now(), None
        return self.history

    def _check_validation(self, x_val: Any, y_val: Any) -> tuple[Any, Any] | None:
        if (x_val is None) != (y_val is None):
            raise ValueError("give both x_val and y_val, or neither")
        if x_val is None:
            return None
        if getattr(self.objective, "likelihood", "softmax") != "softmax":
            raise ValueError("evaluation during fit is for classifiers; leave x_val out")
        x = self._check_inputs(x_val, "x_val")
        return x, to_numpy(self._check_targets(y_val, int(x.shape[0]), "y_val"))

    def _checkpoint_due(self, target: int, every: int | None) -> bool:
        if self.iteration == 0 or self._saved_at == (self.iteration, len(self.history)):
            return False
        return self.iteration == target or (every is not None and self.iteration % every == 0)

    # -- checkpoints ------------------------------------------------------------------
    def _objective_description(self) -> dict[str, Any]:
        return {k: getattr(self.objective, k, None)
                for k in ("likelihood", "tau", "length_scale", "weight_decay", "n_train")}

    def state(self) -> dict[str, Any]:
        """The trainer's state as JSON-able values (without parameters and optimiser buffers)."""
        return {
            "seed": self.seed,
            "iteration": self.iteration,
            "epochs_started": self._epochs_started,
            "position": self._pos,
            "n_train": self._n_train,
            "batch_size": self._batch_size,
            "backend": namespace_name(self.xp),
            "rng": {"dropout": {"keyed_by": "seed,iteration", "seed": self._dropout_seed},
                    "shuffle": _rng_state(self.shuffle_rng)},
            "loss_sum": float(self._loss_sum),
            "loss_count": self._loss_count,
            "last_row": self._last_row,
            "elapsed": self._elapsed_now(),
            "objective": self._objective_description(),
            "history": [_finite_or_none(row) for row in self.history],
        }

    def _check_finite(self) -> None:
        """Refuse to save a state with NaN or infinite parameters (or a non-finite loss).

        One reduction over all parameters, so one read-back on a device; the name of the
        bad parameter is looked for only when there is one.
        """
        if self.on_device and self._loss_count:
            self._running_loss()  # a deferred non-finite loss is reported as such
        params = self.model.params
        xp = self.xp
        flags = [xp.all(xp.isfinite(value)) for value in params.values()]
        if bool(xp.all(xp.stack(flags))):
            return
        for (name, _), ok in zip(params.items(), flags, strict=True):
            if not bool(ok):
                saved_path, saved_it = self._saved if self._saved is not None else (None, None)
                raise TrainingDiverged(self.iteration, f"parameter {name} is not finite",
                                       self.optimizer.lr, saved_path, saved_it)

    def save(self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint (model, optimiser, trainer state) atomically to ``path``.

        ``extra`` is any JSON-able dict to keep alongside (e.g. the command line that
        started the run); it is read back as ``read_checkpoint(path).header["extra"]``.

        Raises
        ------
        TrainingDiverged
            If a parameter is NaN or infinite; the file on disk is then left as it was.
        """
        self._check_finite()
        arrays = {"perm": self._perm} if self._perm is not None else {}
        path = save_checkpoint(path, self.model, self.optimizer, trainer=self.state(),
                               arrays=arrays, extra=extra)
        self._saved = (path, self.iteration)
        self._saved_at = (self.iteration, len(self.history))
        return path

    def resume(self, path: str | os.PathLike[str]) -> Checkpoint:
        """Restore parameters, optimiser, RNG streams, position and history from ``path``.

        The checkpoint must come from the same kind of model, optimiser and objective (see
        :func:`tinybcnn.checkpoint.check_compatible`); nothing is changed if it does not.
        The dropout stream needs no state: each step's generator is keyed by
        ``(seed, iteration)``, so the resumed run is bitwise the uninterrupted one on every
        backend.

        Raises
        ------
        CheckpointError
            If the file is damaged or does not fit this trainer.
        """
        ckpt = read_checkpoint(path)
        check_compatible(ckpt, self.model, self.optimizer)
        state = ckpt.trainer
        if not isinstance(state, dict):
            raise CheckpointError(f"{ckpt.path}: holds no trainer state (written by "
                                  "save_checkpoint, not Trainer.save)")
        try:
            restored = self._restored_streams(ckpt, state)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"{ckpt.path}: malformed trainer state ({exc!r})") from None
        apply_checkpoint(ckpt, self.model, self.optimizer)
        self.shuffle_rng, self._perm = restored
        self.seed = int(state["seed"])
        self._dropout_seed, _, self._eval_seed = _child_seeds(self.seed, 3)
        self.iteration = int(state["iteration"])
        self._epochs_started, self._pos = int(state["epochs_started"]), int(state["position"])
        self._n_train, self._batch_size = state["n_train"], state["batch_size"]
        self._loss_sum, self._loss_count = float(state["loss_sum"]), int(state["loss_count"])
        self._loss_read_at = self.iteration  # a checkpoint is only written with a finite loss
        self._last_row, self._elapsed = int(state["last_row"]), float(state["elapsed"])
        self.history = History([dict(row) for row in state["history"]])
        self._saved = (ckpt.path, self.iteration)
        self._saved_at = (self.iteration, len(self.history))
        return ckpt

    def _restored_streams(self, ckpt: Checkpoint,
                          state: dict[str, Any]) -> tuple[np.random.Generator, Any]:
        """Check the saved state against this trainer and rebuild its random streams."""
        saved_obj, this_obj = state["objective"], self._objective_description()
        for key in sorted(this_obj):
            if saved_obj.get(key) != this_obj[key]:
                raise CheckpointError(f"{ckpt.path}: checkpoint was trained with objective "
                                      f"{key}={saved_obj.get(key)}, this trainer's has "
                                      f"{key}={this_obj[key]}")
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


def _finite_or_none(row: dict[str, Any]) -> dict[str, Any]:
    """A history row with NaN/inf replaced by None (checkpoint headers are strict JSON)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in row.items()}
