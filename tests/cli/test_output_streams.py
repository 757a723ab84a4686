"""Results go to stdout only; warnings, progress and errors to stderr only.

- With stderr closed (``2>&-``), a warning or a progress line is dropped, never written into
  stdout (before, ``print(file=None)`` put it there: the first line of ``--format csv``).
- With stdout closed (``>&-``) or full (``> /dev/full``), the command exits non-zero with one
  line on stderr that says the results could not be written and which files were kept
  (before: ``predict >&-`` exit 0 and nothing said; ``evaluate > /dev/full`` exit 2 "the disk
  is full ... --out on another disk" although metrics.json was written; ``info`` offered an
  ``--out`` it does not have).

Real processes: a closed descriptor is something only a shell (here ``bash -c 'exec ...'``)
can hand over.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.cli_capture import TINY_TRAIN, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

ROOT = Path(__file__).resolve().parents[2]
HAS_DEV_FULL = os.path.exists("/dev/full")


def shell(args: list, redirect: str) -> subprocess.CompletedProcess[str]:
    """``python -m tinybcnn ARGS REDIRECT`` (``2>&-``, ``>&-``, ``>/dev/full``) through bash;
    the streams that stay open are captured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYBCNN_")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    return subprocess.run(["bash", "-c", f'exec "$@" {redirect}', "bash", sys.executable, "-m",
                           "tinybcnn", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("streams")
    code, _, err = run_cli([*TINY_TRAIN, "--out", root / "run"])
    assert code == 0, err
    # float pixels that reach 1.0: predict warns (pixels / 255?) and goes on
    images = root / "images.npy"
    x = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    x[0, 0, 0] = 1.0
    np.save(images, x)
    return root / "run", images


def test_a_warning_with_stderr_closed_is_dropped_not_written_to_stdout(tiny_run):
    run, images = tiny_run
    done = shell(["predict", run, images, "--samples", "2", "--quiet", "--format", "csv"],
                 "2>&-")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("image,class,name,p_0"), lines[:2]
    assert len(lines) == 4 and "warning" not in done.stdout


def test_progress_with_stderr_closed_is_dropped_not_written_to_stdout(tmp_path):
    done = shell([*[a for a in TINY_TRAIN if a != "--quiet"], "--out", tmp_path / "run"],
                 "2>&-")
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        line for line in done.stdout.splitlines() if line.startswith("trained 2 iterations")]
    assert len(done.stdout.splitlines()) == 1, done.stdout


def test_predict_with_stdout_closed_fails_in_one_line(tiny_run):
    run, images = tiny_run
    done = shell(["predict", run, images, "--samples", "2", "--quiet"], ">&-")
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "stdout" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not HAS_DEV_FULL, reason="needs /dev/full")
def test_evaluate_to_a_full_stdout_says_the_metrics_file_is_kept(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    done = shell(["evaluate", run, "--samples", "2", "--quiet"], ">/dev/full")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "stdout" in lines[0] and str(run / "metrics.json") in lines[0]
    assert "kept" in lines[0] and "--out" not in lines[0]
    assert (run / "metrics.json").is_file()


@pytest.mark.skipif(not HAS_DEV_FULL, reason="needs /dev/full")
def test_info_to_a_full_stdout_offers_no_out_option():
    done = shell(["info"], ">/dev/full")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "stdout" in lines[0], done.stderr
    assert "--out" not in done.stderr and "Traceback" not in done.stderr
