"""Default predictions of another commit and of the working tree, compared bit for bit.

    python benchmarks/same_defaults.py --base 5c21973

For a change that should leave default predictions alone (as the fixed tiles of MC
prediction, tinybcnn/mc_tiles.py, whose CPU reference is the CPU defaults before them):
untrained LeNet-all at 28×28 and 16×16, N in {1, 37, 91, 200, 301}, T in {1, 7, 50}, MC and
standard prediction, and MC regression with the MLP, on NumPy and (smaller cases)
array_api_strict, all at their default arguments. Prints one line per case and the count of
cases that differ; exits 1 if any does. ``--base`` is unpacked as in compare_commits.py.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from compare_commits import unpack  # this folder's compare_commits.py (run as a script)

FIELDS = ("probs", "entropy", "mutual_info", "variation_ratio")


def classification_cases(backend: str) -> list[tuple[tuple[int, int, int], int, int, int]]:
    """(input shape, classes, N, T); array_api_strict (slow) on the smaller ones."""
    return [(shape, k, n, t) for shape, k in (((1, 28, 28), 10), ((1, 16, 16), 4))
            for n in (1, 37, 91, 200, 301) for t in (1, 7, 50)
            if backend == "numpy" or (n <= 91 and t < 50)]


def same_classification(packages: list[Any], shape: tuple[int, ...], k: int, x: Any,
                        t: int) -> bool:
    out = []
    for pkg in packages:
        model = pkg.models.lenet("all", in_shape=shape, n_classes=k, seed=0)
        out.append((pkg.predict.mc_predict(model, x, samples=t, seed=3),
                    pkg.predict.standard_predict(model, x)))
    (mc_a, std_a), (mc_b, std_b) = out
    return (all(np.array_equal(getattr(mc_a, f), getattr(mc_b, f)) for f in FIELDS)
            and np.array_equal(std_a.probs, std_b.probs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="commit to compare against (HEAD)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        packages = [importlib.import_module(unpack(args.base, Path(tmp))),
                    importlib.import_module("tinybcnn")]
        for backend in ("numpy", "array_api_strict"):
            for pkg in packages:
                pkg.backend.set_backend(backend)
            for shape, k, n, t in classification_cases(backend):
                same = same_classification(packages, shape, k,
                                           rng.random((n, *shape), dtype=np.float32), t)
                differ += not same
                print(f"{backend} lenet-all {shape} N={n} T={t}: same bits {same}", flush=True)
            xr = rng.random((120, 6), dtype=np.float32)
            runs = [pkg.predict.mc_predict_regression(pkg.models.mlp((6, 64, 1), seed=0), xr,
                                                      tau=2.0, samples=20, seed=1).samples
                    for pkg in packages]
            differ += not np.array_equal(*runs)
            print(f"{backend} regression: same bits {np.array_equal(*runs)}")
    print(f"cases that differ from {args.base}: {differ}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
