"""Time a step in two halves against the whole-batch step on 2 BLAS threads, in one process.

    python benchmarks/halves.py [--steps 150]

Both are ``bench.py``'s LeNet-all ``Trainer.step`` (batch 64, 8 rotating batches) on two
threads: one as training runs it (the two halves of the batch side by side, one BLAS thread
each, ``tinybcnn/training/split.py``), one with the split turned off (the whole batch, its
products on 2 BLAS threads, as before the halves). They run in alternating blocks of 15
steps, the first 3 of each block untimed: the whole-batch step's 2-thread products wake
OpenBLAS's second worker, which then spins for a while and would take a core from the halves.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bench import in_blocks, lenet_step  # this folder's bench.py (run as a script)

import tinybcnn as tb
from tinybcnn.threads import apply_threads


def whole_batch(step: Callable[[], Any]) -> Callable[[], Any]:
    """``step`` with the split turned off while it runs."""
    def run() -> Any:
        split_parts = tb.train.split_parts
        tb.train.split_parts = lambda *args: 0   # 0 parts: not split, one plain pass
        try:
            return step()
        finally:
            tb.train.split_parts = split_parts
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="timed steps of each (150)")
    args = parser.parse_args(argv)
    apply_threads(2)
    halves, whole = lenet_step(0)[0], whole_batch(lenet_step(0)[0])
    t_halves, t_whole = in_blocks(halves, whole, args.steps, block=15, untimed=3)
    print(f"LeNet-all step on 2 threads, median of {args.steps} in blocks of 15: two halves "
          f"{1e3 * t_halves:.2f} ms, whole batch {1e3 * t_whole:.2f} ms, halves/whole "
          f"{t_halves / t_whole:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
