"""Run directories never lose a user's files or a run's state.

* ``train --out`` and ``demo --out`` refuse a non-empty folder that is not a run of this
  package, whatever the user's files are called (each name the package writes is tried).
* One process at a time writes a run directory (a lock naming the holder's pid); a lock left
  by a dead process is taken over.
* SIGTERM is handled like Ctrl-C: a checkpoint, then exit 143, and ``--resume`` finishes.
* Every file of a run is written atomically (temp file + rename), a full disk leaves the old
  file and names the new one, stale ``.part`` files are cleaned up, and a failed ``train``
  leaves no empty folder behind.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli import (
    LONG,
    TINY,
    assert_one_line_error,
    call,
    child_env,
    cli_cmd,
    cli_process,
    train_tiny_run,
    wait_for_file,
)

from tinybcnn.checkpoint import read_checkpoint
from tinybcnn.cli import main
from tinybcnn.demo import FIGURES, MODELS, RESULTS
from tinybcnn.files.runlock import LOCK_NAME, RunLocked, run_lock
from tinybcnn.runs import CHECKPOINT, CONFIG, HISTORY, METRICS

USER_TEXT = "my own notes, not a tinybcnn file\n"
QUICK_DEMO = ["demo", "--quick", "--quiet", "--train-size", "100", "--iterations", "4",
              "--samples", "2"]


# trains tiny networks: the fast tier (pytest -m "not slow") leaves these out
pytestmark = [pytest.mark.slow,
              pytest.mark.usefixtures("keep_backend")]  # tests/conftest.py


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny finished run (20 iterations, a checkpoint at the end)."""
    return train_tiny_run(tmp_path_factory.mktemp("rundir") / "run")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ------------------------------------------------------------------ a user's folder


@pytest.mark.parametrize("name", [CONFIG, CHECKPOINT, HISTORY, METRICS, "notes.txt"])
def test_train_refuses_a_folder_holding_a_user_file(name, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_text(USER_TEXT)
    before = snapshot(folder)
    code, _, err = call(["train", *TINY, "--out", folder], capsys)
    line = assert_one_line_error(code, err)
    assert str(folder) in line
    assert snapshot(folder) == before  # nothing overwritten, nothing added


@pytest.mark.parametrize("name", [RESULTS, *FIGURES, *MODELS, "notes.txt"])
def test_demo_refuses_a_folder_holding_a_user_file(name, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    if name in MODELS:  # a user's folder that happens to share a run's name
        (folder / name).mkdir()
        (folder / name / CONFIG).write_text('{"my": "settings"}\n')
    else:
        (folder / name).write_text(USER_TEXT)
    before = snapshot(folder)
    code, _, err = call([*QUICK_DEMO, "--out", folder], capsys)
    line = assert_one_line_error(code, err)
    assert "not a tinybcnn demo folder" in line
    assert snapshot(folder) == before


def test_train_into_a_folder_with_a_run_config_but_no_checkpoint_is_allowed(run, tmp_path):
    # a run that stopped before its first checkpoint is still this package's own
    folder = tmp_path / "started"
    folder.mkdir()
    (folder / CONFIG).write_bytes((run / CONFIG).read_bytes())
    assert main(["train", *TINY, "--iterations", "2", "--out", str(folder)]) == 0
    assert read_checkpoint(folder / CHECKPOINT).trainer["iteration"] == 2


def test_a_failed_train_leaves_no_folder_behind(tmp_path, capsys):
    out = tmp_path / "a" / "b"
    code, _, err = call(["train", "--train-size", "100000", "--iterations", "1", "--quiet",
                         "--out", out], capsys)
    assert_one_line_error(code, err)
    assert not out.exists()


# ------------------------------------------------------------------ one writer at a time

HOLD_LOCK = """
import sys, time
from tinybcnn.files.runlock import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_process_is_refused_and_told_the_first_ones_pid(run, capsys):
    before = snapshot(run)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], env=child_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = call(["train", "--resume", "--iterations", "25", "--quiet", "--out",
                             run], capsys)
        line = assert_one_line_error(code, err)
        assert f"process {holder.pid}" in line and "in use" in line
    finally:
        holder.kill()
        holder.wait()
    after = snapshot(run)
    after.pop(LOCK_NAME), before.pop(LOCK_NAME, None)  # the killed holder's pid stays there
    assert after == before  # the refused process wrote nothing


def test_a_lock_left_by_a_dead_process_is_taken_over(run, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in (CONFIG, CHECKPOINT, HISTORY):
        (folder / name).write_bytes((run / name).read_bytes())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (folder / LOCK_NAME).write_text(dead.stdout)  # the pid of a process that has exited
    assert main(["train", "--resume", "--iterations", "22", "--quiet", "--out",
                 str(folder)]) == 0
    assert read_checkpoint(folder / CHECKPOINT).trainer["iteration"] == 22


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    with run_lock(tmp_path), pytest.raises(RunLocked, match=f"process {os.getpid()}"):
        with run_lock(tmp_path):
            pass
    with run_lock(tmp_path):  # released on exit
        pass


# ------------------------------------------------------------------ SIGTERM

@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    out = tmp_path / "run"
    with cli_process(*LONG, "--out", out, cwd=tmp_path) as proc:
        wait_for_file(proc, out / CHECKPOINT)
        first = read_checkpoint(out / CHECKPOINT).trainer["iteration"]
        time.sleep(0.3)  # let it train past the first checkpoint
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    line = assert_one_line_error(proc.returncode, err, code=143)
    assert "SIGTERM" in line and "--resume" in line and str(out / CHECKPOINT) in line
    stopped = read_checkpoint(out / CHECKPOINT).trainer["iteration"]
    assert first <= stopped < 120
    result = subprocess.run(cli_cmd("train", "--resume", "--quiet", "--out", out), env=child_env(),
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert read_checkpoint(out / CHECKPOINT).trainer["iteration"] == 120


# ------------------------------------------------------------------ atomic files


def _record_renames(monkeypatch) -> list[tuple[str, str]]:
    """Spy on os.replace, the last step of every atomic write."""
    renames: list[tuple[str, str]] = []
    real = os.replace

    def spy(src, dst, *args, **kwargs):
        renames.append((os.fspath(src), os.fspath(dst)))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    return renames


def _assert_all_written_atomically(folder: Path, renames: list[tuple[str, str]]) -> None:
    written = {Path(dst).resolve() for src, dst in renames if src.endswith(".part")}
    for path in folder.rglob("*"):
        if path.is_file() and path.name != LOCK_NAME:
            assert path.resolve() in written, f"{path.name} was not written atomically"
    assert not list(folder.rglob("*.part")), "a temporary file was left behind"


def test_every_file_of_train_and_evaluate_is_written_atomically(tmp_path, monkeypatch):
    renames = _record_renames(monkeypatch)
    out = tmp_path / "run"
    assert main(["train", *TINY, "--eval-every", "10", "--out", str(out)]) == 0
    assert main(["evaluate", str(out), "--samples", "2", "--quiet"]) == 0
    assert {p.name for p in out.iterdir()} >= {CONFIG, CHECKPOINT, HISTORY, METRICS}
    _assert_all_written_atomically(out, renames)


def test_every_file_of_the_demo_is_written_atomically(tmp_path, monkeypatch):
    renames = _record_renames(monkeypatch)
    out = tmp_path / "demo"
    assert main([*QUICK_DEMO, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} >= {RESULTS, *FIGURES, *MODELS}
    _assert_all_written_atomically(out, renames)


def test_a_full_disk_keeps_the_old_metrics_and_names_the_file(run, tmp_path, monkeypatch,
                                                              capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in (CONFIG, CHECKPOINT):
        (folder / name).write_bytes((run / name).read_bytes())
    (folder / METRICS).write_text('{"old": true}\n')

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    code, _, err = call(["evaluate", folder, "--samples", "2", "--quiet"], capsys)
    line = assert_one_line_error(code, err)
    assert "No space left on device" in line and str(folder / METRICS) in line
    assert (folder / METRICS).read_text() == '{"old": true}\n'
    assert not list(folder.glob(".*.part"))


def test_stale_part_files_are_removed_on_the_next_start(run, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in (CONFIG, CHECKPOINT, HISTORY):
        (folder / name).write_bytes((run / name).read_bytes())
    stale = folder / f".{CHECKPOINT}.99999.deadbeef.part"  # what kill -9 mid-write leaves
    stale.write_bytes(b"half a checkpoint")
    assert main(["train", "--resume", "--iterations", "21", "--quiet", "--out",
                 str(folder)]) == 0
    assert not stale.exists()
    assert read_checkpoint(folder / CHECKPOINT).trainer["iteration"] == 21


def test_resume_with_a_new_total_in_epochs(tmp_path):
    """``train --resume --epochs E`` trains to E epochs: the new total replaces the old
    iteration count (both unset would mean the default of 10 epochs)."""
    from tinybcnn.runs import RunConfig, train_run

    out = tmp_path / "run"
    config = RunConfig(model="lenet-ip", dataset="embedded", train_size=128, test_size=32,
                       batch_size=64, iterations=2, eval_every=2, eval_samples=0,
                       backend="numpy")
    train_run(config, out, progress=False)
    trainer, _ = train_run(None, out, resume=True, progress=False, total=(None, 2.0))
    assert trainer.iteration == 4                   # 2 epochs of 128 images, 64 a batch
    saved = RunConfig.load(out / CONFIG)
    assert (saved.iterations, saved.epochs) == (None, 2.0)
