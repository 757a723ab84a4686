"""``scripts/mutation.py``: its module table points at real modules and test files, and the
reviewed equivalents file parses (the mutation run itself takes hours: see the script)."""

from __future__ import annotations

import importlib.util
import json
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


def test_the_wilson_interval_matches_scipy():
    """The sample's interval against SciPy's Wilson interval (no continuity correction)."""
    from scipy.stats import binomtest

    for killed, judged in ((0, 5), (3, 7), (95, 100), (100, 100), (48, 50)):
        want = binomtest(killed, judged).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = mutation.wilson(killed, judged)
        assert abs(low - want.low) < 1e-3 and abs(high - want.high) < 1e-3, (killed, judged)


def test_a_samples_estimate_counts_what_ran_and_scales_the_sample_to_the_rest():
    """Worked by hand: 10 mutants ran outside the sample (8 killed, 1 survived, 1
    equivalent); the sample of 4 ran 3 killed and 1 equivalent, so the 6 still unrun count as
    6 * 3/4 = 4.5 non-equivalent mutants, all killed at the sample's score of 1:
    (8 + 3 + 4.5) / (9 + 3 + 4.5)."""
    verdicts = {f"o{i}": v for i, v in enumerate(["killed"] * 8 + ["survived", "equivalent"])}
    verdicts |= {"s0": "killed", "s1": "killed", "s2": "killed", "s3": "equivalent"}
    verdicts |= {f"u{i}": "not checked" for i in range(6)} | {"x": "skipped"}
    e = mutation.sample_estimate(verdicts, {"s0", "s1", "s2", "s3"})
    assert (e["ran"], e["killed"], e["judged"], e["unrun"]) == (4, 3, 3, 6)
    assert e["score"] == 1.0 and abs(e["estimate"] - 15.5 / 16.5) < 1e-12
    low, _ = mutation.wilson(3, 3)
    assert abs(e["estimate_interval"][0] - (11 + 4.5 * low) / 16.5) < 1e-12
    assert mutation.sample_estimate(verdicts, {"u0"}) is None   # drawn, not run yet


def test_a_sample_draws_only_unrun_mutants_reproducibly_and_reaches_mutmut(monkeypatch,
                                                                            tmp_path):
    """``--sample N``: N of the not-yet-run mutants, the same ones for the same seed, kept in
    sample.json (a second draw adds to it), passed to ``mutmut run`` by name."""
    names = [f"tinybcnn.checkpoint.x_f__mutmut_{i}" for i in range(1, 41)]
    statuses = {n: ("killed" if i < 10 else "not checked") for i, n in enumerate(names)}
    monkeypatch.setattr(mutation, "_statuses", lambda w: dict(statuses))
    first = mutation.draw_sample(tmp_path, "tinybcnn/checkpoint.py", 5, seed=0)
    assert len(set(first)) == 5 and all(statuses[n] == "not checked" for n in first)
    again = tmp_path / "again"
    again.mkdir()
    assert mutation.draw_sample(again, "tinybcnn/checkpoint.py", 5, seed=0) == first
    other = mutation.draw_sample(tmp_path, "tinybcnn/checkpoint.py", 5, seed=1)
    record = json.loads((tmp_path / "sample.json").read_text())
    assert record == {"names": sorted({*first, *other}), "seeds": [0, 1], "last": sorted(other)}
    assert len(mutation.draw_sample(again, "tinybcnn/checkpoint.py", 99, seed=2)) == 30

    calls = []
    monkeypatch.setattr(mutation, "WORK", tmp_path)
    monkeypatch.setattr(mutation, "prepare", lambda m: (again, False))
    monkeypatch.setattr(mutation, "_tests_digest", lambda: "d")
    monkeypatch.setattr(mutation, "_mutmut", lambda w, args, b: calls.append(args))
    monkeypatch.setattr(mutation, "report", lambda m, g: ("", {}, True))
    mutation.main(["checkpoint", "--jobs", "1", "--sample", "5", "--seed", "0"])
    assert calls == [["--max-children", "1", *first]]


def test_a_sample_after_a_test_change_reruns_the_survivors_too(monkeypatch, tmp_path):
    """--sample runs unrun mutants; unlike --only it still reruns the survivors when the
    tests changed (a new test may kill them), after the sample."""
    names = [f"tinybcnn.checkpoint.x_f__mutmut_{i}" for i in range(1, 6)]
    statuses = {names[0]: "survived", names[1]: "killed",
                **{n: "not checked" for n in names[2:]}}
    calls = []
    monkeypatch.setattr(mutation, "WORK", tmp_path)
    monkeypatch.setattr(mutation, "prepare", lambda m: (tmp_path, True))
    monkeypatch.setattr(mutation, "_tests_digest", lambda: "d")
    monkeypatch.setattr(mutation, "_statuses", lambda w: dict(statuses))
    monkeypatch.setattr(mutation, "_mutmut", lambda w, args, b: calls.append(args))
    mutation.run("tinybcnn/checkpoint.py", 60.0, 1, sample=2, seed=0)
    assert len(calls) == 2 and calls[1] == ["--max-children", "1", names[0]]
    assert len(calls[0]) == 4 and set(calls[0][2:]) <= set(names[2:])


def test_survivors_judged_equivalent_are_not_run_again(monkeypatch, tmp_path):
    """After a test change only the survivors not in the equivalents file run again (each
    runs every covering test: a minute apiece for cli)."""
    same, other = "tinybcnn.cli.x_f__mutmut_1", "tinybcnn.cli.x_f__mutmut_2"
    calls = []
    monkeypatch.setattr(mutation, "WORK", tmp_path)
    monkeypatch.setattr(mutation, "prepare", lambda m: (tmp_path, True))
    monkeypatch.setattr(mutation, "_tests_digest", lambda: "d")
    monkeypatch.setattr(mutation, "_statuses", lambda w: {same: "survived", other: "survived"})
    monkeypatch.setattr(mutation, "_diff", lambda w, n: "-    x = 0\n+    x = 1")
    monkeypatch.setattr(mutation, "load_equivalents", lambda: {same: ("+    x = 1", "why")})
    monkeypatch.setattr(mutation, "_mutmut", lambda w, args, b: calls.append(args))
    mutation.run("tinybcnn/cli.py", 60.0, 1)
    assert calls == [["--max-children", "1"], ["--max-children", "1", other]]


def test_mutmuts_temporary_files_go_to_the_work_folder_and_are_removed(monkeypatch, tmp_path):
    """pytest keeps each session's temporary folders and every mutant is a session: they go
    to <work>/tmp, which is removed when the call ends (even if it fails)."""
    seen = []

    def fake(work, args, budget, env):
        seen.append(env["TMPDIR"])
        (Path(env["TMPDIR"]) / "pytest-of-root").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(mutation, "_run_mutmut", fake)
    try:
        mutation._mutmut(tmp_path, [], 1.0)
    except KeyboardInterrupt:
        pass
    assert seen == [str(tmp_path / "tmp")] and not (tmp_path / "tmp").exists()
