"""Count the array operations of one LeNet-all training step on the device path (batch 64).

    python benchmarks/count_launches.py [--batch 64] [--by-name]

On a GPU a LeNet step is launch-bound: every array operation is (at least) one kernel launch
and 10-30 µs of host time, so the number of operations per step bounds the step time from
below whatever the GPU. This counts them on ``array_api_strict`` (the CPU stand-in running
the same code as CuPy): every call of a namespace function (``linalg`` and ``fft`` included)
and every array operator of ``Trainer.step`` as ``Trainer.fit`` runs it (labels checked once
before the first step), the outermost call only (a function calling another counts once). They
are split into *compute* operations (arithmetic, reductions, GEMMs, creations, copies and
``__setitem__``: one or more kernels each on CuPy) and *views and indexing* (``reshape``,
``permute_dims``, ``.T``, ``__getitem__``: no kernel for a view; a ``reshape`` that must copy,
which array_api_strict cannot show, is one more on CuPy: ``tests/device/test_cupy_double.py``
counts those). A fused operation (:class:`tinybcnn.fused.Elementwise`, one CuPy kernel) runs
its twin's array operations here and counts as one compute operation, ``fused:<kernel>``.
These are the categories of
issue 23's figures (395 compute, 238 views/indexing at commit cae64ca).
``tests/device/test_launch_count.py`` holds the compute count to its bar.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

# views and indexing: no arithmetic (on CuPy, __setitem__ is one copy kernel)
VIEWS = frozenset({"__getitem__", "reshape", "permute_dims", "matrix_transpose",
                   "expand_dims", "squeeze", "broadcast_to", "T", "mT"})
# host queries, not device work
IGNORED = frozenset({"__array_namespace__", "isdtype", "finfo", "iinfo", "__index__",
                     "__repr__", "__hash__", "__iter__", "__len__", "__array__", "__buffer__",
                     "__dlpack__", "__dlpack_device__", "__reduce__", "__str__",
                     "__array_namespace_info__", "result_type", "can_cast",
                     "get_array_api_strict_flags"})


@contextlib.contextmanager
def counting(by_place: bool = False) -> Iterator[collections.Counter]:
    """Count ``array_api_strict`` namespace calls and array operators inside the block
    (keyed by name, or with ``by_place`` by the tinybcnn function that made them)."""
    import array_api_strict as xp
    from array_api_strict._array_object import Array

    counts: collections.Counter = collections.Counter()
    depth = [0]

    def counted(name: str, f: Any) -> Any:
        @functools.wraps(f)
        def call(*args: Any, **kwargs: Any) -> Any:
            if depth[0] == 0:
                counts[f"{_place()} {name}" if by_place else name] += 1
            depth[0] += 1
            try:
                return f(*args, **kwargs)
            finally:
                depth[0] -= 1
        return call

    saved: list[tuple[Any, str, Any]] = []
    # the namespace and its extensions (linalg, fft), whose functions compute on the
    # underlying arrays directly and so would not show through the operators
    for module, prefix in ((xp, ""), (xp.linalg, "linalg."), (xp.fft, "fft.")):
        for name in module.__all__:
            f = getattr(module, name)
            if callable(f) and not isinstance(f, type) and name not in IGNORED:
                saved.append((module, name, f))
                setattr(module, name, counted(prefix + name, f))
    for name, f in list(vars(Array).items()):
        if name.startswith("__") and callable(f) and name not in IGNORED and name not in {
                "__new__", "__init__", "__bool__", "__float__", "__int__", "__complex__"}:
            saved.append((Array, name, f))
            setattr(Array, name, counted(name, f))
    for name in ("T", "mT"):
        prop = vars(Array)[name]
        saved.append((Array, name, prop))
        setattr(Array, name, property(counted(name, prop.fget)))
    # a fused operation is one kernel launch on CuPy: its twin's operations count as one
    from tinybcnn.fused import Elementwise

    fused_call = vars(Elementwise)["__call__"]
    saved.append((Elementwise, "__call__", fused_call))

    def fused(op: Any, *args: Any) -> Any:
        return counted(f"fused:{op.name}", fused_call)(op, *args)

    Elementwise.__call__ = fused  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        for owner, name, f in saved:
            setattr(owner, name, f)


def _place() -> str:
    """``module:function`` of the innermost tinybcnn frame of the caller."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("tinybcnn"):
            return f"{module.removeprefix('tinybcnn.')}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


def split(counts: collections.Counter) -> tuple[int, int]:
    """``(compute, views)`` totals of a count."""
    views = sum(n for k, n in counts.items() if k in VIEWS)
    return sum(counts.values()) - views, views


def step_counts(batch: int = 64, by_place: bool = False,
                labels_checked: bool = True) -> collections.Counter:
    """The operations of one LeNet-all ``Trainer.step`` (SGD, the paper's solver) at ``batch``
    on ``array_api_strict``, after two warm-up steps (first-step caches are not counted).

    By default the step as ``Trainer.fit`` runs it: the labels were range-checked once before
    the first step, so the step skips the NaN guard on device labels; ``labels_checked=False``
    counts a bare ``trainer.step(x, y)`` on device labels (four operations more).
    """
    import array_api_strict as xp

    import tinybcnn as tb
    from tinybcnn.backend import get_backend, set_backend, to_namespace

    before = get_backend()
    set_backend("array_api_strict")
    try:
        model = tb.models.lenet("all", seed=0)
        objective = tb.objective.Objective.for_model(model, n_train=60_000, length_scale=1e-2)
        optimizer = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
        trainer = tb.train.Trainer(model, objective, optimizer, seed=0)
        rng = np.random.default_rng(0)
        x = to_namespace(rng.random((batch, 1, 28, 28), dtype=np.float32), xp)
        y = to_namespace(rng.integers(0, 10, batch), xp)
        for _ in range(2):
            trainer.step(x, y, labels_checked=labels_checked)
        with counting(by_place) as counts:
            trainer.step(x, y, labels_checked=labels_checked)
    finally:
        set_backend(before)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--by-name", action="store_true", help="list every operation's count")
    parser.add_argument("--by-place", action="store_true",
                        help="list the operations of each tinybcnn function")
    args = parser.parse_args()
    counts = step_counts(args.batch)
    compute, views = split(counts)
    print(f"LeNet-all training step, batch {args.batch}, array_api_strict: "
          f"{compute} compute operations, {views} views/indexing")
    bare, _ = split(step_counts(args.batch, labels_checked=False))
    print(f"  (as Trainer.fit runs it; a bare trainer.step on unchecked device labels: {bare})")
    if args.by_place:
        for place, n in step_counts(args.batch, by_place=True).most_common():
            print(f"  {n:4d}  {place}")
    if args.by_name:
        for name, n in counts.most_common():
            print(f"  {n:4d}  {name}{'  (view/index)' if name in VIEWS else ''}")


if __name__ == "__main__":
    main()
