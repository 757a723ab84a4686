"""Helpers shared by the command-line tests: run ``tinybcnn`` in this process or in a child,
train the tiny run, write an IDX folder, check the one-line error promise, and start a long
run in the background to signal once its first checkpoint is written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tinybcnn.backend import get_backend, set_backend
from tinybcnn.cli import main
from tinybcnn.data import write_idx

# A tiny but real training run: ~20 updates of LeNet on 200 embedded images.
TINY = ["--train-size", "200", "--test-size", "100", "--iterations", "20", "--eval-samples", "2",
        "--batch-size", "16", "--quiet"]
# Long enough that a signal sent when the first checkpoint (iteration 10) appears lands well
# before the end; cheap evaluations, so a full run stays short.
LONG = ["train", "--train-size", "200", "--test-size", "20", "--iterations", "120",
        "--eval-every", "10", "--eval-samples", "1", "--batch-size", "8", "--quiet"]
# children must not inherit a backend, data folder or mirror from the developer's shell
_SCRUBBED = ("TINYBCNN_BACKEND", "TINYBCNN_DATA", "TINYBCNN_MIRROR")


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _SCRUBBED}


def default_sigint() -> None:  # pragma: no cover - runs in the child
    # A child inherits SIG_IGN for SIGINT when pytest itself runs as a background job;
    # Python then installs no KeyboardInterrupt handler. A terminal's Ctrl-C never sees that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tinybcnn", *map(str, args)]


def run_cli(*args: str, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m tinybcnn ARGS`` in a fresh process."""
    return subprocess.run(cli_cmd(*args), capture_output=True, text=True, cwd=cwd, env=child_env(),
                          timeout=timeout, check=False)


@contextmanager
def cli_process(*args: str, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """``python -m tinybcnn ARGS`` started in the background with SIGINT at its default (as a
    terminal's Ctrl-C finds it); killed on leaving the block if it is still running."""
    proc = subprocess.Popen(cli_cmd(*args), cwd=cwd, env=child_env() if env is None else env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_file(proc: subprocess.Popen[str], path: Path, timeout_s: float = 240.0) -> None:
    """Wait until ``path`` exists, failing if ``proc`` ends first or ``timeout_s`` passes.

    Checkpoints are written atomically (a temporary file, then a rename), so a checkpoint
    that exists is complete.
    """
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process ended (exit {proc.returncode}) before "
                                 f"{path.name} appeared: {(out + err)[-2000:]}")
        assert time.monotonic() < deadline, f"no {path.name} within {timeout_s:g} s"
        time.sleep(0.02)


def error_lines(stderr: str) -> list[str]:
    """The non-empty lines of stderr (the interrupt message starts with a newline, to end a
    progress bar's line)."""
    return [line for line in stderr.splitlines() if line.strip()]


def assert_one_line_error(returncode: int, stderr: str, code: int = 2) -> str:
    """Exit ``code``, exactly one non-empty stderr line, no traceback; returns the line."""
    assert "Traceback" not in stderr, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    assert returncode == code, f"exit code {returncode}, expected {code}; stderr: {stderr}"
    assert lines[0].startswith("tinybcnn"), lines[0]
    return lines[0]


def call(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``tinybcnn.cli.main(argv)`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse exits
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # in a real process this would be a traceback
        raise AssertionError(f"tinybcnn raised {exc!r}: a traceback, not one line") from exc
    out, err = capsys.readouterr()
    return code, out, err


def train_tiny_run(path: Path) -> Path:
    """Train the TINY run into ``path`` in this process (the backend is put back after)."""
    before = get_backend()
    try:
        assert main(["train", *TINY, "--out", str(path)]) == 0
    finally:
        set_backend(before)
    return path


def write_idx_dir(folder: Path, data) -> Path:
    """The four IDX files of ``data`` (test images gzip'ed, to cover both kinds)."""
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte", data.x_train)
    write_idx(folder / "train-labels-idx1-ubyte", data.y_train.astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", data.x_test)
    write_idx(folder / "t10k-labels-idx1-ubyte", data.y_test.astype(np.uint8))
    return folder
