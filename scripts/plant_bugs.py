"""Plant known bugs one at a time and check that the tests catch each one.

A test suite is only as good as the bugs it catches. ``scripts/planted_bugs.json`` lists
bugs that were planted in this code base by hand, each an exact text replacement in one
file, with the test file that must then fail. 21 of them went unnoticed when first
planted, and the tests that catch them were written then; the others were caught at once
and stay here so that they keep being caught. This script copies the working tree (the
files git tracks or would track) to a scratch folder, and for each bug: plants it, runs
``pytest -x`` on its test file (that file only, with hypothesis derandomised: ``CI=true``
selects the ``ci`` profile of ``tests/conftest.py``), and puts the file back.

Usage::

    python scripts/plant_bugs.py                 # all (about 30 minutes on 2 loaded cores)
    python scripts/plant_bugs.py --only split    # the bugs whose file or text contains "split"
    python scripts/plant_bugs.py --range 80:     # bugs 80 onwards (as numbered by --list)
    python scripts/plant_bugs.py --state s.json  # resumable: bugs already in s.json are skipped
    python scripts/plant_bugs.py --list

With ``--state``, each bug's outcome and seconds are written to the file as soon as it is
known, so an interrupted run continues where it stopped; the CPU is named at the start and
the times are summed at the end.

It exits with 1 if a bug was not caught, or no longer applies (its text is not in its file
exactly once: the code changed; update the catalogue). ``tests/project/test_plant_bugs.py`` checks
that every bug still applies, and runs one through this script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Path(__file__).with_name("planted_bugs.json")


def load(path: Path = CATALOGUE) -> list[dict[str, str]]:
    """The bugs: ``{"file", "old", "new", "test"}`` each, paths relative to the repository."""
    bugs = json.loads(path.read_text(encoding="utf-8"))
    for bug in bugs:
        if set(bug) != {"file", "old", "new", "test"} or bug["old"] == bug["new"]:
            raise ValueError(f"{path}: malformed entry {bug!r}")
    return bugs


def applies(bug: dict[str, str], root: Path = ROOT) -> bool:
    """Whether the bug's text occurs exactly once in its file (so planting it is unambiguous)."""
    path = root / bug["file"]
    return path.is_file() and path.read_text(encoding="utf-8").count(bug["old"]) == 1


def copy_tree(destination: Path) -> None:
    """Copy the files git tracks, or would track, from the repository to ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def caught(bug: dict[str, str], tree: Path, timeout: float) -> tuple[bool, str]:
    """Plant ``bug`` in ``tree``, run its test file, put the file back: (caught?, first
    failure or why not)."""
    path = tree / bug["file"]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(bug["old"], bug["new"]), encoding="utf-8")
    # the copy's tinybcnn, not an installed one, is the one the tests import
    # CI=true: hypothesis's derandomised profile, so a kill never depends on the draw
    env = {**os.environ, "PYTHONPATH": str(tree), "CI": "true"}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p",
                               "no:cacheprovider", bug["test"]], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True, f"timed out after {timeout:.0f} s (a hang counts as caught, barely)"
    finally:
        path.write_text(text, encoding="utf-8")
    failures = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    if done.returncode == 0:
        return False, "all tests passed"
    return True, failures[0] if failures else f"pytest exit code {done.returncode}"


def cpu_name() -> str:
    """The CPU's model name and the CPUs this process may use (for the timings)."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cpus} CPUs"


def _key(bug: dict[str, str]) -> str:
    return json.dumps([bug[k] for k in ("file", "old", "new", "test")])


def _load_state(path: Path | None) -> dict[str, dict]:
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _save_state(path: Path | None, state: dict[str, dict]) -> None:
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None,
                        help="only the bugs whose file, text or test contains this string")
    parser.add_argument("--range", default=None, metavar="A:B",
                        help="only bugs A to B-1 of the catalogue (either end may be left out)")
    parser.add_argument("--state", type=Path, default=None,
                        help="a JSON file of outcomes: bugs found there are skipped, new "
                        "outcomes are added as they come (resumable)")
    parser.add_argument("--list", action="store_true", help="list the bugs and exit")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds per bug's test run (600)")
    args = parser.parse_args(argv)
    numbered = list(enumerate(load(args.catalogue)))
    if args.range is not None:
        low, _, high = args.range.partition(":")
        numbered = numbered[int(low or 0):int(high) if high else None]
    numbered = [(k, b) for k, b in numbered if args.only is None
                or any(args.only in b[f] for f in ("file", "old", "test"))]
    bugs = [b for _, b in numbered]
    if args.list:
        for k, bug in numbered:
            print(f"{k:3d} {bug['file']}: {bug['old'].strip()[:60]!r} -> {bug['test']}")
        return 0
    if not bugs:
        print(f"no planted bug matches {args.only!r}", file=sys.stderr)
        return 1
    missed, seconds = 0, 0.0
    state = _load_state(args.state)
    print(f"CPU: {cpu_name()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tinybcnn-bugs-") as scratch:
        tree = Path(scratch)
        copy_tree(tree)
        for k, bug in enumerate(bugs):
            where = f"{bug['file']}: {bug['old'].strip()[:50]!r}"
            done = state.get(_key(bug))
            if done is not None:  # an earlier, interrupted run's outcome
                missed += not done["caught"]
                seconds += done["seconds"]
                print(f"[{k + 1}/{len(bugs)}] {'caught' if done['caught'] else 'MISSED'} "
                      f"({done['seconds']:.0f} s, earlier run) {where}: {done['detail']}",
                      flush=True)
                continue
            if not applies(bug, tree):
                print(f"[{k + 1}/{len(bugs)}] NO LONGER APPLIES {where}", flush=True)
                missed += 1
                continue
            start = time.perf_counter()
            ok, detail = caught(bug, tree, args.timeout)
            took = time.perf_counter() - start
            missed += not ok
            seconds += took
            state[_key(bug)] = {"caught": ok, "seconds": round(took, 2), "detail": detail}
            _save_state(args.state, state)
            print(f"[{k + 1}/{len(bugs)}] {'caught' if ok else 'MISSED'} "
                  f"({took:.0f} s) {where}: {detail}", flush=True)
    print(f"{len(bugs) - missed} of {len(bugs)} planted bugs caught "
          f"({seconds:.0f} s of test runs on {cpu_name()})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
