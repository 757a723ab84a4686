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


@pytest.mark.slow   # runs a test file in a forked child
def test_the_runner_catches_a_planted_bug(tmp_path):
    """End to end on a copy of this tree, the working tree untouched: the planted file and
    its bytecode are as they were."""
    planted = ROOT / "tinybcnn" / "train.py"
    before = (planted.read_bytes(), planted.stat().st_mtime_ns)
    done = _run("--only", "step_rng(state.dropout_seed", "--state", str(tmp_path / "s.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[1/1] caught" in done.stdout and "test_every_step_draws_fresh_masks" in done.stdout
    assert "1 of 1 planted bugs caught" in done.stdout and "CPU: " in done.stdout
    assert (planted.read_bytes(), planted.stat().st_mtime_ns) == before
    (outcome,) = json.loads((tmp_path / "s.json").read_text()).values()
    assert outcome["catcher"].startswith(
        "tests/training/test_train_behaviours.py::test_every_step_draws_fresh_masks")


def test_a_bug_that_cannot_be_planted_is_reported_and_fails_the_run(tmp_path, monkeypatch):
    """Moved code is never skipped silently: text found 0 or 2 times, a file or a test file
    that is gone, each is "COULD NOT PLANT" and makes the exit code 1 (no test runs)."""
    catalogue = tmp_path / "bugs.json"
    test = "tests/project/test_plant_bugs.py"
    catalogue.write_text(json.dumps([
        {"file": "tinybcnn/train.py", "old": "text that is not there", "new": "x",
         "test": test},
        {"file": "tinybcnn/train.py", "old": "import", "new": "x", "test": test},
        {"file": "tinybcnn/gone.py", "old": "a", "new": "b", "test": test},
        {"file": "tinybcnn/train.py", "old": "class Trainer", "new": "class T",
         "test": "tests/gone.py"}]))
    monkeypatch.setenv("CI", "true")  # main sets it for its children: put it back after
    code, said = capture_main(["--catalogue", str(catalogue), "--jobs", "1"])
    assert code == 1
    assert "[1/4] COULD NOT PLANT" in said and "occurs 0 times in tinybcnn/train.py" in said
    assert "[2/4] COULD NOT PLANT" in said and "times in tinybcnn/train.py" in said
    assert "[3/4] COULD NOT PLANT" in said and "tinybcnn/gone.py is gone" in said
    assert "[4/4] COULD NOT PLANT" in said and "test file tests/gone.py is gone" in said
    assert "0 of 4 planted bugs caught" in said
    assert "not caught (catalogue numbers): 0 1 2 3" in said


def capture_main(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = plant_bugs.main(argv)
    return code, out.getvalue()


def test_first_must_name_tests_of_the_entrys_own_file(tmp_path):
    base = {"file": "tinybcnn/a.py", "old": "a", "new": "b", "test": "tests/t.py"}
    path = tmp_path / "bugs.json"
    for first in (["tests/t.py::test_a"], []):
        path.write_text(json.dumps([{**base, "first": first}]))
        assert plant_bugs.load(path)[0]["first"] == first
    for bad in ("tests/t.py::test_a", ["tests/other.py::test_a"], ["tests/t.py"]):
        path.write_text(json.dumps([{**base, "first": bad}]))
        with pytest.raises(ValueError, match="malformed"):
            plant_bugs.load(path)


def test_the_order_plugin_puts_the_named_tests_first_and_keeps_the_rest():
    class Item:
        def __init__(self, nodeid):
            self.nodeid = nodeid

    ids = ["t.py::a", "t.py::b[1]", "t.py::c", "t.py::b[2]", "t.py::bb", "t.py::d"]
    items = [Item(i) for i in ids]
    plant_bugs._Order(["t.py::b", "t.py::d"], "unused").pytest_collection_modifyitems(items)
    assert [i.nodeid for i in items] == ["t.py::b[1]", "t.py::b[2]", "t.py::d",
                                         "t.py::a", "t.py::c", "t.py::bb"]


def test_an_entry_tries_its_own_first_tests_then_the_files_other_catchers(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"k": {"caught": True, "seconds": 1.0, "detail": "",
                                       "catcher": "tests/t.py::test_c[2]"}}))
    bugs = [{"file": "a.py", "old": "a", "new": "b", "test": "tests/t.py",
             "first": ["tests/t.py::test_a"]},
            {"file": "a.py", "old": "c", "new": "d", "test": "tests/u.py",
             "first": ["tests/u.py::test_u"]},
            {"file": "a.py", "old": "e", "new": "f", "test": "tests/t.py",
             "first": ["tests/t.py::test_b", "tests/t.py::test_a"]},
            {"file": "a.py", "old": "g", "new": "h", "test": "tests/t.py"}]
    run = plant_bugs.Catalogue(list(enumerate(bugs)), [], 1.0, False, state, tmp_path)
    assert run.first(bugs[3]) == ["tests/t.py::test_a", "tests/t.py::test_b",
                                  "tests/t.py::test_c"]
    assert run.first(bugs[0]) == ["tests/t.py::test_a", "tests/t.py::test_b",
                                  "tests/t.py::test_c"]
    assert run.first(bugs[2])[:2] == ["tests/t.py::test_b", "tests/t.py::test_a"]
    assert run.first(bugs[1]) == ["tests/u.py::test_u"]


def test_writing_a_file_drops_its_bytecode(tmp_path):
    """A planted line of the same length, written in the same second as the original's
    bytecode, would otherwise run the original (or the restored file the planted code)."""
    import py_compile

    source = tmp_path / "m.py"
    source.write_text("X = 1\n")
    cached = Path(py_compile.compile(str(source)))
    assert cached.is_file()
    plant_bugs._write(source, "X = 2\n")
    assert not cached.exists() and source.read_text() == "X = 2\n"


def test_update_first_records_the_catching_test_without_its_parameters(tmp_path):
    bugs = [{"file": "tinybcnn/a.py", "old": "a", "new": "b", "test": "tests/t.py"},
            {"file": "tinybcnn/a.py", "old": "c", "new": "d", "test": "tests/t.py",
             "first": ["tests/t.py::test_old"]},
            {"file": "tinybcnn/a.py", "old": "e", "new": "f", "test": "tests/t.py"}]
    path = tmp_path / "bugs.json"
    path.write_text(json.dumps(bugs))
    key = plant_bugs._key
    results = {key(bugs[0]): {"caught": True, "catcher": "tests/t.py::test_x[1-a]"},
               key(bugs[1]): {"caught": True, "catcher": "tests/t.py::test_old[2]"},
               key(bugs[2]): {"caught": False, "catcher": None}}
    assert plant_bugs.update_first(path, results) == 1
    assert [b.get("first") for b in plant_bugs.load(path)] == [
        ["tests/t.py::test_x"], ["tests/t.py::test_old"], None]


def test_update_first_runs_nothing_and_needs_a_state_file(tmp_path, capsys):
    bug = {"file": "tinybcnn/a.py", "old": "a", "new": "b", "test": "tests/t.py"}
    path, state = tmp_path / "bugs.json", tmp_path / "state.json"
    path.write_text(json.dumps([bug]))
    with pytest.raises(SystemExit):
        plant_bugs.main(["--catalogue", str(path), "--update-first"])
    state.write_text(json.dumps({plant_bugs._key(bug): {
        "caught": True, "seconds": 1.0, "detail": "", "catcher": "tests/t.py::test_a"}}))
    assert plant_bugs.main(["--catalogue", str(path), "--state", str(state),
                            "--update-first"]) == 0
    assert plant_bugs.load(path)[0]["first"] == ["tests/t.py::test_a"]
    assert "CPU" not in capsys.readouterr().out   # no run


# A tiny tree (no tinybcnn, no numpy) to run the runner's verdicts on in fresh interpreters.
_PKG = "def double(x):\n    return 2 * x\n\n\ndef register(seen):\n    seen.append(1)\n"
_TESTS = """from pkg import double, register
SEEN = []


def test_zero():
    assert double(0) == 0


def test_two():
    assert double(2) == 4


def test_sets_up():
    register(SEEN)


def test_needs_the_one_before():
    assert SEEN
"""


def _tiny_tree(path: Path) -> Path:
    path.mkdir()
    (path / "pkg.py").write_text(_PKG)
    (path / "test_pkg.py").write_text(_TESTS)
    return path


def _catalogue_run(tmp_path, numbered, state, fresh=False):
    trees = [_tiny_tree(tmp_path / f"tree{j}") for j in range(2)]
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    run = plant_bugs.Catalogue(numbered, trees, 120.0, fresh, state, scratch)
    run.run()
    for tree in trees:  # every copy is put back
        assert (tree / "pkg.py").read_text() == _PKG
    return run


@pytest.mark.slow   # about ten pytest runs in forked children
def test_the_runners_verdicts_on_a_tiny_tree(tmp_path, capsys):
    """Caught (by the test named first, even if another fails too), caught despite a stale
    "first" (by another entry's catcher), missed (an equivalent change), could not plant,
    and a "catch" by a test that fails without the bug (it needs the test before it) that
    does not count. A second run with the state file runs nothing, with the same verdicts."""
    bug = {"file": "pkg.py", "test": "test_pkg.py"}
    numbered = list(enumerate([
        {**bug, "old": "2 * x", "new": "2 * x + 2", "first": ["test_pkg.py::test_two"]},
        {**bug, "old": "2 * x", "new": "2 * x + 1", "first": ["test_pkg.py::test_gone"]},
        {**bug, "old": "2 * x", "new": "x + x"},
        {**bug, "old": "3 * x", "new": "x"},
        {**bug, "old": "seen.append(1)", "new": "pass"},
        {**bug, "old": "return 2", "new": "return  2",
         "first": ["test_pkg.py::test_needs_the_one_before"]}]))
    state = tmp_path / "state.json"
    run = _catalogue_run(tmp_path, numbered, state)
    said = capsys.readouterr().out
    assert run.missed == 4 and set(run.results) == {0, 1, 2, 4, 5}
    assert run.results[0]["caught"] and run.results[0]["catcher"] == "test_pkg.py::test_two"
    # its own first is gone: the file's other known catchers are tried before the file order
    assert run.results[1]["caught"] and run.results[1]["catcher"] == "test_pkg.py::test_two"
    assert not run.results[2]["caught"] and run.results[2]["detail"] == "all tests passed"
    assert "[4/6] COULD NOT PLANT" in said and "occurs 0 times in pkg.py" in said
    # test_sets_up passes, and the test after it fails for want of its side effect: the test
    # fails alone without the bug too, so it is no catch
    assert not run.results[4]["caught"]
    assert run.results[4]["detail"].startswith("FAILS WITHOUT THE BUG: "
                                               "test_pkg.py::test_needs_the_one_before")
    # a "first" that fails only when run first: the file is run again in its own order
    assert not run.results[5]["caught"] and run.results[5]["detail"] == "all tests passed"
    saved = json.loads(state.read_text())
    assert len(saved) == 5
    (tmp_path / "again").mkdir()
    again = _catalogue_run(tmp_path / "again", numbered, state)
    assert again.runs == 0 and again.missed == 4
    assert capsys.readouterr().out.count("earlier run") == 5


@pytest.mark.slow   # two pytest runs in fresh interpreters
def test_the_fresh_runner_falls_back_to_the_file_order_when_first_is_stale(tmp_path):
    numbered = [(0, {"file": "pkg.py", "test": "test_pkg.py", "old": "2 * x",
                     "new": "2 * x + 1", "first": ["test_pkg.py::test_gone"]})]
    run = _catalogue_run(tmp_path, numbered, None, fresh=True)
    assert run.results[0]["caught"] and run.results[0]["catcher"] == "test_pkg.py::test_zero"
