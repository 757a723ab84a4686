"""Run a tutorial as a reader would, in quick or full mode; run its exercise checks against
the solutions, or against a wrong answer planted in them."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT_S = 600  # generous: the quick runs take well under a minute, but CI machines are shared
ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
SOLUTIONS = TUTORIALS / "solutions"
CHECKS_CELL = "# %% Exercise checks"


def run_tutorial(script: Path, out: Path, record_property, quick: bool,
                 timeout_s: float = TIMEOUT_S) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``script`` as a reader would (in ``out``, NumPy, Agg), in quick or full mode; check
    it exits 0 and reaches its checks; record and return its time."""
    env = {k: v for k, v in os.environ.items() if k != "TINYBCNN_QUICK"}
    if quick:
        env["TINYBCNN_QUICK"] = "1"
    env.update(TINYBCNN_TUTORIAL_OUT=str(out), TINYBCNN_BACKEND="numpy", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(script)], cwd=out, env=env,
                            capture_output=True, text=True, timeout=timeout_s)
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 1))
    output = (result.stdout + result.stderr)[-6000:]
    mode = "" if quick else " (full)"
    assert result.returncode == 0, f"{script.name}{mode} exited {result.returncode}:\n{output}"
    assert "all checks passed" in result.stdout, f"{script.name} did not reach its checks"
    return result, seconds


def split_cells(text: str) -> list[tuple[str, str]]:
    """``(marker line, body)`` for each ``# %%`` cell of a percent script."""
    parts = re.split(r"^(# %%.*)$", text, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def exercise_script(tutorial: Path, answers: str) -> str:
    """The tutorial's import cell, then ``answers``, then its exercise check cell."""
    cells = split_cells(tutorial.read_text(encoding="utf-8"))
    imports = next(body for marker, body in cells if "[markdown]" not in marker)
    checks = next(body for marker, body in cells if marker.strip() == CHECKS_CELL)
    return "\n".join([imports, answers, checks])


def n_exercises(tutorial: Path) -> int:
    """How many exercises the tutorial's "# ## Exercises" section numbers (``1. **...``)."""
    section = tutorial.read_text(encoding="utf-8").split("# ## Exercises", 1)[1]
    return len(re.findall(r"^# \d\. \*\*", section, flags=re.MULTILINE))


def run_exercises(tutorial: Path, answers: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run :func:`exercise_script` in a fresh interpreter (quick mode, NumPy, Agg)."""
    script = tmp_path / f"exercises_{tutorial.name}"
    script.write_text(exercise_script(tutorial, answers), encoding="utf-8")
    env = {**os.environ, "TINYBCNN_QUICK": "1", "TINYBCNN_TUTORIAL_OUT": str(tmp_path),
           "TINYBCNN_BACKEND": "numpy", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def solution_with(name: str, function: str, *edits: tuple[str, str]) -> str:
    """The source of ``function`` in ``tutorials/solutions/<name>`` with each ``(right,
    wrong)`` edit made: a planted wrong answer that differs from the solution only there.

    Each ``right`` must stand exactly once in the function, so a plant whose solution has
    changed fails here instead of planting the solution itself.
    """
    text = (SOLUTIONS / name).read_text(encoding="utf-8")
    node = next(n for n in ast.parse(text).body
                if isinstance(n, ast.FunctionDef) and n.name == function)
    source = "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno])
    for right, wrong in edits:
        count = source.count(right)
        if count != 1:
            raise ValueError(f"{name}:{function}: {right!r} stands {count} times, not once")
        source = source.replace(right, wrong)
    return source
