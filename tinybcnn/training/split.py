"""A training step on two cores: the two halves of a batch in two threads.

On a 2-core CPU, BLAS threads speed up the matrix products of a step and nothing else: the
rest of a LeNet step (im2col copies, masks, pooling, bias, col2im adds, about half of its
time) runs on one core. So when a step may use two threads
(:func:`tinybcnn.threads.step_threads`), a NumPy step splits its batch in two and runs each
half's forward and backward pass in its own thread, with one BLAS thread each
(:func:`tinybcnn.threads.parts_for`; with more threads the whole batch runs on all of them,
as before).
NumPy releases the GIL inside its loops and products, so both cores work through the whole
step: on a 2-core AMD EPYC a LeNet-all step took about 15% less time than with 2 BLAS
threads (``benchmarks/README.md``). It also keeps a busy machine from the spinning cliff of
``tinybcnn/threads.py``: the halves never wait for each other inside a product, so a step
keeps them while another process takes a core (1.4–2.0× its time alone, against 2.8–3.2× for
the whole batch on one thread).

The first half runs on the model itself, the second on a replica
(:meth:`tinybcnn.nn.Sequential.replica`: the same parameter arrays, its own caches and
gradients), made anew each step from the model and handed the previous replica's caches, so
that the memory allocator sees the same pattern of frees as for the model's own layers.

What does not change:

* the **masks**: both halves take their rows of the masks that one pass over the whole
  batch draws (:class:`tinybcnn.random.SharedDraws`), bit for bit;
* the **objective**: each half's data term and gradient are weighted by its share of the
  batch (:meth:`~tinybcnn.objective.Objective.data_pass`), the two gradients are added in a
  fixed order (first half + second half), and the decay is added once.

What does: the float32 sums of the weight gradients are taken over each half and then
added, so a step on two threads rounds differently from a step on one (as two BLAS threads
already did). Whether the halves run side by side or one after the other changes nothing:
the same seed and thread count give the same run, bit for bit.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from ..random import SharedDraws
from ..threads import limit_blas, parts_for, step_threads

__all__ = ["split_parts", "split_rows", "split_loss_and_grads"]

_worker: tuple[int, ThreadPoolExecutor] | None = None   # (pid that made it, executor)
# each model's last second-half replica, whose pass state the next one takes over
_twins: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def split_parts(x: Any, model: Any, objective: Any) -> int:
    """How many parts a training step of ``model`` on ``x`` runs in now: :func:`parts_for`
    of the step's thread count (:func:`~tinybcnn.threads.step_threads`); 1 for arrays other
    than NumPy's, and for a model or objective of the user's own that cannot be split (no
    ``replica`` or ``data_pass``)."""
    if not (isinstance(x, np.ndarray) and hasattr(model, "replica")
            and hasattr(objective, "data_pass")):
        return 1
    return parts_for(step_threads(), x.shape[0])


def split_rows(batch: int, parts: int = 2) -> list[tuple[int, int]]:
    """``parts`` consecutive row ranges covering ``range(batch)``, the first ones longer by
    one row where ``batch`` does not divide evenly."""
    if not 1 <= parts <= batch:
        raise ValueError(f"cannot split a batch of {batch} rows into {parts} parts")
    size, extra = divmod(batch, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + size + (k < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def split_loss_and_grads(objective: Any, model: Any, x: np.ndarray, target: np.ndarray,
                         rng: np.random.Generator, side_by_side: bool = True) -> float:
    """The objective on the batch ``x`` in two halves; fills ``model.grads`` like a single pass.

    Parameters
    ----------
    objective : tinybcnn.objective.Objective
    model : tinybcnn.nn.Sequential
        Runs the first half; a :meth:`~tinybcnn.nn.Sequential.replica` (the same parameter
        arrays and settings, its own caches and gradients, made anew each step so that it
        follows any change to the model) runs the second.
    x : ndarray, shape (B, ...), B >= 2
    target : ndarray, shape (B,) or (B, D)
    rng : numpy.random.Generator
        The step's dropout generator; the masks are those one pass over ``x`` would draw.
    side_by_side : bool
        Run the halves in two threads (True) or one after the other (False, for tests: the
        result is the same bit for bit).

    Returns
    -------
    float
        ``L``, the data term of the whole batch plus the decay, as ``objective(model, x,
        target, rng=rng)`` returns it up to rounding.
    """
    n = x.shape[0]
    draws = SharedDraws(rng, n)
    halves = [model, model.replica(_twins.get(model))]
    _twins[model] = halves[1]
    rows = split_rows(n, len(halves))

    # NumPy's floating-point error handling (np.errstate) belongs to each thread: the second
    # half runs under this thread's, so that e.g. a training loop that silences overflow
    # warnings (it detects divergence itself) silences them in both halves
    float_errors = np.geterr()

    def run(k: int) -> Any:
        start, stop = rows[k]
        with np.errstate(**float_errors):
            return objective.data_pass(halves[k], x[start:stop], target[start:stop],
                                       rng=draws.part(start, stop), weight=(stop - start) / n)

    # One BLAS thread per half, for all of it, the decay's dot products too: a BLAS call on
    # two threads would wake OpenBLAS's idle worker, which then spins for a while and takes a
    # core from the halves.
    with limit_blas(1):
        if side_by_side:
            second: Future = _executor().submit(run, 1)
            try:
                first = run(0)
            finally:   # never leave the other half running (e.g. on Ctrl-C)
                wait([second])
            data = float(first) + float(second.result())
        else:
            data = float(run(0)) + float(run(1))
        grads = model.grads
        for name, g in halves[1].grads.items():
            grads[name] += g
        objective.add_penalty_grad(model.params, grads)
        return data + objective.penalty(model.params)


def _executor() -> ThreadPoolExecutor:
    """The one worker thread of this process (a new one after a fork: threads do not survive
    ``fork``, and the old executor would wait for a thread that is not there)."""
    global _worker
    if _worker is None or _worker[0] != os.getpid():
        _worker = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="tinybcnn-half"))
    return _worker[1]
