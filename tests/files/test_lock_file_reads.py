"""The lock's smaller pieces, each against what its user sees (mutation testing, issue 35).

- ``_read_pid``, which names the owner in a refusal: any content of a lock file (not a pid,
  not ASCII, empty, as long as the file's bound) gives a pid or None, never an exception; a
  symlink is not followed and a FIFO does not hang it.
- The refusal messages say what to do, and name "another process" when the pid is unknown.
- ``_pid_alive`` and ``_pid_file_lock`` (the lock where ``fcntl`` is missing), which run on
  POSIX too: a dead owner's file is taken over, a live one's refused.
- ``remove_if_unused`` removes a folder holding nothing but the lock, nothing else.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import pytest

from tinybcnn.files import runlock
from tinybcnn.files.runlock import LOCK_NAME, LockFileError, RunLocked, remove_if_unused, run_lock


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- _read_pid --------------------------------------------------------------------------------
@pytest.mark.parametrize("content, pid", [
    (b"123\n", 123), (b"  77 \n", 77), (b"1" * 32, int("1" * 32)),   # the bound, whole
    (b"", None), (b"\n", None), (b"abc\n", None), (b"-5\n", None), (b"12 34\n", None),
    (b"\xff\xfe12\n", None), ("４２\n".encode(), None),              # not ASCII digits
])
def test_read_pid_of_any_content(tmp_path, content, pid):
    (tmp_path / LOCK_NAME).write_bytes(content)
    assert runlock._read_pid(tmp_path / LOCK_NAME) == pid


def test_read_pid_does_not_follow_a_symlink(tmp_path):
    (tmp_path / "target").write_text("4242\n")
    os.symlink(tmp_path / "target", tmp_path / LOCK_NAME)
    assert runlock._read_pid(tmp_path / LOCK_NAME) is None


def test_read_pid_of_a_missing_file_or_a_folder(tmp_path):
    assert runlock._read_pid(tmp_path / "missing") is None
    assert runlock._read_pid(tmp_path) is None          # os.read of a folder: EISDIR


def test_read_pid_does_not_hang_on_a_fifo(tmp_path):
    os.mkfifo(tmp_path / LOCK_NAME)

    def hung(*args):
        raise TimeoutError("_read_pid blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        assert runlock._read_pid(tmp_path / LOCK_NAME) is None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- the messages -----------------------------------------------------------------------------
def test_a_refusal_names_the_owner_or_another_process(tmp_path):
    message = str(runlock._refuse(tmp_path, 4321))
    assert message == (f"{tmp_path} is in use by process 4321 (lock file {tmp_path / LOCK_NAME}"
                       "); wait for it to finish or stop it, or choose another directory")
    assert f"{tmp_path} is in use by another process (lock file" in str(
        runlock._refuse(tmp_path, None))


def test_a_foreign_lock_file_is_refused_saying_it_is_left_alone(tmp_path):
    (tmp_path / "target").write_text("")
    os.symlink(tmp_path / "target", tmp_path / LOCK_NAME)
    with pytest.raises(LockFileError) as caught:
        with run_lock(tmp_path):
            pass
    assert str(caught.value) == (
        f"{tmp_path / LOCK_NAME} is a symbolic link, not a tinybcnn lock file: refusing to "
        "use it (it is left as it is); remove it yourself, or choose another directory")


@pytest.mark.parametrize("make, why", [
    (lambda p: p.mkdir(), "not a regular file"),
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: (p.write_text(""), os.link(p, p.with_name("second"))), "a file with 2 hard links"),
    (lambda p: p.write_text("1" * 33), "a file of 33 bytes"),
    (lambda p: p.write_text("not a pid"), "a file that does not hold a process id"),
    (lambda p: p.write_bytes(b"\xff\xfe\n"), "a file that does not hold a process id"),
])
def test_each_foreign_lock_file_is_refused_in_its_own_words(tmp_path, make, why):
    path = tmp_path / LOCK_NAME
    make(path)
    with pytest.raises(LockFileError) as caught:
        with run_lock(tmp_path):
            pass
    assert str(caught.value) == (
        f"{path} is {why}, not a tinybcnn lock file: refusing to use it (it is left as it "
        "is); remove it yourself, or choose another directory")


def test_a_lock_file_of_exactly_the_bound_is_ours(tmp_path):
    """32 bytes (a pid and a newline at most) is the limit: taken over, not refused."""
    (tmp_path / LOCK_NAME).write_text("1" * 31 + "\n")
    with run_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"


# -- _pid_alive and the lock without fcntl ----------------------------------------------------
def test_pid_alive():
    assert runlock._pid_alive(os.getpid())
    assert not runlock._pid_alive(_dead_pid())


@pytest.mark.parametrize("error, alive", [(PermissionError(errno.EPERM, "no"), True),
                                          (ProcessLookupError(errno.ESRCH, "no"), False),
                                          (OSError(errno.EIO, "no"), False)])
def test_pid_alive_reads_the_errors_of_signal_zero(monkeypatch, error, alive):
    """EPERM: the process exists under another user; ESRCH or another error: not alive."""
    def kill(pid, sig):
        assert sig == 0
        raise error

    monkeypatch.setattr(runlock.os, "kill", kill)
    assert runlock._pid_alive(12345) is alive


def test_the_pid_file_lock_takes_over_a_dead_owners_file(tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_text(f"{_dead_pid()}\n")
    with runlock._pid_file_lock(tmp_path, path):
        assert path.read_text() == f"{os.getpid()}\n"
    assert not path.exists()                     # removed when released


def test_the_pid_file_lock_refuses_a_live_owner(tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_text("1\n")                       # init: always alive
    with pytest.raises(RunLocked, match="in use by process 1 "):
        with runlock._pid_file_lock(tmp_path, path):
            pass
    assert path.read_text() == "1\n"


def test_the_pid_file_lock_without_fcntl(tmp_path, monkeypatch):
    """run_lock falls back to it where fcntl is missing: held while the block runs."""
    monkeypatch.setattr(runlock, "fcntl", None)
    with run_lock(tmp_path) as path:
        assert path == tmp_path / LOCK_NAME
        assert path.read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / LOCK_NAME).exists()


# -- remove_if_unused -------------------------------------------------------------------------
def test_a_folder_with_only_the_lock_is_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text("")
    remove_if_unused(out)
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    remove_if_unused(empty)
    assert not empty.exists()


@pytest.mark.parametrize("other", ["config.json", ".hidden", "sub/"])
def test_a_folder_with_anything_else_is_kept_whole(tmp_path, other):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text("")
    if other.endswith("/"):
        (out / other).mkdir()
    else:
        (out / other).write_text("mine")
    remove_if_unused(out)
    assert sorted(os.listdir(out)) == sorted([LOCK_NAME, other.rstrip("/")])


def test_remove_if_unused_of_a_missing_folder_is_quiet(tmp_path):
    remove_if_unused(tmp_path / "missing")
