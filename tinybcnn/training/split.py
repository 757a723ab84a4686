"""A NumPy training step in two fixed halves, side by side on two cores.

A NumPy step always computes the same thing, whatever the thread count or the load: the two
halves of its batch (:func:`tinybcnn.threads.parts_for`, which depends on the batch size and
the model's size only), each half's forward and backward pass with one BLAS thread, the two
gradients added in a fixed order. The thread count (:func:`tinybcnn.threads.step_threads`)
decides only when the halves run: side by side in two threads on 2 threads or more, one
after the other on 1. So the same seed trains to the same bits on 1 and on 2 threads, on a
busy and an idle machine.

Why halves, on a 2-core CPU: BLAS threads speed up the matrix products of a step and nothing
else: the rest of a LeNet step (im2col copies, masks, pooling, bias, col2im adds, about half
of its time) runs on one core. NumPy releases the GIL inside its loops and products, so two
halves in two threads keep both cores working through the whole step: on a 2-core AMD EPYC a
LeNet-all step took about 15% less time than the whole batch on 2 BLAS threads
(``benchmarks/README.md``). It also keeps a busy machine from the spinning cliff of
``tinybcnn/threads.py``: the halves never wait for each other inside a product, so a step
keeps them while another process takes a core (1.4–2.0× its time alone, against 2.8–3.2× for
the whole batch on one thread).

Why one BLAS thread per half, always: OpenBLAS rounds a product differently on different
thread counts (measured in :mod:`tinybcnn.threads`), so a half's products may not follow the
BLAS count in force, nor a count derived from it. On more than 2 threads the two halves
still run side by side on one BLAS thread each: the step leaves the other cores free (a
faster step there would need a partition into more parts, fixed by the batch size, not
measured here).

Side by side, the first half runs on the model itself, the second on a replica
(:meth:`tinybcnn.nn.Sequential.replica`: the same parameter arrays, its own caches and
gradients), made anew each step from the model and handed the previous replica's caches, so
that the memory allocator sees the same pattern of frees as for the model's own layers. One
after the other, both run on the model (its buffers stay warm in the caches), the first
half's gradient copied aside before the second overwrites it. A
batch of one row, or a step too small to gain from halves (below
:data:`tinybcnn.threads.MIN_SPLIT_WORK`: the regression MLP), is one part: the plain
whole-batch pass, still on one BLAS thread.

What the halves keep of the whole-batch step:

* the **masks**: both halves take their rows of the masks that one pass over the whole
  batch draws (:class:`tinybcnn.random.SharedDraws`), bit for bit;
* the **objective**: each half's data term and gradient are weighted by its share of the
  batch (:meth:`~tinybcnn.objective.Objective.data_pass`), the two gradients are added in a
  fixed order (first half + second half), and the decay is added once.

The float32 sums of the weight gradients are taken over each half and then added, so the
step rounds differently from a whole-batch pass (the textbook
``objective(model, x, y, rng=rng)``), by a few units in the last place.

Other backends: arrays other than NumPy's run the whole batch in one pass, as do a model
or objective of one's own that cannot be split (no ``replica`` or ``data_pass``). On CuPy
the CPU's thread count and load do not enter the step at all: it launches the same kernels
whatever they are (cuBLAS documents bit-wise equal results from run to run on GPUs of the
same architecture and SM count). array_api_strict, CI's stand-in for CuPy, wraps NumPy, so
its products, like those of a model or objective of one's own on NumPy, run on the BLAS
count in force, and their last bits follow it.
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
    """How many parts a training step of ``model`` on ``x`` runs in: :func:`parts_for` of
    its rows and the model's size (2, or 1 for a single row or a small step), whatever the
    threads; 0 where it is not split at all (arrays other than NumPy's, and a model or
    objective of the user's own that cannot be, with no ``replica`` or ``data_pass``): the
    whole batch then runs in one plain pass."""
    if not (isinstance(x, np.ndarray) and hasattr(model, "replica")
            and hasattr(objective, "data_pass")):
        return 0
    return parts_for(x.shape[0], _param_count(model))


def _param_count(model: Any) -> int:
    """The model's parameters, counted (:func:`~tinybcnn.threads.parts_for` weighs a step's
    work by them)."""
    return sum(int(p.size) for p in model.params.values())


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
                         rng: np.random.Generator, side_by_side: bool | None = None) -> float:
    """The objective on the batch ``x`` in its fixed parts; fills ``model.grads`` like a
    single pass.

    Parameters
    ----------
    objective : tinybcnn.objective.Objective
    model : tinybcnn.nn.Sequential
        Runs the first half; side by side, a :meth:`~tinybcnn.nn.Sequential.replica` (the
        same parameter arrays and settings, its own caches and gradients, made anew each step
        so that it follows any change to the model) runs the second; one after the other,
        the model runs both.
    x : ndarray, shape (B, ...), B >= 1
        Two halves from two rows and enough work (:func:`~tinybcnn.threads.parts_for`), else
        one part.
    target : ndarray, shape (B,) or (B, D)
    rng : numpy.random.Generator
        The step's dropout generator; the masks are those one pass over ``x`` would draw.
    side_by_side : bool, optional
        Run the halves in two threads (True) or one after the other (False). None (the
        default): side by side where the step may use 2 threads or more
        (:func:`~tinybcnn.threads.step_threads`). The result is the same bit for bit.

    Returns
    -------
    float
        ``L``, the data term of the whole batch plus the decay, as ``objective(model, x,
        target, rng=rng)`` returns it up to rounding.
    """
    n = x.shape[0]
    if parts_for(n, _param_count(model)) == 1:   # one part: the plain pass, on one BLAS thread
        with limit_blas(1):
            return float(objective(model, x, target, rng=rng))
    if side_by_side is None:
        side_by_side = step_threads() >= 2
    rows = split_rows(n, 2)
    draws = SharedDraws(rng, n)
    halves = [model, model]        # one after the other: both on the model, its caches warm
    if side_by_side:
        halves[1] = _twins[model] = model.replica(_twins.get(model))

    # NumPy's floating-point error handling (np.errstate) belongs to each thread: the second
    # half runs under this thread's, so that e.g. a training loop that silences overflow
    # warnings (it detects divergence itself) silences them in both halves
    float_errors = np.geterr()

    def run(k: int) -> Any:
        start, stop = rows[k]
        with np.errstate(**float_errors):
            return objective.data_pass(halves[k], x[start:stop], target[start:stop],
                                       rng=draws.part(start, stop), weight=(stop - start) / n)

    # One BLAS thread per half, for all of it, the decay's dot products too, whatever the
    # count in force: OpenBLAS rounds a product differently on another thread count (see
    # the module's notes), and on two threads a BLAS call would wake OpenBLAS's idle worker,
    # which then spins for a while and takes a core from the halves.
    with limit_blas(1):
        if side_by_side:
            second: Future = _executor().submit(run, 1)
            try:
                first = run(0)
            finally:   # never leave the other half running (e.g. on Ctrl-C)
                wait([second])
            data = float(first) + float(second.result())
            other = halves[1].grads                    # the second half's gradient
        else:
            first = float(run(0))
            # the first half's gradient, kept: the second half overwrites the model's; the
            # sum below is then g2 + g1, the same bits as g1 + g2 (IEEE addition commutes)
            other = {name: g.copy() for name, g in model.grads.items()}
            data = first + float(run(1))
        grads = model.grads
        for name, g in other.items():
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
