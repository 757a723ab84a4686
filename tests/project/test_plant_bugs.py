"""The planted-bug catalogue (``scripts/planted_bugs.json``) and its runner
(``scripts/plant_bugs.py``): every bug still applies to the code as it is, and the runner
reports a caught bug as caught and an uncaught one as missed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "plant_bugs.py"


def _script_module():
    """``scripts/plant_bugs.py`` as a module (a script, not a package; as test_bench does)."""
    spec = importlib.util.spec_from_file_location("plant_bugs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plant_bugs = _script_module()
BUGS = plant_bugs.load()


def test_the_catalogue_is_well_formed():
    assert len(BUGS) >= 120  # issue 27's bar
    for bug in BUGS:
        assert (ROOT / bug["test"]).is_file(), bug["test"]
        assert bug["file"].startswith("tinybcnn/"), bug["file"]


@pytest.mark.parametrize("bug", BUGS, ids=[f"{k}-{Path(b['file']).stem}"
                                           for k, b in enumerate(BUGS)])
def test_every_planted_bug_still_applies(bug):
    """Its text occurs exactly once in its file: if the code changed there, update the
    catalogue (plant the same bug in the new code and check its test still catches it)."""
    assert plant_bugs.applies(bug), f"{bug['file']} no longer holds {bug['old']!r} once"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


@pytest.mark.slow   # runs test files in fresh interpreters
def test_the_runner_catches_a_planted_bug():
    done = _run("--only", "step_rng(state.dropout_seed")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[1/1] caught" in done.stdout and "test_every_step_draws_fresh_masks" in done.stdout
    assert "1 of 1 planted bugs caught" in done.stdout


@pytest.mark.slow   # runs test files in fresh interpreters
def test_the_runner_reports_a_bug_the_tests_miss(tmp_path):
    """The control: a "bug" that changes nothing (a comment) must be reported as missed,
    and one whose text is gone as no longer applying; either makes the exit code 1."""
    catalogue = tmp_path / "bugs.json"
    catalogue.write_text(json.dumps([
        {"file": "tinybcnn/train.py", "old": "# -- the loop ---", "new": "# -- a loop ---",
         "test": "tests/training/test_train_behaviours.py"},
        {"file": "tinybcnn/train.py", "old": "text that is not there", "new": "x",
         "test": "tests/training/test_train_behaviours.py"}]))
    done = _run("--catalogue", str(catalogue))
    assert done.returncode == 1
    assert "[1/2] MISSED" in done.stdout and "all tests passed" in done.stdout
    assert "[2/2] NO LONGER APPLIES" in done.stdout
    assert "0 of 2 planted bugs caught" in done.stdout


@pytest.mark.slow   # runs test files in fresh interpreters
def test_the_runner_resumes_from_its_state_file(tmp_path):
    """--state records each outcome as it comes; a second run takes it from there (no test
    run) and still counts it. --range picks by catalogue number. The CPU is named."""
    catalogue, state = tmp_path / "bugs.json", tmp_path / "state.json"
    catalogue.write_text(json.dumps([
        {"file": "tinybcnn/train.py", "old": "# -- the loop ---", "new": "# -- a loop ---",
         "test": "tests/files/test_stale_parts.py"},
        {"file": "tinybcnn/files/atomic.py", "old": "text that is not there", "new": "x",
         "test": "tests/files/test_stale_parts.py"}]))
    first = _run("--catalogue", str(catalogue), "--state", str(state), "--range", "0:1")
    assert first.returncode == 1 and "[1/1] MISSED" in first.stdout
    assert "CPU: " in first.stdout and "0 of 1 planted bugs caught" in first.stdout
    saved = json.loads(state.read_text())
    assert len(saved) == 1 and next(iter(saved.values()))["caught"] is False
    again = _run("--catalogue", str(catalogue), "--state", str(state))
    assert "[1/2] MISSED" in again.stdout and "earlier run" in again.stdout
    assert "[2/2] NO LONGER APPLIES" in again.stdout
