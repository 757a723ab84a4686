"""What two halves side by side cost: one half-batch pass alone, beside a thread, beside a process.

    python benchmarks/gil.py [--passes 300]

A split training step (``tinybcnn/training/split.py``) runs the two halves of a batch in two
threads of one process. This times one half's pass (forward and backward of LeNet-all on 32
images, one BLAS thread) in a loop: alone; while a second thread of the same process runs
the same loop; and while a second *process* runs it. The two side-by-side cases share the
cores, the caches and the memory bandwidth alike; only the threads share the interpreter
and its GIL. Wall and CPU time per pass are medians; wall minus CPU is time spent waiting.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tinybcnn as tb
from tinybcnn.threads import apply_threads


def half_pass(seed: int = 0) -> Callable[[], Any]:
    """One half of bench.py's LeNet-all step: forward and backward on 32 images."""
    model = tb.models.lenet("all", seed=seed)
    objective = tb.objective.Objective.for_model(model, n_train=60000, weight_decay=5e-4)
    rng = np.random.default_rng(seed)
    x = rng.random((32, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    return lambda: objective.data_pass(model, x, y, rng=rng, weight=0.5)


def timed(run: Callable[[], Any], passes: int) -> tuple[float, float]:
    """Median wall and CPU (this thread) milliseconds of ``passes`` calls, after a few
    untimed ones."""
    for _ in range(min(20, passes)):
        run()
    wall, cpu = [], []
    for _ in range(passes):
        start, start_cpu = time.perf_counter(), time.thread_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def beside(kind: str, passes: int) -> tuple[float, float]:
    """:func:`timed` while a thread or a process runs the same loop."""
    run = half_pass()
    if kind == "alone":
        return timed(run, passes)
    if kind == "thread":
        stop = threading.Event()
        loop = half_pass()

        def keep_running() -> None:
            while not stop.is_set():
                loop()

        other = threading.Thread(target=keep_running)
        other.start()
        try:
            return timed(run, passes)
        finally:
            stop.set()
            other.join()
    pid = os.fork()   # the child runs the same loop until it is killed below
    if pid == 0:
        loop = half_pass()
        try:
            while os.getppid() != 1:
                loop()
        finally:
            os._exit(0)
    try:
        return timed(run, passes)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=300, help="timed passes of each (300)")
    args = parser.parse_args(argv)
    apply_threads(1)
    print("| one half-batch pass (LeNet-all, 32 images, 1 BLAS thread) | wall ms | CPU ms |")
    print("|---|---|---|")
    for kind, label in (("alone", "alone"), ("process", "beside a second process"),
                        ("thread", "beside a second thread of this process")):
        wall, cpu = beside(kind, args.passes)
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
