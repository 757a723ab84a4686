"""``scripts/mutation.py``: its module table points at real modules and test files, and the
reviewed equivalents file parses (the mutation run itself takes hours: see the script)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "mutation.py"


def _script_module():
    spec = importlib.util.spec_from_file_location("mutation_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mutation = _script_module()


def test_every_target_module_and_test_file_exists():
    """After a module moves, the table must follow it (a missing test file would silently
    leave its module's mutants with fewer tests)."""
    for module, tests in mutation.TARGETS.items():
        assert (ROOT / module).is_file(), module
        assert tests, module
        for test in tests:
            # a file, one test of a file (file::test), or --deselect=file::test
            path, _, name = test.removeprefix("--deselect=").partition("::")
            assert (ROOT / path).is_file(), f"{module}: {test}"
            assert not name or f"def {name}(" in (ROOT / path).read_text(), f"{module}: {test}"


def test_the_issues_modules_are_all_targets():
    short = {mutation._short(m) for m in mutation.TARGETS}
    for name in ("files.rundir", "files.runlock", "files.atomic", "files.jsonfile",
                 "files.npyfile", "data.idx", "checkpoint",
                 "experiments.outdir", "experiments.active_learning", "cli", "random",
                 "splitmix", "objective"):
        assert any(s == name or s.endswith("." + name.split(".")[-1]) for s in short), name


def test_the_equivalents_file_parses(tmp_path):
    entries = mutation.load_equivalents()
    for name, (line, reason) in entries.items():
        assert "__mutmut_" in name and reason and line.startswith("+"), name
    sample = tmp_path / "eq.txt"
    sample.write_text("# a comment\n"
                      "tinybcnn.x.x_f__mutmut_3: the default is always passed\n"
                      "    +    def f(a, b=2):\n")
    assert mutation.load_equivalents(sample) == {
        "tinybcnn.x.x_f__mutmut_3": ("+    def f(a, b=2):", "the default is always passed")}


def test_a_stopped_module_is_not_judged_and_scores_count_timeouts(monkeypatch, tmp_path):
    """The report from mutmut's verdicts: timeouts count as killed, an equivalent survivor
    is left out of the score, a not-yet-run mutant makes the module incomplete."""
    work = tmp_path / ".mutation"
    (work / "files.runlock" / "mutants").mkdir(parents=True)
    monkeypatch.setattr(mutation, "WORK", work)
    verdicts = {"tinybcnn.files.runlock.x_a__mutmut_1": "killed",
                "tinybcnn.files.runlock.x_a__mutmut_2": "timeout",
                "tinybcnn.files.runlock.x_a__mutmut_3": "survived",
                "tinybcnn.files.runlock.x_a__mutmut_4": "survived",
                "tinybcnn.files.runlock.x_a__mutmut_5": "not checked"}
    monkeypatch.setattr(mutation, "_statuses", lambda w: dict(verdicts))
    monkeypatch.setattr(mutation, "_diff", lambda w, n: f"-    x = 1\n+    x = {n[-1]}")
    monkeypatch.setattr(mutation, "load_equivalents", lambda: {
        "tinybcnn.files.runlock.x_a__mutmut_3": ("+    x = 3", "x is never read")})
    text, data, ok = mutation.report(["tinybcnn/files/runlock.py"], goal=0.95)
    row = data["tinybcnn/files/runlock.py"]
    assert (row["killed"], row["timeout"], row["survived"], row["equivalent"]) == (1, 1, 1, 1)
    assert row["score"] == 2 / 3 and not row["complete"] and ok   # incomplete: not judged
    assert "x_a__mutmut_4" in text and "x_a__mutmut_3 " not in text


def test_only_patterns_reach_mutmut_with_the_modules_prefix(monkeypatch, tmp_path):
    """``--only PATTERN`` runs a subset: the pattern gets the module's dotted prefix (mutmut
    matches full names) and is passed to ``mutmut run``; a prefixed one is left as it is."""
    assert mutation.only_patterns("tinybcnn/random.py", [
        "x_bernoulli_mask__mutmut_*", "tinybcnn.random.xǁMCBlockǁmask__mutmut_1"]) == [
        "tinybcnn.random.x_bernoulli_mask__mutmut_*", "tinybcnn.random.xǁMCBlockǁmask__mutmut_1"]
    calls = []
    monkeypatch.setattr(mutation, "WORK", tmp_path)
    monkeypatch.setattr(mutation, "prepare", lambda m: (tmp_path, True))
    monkeypatch.setattr(mutation, "_tests_digest", lambda: "d")
    monkeypatch.setattr(mutation, "_statuses", lambda w: {"tinybcnn.random.x_f__mutmut_1":
                                                         "survived"})
    monkeypatch.setattr(mutation, "_mutmut", lambda w, args, b: calls.append(args))
    mutation.main(["random", "--jobs", "1", "--only", "x_f__mutmut_*", "--budget", "5"])
    assert calls == [["--max-children", "1", "tinybcnn.random.x_f__mutmut_*"]]
