"""Profile LeNet-all training steps (batch 64, float32) with cProfile.

    python benchmarks/profile_step.py [--steps 30]

Prints the median step time and the functions with the most self time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

import numpy as np

import tinybcnn as tb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    model = tb.models.lenet("all", seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=60000, weight_decay=5e-4)
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
    masks = tb.random.make_rng(0)

    def step() -> None:
        obj(model, x, y, rng=masks)
        opt.step()

    for _ in range(5):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(f"median step: {1e3 * statistics.median(times):.1f} ms over {args.steps} steps")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.steps):
        step()
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
