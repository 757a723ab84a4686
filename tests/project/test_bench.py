"""The CPU benchmark's timing helpers and its step row (``benchmarks/bench.py``).

The benchmark is not part of the timing assertions of this suite; these tests only check that
its helpers time what they claim to and that the step row runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains benchmark steps (pytest -m "not slow" leaves it out)

ROOT = Path(__file__).resolve().parents[2]


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_in_blocks_times_each_contender_in_blocks_and_skips_the_first_call_of_each():
    bench = _bench_module()
    calls: list[str] = []

    def slow():
        calls.append("a")
        time.sleep(0.004)

    def fast():
        calls.append("b")

    t_slow, t_fast = bench.in_blocks(slow, fast, repeats=6, block=3)
    # two rounds of: one untimed call of a, three timed; one untimed of b, three timed
    assert calls == (["a"] * 4 + ["b"] * 4) * 2
    assert t_slow >= 0.004 > t_fast


def test_alternate_returns_the_median_of_each_contender():
    bench = _bench_module()
    t_slow, t_fast = bench.alternate(lambda: time.sleep(0.004), lambda: None, repeats=5,
                                     warmup=1)
    assert t_slow >= 0.004 > t_fast


def test_step_row_runs(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--only",
                           "step", "--quick", "--threads", "1"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "| LeNet-all training step (batch 64) |" in done.stdout
    assert "alternating step by step" in done.stdout


def test_busy_machine_rows_run_and_name_both_thread_counts(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--only",
                           "loaded", "--quick"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [ln for ln in done.stdout.splitlines() if ln.startswith("| ")]
    assert rows[0].startswith("| LeNet-all step, busy machine |")
    alone, auto, forced = rows[1:4]
    assert alone.startswith("| alone, ")
    assert "BLAS thread(s), steps on" in auto and "--threads 2" in forced
    slowdowns = [float(row.split("|")[3].split()[0]) for row in (auto, forced)]
    assert all(s > 0 for s in slowdowns)


def test_conv_rows_run_and_report_a_fraction_for_each_layer(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--only",
                           "conv", "--quick", "--threads", "1"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {line.split("|")[1].strip(): line.split("|")[-2].strip()
            for line in done.stdout.splitlines() if line.startswith("| conv")
            and not line.startswith("| conv layer")}
    assert set(rows) == {"conv1", "conv2", "conv1, as trained (no input gradient)"}, rows
    assert all(0 < float(fraction) < 2 for fraction in rows.values()), rows


def test_compare_commits_runs_a_commit_against_the_working_tree(tmp_path):
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                      capture_output=True).returncode != 0:
        import pytest
        pytest.skip("not a git checkout")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_commits.py"),
                           "--base", "HEAD", "--steps", "3", "--layers"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "new/base" in done.stdout and "conv2" in done.stdout


def test_profile_step_runs_on_benchs_step(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_step.py"),
                           "--steps", "2", "--threads", "1"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "median step:" in done.stdout and "page faults per step" in done.stdout


def test_halves_runs_both_kinds_of_step(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "halves.py"),
                           "--steps", "2"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "two halves" in done.stdout and "halves/whole" in done.stdout


def test_gil_times_a_half_pass_alone_beside_a_process_and_beside_a_thread(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gil.py"), "--passes", "2"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines()[2:]]
    assert [r[0].strip() for r in rows] == ["alone", "beside a second process",
                                           "beside a second thread of this process"]
    for _, wall, cpu in rows:
        assert float(wall) > 0 and float(cpu) > 0
