"""Interrupting the interruption: a second SIGTERM or Ctrl-C, sent while ``train`` saves its
checkpoint and exits after the first, is ignored (issue 30, D1).

Before, the second signal was raised inside the first one's handling: a ``_Terminated`` or
``KeyboardInterrupt`` traceback, the checkpoint save cut short, and for Ctrl-C then SIGTERM
the exit code of the second. Now the exit is the first signal's: its code (130 or 143), its
one line, and a checkpoint that resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _default_sigint() -> None:  # pragma: no cover - runs in the child
    # a child of a background pytest inherits SIGINT ignored; a terminal's Ctrl-C never does
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _train_and_signal(out: Path, first: int, then: list[int]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYBCNN_")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    child = subprocess.Popen(
        [sys.executable, "-m", "tinybcnn", "train", "--quiet", "--train-size", "200",
         "--test-size", "50", "--iterations", "100000", "--eval-every", "1",
         "--eval-samples", "0", "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists():  # training, checkpointing every iteration
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(first)
    for signum in then:  # a burst: some land while the first one's checkpoint is written
        time.sleep(0.002)
        if child.poll() is not None:
            break
        child.send_signal(signum)
    try:
        out_text, err_text = child.communicate(timeout=120)
    finally:
        child.kill()
    return subprocess.CompletedProcess(child.args, child.returncode, out_text, err_text)


@pytest.mark.parametrize("first, then, code", [
    (signal.SIGTERM, [signal.SIGTERM] * 40, 143),
    (signal.SIGINT, [signal.SIGINT] * 40, 130),
    (signal.SIGINT, [signal.SIGTERM] * 40, 130),
])
def test_a_second_signal_while_exiting_changes_nothing(tmp_path, first, then, code):
    done = _train_and_signal(tmp_path / "run", first, then)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "checkpoint saved" in lines[0], done.stderr
    from tinybcnn.checkpoint import read_checkpoint

    read_checkpoint(tmp_path / "run" / "checkpoint.npz")  # whole and readable
