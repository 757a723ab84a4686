"""Plant known bugs one at a time and check that the tests catch each one.

A test suite is only as good as the bugs it catches. ``scripts/planted_bugs.json`` lists
bugs that were planted in this code base by hand, each an exact text replacement in one
file, with the test file that must then fail (and, optionally, ``first``: the tests of that
file that caught it last time). 21 of them went unnoticed when first planted, and the tests
that catch them were written then; the others were caught at once and stay here so that
they keep being caught. For each bug the script plants it, runs ``pytest -x`` on its test
file (that file only, with hypothesis derandomised: ``CI=true`` selects the ``ci`` profile
of ``tests/conftest.py``), and puts the file back.

Usage::

    python scripts/plant_bugs.py                 # all (minutes: a few CPU-seconds a bug)
    python scripts/plant_bugs.py --only split    # the bugs whose file or text contains "split"
    python scripts/plant_bugs.py --range 80:     # bugs 80 onwards (as numbered by --list)
    python scripts/plant_bugs.py --state s.json  # resumable: bugs already in s.json are skipped
    python scripts/plant_bugs.py --list
    python scripts/plant_bugs.py --state s.json --update-first   # record its catching tests

How a whole run stays short (it took 25 to 30 minutes when each bug started a Python and
ran its test file from the top) without catching less:

* **Copies, in parallel.** The working tree is never edited: each of ``--jobs`` workers
  (default: the CPUs this process may use) has its own copy of the files git tracks or would
  track, plants there, and puts the file back; the copies are removed at the end.
* **No interpreter start per bug.** Most of a test run's time was importing pytest, NumPy,
  SciPy and hypothesis. This process imports them once (and nothing of ``tinybcnn`` or
  ``tests/``) and forks a child per test run; the child imports the planted ``tinybcnn``
  from its copy and runs ``pytest.main``. ``--fresh`` starts a new interpreter per run
  instead (slower; to check that the forked runs agree).
* **The catching test first.** ``-x`` stops at the first failure, and an entry's ``first``
  tests run before the rest of its file (then the tests of that file known to catch other
  bugs), so a caught bug usually costs one test. If they pass (the tests changed), the rest
  of the file still runs: a stale ``first`` costs time, never a catch. ``--update-first``
  writes this run's catching tests into the catalogue.
* **Every catch is checked.** The test that failed is run again on the unplanted copy (with
  the other catching tests of its file, once that file's bugs have all run: one start and
  one set of module fixtures for all), and must pass: a test that fails without the bug
  does not count as a catch. If it
  failed only because the ``first`` order ran it early (it depends on the tests before it),
  the file is run again in its own order; a test that still fails without the bug is reported as
  "FAILS WITHOUT THE BUG", not caught.

With ``--state``, each bug's outcome and seconds are written to the file as soon as it is
known, so an interrupted run continues where it stopped; the CPU and the load are named at
the start and the times are summed at the end.

It exits with 1 if a bug was not caught, or could not be planted (its text is not in its
file exactly once, or its test file is gone: the code changed; update the catalogue).
``tests/project/test_plant_bugs.py`` checks that every bug still applies, and runs a few
through this script.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CATALOGUE = HERE / "planted_bugs.json"
KEYS = {"file", "old", "new", "test"}
# imported once by the parent in fork mode: heavy, third-party, and never planted in
PRELOAD = ("numpy", "scipy.special", "scipy.stats", "scipy.ndimage", "hypothesis",
           "hypothesis.extra.numpy", "matplotlib", "pytest")
PYTEST = ["-q", "-p", "no:cacheprovider"]


def load(path: Path = CATALOGUE) -> list[dict]:
    """The bugs: ``{"file", "old", "new", "test"}`` each, paths relative to the repository,
    and optionally ``"first"``: a list of test ids (``path::name``) to run first."""
    bugs = json.loads(path.read_text(encoding="utf-8"))
    for bug in bugs:
        if not KEYS <= set(bug) <= KEYS | {"first"} or bug["old"] == bug["new"] or not (
                isinstance(bug.get("first", []), list)
                and all(isinstance(t, str) and t.startswith(bug["test"] + "::")
                        for t in bug.get("first", []))):
            raise ValueError(f"{path}: malformed entry {bug!r}")
    return bugs


def why_not(bug: dict, root: Path = ROOT) -> str | None:
    """Why the bug cannot be planted in ``root`` (None if it can): its text must occur exactly
    once in its file, so planting it is unambiguous, and its test file must exist."""
    path = root / bug["file"]
    if not path.is_file():
        return f"{bug['file']} is gone"
    found = path.read_text(encoding="utf-8").count(bug["old"])
    if found != 1:
        return f"its text occurs {found} times in {bug['file']}"
    if not (root / bug["test"]).is_file():
        return f"its test file {bug['test']} is gone"
    return None


def applies(bug: dict, root: Path = ROOT) -> bool:
    """Whether the bug can be planted in ``root`` (see :func:`why_not`)."""
    return why_not(bug, root) is None


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


# -- the child: one pytest run in a copy ---------------------------------------------------

class _Order:
    """A pytest plugin: runs the named tests (a parametrised test by its bare name too) first,
    the others after them in their order; and writes the id of every failed test or file,
    one a line, to ``failed``, and of every passed test to ``failed`` + ``.passed`` (so the
    parent need not parse pytest's summary)."""

    def __init__(self, first: list[str], failed: str):
        self.first, self.failed = tuple(first), failed

    def _named(self, nodeid: str) -> bool:
        return nodeid.split("[", 1)[0] in self.first

    def pytest_collection_modifyitems(self, items):
        items.sort(key=lambda item: not self._named(item.nodeid))  # stable

    def _note(self, report) -> None:
        if report.failed or (report.passed and report.when == "call"):
            name = self.failed + ("" if report.failed else ".passed")
            with open(name, "a", encoding="utf-8") as out:
                out.write(report.nodeid + "\n")

    def pytest_runtest_logreport(self, report):
        self._note(report)

    def pytest_collectreport(self, report):
        self._note(report)


def _child(tree: str, args: list[str], first: list[str], failed: str) -> int:
    """Run pytest on ``tree`` as ``cd tree; CI=true PYTHONPATH=tree python -m pytest`` would."""
    os.chdir(tree)
    os.environ.update(PYTHONPATH=tree, CI="true")
    sys.path[:] = [tree] + [p for p in sys.path if p and Path(p).resolve() != HERE]
    sys.argv[:] = ["pytest"]
    import pytest

    return int(pytest.main(args, plugins=[_Order(first, failed)]))


class _Run:
    """One pytest run in a child process of its own session, its output in ``out``."""

    def __init__(self, tree: Path, args: list[str], first: list[str], out: Path, fresh: bool):
        self.out, self.failed = out, out.with_suffix(".failed")
        self.passed = out.with_suffix(".failed.passed")
        self.failed.unlink(missing_ok=True)
        self.passed.unlink(missing_ok=True)
        self.start = time.perf_counter()
        if fresh:
            command = [sys.executable, str(Path(__file__).resolve()), "--child",
                       json.dumps([str(tree), args, first, str(self.failed)])]
            with open(out, "wb") as sink:
                self.proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            self.pid = self.proc.pid
            return
        self.proc = None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 3
            try:
                os.setsid()
                sink = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(sink, 1)
                os.dup2(sink, 2)
                code = _child(str(tree), args, first, str(self.failed))
            except BaseException:  # noqa: BLE001 - the child must reach os._exit
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.pid = pid

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        if self.proc is not None:
            return self.proc.poll()
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        return None if pid == 0 else os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        """Kill the run and everything it started (a test's subprocesses too)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while self.poll() is None:
            time.sleep(0.01)

    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def failures(self) -> list[str]:
        """The ids of the failed tests (or files that failed to collect), in order."""
        if not self.failed.is_file():
            return []
        return self.failed.read_text(encoding="utf-8").splitlines()

    def passes(self) -> set[str]:
        """The ids of the tests that passed."""
        if not self.passed.is_file():
            return set()
        return set(self.passed.read_text(encoding="utf-8").splitlines())

    def summary(self, code: int) -> str:
        """pytest's first FAILED/ERROR line, else its last line."""
        lines = self.out.read_text(encoding="utf-8", errors="replace").splitlines()
        picked = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        picked = picked or [line for line in lines if line.strip()][-1:]
        return picked[0][:300] if picked else f"pytest exit code {code}"


# -- the parent: plant, run, check, record --------------------------------------------------

def _pyc_gone(path: Path) -> None:
    """Remove ``path``'s cached bytecode: a planted and a restored file may have the same size
    and modification second, and Python would then run the other's bytecode."""
    Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)


def _preload() -> None:
    """Import what every forked test run imports and no bug is planted in, once."""
    os.environ["CI"] = "true"  # as the children will see it, before the imports they share
    for name in PRELOAD:
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            __import__(name)


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    _pyc_gone(path)


class Catalogue:
    """Runs the selected bugs on ``len(trees)`` copies, at most one test run per copy."""

    def __init__(self, numbered, trees, timeout, fresh, state_path, scratch: Path,
                 prepare=None):
        self.numbered, self.timeout, self.fresh = numbered, timeout, fresh
        self.prepare = prepare   # called once, before the first test run
        self.state_path, self.state = state_path, _load_state(state_path)
        self.free, self.scratch = list(trees), scratch
        self.todo = list(range(len(numbered)))   # positions in numbered, not yet started
        self.running: dict[int, tuple] = {}      # pid -> (run, tree, kind, payload)
        self.controls: dict[str, bool | None] = {}   # test id -> passes unplanted?
        self.control_notes: dict[str, str] = {}      # test id -> its control's summary
        self.plain: set[int] = set()             # positions to run in the file's own order
        self.waiting: dict[str, list] = {}       # test id -> entries waiting for its control
        self.missed = self.seconds = 0
        self.results: dict[int, dict] = {}
        self.originals: dict[int, str] = {}     # position -> its file's text, while planted
        # every test file's known catching tests, tried (after the entry's own) before the rest
        self.catchers: dict[str, list[str]] = {}
        for _, bug in numbered:
            self.learn(bug["test"], bug.get("first", []))
        for outcome in self.state.values():
            self.learn(None, [outcome.get("catcher") or ""])
        self.runs = 0

    def learn(self, test: str | None, catchers: list[str]) -> None:
        for catcher in catchers:
            name = catcher.split("[", 1)[0]
            file = name.split("::", 1)[0] if "::" in name else None
            if file is not None and (test is None or file == test):
                known = self.catchers.setdefault(file, [])
                if name not in known:
                    known.append(name)

    def first(self, bug: dict) -> list[str]:
        """The entry's own ``first`` tests, then the other tests known to catch bugs."""
        own = bug.get("first", [])
        return own + [t for t in self.catchers.get(bug["test"], []) if t not in own]

    def say(self, pos: int, verdict: str, took: float | None, detail: str,
            earlier: bool = False) -> None:
        bug = self.numbered[pos][1]
        where = f"{bug['file']}: {bug['old'].strip()[:50]!r}"
        time_note = "" if took is None else (
            f" ({took:.0f} s, earlier run)" if earlier else f" ({took:.0f} s)")
        print(f"[{pos + 1}/{len(self.numbered)}] {verdict}{time_note} {where}: {detail}",
              flush=True)

    def finish(self, pos: int, ok: bool, took: float, detail: str, catcher: str | None):
        bug = self.numbered[pos][1]
        self.missed += not ok
        self.seconds += took
        outcome = {"caught": ok, "seconds": round(took, 2), "detail": detail}
        if catcher is not None:
            outcome["catcher"] = catcher
            if ok:
                self.learn(None, [catcher])
        self.results[pos] = outcome
        self.state[_key(bug)] = outcome
        _save_state(self.state_path, self.state)
        self.say(pos, "caught" if ok else "MISSED", took, detail)

    def start(self, tree: Path, kind: str, payload) -> None:
        if self.prepare is not None:
            self.prepare()
            self.prepare = None
        self.runs += 1
        out = self.scratch / f"run{self.runs}.txt"
        if kind == "bug":
            bug = self.numbered[payload][1]
            text = (tree / bug["file"]).read_text(encoding="utf-8")
            self.originals[payload] = text
            _write(tree / bug["file"], text.replace(bug["old"], bug["new"], 1))
            first = [] if payload in self.plain else self.first(bug)
            if not first:
                self.plain.add(payload)
            run = _Run(tree, ["-x", *PYTEST, bug["test"]], first, out, self.fresh)
        else:  # a control: the catching tests of one file, on the unplanted copy
            file, tests = payload
            args = [*PYTEST, *tests] if tests else ["--co", *PYTEST, file]
            run = _Run(tree, args, [], out, self.fresh)
        self.running[run.pid] = (run, tree, kind, payload)

    def ready_control(self) -> tuple[str, list[str]] | None:
        """The catching tests of a test file whose bugs have all run (they are checked in one
        run, sharing its start and its module fixtures); an empty list: a whole file that
        failed to collect, checked by collecting it."""
        busy = {self.numbered[pos][1]["test"] for pos in self.todo}
        busy |= {self.numbered[p][1]["test"] for _, _, kind, p in self.running.values()
                 if kind == "bug"}
        unchecked = [c for c in self.waiting if c not in self.controls]  # not in flight
        for catcher in unchecked:
            file = catcher.split("::", 1)[0]
            if file not in busy and "::" not in catcher:
                return file, []
            if file not in busy:
                return file, [c for c in unchecked if c.startswith(file + "::")]
        return None

    def next_job(self) -> tuple[str, object] | None:
        control = self.ready_control()
        if control is not None:
            for catcher in control[1] or [control[0]]:
                self.controls[catcher] = None   # being checked
            return "control", control
        while self.todo:
            pos = self.todo.pop(0)
            bug = self.numbered[pos][1]
            done = self.state.get(_key(bug))
            if done is not None:  # an earlier, interrupted run's outcome
                self.missed += not done["caught"]
                self.seconds += done["seconds"]
                self.results[pos] = done
                self.say(pos, "caught" if done["caught"] else "MISSED", done["seconds"],
                         done["detail"], earlier=True)
                continue
            why = why_not(bug, self.free[0] if self.free else ROOT)
            if why is not None:
                self.missed += 1
                self.say(pos, "COULD NOT PLANT", None, why)
                continue
            return "bug", pos
        return None

    def ended(self, run: _Run, tree: Path, kind: str, payload, code: int | None) -> None:
        """A run ended with ``code`` (None: killed after the timeout)."""
        took = run.seconds()
        if kind == "control":
            file, tests = payload
            passed, failed = run.passes(), set(run.failures())
            self.seconds += took
            for catcher in tests or [file]:
                self.controls[catcher] = (code == 0 if not tests else
                                          catcher in passed and catcher not in failed)
                self.control_notes[catcher] = run.summary(code)
                for pos, took_bug, detail in self.waiting.pop(catcher, []):
                    self.verdict(pos, took_bug, detail, catcher)
            return
        _write(tree / self.numbered[payload][1]["file"], self.originals.pop(payload))
        if code is None:
            self.finish(payload, True, took, f"timed out after {self.timeout:.0f} s "
                        "(a hang counts as caught, barely)", None)
        elif code in (0, 5):
            self.finish(payload, False, took,
                        "all tests passed" if code == 0 else "no tests ran", None)
        else:
            failed = [nodeid for nodeid in run.failures() if nodeid.strip()]
            catcher = failed[0] if failed else self.numbered[payload][1]["test"]
            detail = run.summary(code)
            if self.controls.get(catcher) is not None:
                self.verdict(payload, took, detail, catcher)
            else:  # checked with the file's other catchers once its bugs have all run
                self.waiting.setdefault(catcher, []).append((payload, took, detail))

    def verdict(self, pos: int, took: float, detail: str, catcher: str) -> None:
        """The bug's run failed at ``catcher``, whose control has run."""
        if self.controls[catcher]:
            self.finish(pos, True, took, detail, catcher)
        elif pos not in self.plain:
            # the test failed without the bug too, perhaps only because it ran first: run
            # the file again in its own order, and judge by that
            self.plain.add(pos)
            self.seconds += took
            self.todo.insert(0, pos)
        else:
            self.finish(pos, False, took, f"FAILS WITHOUT THE BUG: {catcher} fails on the "
                        f"unplanted tree too ({self.control_notes[catcher]})", catcher)

    def run(self) -> None:
        try:
            while True:
                while self.free:
                    job = self.next_job()
                    if job is None:
                        break
                    self.start(self.free.pop(), *job)
                if not self.running:
                    break
                self.wait_one()
        finally:
            for run, *_ in list(self.running.values()):
                run.kill()

    def wait_one(self) -> None:
        while True:
            for pid, (run, tree, kind, payload) in list(self.running.items()):
                code = run.poll()
                if code is None and run.seconds() > self.timeout:
                    run.kill()
                elif code is None:
                    continue
                del self.running[pid]
                self.ended(run, tree, kind, payload, code)
                self.free.append(tree)
                return
            time.sleep(0.02)


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
    return f"{name}, {_cpus()} CPUs"


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def _key(bug: dict) -> str:
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


def update_first(path: Path, results: dict[str, dict]) -> int:
    """Write each caught bug's catching test (without its parameters) into the catalogue's
    ``first``; returns how many entries changed."""
    bugs, changed = load(path), 0
    for bug in bugs:
        catcher = results.get(_key(bug), {}).get("catcher") or ""
        if results.get(_key(bug), {}).get("caught") and catcher.startswith(bug["test"] + "::"):
            first = [catcher.split("[", 1)[0]]
            changed += bug.get("first") != first
            bug["first"] = first
    path.write_text(json.dumps(bugs, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def _parse(argv: list[str] | None) -> argparse.Namespace:
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
    parser.add_argument("--jobs", type=int, default=_cpus(),
                        help="test runs at a time, each in its own copy (the CPUs: %(default)s)")
    parser.add_argument("--fresh", action="store_true",
                        help="a new Python per test run instead of a fork (slower)")
    parser.add_argument("--update-first", action="store_true",
                        help="run nothing: write the tests that caught each bug in --state's "
                        "run into the catalogue's \"first\", to be run first next time")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.update_first and args.state is None:
        parser.error("--update-first reads the outcomes of a run made with --state")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.child is not None:  # --fresh's child: one pytest run
        return _child(*json.loads(args.child))
    numbered = list(enumerate(load(args.catalogue)))
    if args.range is not None:
        low, _, high = args.range.partition(":")
        numbered = numbered[int(low or 0):int(high) if high else None]
    numbered = [(k, b) for k, b in numbered if args.only is None
                or any(args.only in b[f] for f in ("file", "old", "test"))]
    if args.update_first:
        changed = update_first(args.catalogue, _load_state(args.state))
        print(f"{changed} entries of {args.catalogue} have new \"first\" tests")
        return 0
    if args.list:
        for k, bug in numbered:
            print(f"{k:3d} {bug['file']}: {bug['old'].strip()[:60]!r} -> {bug['test']}")
        return 0
    if not numbered:
        print(f"no planted bug matches {args.only!r}", file=sys.stderr)
        return 1
    jobs = min(args.jobs, len(numbered))
    print(f"CPU: {cpu_name()}; {_load()}; {jobs} at a time, "
          f"{'a fresh Python' if args.fresh else 'a fork'} per test run", flush=True)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinybcnn-bugs-") as scratch:
        trees = [Path(scratch) / f"tree{j}" for j in range(jobs)]
        for tree in trees:
            copy_tree(tree)
        run = Catalogue(numbered, trees, args.timeout, args.fresh, args.state, Path(scratch),
                        prepare=None if args.fresh else _preload)
        run.run()
    wall = time.perf_counter() - began
    not_caught = [k for pos, (k, _) in enumerate(numbered)
                  if not run.results.get(pos, {}).get("caught")]
    print(f"{len(numbered) - run.missed} of {len(numbered)} planted bugs caught "
          f"({run.seconds:.0f} s of test runs, {wall:.0f} s wall, {jobs} at a time, "
          f"on {cpu_name()}; {_load()})")
    if not_caught:
        print("not caught (catalogue numbers): " + " ".join(map(str, not_caught)))
    return 1 if run.missed else 0


if __name__ == "__main__":
    sys.exit(main())
