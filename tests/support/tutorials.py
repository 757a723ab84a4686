"""Run a tutorial as a reader would, in quick or full mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT_S = 600  # generous: the quick runs take well under a minute, but CI machines are shared


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
