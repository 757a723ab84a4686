"""Time ``tinybcnn --help`` and ``tinybcnn CMD --help`` (issue 26's bar: under 1 s on an idle
2-core machine). A benchmark, not a test: the time depends on the machine and its load.

    python benchmarks/cli_help.py [--repeat 5]

Prints the best and the median wall time of each command line, run as ``python -m tinybcnn``
in a fresh interpreter, with the CPU model and the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"CPU {cpu_model()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}")
    lines = [[], ["--help"], *(
        [c, "--help"] for c in ("demo", "train", "evaluate", "predict", "experiment", "info"))]
    for argv in lines:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tinybcnn", *argv], capture_output=True,
                           check=False)
            times.append(time.perf_counter() - start)
        label = "tinybcnn " + " ".join(argv) if argv else "tinybcnn (bare)"
        print(f"{label:28s} best {min(times):.3f} s  median {statistics.median(times):.3f} s")


if __name__ == "__main__":
    main()
