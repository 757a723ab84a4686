"""The lock file's contents and a run's checkpoint checked against its config, at their
limits (issue 27)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tinybcnn import cli
from tinybcnn.checkpoint import CheckpointError
from tinybcnn.files import runlock
from tinybcnn.runs import load_run


# -- the lock file ---------------------------------------------------------------------------
def test_the_lock_holds_our_pid_while_held_and_nothing_after(tmp_path):
    with runlock.run_lock(tmp_path) as path:
        assert path.read_text() == f"{os.getpid()}\n"
        # another process is refused and told who holds it
        other = subprocess.run([sys.executable, "-c", (
            "import sys; from tinybcnn.files import runlock\n"
            "try:\n    runlock.run_lock(sys.argv[1]).__enter__()\n"
            "except runlock.RunLocked as e:\n    print(e)\n"), str(tmp_path)],
            capture_output=True, text=True, timeout=60)
        assert f"in use by process {os.getpid()}" in other.stdout, other.stdout + other.stderr
    assert path.read_bytes() == b""


@pytest.mark.parametrize("text,ok", [(b"", True), (b"123\n", True), (b"  42  ", True),
                                     (b"12ab\n", False), (b"-5\n", False), (b"x", False)])
def test_a_planted_lock_file_must_hold_a_pid_or_nothing(tmp_path, text, ok):
    (tmp_path / runlock.LOCK_NAME).write_bytes(text)
    if ok:
        with runlock.run_lock(tmp_path):
            pass
    else:
        with pytest.raises(runlock.LockFileError, match="does not hold a process id"):
            with runlock.run_lock(tmp_path):
                pass


# -- a checkpoint against its run ----------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert cli.main(["train", "--out", str(out), "--train-size", "64", "--test-size", "32",
                     "--iterations", "3", "--eval-samples", "0", "--quiet",
                     "--threads", "1"]) == 0
    return out


def _with_config(run, tmp_path, **changes):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("checkpoint.npz", "history.csv"):
        (copy / name).write_bytes((run / name).read_bytes())
    config = {**json.loads((run / "config.json").read_text()), **changes}
    (copy / "config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize("changes,ok", [({}, True), ({"iterations": 3}, True),
                                        ({"iterations": 4}, True), ({"iterations": 2}, False),
                                        ({"seed": 1}, False), ({"p": 0.25}, False),
                                        ({"model": "lenet-ip"}, False)])
def test_load_run_checks_the_checkpoint_against_the_config(run, tmp_path, changes, ok):
    copy = _with_config(run, tmp_path, **changes)
    if ok:
        load_run(copy)
    else:
        with pytest.raises(CheckpointError, match="says"):
            load_run(copy)


@pytest.mark.parametrize("total,code", [("3", 0), ("2", 2), ("4", 0)])
def test_resume_to_fewer_iterations_is_refused_at_the_limit(run, tmp_path, capsys, total,
                                                             code):
    copy = _with_config(run, tmp_path)
    assert cli.main(["train", "--out", str(copy), "--resume", "--iterations", total,
                     "--quiet", "--threads", "1"]) == code
    err = capsys.readouterr().err
    if code:
        assert "has already trained 3 iterations" in err and "at least 3" in err
