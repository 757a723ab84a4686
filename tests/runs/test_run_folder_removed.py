"""A run folder removed while ``train`` runs stops training with one line (issue 30, B6);
before, the next checkpoint made the folder again, holding a checkpoint and no config.json,
and ``train`` reported success."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_train_stops_when_its_folder_is_removed(tmp_path):
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYBCNN_")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    child = subprocess.Popen(
        [sys.executable, "-m", "tinybcnn", "train", "--quiet", "--train-size", "200",
         "--test-size", "50", "--iterations", "100000", "--eval-every", "5",
         "--eval-samples", "0", "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists():
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    shutil.rmtree(out)
    try:
        stdout, stderr = child.communicate(timeout=120)
    finally:
        child.kill()  # no training left behind if it never stops (the bug)
    assert child.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "removed while training" in lines[0], stderr
    assert stdout == ""
