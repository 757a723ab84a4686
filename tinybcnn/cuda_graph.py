"""FAST PATH (opt-in, CuPy only): a whole training step captured once and replayed as a CUDA graph.

A LeNet step on a GPU is a few hundred small kernels; launching them from Python costs more
than running them. CUDA graphs record the kernels of one step once (CuPy stream capture) and
replay them with a single launch. The readable path, :meth:`tinybcnn.train.Trainer.step`,
stays the reference: :class:`GraphStep` does exactly what it does (same forward, objective,
masks and SGD update), tested against it on array_api_strict with the capture switched off
(``tests/test_cuda_graph.py``) and on a GPU with it on.

What a replay cannot change is baked into the graph: shapes, kernel arguments, and the
addresses of every array. So everything that varies from step to step lives in device
buffers written *before* each replay:

* the minibatch, copied into fixed input buffers;
* the dropout key of the step, ``step_key(seed, iteration)``, as two 32-bit halves (the
  generator is :class:`tinybcnn.random.CounterRNG`, which reads its key from them);
* the learning rate of the schedule, as a 0-d array.

Capture needs a step that never waits for the host (a synchronisation inside a capture is an
error), which is what ``tests/test_sync.py`` checks. Temporaries of the captured step come
from a private memory pool kept alive with the graph, so no other array can take their place
between replays. Only SGD (the paper's optimiser) is supported.

Usage::

    step = GraphStep(trainer, batch_shape=(64, 1, 28, 28))
    loss = step(xb, yb)          # like trainer.step(xb, yb), xb and yb on the GPU
"""

from __future__ import annotations

from typing import Any

from .backend import BackendError, namespace_name, xp_of
from .optim import SGD
from .random import CounterRNG, step_key

__all__ = ["GraphStep"]


class GraphStep:
    """A training step of ``trainer`` as a replayable CUDA graph (``capture=False``: eager).

    Parameters
    ----------
    trainer : Trainer
        Its model must live on CuPy (or array_api_strict with ``capture=False``), its
        optimiser must be :class:`~tinybcnn.optim.SGD`.
    batch_shape : tuple of int
        Shape of every minibatch ``xb`` (a graph has fixed shapes).
    capture : bool
        Capture and replay a CUDA graph (needs CuPy); ``False`` runs the same buffered step
        eagerly, which is what the CPU tests compare with :meth:`Trainer.step`.
    """

    def __init__(self, trainer: Any, batch_shape: tuple[int, ...], capture: bool = True) -> None:
        if not isinstance(trainer.optimizer, SGD):
            raise ValueError("GraphStep supports the SGD optimiser only")
        like = next(iter(trainer.model.params.values()))
        xp = xp_of(like)
        if capture and namespace_name(xp) != "cupy":
            raise BackendError("CUDA graph capture needs a model on CuPy; use capture=False "
                               "(or Trainer.step) elsewhere")
        self.trainer, self.xp, self.capture = trainer, xp, capture
        device = like.device
        self._x = xp.zeros(tuple(batch_shape), dtype=like.dtype, device=device)
        self._y = xp.zeros((batch_shape[0],), dtype=xp.int64, device=device)
        self._key_hi = xp.zeros((), dtype=xp.uint64, device=device)
        self._key_lo = xp.zeros((), dtype=xp.uint64, device=device)
        self._lr = xp.zeros((), dtype=like.dtype, device=device)
        self._loss: Any = None
        self._graph: Any = None
        self._pool: Any = None

    # -- what one replay computes ---------------------------------------------------------
    def _body(self) -> Any:
        """Forward, objective, backward and the SGD update, reading only device buffers."""
        trainer, xp = self.trainer, self.xp
        rng = CounterRNG.from_key_words(self._key_hi, self._key_lo, xp, self._x.device)
        loss = trainer.objective.loss_and_grads(trainer.model, self._x, self._y, rng=rng,
                                                check_labels=False)
        opt = trainer.optimizer
        grads = trainer.model.grads
        for name, theta in trainer.model.params.items():   # SGD.step, with lr on the device
            v = opt._buffer("velocity", name, theta)
            v *= opt.momentum
            v += self._lr * grads[name]
            theta -= v
        return loss

    def _load(self, xb: Any, yb: Any) -> None:
        """Write the minibatch, the step's dropout key and learning rate into the buffers."""
        trainer = self.trainer
        self._x[...] = xb
        self._y[...] = yb
        key = step_key(trainer._dropout_seed, trainer.iteration)
        self._key_hi[...] = key >> 32
        self._key_lo[...] = key & 0xFFFFFFFF
        self._lr[...] = trainer.optimizer.lr

    def _capture(self) -> None:
        """Run the step once eagerly (it is this iteration's update, and it fills the private
        pool), then record the next one without running it."""
        import cupy

        self._pool = cupy.cuda.MemoryPool()
        with cupy.cuda.using_allocator(self._pool.malloc):
            self._loss = self._body()
            stream = cupy.cuda.Stream(non_blocking=True)
            stream.wait_event(cupy.cuda.get_current_stream().record())
            with stream:
                mode = getattr(cupy.cuda.runtime, "streamCaptureModeRelaxed", None)
                stream.begin_capture(*(() if mode is None else (mode,)))
                try:
                    self._captured_loss = self._body()
                finally:
                    self._graph = stream.end_capture()
            cupy.cuda.get_current_stream().wait_event(stream.record())

    # -- the step ---------------------------------------------------------------------------
    def __call__(self, xb: Any, yb: Any) -> Any:
        """One update, as :meth:`Trainer.step` (device path); returns the 0-d device loss."""
        trainer = self.trainer
        self._load(xb, yb)
        if not self.capture:
            loss = self._body()
        elif self._graph is None:
            self._capture()
            loss = self._loss
        else:
            self._graph.launch()
            loss = self._captured_loss
        loss = self.xp.asarray(loss, copy=True)   # the graph overwrites its own at the next replay
        trainer.optimizer.iteration += 1
        trainer.iteration += 1
        trainer._loss_sum = trainer._loss_sum + loss
        trainer._loss_count += 1
        return loss
