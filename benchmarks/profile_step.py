"""Profile LeNet-all training steps (batch 64, float32) with cProfile.

    python benchmarks/profile_step.py [--steps 30] [--threads N]

Times ``Trainer.step`` on 8 rotating batches (the BLAS thread count from
:mod:`tinybcnn.threads` unless given) and prints the median step time, the page faults per
step, and the functions with the most self time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import statistics
import time

from bench import tiny_step_fn  # this folder's bench.py (run as a script)

from tinybcnn.threads import apply_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    choice = apply_threads(args.threads)
    print(f"BLAS threads: {choice.threads} ({choice.reason})")
    step = tiny_step_fn()  # bench.py's LeNet-all step, the one its table times
    for _ in range(5):
        step()
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.steps
    print(f"median step: {1e3 * statistics.median(times):.1f} ms over {args.steps} steps, "
          f"{faults:.0f} page faults per step")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.steps):
        step()
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(16)


if __name__ == "__main__":
    main()
