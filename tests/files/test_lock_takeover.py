"""The run lock taking over a stale lock file, and checking the file it actually opened
(issue 35).

A run killed with ``kill -9`` leaves ``.tinybcnn.lock`` holding its pid (the kernel drops the
``flock``, the content stays). The next run takes the lock over and must leave exactly its
own pid there: written over a longer old pid without truncating, the old digits stay behind
and the pid a refused third process reports is wrong. And the file opened must itself be
checked (``fstat``), not only the name looked at before (``lstat``): a hard link to a user's
file swapped in between would otherwise be truncated.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn.files import runlock
from tinybcnn.files.runlock import LOCK_NAME, LockFileError, RunLocked, run_lock


def _bytes_inside(directory: Path) -> bytes:
    return (directory / LOCK_NAME).read_bytes()


@pytest.mark.parametrize("old", ["4194303999\n", "99999999999999999999\n", "1\n", ""])
def test_a_stale_lock_holds_exactly_the_new_owners_pid(tmp_path, old):
    (tmp_path / LOCK_NAME).write_text(old)   # left by a killed run (or an empty one)
    with run_lock(tmp_path):
        assert _bytes_inside(tmp_path) == f"{os.getpid()}\n".encode()
    assert _bytes_inside(tmp_path) == b""    # released: emptied, not removed


def test_a_second_process_is_told_the_right_pid(tmp_path):
    """What a user sees: the refusal names the live owner, not a mix of two pids."""
    import subprocess
    import sys

    (tmp_path / LOCK_NAME).write_text("9" * 20 + "\n")
    with run_lock(tmp_path):
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from tinybcnn.files.runlock import run_lock\n"
             "try:\n    with run_lock(sys.argv[1]): pass\n"
             "except Exception as e:\n    print(e)", str(tmp_path)],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert f"in use by process {os.getpid()} " in done.stdout, done.stdout + done.stderr


@given(old=st.integers(0, 10**31 - 1))
def test_any_stale_pid_is_replaced_whole(tmp_path_factory, old):
    """Old pids of every length up to the lock file's bound (32 bytes with the newline)."""
    folder = tmp_path_factory.mktemp("lock")
    (folder / LOCK_NAME).write_text(f"{old}\n")
    with run_lock(folder):
        assert _bytes_inside(folder).decode() == f"{os.getpid()}\n"


def test_the_opened_file_is_checked_not_only_the_name(tmp_path, monkeypatch):
    """Between the ``lstat`` of the name and the ``open``, the lock file is replaced by a hard
    link to a user's file (a regular file: ``O_NOFOLLOW`` does not help). The check of the
    opened file (two links) refuses it, and the user's file keeps its content."""
    users = tmp_path / "thesis.txt"
    users.write_text("12345\n")              # looks like a pid: only the link count tells
    lock = tmp_path / LOCK_NAME
    lock.write_text("")                      # a lock of ours, when the name is looked at
    real_lstat = os.lstat
    swapped = []

    def lstat_then_swap(path, *args, **kw):
        result = real_lstat(path, *args, **kw)
        if Path(path) == lock and not swapped:
            os.unlink(lock)
            os.link(users, lock)             # the swap, after the name was checked
            swapped.append(True)
        return result

    monkeypatch.setattr(runlock.os, "lstat", lstat_then_swap)
    with pytest.raises(LockFileError, match=f"^{lock} is a file with 2 hard links, not a "):
        with run_lock(tmp_path):
            pass
    monkeypatch.undo()
    assert swapped and users.read_text() == "12345\n"


def _swap_after_lstat(monkeypatch, lock: Path, swap) -> list:
    """Make the first lstat of ``lock`` do ``swap()`` after looking (the race of a second
    process between the look and the open)."""
    real_lstat = os.lstat
    done = []

    def lstat_then_swap(path, *args, **kw):
        result = real_lstat(path, *args, **kw)
        if Path(path) == lock and not done:
            done.append(True)
            swap()
        return result

    monkeypatch.setattr(runlock.os, "lstat", lstat_then_swap)
    return done


def test_a_symlink_swapped_in_before_the_open_is_not_followed(tmp_path, monkeypatch):
    users = tmp_path / "notes.txt"
    users.write_text("")
    lock = tmp_path / LOCK_NAME
    lock.write_text("")

    def to_symlink():
        os.unlink(lock)
        os.symlink(users, lock)

    done = _swap_after_lstat(monkeypatch, lock, to_symlink)
    with pytest.raises(LockFileError, match=re.escape(
            f"{lock} is not openable as a lock ({os.strerror(errno.ELOOP)}), not a tinybcnn "
            "lock file")):
        with run_lock(tmp_path):
            pass
    monkeypatch.undo()
    assert done and users.read_text() == "" and os.path.islink(lock)


def test_a_lock_file_removed_before_the_look_is_made_anew(tmp_path, monkeypatch):
    """Its owner's folder cleanup removed it between the exclusive create and the look: the
    lock starts over and creates it."""
    lock = tmp_path / LOCK_NAME
    lock.write_text("")
    real_lstat = os.lstat
    vanished = []

    def vanish_then_look(path, *args, **kw):
        if Path(path) == lock and not vanished:
            vanished.append(True)
            os.unlink(lock)
        return real_lstat(path, *args, **kw)

    monkeypatch.setattr(runlock.os, "lstat", vanish_then_look)
    with run_lock(tmp_path):
        assert lock.read_text() == f"{os.getpid()}\n"
    assert vanished


def test_a_new_lock_file_is_made_rw_r__r__(tmp_path):
    """Mode 0o644 less the umask: not executable, not writable by others."""
    umask = os.umask(0o022)
    try:
        with run_lock(tmp_path):
            mode = stat.S_IMODE(os.lstat(tmp_path / LOCK_NAME).st_mode)
    finally:
        os.umask(umask)
    assert mode == 0o644


def test_a_live_lock_is_refused(tmp_path):
    """The control: the same process's second open file description is refused."""
    with run_lock(tmp_path):
        with pytest.raises(RunLocked, match=f"process {os.getpid()}"):
            with run_lock(tmp_path):
                pass
