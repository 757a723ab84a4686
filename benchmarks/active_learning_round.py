"""Cost of one active-learning round on the embedded data (see benchmarks/README.md).

One round of ``tinybcnn experiment active-learning``: train lenet-all from scratch for 500
Adam iterations (batch 32, 100 labelled images) and score 2,000 pool images with T = 20
MC-dropout passes for BALD. Run: ``python benchmarks/active_learning_round.py [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tinybcnn.data import as_float, load_dataset, stratified_indices
from tinybcnn.experiments import active_learning as al


def main() -> None:
    """Time ``--repeats`` rounds and print the training and scoring seconds of each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = load_dataset("embedded", progress=False)
    settings = al.replace(al.FULL, iterations=500)
    labelled = stratified_indices(data.y_train, 100, 0)
    rng = np.random.default_rng(0)
    pool = as_float(data.x_train[rng.choice(len(data.y_train), 2000, replace=False)])
    x, y = as_float(data.x_train[labelled]), data.y_train[labelled]
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        model = al.train_model(x, y, data.n_classes, settings, seed=0)
        t1 = time.perf_counter()
        al.acquire("bald", model, pool, 10, samples=20, rng=rng)
        t2 = time.perf_counter()
        print(f"round {rep}: train 500 iterations {t1 - t0:.1f} s, score 2,000 images x "
              f"T = 20 {t2 - t1:.1f} s, total {t2 - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
