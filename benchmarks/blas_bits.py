"""Does the BLAS thread count change the bits of LeNet's float32 products?

    python benchmarks/blas_bits.py [--batches 4 32 64] [--threads 1 2 3 4 8]

For each product a LeNet-all step makes (batch ``B``, 28×28 inputs: forward, weight
gradient; conv1's bias gradient as ``ones @ d_patch``), random float32 operands are
multiplied on each BLAS thread count, and the counts that give the same bits as 1 thread
and as 2 threads are printed. Not a timing: it runs anywhere, busy or not (more threads than
cores only make it slower). ``tinybcnn/threads.py`` quotes what it found: the reason a
training step runs its products on one BLAS thread whatever the count in force.
"""

from __future__ import annotations

import argparse

import numpy as np
from threadpoolctl import threadpool_limits


def shapes(b: int) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """The operand shapes of LeNet-all's products at batch ``b`` (28×28 inputs)."""
    return {"conv1 forward": ((b * 576, 25), (25, 20)),
            "conv1 weight gradient": ((20, b * 576), (b * 576, 25)),
            "conv1 bias gradient": ((b * 576,), (b * 576, 20)),
            "conv2 forward": ((b * 64, 500), (500, 50)),
            "conv2 weight gradient": ((50, b * 64), (b * 64, 500)),
            "ip1 forward": ((b, 800), (800, 500)),
            "ip1 weight gradient": ((800, b), (b, 500)),
            "ip2 forward": ((b, 500), (500, 10))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[4, 32, 64])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 3, 4, 8])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    for b in args.batches:
        for name, (sa, sb) in shapes(b).items():
            a = rng.standard_normal(sa, dtype=np.float32)
            w = rng.standard_normal(sb, dtype=np.float32)
            out = {}
            for t in args.threads:
                with threadpool_limits(limits=t, user_api="blas"):
                    out[t] = a @ w
            first, second = args.threads[0], args.threads[min(1, len(args.threads) - 1)]
            same = [[t for t in out if np.array_equal(out[ref], out[t])]
                    for ref in (first, second)]
            print(f"B={b:<4} {name:<22} same bits as {first} thread(s): {same[0]}; "
                  f"as {second}: {same[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
