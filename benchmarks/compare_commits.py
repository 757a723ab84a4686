"""Time ``Trainer.step`` of another commit against the working tree, in one process.

    python benchmarks/compare_commits.py --base HEAD~1 [--threads 1] [--steps 100] [--layers]
    python benchmarks/compare_commits.py --base HEAD~1 --mc 1000 [--samples 50] [--steps 6]

Speed changes of a few percent drown in the noise of a shared machine when two versions run
in separate processes minutes apart. Here the package of ``--base`` is unpacked (``git
archive``) under another name, ``tinybcnn_base``, beside the working tree's ``tinybcnn``; both
train the same LeNet-all on the same 8 rotating batches (batch 64), in alternating blocks of
10 steps, and the medians and their ratio are printed, and whether both ended with the same
weights bit for bit (a pure speed change should). With ``--layers`` each layer's forward
and backward are timed too (in whole-batch steps), which shows where a change gains or loses
inside the step (a change can be faster on its own and slower in the step, where its inputs
have left the cache). With ``--mc N`` the two time ``mc_predict`` instead (LeNet-all, N random
images, ``--samples`` passes, default arguments), in alternating blocks of 2 calls, and print
image·samples per second, and whether both gave the same probabilities, entropies,
mutual informations and variation ratios bit for bit. Works because the package imports
itself only relatively.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench import in_blocks, lenet_step  # this folder's bench.py (run as a script)

ROOT = Path(__file__).resolve().parents[1]


def unpack(rev: str, into: Path) -> str:
    """Unpack ``tinybcnn/`` of commit ``rev`` into ``into/tinybcnn_base``; its module name."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "tinybcnn"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "tinybcnn").rename(into / "tinybcnn_base")
    return "tinybcnn_base"


def make_step(package: Any, timings: dict | None) -> tuple[Callable[[], Any], Any]:
    """:func:`bench.lenet_step` for ``package``, with layer timers if ``timings``.

    The timers wrap the layers of the whole-batch step: a package that would split a step
    in two halves (``training/split.py``) is made to run it whole, since the halves' replicas
    would copy the timers (bound to the model's own layers) and share its layers' caches.
    ``split_parts`` returning 0 means "whole" to every version (before the fixed partition
    the trainer split where it was above 1, since then where it is not 0).
    """
    step, model = lenet_step(package=package)
    if timings is not None and hasattr(package.train, "split_parts"):
        package.train.split_parts = lambda *args: 0
    if timings is not None:  # the layers' methods are looked up at each call, so this times them
        for name, layer in model:
            for method in ("forward", "backward"):
                setattr(layer, method, _timed(getattr(layer, method), (name, method), timings))
    return step, model


def _timed(fn: Callable[..., Any], key: tuple[str, str], timings: dict) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        timings.setdefault(key, []).append(time.perf_counter() - start)
        return out
    return wrapper


def compare(base: Any, new: Any, steps: int, layers: bool) -> dict[str, Any]:
    """Median step times of ``base`` and ``new`` (and of their layers), alternating."""
    t_base: dict = {} if layers else None
    t_new: dict = {} if layers else None
    (a, model_a), (b, model_b) = make_step(base, t_base), make_step(new, t_new)
    for _ in range(5):
        a(), b()
    for timings in (t_base, t_new):
        if timings is not None:
            timings.clear()
    # in blocks: with two threads, one version's idle BLAS workers spin for a while after it
    # and would take a core from the other, were they to alternate step by step
    ta, tb_ = in_blocks(a, b, steps)
    same = all(np.array_equal(model_a.params[k], model_b.params[k]) for k in model_a.params)
    result = {"base_ms": 1e3 * ta, "new_ms": 1e3 * tb_, "same_weights": same, "layers": {}}
    for key in (t_base or {}):
        result["layers"][key] = (1e3 * statistics.median(t_base[key]),
                                 1e3 * statistics.median(t_new[key]))
    return result


def compare_mc(base: Any, new: Any, images: int, samples: int, calls: int) -> dict[str, Any]:
    """Median ``mc_predict`` times of ``base`` and ``new`` on the same model and images."""
    x = np.random.default_rng(0).random((images, 1, 28, 28), dtype=np.float32)
    runs = []
    for package in (base, new):
        model = package.models.lenet("all", seed=0)
        runs.append(lambda model=model, package=package:
                    package.predict.mc_predict(model, x, samples=samples, seed=0))
    first = [fn() for fn in runs]                                  # warm-up
    ta, tb_ = in_blocks(runs[0], runs[1], calls, block=2, untimed=0)
    same = all(np.array_equal(getattr(first[0], k), getattr(first[1], k))
               for k in ("probs", "entropy", "mutual_info", "variation_ratio"))
    return {"base_s": ta, "new_s": tb_, "same_bits": same}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="commit to compare against (HEAD)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both (1)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps of each (100)")
    parser.add_argument("--layers", action="store_true", help="also time every layer")
    parser.add_argument("--mc", type=int, default=0, metavar="N",
                        help="time MC prediction on N images instead of the step")
    parser.add_argument("--samples", type=int, default=50, help="MC passes T (50)")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(args.threads, "blas"):
        sys.path.insert(0, tmp)
        base = importlib.import_module(unpack(args.base, Path(tmp)))
        new = importlib.import_module("tinybcnn")
        if args.mc:
            r = compare_mc(base, new, args.mc, args.samples, args.steps)
            rate = [args.mc * args.samples / r[k] for k in ("base_s", "new_s")]
            print(f"mc_predict T={args.samples} on {args.mc} images ({args.threads} BLAS "
                  f"thread(s), median of {args.steps} in blocks of 2): base {args.base} "
                  f"{rate[0]:,.0f}, working tree {rate[1]:,.0f} image·samples/s; new/base "
                  f"time {r['new_s'] / r['base_s']:.3f}; the same probabilities bit for bit: "
                  f"{r['same_bits']}")
            return 0
        r = compare(base, new, args.steps, args.layers)
    for (layer, method), (ms_base, ms_new) in r["layers"].items():
        if ms_base > 0.1:
            print(f"{layer:>8} {method:<8} base {ms_base:6.2f} ms  new {ms_new:6.2f} ms  "
                  f"{ms_new / ms_base:.2f}")
    print(f"step ({args.threads} BLAS thread(s), median of {args.steps} in blocks of 10): "
          f"base {args.base} "
          f"{r['base_ms']:.2f} ms, working tree {r['new_ms']:.2f} ms, new/base "
          f"{r['new_ms'] / r['base_ms']:.3f}; same weights after it: {r['same_weights']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
