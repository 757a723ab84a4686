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

import numpy as np

import tinybcnn as tb
from tinybcnn.threads import apply_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    choice = apply_threads(args.threads)
    print(f"BLAS threads: {choice.threads} ({choice.reason})")
    rng = np.random.default_rng(0)
    xs = [rng.random((64, 1, 28, 28), dtype=np.float32) for _ in range(8)]
    ys = [rng.integers(0, 10, 64) for _ in range(8)]
    model = tb.models.lenet("all", seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=60000, weight_decay=5e-4)
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
    trainer = tb.train.Trainer(model, obj, opt, seed=0)
    count = [0]

    def step() -> None:
        i = count[0] % len(xs)
        count[0] += 1
        trainer.step(xs[i], ys[i])

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
