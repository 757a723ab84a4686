"""Mutation testing with mutmut, one module at a time, each with only its covering tests.

The planted-bug catalogue (``scripts/plant_bugs.py``) finds what its authors thought of; a
mutation tool is an independent yardstick. mutmut changes one operator, constant or call at a
time in a module (``<`` to ``<=``, ``1`` to ``2``, ``x or y`` to ``x and y``, an argument
dropped, ...) and runs the tests that execute the changed function: a mutant the tests do not
notice *survived*. Each survivor is either killed by a new test or recorded, with a one-line
reason, in ``tests/mutation_equivalents.txt`` (reviewed like code): a mutant that cannot
change what any caller sees (a default that is always passed, a message's wording).

The modules are those where a silent bug costs a user most (:data:`TARGETS`): the run-folder
rule, the lock, atomic writes, the JSON, NPY, IDX and checkpoint readers, the experiments'
output folders and resume state, the active-learning protocol, the CLI's option wiring, the
dropout mask and the objective. Each runs in its own work folder ``.mutation/<module>/`` (a
copy of the tree plus mutmut's ``mutants/``), so runs are bounded and resumable: mutmut keeps
every verdict, a run stopped by ``--budget`` (or Ctrl-C) continues where it stopped, a change
of the tests re-runs the survivors (new tests may kill them), and a change of the module
itself starts it afresh.

Usage::

    python scripts/mutation.py --list                      # the modules and their tests
    python scripts/mutation.py runlock _json               # these modules (2 workers each)
    python scripts/mutation.py                             # every module (hours on 2 cores)
    python scripts/mutation.py runlock --budget 900        # stop after 15 minutes; resumable
    python scripts/mutation.py random --only "x_bernoulli_mask__mutmut_*"   # a subset
    python scripts/mutation.py checkpoint --sample 100     # 100 unrun mutants, drawn at random
    python scripts/mutation.py --report                    # the report of what has run

What mutmut (3.x) does not see: functions under a decorator other than ``@staticmethod`` /
``@classmethod`` are not mutated (nor are module-level constants or decorator arguments), so
the context managers ``runlock.run_lock`` and ``atomic.atomic_write`` and the properties
``Checkpoint.model`` / ``Checkpoint.trainer`` get no mutants; the planted-bug catalogue
(``scripts/plant_bugs.py``) covers them. Nor does ``cli._RESUME_CONFIG``, the module-level
table of the ``train`` flags that ``--resume`` checks against the run's config.json: a
dropped or misspelt entry is caught by
``tests/cli/test_cli_inputs.py::test_resume_refuses_every_config_flag_off_the_runs_value``
(every flag written out there, not read off the table) and by catalogue entries. The cheap
way round the decorators, taken for ``rundir.writing``: define the generator undecorated and
wrap it after (``writing = contextlib.contextmanager(writing)``); mutmut's trampoline
forwards generators.

A blind spot of the fork: mutmut forks every mutant from a process that has already run
the tests, so a module-level cache is warm and the code that fills it never runs again; a
mutant there survives every test. Test such code from emptied caches, as
``tests/functional/test_splitmix_cold.py`` does for ``splitmix``. The same holds for code run
once at import: ``cli._number`` makes the argument types (``_positive_int``, ...) as
closures when the module loads, so its mutants cannot take effect in a fork and survive;
applied by hand, each fails ``test_cli_inputs.py``'s number tests.

A module too slow to finish on 2 cores is measured on a sample: ``--sample N`` draws ``N``
of its mutants not yet run, uniformly at random (seeded by ``--seed`` and the module's name),
and runs them. mutmut's own order is by estimated test time, so the mutants a stopped run
has judged are the cheap ones, not a fair picture; the sample is. The report then gives the
sample's score with its 95% (Wilson) interval and, from it, an estimate of the whole
module's score: the mutants that ran are counted as they are, and the ones not run are
assumed to be killed (and equivalent) as often as the sample's were. Only the last draw
counts as the sample: once tests are written against a draw's survivors, that draw
measures those tests, so the score after them is measured on a fresh draw (another seed).

It needs the ``mutation`` extra (``pip install -e ".[mutation,dev]"``). The report goes to
``.mutation/report.md`` (and ``report.json``): per module the mutants, killed (timeouts
counted apart), survived, equivalent and not yet run, the score (killed / non-equivalent
mutants that ran) and the run time; then every survivor not in the equivalents file, with its
diff. The exit code is 1 if a module's score is below ``--goal`` (95%).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.txt"

#: module -> the test files that cover it (its own unit tests, not the whole suite: a mutant
#: is run against the tests of these files that execute the mutated function). An entry may
#: also be one test (``file::test``) or a pytest option (``--deselect=file::test``).
TARGETS: dict[str, list[str]] = {
    "tinybcnn/files/runlock.py": [
        "tests/files/test_lock_takeover.py",
        "tests/files/test_lock_file_reads.py",
        "tests/runs/test_rundir_writing.py",
        "tests/runs/test_rundir.py",
        "tests/runs/test_lock_and_run_checks.py",
    ],
    "tinybcnn/files/jsonfile.py": [
        "tests/files/test_json_depth.py",
        "tests/files/test_json_files.py",
    ],
    "tinybcnn/files/atomic.py": [
        "tests/files/test_stale_parts.py",
        "tests/runs/test_rundir_writing.py",
        "tests/files/test_bad_files.py",
    ],
    # the rule on stand-in folder kinds, without training: test_rundir.py and
    # test_rundir_rules.py show the same refusals through the commands (a training run or a
    # tutorial each, about a minute per mutant on a loaded machine)
    "tinybcnn/files/rundir.py": [
        "tests/runs/test_rundir_writing.py",
        "tests/runs/test_rundir_entries.py",
    ],
    "tinybcnn/files/npyfile.py": [
        "tests/files/test_guard_limits.py",
        "tests/files/test_guard_properties.py",
        "tests/files/test_bad_files.py",
        "tests/files/test_memory_bounds.py",
        "tests/files/test_npy_reader.py",
    ],
    # the IDX reader (data/idx.py), apart from the Dataset container and the sources
    "tinybcnn/data/idx.py": [
        "tests/data/test_idx_magic.py",
        "tests/files/test_guard_properties.py",
        "tests/data/test_data.py",
        "tests/files/test_guard_limits.py",
        "tests/files/test_bad_files.py",
        "tests/files/test_memory_bounds.py",
        "tests/data/test_idx_messages.py",
    ],
    "tinybcnn/checkpoint.py": [
        "tests/files/test_checkpoint.py",
        "tests/files/test_checkpoint_links.py",
        "tests/files/test_checkpoint_finite.py",
        "tests/files/test_checkpoint_header_fields.py",
        "tests/files/test_bad_files.py",
        "tests/files/test_guard_limits.py",
        "tests/files/test_checkpoint_reader.py",
    ],
    # (test_rundir_rules runs a tutorial in a subprocess, which fails inside mutmut's folder)
    "tinybcnn/experiments/outdir.py": [
        "tests/experiments/test_experiment_outdir_names.py",
    ],
    # the quick run's guard (38 s) only times the protocol the other tests check: left out,
    # and test_experiments' acquisition tests without its module fixtures' experiment runs
    "tinybcnn/experiments/active_learning.py": [
        "tests/experiments/test_active_learning_units.py",
        "tests/experiments/test_active_learning_protocol.py",
        "tests/model/test_variation_ratios.py",
        "tests/experiments/test_protocol_seeds_and_splits.py",
        *(f"tests/experiments/test_experiments.py::test_{name}" for name in (
            "acquisitions_by_hand_on_two_images",
            "acquisitions_match_loops_on_random_probabilities",
            "acquire_takes_the_top_scores_and_breaks_ties_by_position",
            "active_learning_decay_follows_the_labelled_set_size",
            "labels_to_reach_uses_the_mean_over_seeds")),
        "tests/experiments/test_active_learning_state_schema.py",
        "tests/experiments/test_active_learning_scale.py",
        "--deselect=tests/experiments/test_active_learning_scale.py::"
        "test_quick_is_small_and_runs_on_the_embedded_data",
    ],
    "tinybcnn/random.py": [
        "tests/functional/test_mask_keep_limit.py",
        "tests/functional/test_mask_paths.py",
        "tests/functional/test_dropout.py",
        "tests/functional/test_counter_rng.py",
        # the batch split's shared draws and MC prediction's stream (SharedDraws, MCStream)
        "tests/training/test_split.py",
        "tests/model/test_mc_masks.py",
    ],
    # the counter words and the dropout mask's fused kernel moved here from random.py (its
    # CUDA body is a module constant, which mutmut does not mutate: the catalogue plants in it)
    "tinybcnn/splitmix.py": [
        "tests/functional/test_splitmix_cold.py",
        "tests/functional/test_counter_rng.py",
        # the masks as a training step draws them (its caches only save work, and the
        # count cannot see that: a fused call counts as one whatever its twin does)
        "tests/device/test_launch_count.py",
        "tests/device/test_fused_mask_kernel.py",
        "tests/functional/test_mask_paths.py",
        "tests/functional/test_mask_keep_limit.py",
    ],
    "tinybcnn/objective.py": [
        "tests/model/test_objective.py",
        "tests/model/test_deep_gp_kl.py",
        "tests/model/test_objective_step.py",
    ],
    "tinybcnn/cli.py": [
        "tests/cli/test_cli_wiring.py",
        "tests/cli/test_cli_resume_flags.py",
        "tests/cli/test_cli_backend_env.py",
        # the image file predict reads and the chunked prediction, on the helpers (no training)
        "tests/cli/test_cli_inputs.py",
    ],
}

#: pytest as mutmut runs it: hypothesis derandomised (``CI=true``), so a verdict never
#: depends on the draw, and no cache written into the work folder.
PYTEST_ARGS = ["-p", "no:cacheprovider", "-q", "-x"]

#: Files and folders some tests read (mutmut copies the package and tests/ itself).
ALSO_COPY = ["tutorials/", "docs/", "scripts/", "benchmarks/", "README.md", "mkdocs.yml"]

_STATUS = {"killed": "killed", "timeout": "timeout", "survived": "survived",
           "no tests": "no tests", "suspicious": "suspicious", "not checked": "not checked",
           "skipped": "skipped", "segfault": "killed", "caught by type check": "killed"}


#: mutmut's statuses of a mutant that ran and was not caught
_NOT_CAUGHT = ("survived", "no tests", "suspicious")

#: mutmut's status -> the verdict a sample's estimate counts: caught, not caught, not run
_VERDICT = {"killed": "killed", "timeout": "killed", "survived": "survived",
            "no tests": "survived", "suspicious": "survived", "not checked": "not checked"}


def _short(module: str) -> str:
    """``tinybcnn/experiments/outdir.py`` -> ``experiments.outdir``."""
    return module.removeprefix("tinybcnn/").removesuffix(".py").replace("/", ".")


def _find(name: str) -> str:
    hits = [m for m in TARGETS if _short(m) == name or m == name or _short(m).endswith(name)]
    if len(hits) != 1:
        raise SystemExit(f"unknown or ambiguous module {name!r}; choose from "
                         f"{', '.join(_short(m) for m in TARGETS)}")
    return hits[0]


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        if path.is_file():
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _source_digest(module: str) -> str:
    """The module and its mutmut table: a change starts the module afresh."""
    return _digest([ROOT / module]) + hashlib.sha256(_config(module).encode()).hexdigest()


def _tests_digest() -> str:
    """The rest of the package and the tests: a change re-runs the survivors."""
    return _digest(sorted((ROOT / "tinybcnn").rglob("*.py"))
                   + sorted((ROOT / "tests").rglob("*.py")))


def _copy_tree(destination: Path) -> None:
    """The files git tracks or would track (as scripts/plant_bugs.py copies them)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file() and not name.startswith(".mutation/"):
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _config(module: str) -> str:
    """The ``[tool.mutmut]`` table of one module's run (mutmut reads ./pyproject.toml)."""
    tests = [t for t in TARGETS[module]
             if t.startswith("--") or (ROOT / t.partition("::")[0]).is_file()]
    q = json.dumps
    return ("\n[tool.mutmut]\n"
            f"source_paths = {q(['tinybcnn'])}\n"
            f"only_mutate = {q([module])}\n"
            f"pytest_add_cli_args_test_selection = {q(tests)}\n"
            f"pytest_add_cli_args = {q(PYTEST_ARGS)}\n"
            # what tests read besides the package and tests/ (tutorials, docs, scripts)
            f"also_copy = {q(ALSO_COPY)}\n"
            # a mutant that makes its tests take 5x + 10 s longer than clean counts as caught
            "timeout_multiplier = 5.0\ntimeout_constant = 10.0\n")


def prepare(module: str) -> tuple[Path, bool]:
    """The module's work folder, and whether the tests changed since its last run.

    A change of the module (or its mutmut table) starts afresh; otherwise the tree is copied
    again (new tests reach mutmut, which collects their coverage) and the verdicts stay.
    """
    work = WORK / _short(module)
    source, tests = work / "source.sha", work / "tests.sha"
    if not (source.is_file() and source.read_text() == _source_digest(module)):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    changed = not (tests.is_file() and tests.read_text() == _tests_digest())
    if changed:
        _copy_tree(work)
        pyproject = work / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + _config(module))
    source.write_text(_source_digest(module))
    return work, changed and (work / "mutants").is_dir()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _mutmut(work: Path, args: list[str], budget: float) -> None:
    """``mutmut run ARGS`` in ``work`` for at most ``budget`` seconds (then SIGINT: mutmut
    saves every verdict it has).

    Each mutant is a pytest session of its own, and pytest keeps every session's temporary
    folders: over a day of runs they filled the disk (77 GB in /tmp, 5,510 sessions). So
    mutmut's temporary files go to ``<work>/tmp``, removed when the call ends.
    """
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "CI": "true", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": "",
           "TMPDIR": str(tmp)}
    try:
        _run_mutmut(work, args, budget, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_mutmut(work: Path, args: list[str], budget: float, env: dict[str, str]) -> None:
    with (work / "mutmut.log").open("a") as log:
        # SIGINT back to its default in mutmut: a script started in the background by a
        # shell ignores it, mutmut would inherit that, and the budget's SIGINT (on which it
        # saves its verdicts) would go unheard
        proc = subprocess.Popen([sys.executable, "-m", "mutmut", "run", *args], cwd=work,
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_default_sigint)
        try:
            proc.wait(timeout=max(budget, 1.0))
        except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if isinstance(exc, KeyboardInterrupt):
                raise


def only_patterns(module: str, only: list[str]) -> list[str]:
    """``--only`` patterns as mutmut matches them (``fnmatch`` on the full mutant name): a
    pattern without the module's dotted prefix gets it (``x_bernoulli_mask__mutmut_*`` ->
    ``tinybcnn.random.x_bernoulli_mask__mutmut_*``; methods are ``xǁMCBlockǁmask__mutmut_*``)."""
    prefix = module.removesuffix(".py").replace("/", ".") + "."
    return [p if p.startswith(prefix) else prefix + p for p in only]


def draw_sample(work: Path, module: str, size: int, seed: int) -> list[str]:
    """``size`` of the module's mutants not yet run, drawn uniformly at random, and recorded
    in ``<work>/sample.json``: every name drawn, the seeds, and the last draw (the one the
    estimate uses: tests written against an earlier draw's survivors make that draw a
    picture of those tests, no longer of the module)."""
    statuses = _statuses(work)
    if not statuses:
        raise SystemExit(f"{_short(module)}: no mutants yet; run the module once (a short "
                         "--budget is enough) before --sample")
    unrun = sorted(n for n, s in statuses.items() if s == "not checked")
    chosen = random.Random(f"{_short(module)}:{seed}").sample(unrun, min(size, len(unrun)))
    record = work / "sample.json"
    sample = json.loads(record.read_text()) if record.is_file() else {"names": [], "seeds": []}
    sample = {"names": sorted({*sample["names"], *chosen}), "seeds": [*sample["seeds"], seed],
              "last": sorted(chosen)}
    record.write_text(json.dumps(sample, indent=1))
    return sorted(chosen)


def run(module: str, budget: float, jobs: int, only: list[str] | None = None,
        sample: int = 0, seed: int = 0) -> float:
    """Run mutmut on ``module`` for at most ``budget`` seconds; return the seconds taken (the
    module's ``seconds`` in ``.mutation/<module>/times.json`` add up over resumed runs).

    Mutants not yet run are run (only those matching a pattern of ``only``, if given: mutmut
    then runs them again even if they have a verdict); if the tests changed since the last
    run, the survivors are run again (a new test may kill them; a killed mutant stays killed).
    """

    digest = _tests_digest()   # before the run: tests edited during it re-run survivors next time
    work, tests_changed = prepare(module)
    start = time.perf_counter()
    patterns = only_patterns(module, only or [])
    survivors = []
    if tests_changed:   # a survivor judged equivalent cannot be killed: it is not run again
        equivalents = load_equivalents()
        survivors = [n for n, s in _statuses(work).items() if s in _NOT_CAUGHT
                     and not (n in equivalents and _judged_equivalent(equivalents[n],
                                                                      _diff(work, n)))]
    if patterns:
        survivors = []   # the patterns' mutants are all run again below anyway
    if sample:           # unrun mutants only: the survivors still run again after them
        patterns += draw_sample(work, module, sample, seed)
    _mutmut(work, ["--max-children", str(jobs), *patterns], budget)
    left = budget - (time.perf_counter() - start)
    if survivors and left > 0:
        _mutmut(work, ["--max-children", str(jobs), *survivors], left)
    (work / "tests.sha").write_text(digest)
    took = time.perf_counter() - start
    times = work / "times.json"
    spent = json.loads(times.read_text()) if times.is_file() else {"seconds": 0.0, "runs": 0}
    spent = {"seconds": spent["seconds"] + took, "runs": spent["runs"] + 1}
    times.write_text(json.dumps(spent))
    return took


# -- the report ------------------------------------------------------------------------------
def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, tuple[str, str]]:
    """``{mutant name: (changed line, reason)}`` from the reviewed file.

    Each entry is two lines: ``<mutant name>: <reason>`` then, indented, the mutated line as
    mutmut shows it (``+ ...``); an entry whose line no longer matches counts as unreviewed.
    Lines starting with ``#`` are comments.
    """
    entries: dict[str, tuple[str, str]] = {}
    if not path.is_file():
        return entries
    name = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw.startswith((" ", "\t")) and name is not None:
            entries[name] = (raw.strip(), entries[name][1])
            continue
        name, _, reason = raw.partition(":")
        name = name.strip()
        entries[name] = ("", reason.strip())
    return entries


def _judged_equivalent(entry: tuple[str, str], diff: str) -> bool:
    """Whether an equivalents-file entry (mutated line, reason) still holds for a mutant whose
    diff is ``diff``: a reason is given and the line is the mutant's as it is now."""
    line, reason = entry
    return bool(reason) and _squeeze(line) == _added_line(diff)


def _statuses(work: Path) -> dict[str, str]:
    if not (work / "mutants").is_dir():
        return {}
    done = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                          cwd=work, capture_output=True, text=True)
    statuses = {}
    for line in done.stdout.splitlines():
        m = re.match(r"\s*(\S+__mutmut_\d+): (.+)$", line)
        if m:
            statuses[m.group(1)] = _STATUS.get(m.group(2).strip(), m.group(2).strip())
    return statuses


def _diff(work: Path, name: str) -> str:
    """The mutant's diff as ``mutmut show`` prints it, kept in ``diffs.json`` (a mutant's
    diff stays as it is while the module does; a ``mutmut show`` takes seconds)."""
    cache = work / "diffs.json"
    diffs = json.loads(cache.read_text()) if cache.is_file() else {}
    if name not in diffs:
        lines = _function_diff(work, name)
        if not lines:   # not found, or an f-string change the source segments did not show
            done = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work,
                                  capture_output=True, text=True)
            lines = done.stdout.splitlines()[1:]
        diffs[name] = "\n".join(line for line in lines if line.startswith(("+", "-"))
                                and not line.startswith(("+++", "---")))
        cache.write_text(json.dumps(diffs))
    return diffs[name]


def _function_diff(work: Path, name: str) -> list[str] | None:
    """What ``mutmut show`` prints, read off ``mutants/`` directly (the mutant's function
    against its ``__mutmut_orig`` twin), or None if they are not found there."""
    import ast
    import difflib

    short = name.rsplit(".", 1)[-1]
    base = short.rpartition("__mutmut_")[0]
    module = name.rsplit(".", 1)[0]
    path = work / "mutants" / (module.replace(".", "/") + ".py")
    if not base or not path.is_file():
        return None
    source = path.read_text(encoding="utf-8")
    wanted = (short, base + "__mutmut_orig")
    found = {node.name: ast.get_source_segment(source, node) for node in ast.walk(
        ast.parse(source)) if isinstance(node, ast.FunctionDef) and node.name in wanted}
    if len(found) != 2:
        return None
    mutant = found[short].replace(short, base + "__mutmut_orig", 1)
    return list(difflib.unified_diff(found[base + "__mutmut_orig"].splitlines(),
                                     mutant.splitlines(), lineterm="", n=0))


def _added_line(diff: str) -> str:
    """The first added line, as ``+ code`` (indentation dropped: it differs between mutmut's
    own diff and :func:`_function_diff` for methods)."""
    added = [line for line in diff.splitlines() if line.startswith("+")]
    return _squeeze(added[0]) if added else ""


def _squeeze(line: str) -> str:
    return "+ " + line.strip().removeprefix("+").strip() if line.strip() else ""


def wilson(killed: int, judged: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion ``killed / judged`` (it stays inside
    [0, 1] and is sensible for a proportion near 1 on a small sample, unlike p ± z·se)."""
    if judged == 0:
        return 0.0, 1.0
    p, n = killed / judged, judged
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def sample_estimate(verdicts: dict[str, str], sampled: set[str]) -> dict | None:
    """The sample's score and the module's estimated score, from each mutant's verdict
    (``killed``, ``survived`` (for any not caught), ``equivalent`` or ``not checked``;
    anything else, such as ``skipped``, is left out).

    The mutants that ran outside the sample count as they are; the unrun ones are assumed
    to be equivalent, and killed among the rest, as often as the sample's were. The
    interval of the estimate is the sample's Wilson interval carried through (the estimate
    rises with the sample's score).
    """
    judged = ("killed", "survived", "equivalent")
    ran = {n: v for n, v in verdicts.items() if n in sampled and v in judged}
    if not ran:
        return None
    k_s = sum(v == "killed" for v in ran.values())
    j_s = sum(v != "equivalent" for v in ran.values())
    others = [v for n, v in verdicts.items() if n not in ran and v in judged]
    unrun = sum(v == "not checked" for v in verdicts.values())
    k_o = sum(v == "killed" for v in others)
    j_o = sum(v != "equivalent" for v in others)
    judged_share = j_s / len(ran)            # of the unrun, this many are not equivalent

    def whole(score: float) -> float:
        total = j_o + j_s + unrun * judged_share
        return (k_o + k_s + unrun * judged_share * score) / total if total else 1.0

    low, high = wilson(k_s, j_s)
    return {"drawn": len(sampled), "ran": len(ran), "killed": k_s, "judged": j_s,
            "score": k_s / j_s if j_s else None, "interval": (low, high),
            "estimate": whole(k_s / j_s if j_s else 1.0), "estimate_interval":
            (whole(low), whole(high)), "unrun": unrun}


def report(modules: list[str], goal: float) -> tuple[str, dict, bool]:
    """The report's text, its data, and whether every module that ran reached ``goal``."""
    equivalents = load_equivalents()
    rows, survivors, sampled, data, ok = [], [], [], {}, True
    for module in modules:
        work = WORK / _short(module)
        if not (work / "mutants").is_dir():
            continue
        statuses = _statuses(work)
        counts = {k: 0 for k in ("killed", "timeout", "survived", "no tests", "suspicious",
                                 "not checked", "skipped", "equivalent")}
        open_, verdicts = [], {}
        for name, status in sorted(statuses.items()):
            verdicts[name] = _VERDICT.get(status, "skipped")
            if status in _NOT_CAUGHT:
                diff = _diff(work, name)
                if _judged_equivalent(equivalents.get(name, ("", "")), diff):
                    counts["equivalent"] += 1
                    verdicts[name] = "equivalent"
                    continue
                open_.append((name, status, diff))
            counts[status] = counts.get(status, 0) + 1
        judged = counts["killed"] + counts["timeout"] + counts["survived"] + counts["no tests"] \
            + counts["suspicious"]
        score = (counts["killed"] + counts["timeout"]) / judged if judged else None
        spent = json.loads((work / "times.json").read_text()) if (work / "times.json").is_file() \
            else {"seconds": None, "runs": 0}
        complete = counts["not checked"] == 0
        ok &= score is None or score >= goal or not complete
        record = work / "sample.json"
        kept = json.loads(record.read_text()) if record.is_file() else {}
        drawn = set(kept.get("last", kept.get("names", [])))
        # a module that has run in full needs no estimate
        estimate = sample_estimate(verdicts, drawn) if drawn and counts["not checked"] else None
        data[module] = {**counts, "mutants": len(statuses), "score": score,
                        "seconds": spent["seconds"], "runs": spent["runs"],
                        "complete": complete, "tests": TARGETS[module], "sample": estimate}
        if estimate:
            sampled.append(_sample_line(_short(module), estimate))
        pct = "-" if score is None else f"{100 * score:.1f}%"
        minutes = "-" if spent["seconds"] is None else f"{spent['seconds'] / 60:.1f}"
        rows.append(f"| {_short(module)} | {len(statuses)} | {counts['killed']} | "
                    f"{counts['timeout']} | {counts['survived'] + counts['suspicious']} | "
                    f"{counts['no tests']} | {counts['equivalent']} | {counts['not checked']} | "
                    f"{pct} | {minutes} |")
        survivors += [f"### {name} ({status})\n\n```diff\n{diff}\n```\n"
                      for name, status, diff in open_]
    text = "\n".join([
        "# Mutation testing (mutmut, one module at a time, its covering tests only)", "",
        f"Score: killed (timeouts included) / non-equivalent mutants that ran; goal "
        f"{100 * goal:.0f}%. Equivalent mutants: tests/mutation_equivalents.txt.", "",
        "| module | mutants | killed | timeout | survived | no tests | equivalent | not run "
        "| score | minutes |", "|---|---|---|---|---|---|---|---|---|---|", *rows, "",
        *(["## Modules measured on a random sample", "", *sampled, ""] if sampled else []),
        "## Survivors not yet killed or judged equivalent", "", *(survivors or ["None."])])
    return text + "\n", data, ok


def _sample_line(module: str, e: dict) -> str:
    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    return (f"- {module}: {e['ran']} of the {e['drawn']} mutants of its last random draw ran; "
            f"{e['killed']} of {e['judged']} non-equivalent killed "
            f"({'-' if e['score'] is None else pct(e['score'])}, 95% interval "
            f"{pct(e['interval'][0])} to {pct(e['interval'][1])}). Whole module, with its "
            f"{e['unrun']} mutants not run: estimated {pct(e['estimate'])} "
            f"({pct(e['estimate_interval'][0])} to {pct(e['estimate_interval'][1])}).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="short names (runlock, _json, "
                        "experiments.outdir, ...); default: every module of TARGETS")
    parser.add_argument("--budget", type=float, default=3600.0,
                        help="seconds per module for this run (3600); a stopped module "
                        "continues on the next run")
    parser.add_argument("--jobs", type=int, default=2, help="mutmut workers (2)")
    parser.add_argument("--goal", type=float, default=0.95, help="score to reach (0.95)")
    parser.add_argument("--only", action="append", metavar="PATTERN", help="run only the "
                        "mutants whose names match (fnmatch; repeatable), e.g. "
                        "'x_bernoulli_mask__mutmut_*'; the module's prefix is added")
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="run only N of "
                        "the mutants not yet run, drawn at random; the report estimates the "
                        "module's score from them")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (0)")
    parser.add_argument("--report", action="store_true", help="only write the report")
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    args = parser.parse_args(argv)
    modules = [_find(m) for m in args.modules] or list(TARGETS)
    if args.list:
        for module in modules:
            print(f"{_short(module):32s} {' '.join(TARGETS[module])}")
        return 0
    if not args.report:
        for module in modules:
            print(f"{_short(module)}: running (budget {args.budget:.0f} s) ...", flush=True)
            took = run(module, args.budget, args.jobs, args.only, args.sample, args.seed)
            print(f"{_short(module)}: {took:.0f} s", flush=True)
    text, data, ok = report(modules, args.goal)
    WORK.mkdir(exist_ok=True)
    (WORK / "report.md").write_text(text, encoding="utf-8")
    (WORK / "report.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
