"""Test helper: run the command line in this process and capture what it prints."""

from __future__ import annotations

import contextlib
import io

from tinybcnn.backend import get_backend, set_backend
from tinybcnn.cli import main


def run_cli(argv: list) -> tuple[int, str, str]:
    """``tinybcnn.cli.main(argv)`` in this process: (exit code, stdout, stderr); the backend
    is restored afterwards. An argument error (argparse exits) is its exit code."""
    out, err = io.StringIO(), io.StringIO()
    before = get_backend()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:
                code = exc.code
    finally:
        set_backend(before)
    return code, out.getvalue(), err.getvalue()


#: A run small enough to train in seconds: ``[*TINY_TRAIN, "--out", DIR]``.
TINY_TRAIN = ["train", "--quiet", "--train-size", "100", "--test-size", "100",
              "--iterations", "2", "--eval-samples", "2"]
