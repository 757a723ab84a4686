"""Where one active-learning round's time goes, at the default scale (see benchmarks/README.md).

One round of ``tinybcnn experiment active-learning`` at its defaults
(:data:`tinybcnn.experiments.active_learning.FULL`): train lenet-all from scratch for 300 Adam
iterations (batch 32) on ``--labels`` images, measure the MC test error on the stratified
2,000-image test subset with T = 10, and score 1,000 pool images with T = 20 for BALD (the
stacked MC passes of :func:`tinybcnn.predict.mc_predict`). Each part is timed on its own;
``--profile`` adds the top functions of one round by cumulative time (cProfile).

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/active_learning_round.py --dataset
fashion-mnist [--labels 150] [--repeats 2] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import numpy as np

from tinybcnn.data import as_float, load_dataset, stratified_indices
from tinybcnn.experiments import active_learning as al


def one_round(data, settings, labelled, pool, x_test, y_test, rng):  # noqa: ANN001, ANN201
    """Train, test, score once; return the three times in seconds."""
    t0 = time.perf_counter()
    model = al.train_model(as_float(data.x_train[labelled]), data.y_train[labelled],
                           data.n_classes, settings, seed=0)
    t1 = time.perf_counter()
    al.test_error(model, x_test, y_test, settings.test_samples, seed=0)
    t2 = time.perf_counter()
    al.acquire("bald", model, pool, settings.per_round, settings.samples, rng)
    return t1 - t0, t2 - t1, time.perf_counter() - t2


def main() -> None:
    """Time ``--repeats`` rounds and print the train, test and score seconds of each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="embedded")
    parser.add_argument("--labels", type=int, default=150, help="labelled-set size (150)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="cProfile one more round")
    parser.add_argument("--compare", action="store_true",
                        help="also time what the defaults avoid: the whole test split, and "
                             "the pool scored in T separate passes (stacked=False)")
    args = parser.parse_args()
    data = load_dataset(args.dataset, progress=False)
    s = al.FULL
    labelled = stratified_indices(data.y_train, args.labels, 0)
    rng = np.random.default_rng(0)
    pool = as_float(data.x_train[rng.choice(len(data.y_train), s.pool_subset, replace=False)])
    keep = stratified_indices(data.y_test, min(s.test_size, len(data.y_test)), 0)
    x_test, y_test = as_float(data.x_test[keep]), data.y_test[keep]
    print(f"{args.dataset}: train {s.iterations} iterations on {args.labels} images, test "
          f"{len(y_test)} x T = {s.test_samples}, score {s.pool_subset} x T = {s.samples}")
    for rep in range(args.repeats):
        train, test, score = one_round(data, s, labelled, pool, x_test, y_test, rng)
        total = train + test + score
        print(f"round {rep}: train {train:.1f} s ({100 * train / total:.0f}%), test "
              f"{test:.1f} s ({100 * test / total:.0f}%), score {score:.1f} s "
              f"({100 * score / total:.0f}%), total {total:.1f} s", flush=True)
    if args.compare:
        model = al.train_model(as_float(data.x_train[labelled]), data.y_train[labelled],
                               data.n_classes, s, seed=0)
        with al.small_work_threads():
            t0 = time.perf_counter()
            al.mc_predict(model, as_float(data.x_test), samples=s.test_samples, seed=0)
            t1 = time.perf_counter()
            al.mc_predict(model, pool, samples=s.samples, seed=0, return_samples=True,
                          stacked=False)
            t2 = time.perf_counter()
            al.mc_predict(model, pool, samples=s.samples, seed=0, return_samples=True)
            t3 = time.perf_counter()
        print(f"whole test split ({len(data.y_test)} x T = {s.test_samples}): {t1 - t0:.1f} s; "
              f"pool {s.pool_subset} x T = {s.samples}: separate passes {t2 - t1:.1f} s, "
              f"stacked {t3 - t2:.1f} s", flush=True)
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(one_round, data, s, labelled, pool, x_test, y_test, rng)
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(15)
        print(text.getvalue())


if __name__ == "__main__":
    main()
