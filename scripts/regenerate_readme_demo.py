"""Regenerate the README's demo table and ``docs/figures/demo_reliability.png`` from the code.

    python scripts/regenerate_readme_demo.py                  # print the table, copy the figure
    python scripts/regenerate_readme_demo.py --update-readme  # also rewrite the README block

Runs ``tinybcnn demo`` with its defaults in a fresh temporary folder (so nothing is reused),
times it, and prints the table as the README shows it, with the CPU and the wall time. Run it
on an otherwise idle machine: the time is what the README quotes. The numbers themselves vary
slightly across CPUs (float32 sums run in a different order with another BLAS kernel).
With ``--update-readme`` the block between ``<!-- demo-table:start -->`` and
``<!-- demo-table:end -->`` in README.md is replaced.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "figures" / "demo_reliability.png"
README = ROOT / "README.md"
START, END = "<!-- demo-table:start -->", "<!-- demo-table:end -->"


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux) and the number of CPUs this process may use."""
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cpus} CPUs"


def readme_block(table: str, minutes: str, cpu: str, settings: str) -> str:
    return (f"{START}\n`tinybcnn demo` shows the same on the embedded subset ({settings}) in "
            f"{minutes} on {cpu} (idle; numbers vary slightly across CPUs, because float32 "
            f"sums run in a different order):\n\n```\n{table}\n```\n{END}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-readme", action="store_true",
                        help=f"rewrite the README block between {START} and {END}")
    args = parser.parse_args(argv)

    from tinybcnn.demo import (
        DEMO_ITERATIONS,
        DEMO_SAMPLES,
        DEMO_TEST_SIZE,
        DEMO_TRAIN_SIZE,
        format_table,
        run_demo,
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tinybcnn-demo"
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            results = run_demo(out=out, progress=False)
        seconds = time.perf_counter() - start
        FIGURE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "reliability.png", FIGURE)

    table = format_table(results)
    minutes = f"{int(seconds // 60)}:{int(round(seconds % 60)):02d}"
    cpu = cpu_name()
    settings = (f"{DEMO_TRAIN_SIZE:,} training and {DEMO_TEST_SIZE:,} test images, "
                f"{DEMO_ITERATIONS:,} iterations per model, T = {DEMO_SAMPLES}")
    block = readme_block(table, minutes, cpu, settings)
    print(block)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"\nwall time {seconds:.1f} s on {cpu} (load average now {load}: the README says "
          f"'idle', so rerun if it is well above 0); wrote {FIGURE.relative_to(ROOT)}")
    if args.update_readme:
        text = README.read_text()
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        if not pattern.search(text):
            print(f"README.md has no {START} ... {END} block", file=sys.stderr)
            return 1
        README.write_text(pattern.sub(lambda _: block, text))
        print("updated README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
