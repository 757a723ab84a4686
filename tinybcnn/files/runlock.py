"""One writer per run directory: a lock file holding the owner's process id.

Two processes training into the same directory would interleave checkpoints and history rows.
:func:`run_lock` takes an exclusive lock on ``DIR/.tinybcnn.lock`` for as long as a run writes
there; a second process gets :class:`RunLocked`, whose message names the first one's pid.

On POSIX the lock is ``fcntl.flock``: the kernel drops it when its owner exits, however it
exits (``kill -9`` included), so a lock left by a dead process never blocks anyone; the pid in
the file is only there to be reported. Elsewhere the file is created with ``O_EXCL`` and a
file whose pid no longer runs is taken over.

The lock file is never followed through a symlink and never truncated unless it is this
package's own: a regular file, with one link, holding nothing or a pid. It is opened with
``O_NOFOLLOW`` (and created with ``O_CREAT | O_EXCL``), so a ``.tinybcnn.lock`` planted as a
symlink to a user's file is refused with one line (:class:`LockFileError`), never truncated.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunLocked", "LockFileError", "run_lock", "remove_if_unused",
           "check_lock_file"]

LOCK_NAME = ".tinybcnn.lock"


class RunLocked(ValueError):
    """Another live process holds the run directory's lock."""


class LockFileError(ValueError):
    """``.tinybcnn.lock`` exists but is not this package's lock file (a symlink, a folder,
    a FIFO, a hard link, or a file with other contents): it is left alone."""


#: Bytes a lock file of ours can hold: a pid and a newline.
_MAX_LOCK_BYTES = 32
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except OSError:
        return None
    try:
        text = os.read(fd, _MAX_LOCK_BYTES + 1).decode("ascii", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def _not_ours(path: Path, why: str) -> LockFileError:
    return LockFileError(f"{path} is {why}, not a tinybcnn lock file: refusing to use it (it "
                         "is left as it is); remove it yourself, or choose another directory")


def check_lock_file(path: Path, st: os.stat_result) -> None:
    """Raise :class:`LockFileError` unless ``st`` (of ``path``) is a lock file of ours."""
    if stat.S_ISLNK(st.st_mode):
        raise _not_ours(path, "a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _not_ours(path, "not a regular file")
    if st.st_nlink != 1:
        raise _not_ours(path, f"a file with {st.st_nlink} hard links")
    if st.st_size > _MAX_LOCK_BYTES:
        raise _not_ours(path, f"a file of {st.st_size} bytes")


def _open_lock(path: Path) -> int:
    """Open (or create) the lock file without following a symlink; check it is ours."""
    flags = os.O_RDWR | _NOFOLLOW | _NONBLOCK
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        try:
            check_lock_file(path, os.lstat(path))
            fd = os.open(path, flags)
        except FileNotFoundError:  # its owner's directory was cleaned up meanwhile: retry
            return _open_lock(path)
        except OSError as exc:  # ELOOP: a symlink swapped in between lstat and open
            raise _not_ours(path, f"not openable as a lock ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        check_lock_file(path, st)  # the file actually opened, not the name looked at
        if st.st_size:
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, _MAX_LOCK_BYTES).decode("ascii", "replace").strip()
            if text and not text.isdigit():
                raise _not_ours(path, "a file that does not hold a process id")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse(directory: Path, pid: int | None) -> RunLocked:
    who = f"process {pid}" if pid is not None else "another process"
    return RunLocked(f"{directory} is in use by {who} (lock file {directory / LOCK_NAME}); "
                     "wait for it to finish or stop it, or choose another directory")


@contextlib.contextmanager
def run_lock(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the exclusive lock of ``directory`` (which must exist) for the ``with`` block.

    Raises
    ------
    RunLocked
        If another live process holds it.
    """
    directory = Path(directory)
    path = directory / LOCK_NAME
    if fcntl is None:  # pragma: no cover - Windows
        with _pid_file_lock(directory, path):
            yield path
        return
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refuse(directory, _read_pid(path)) from None
        os.ftruncate(fd, 0)
        # at offset 0: _open_lock read the old content, which left the offset past it (a
        # plain write would put the pid after that many NUL bytes, unreadable as a pid)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            # the file stays: unlinking a lock file others may have open races with them
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing drops the flock


@contextlib.contextmanager
def _pid_file_lock(directory: Path, path: Path) -> Iterator[None]:  # pragma: no cover
    """The lock without ``fcntl``: create the file exclusively; take over a dead owner's."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
            break
        except FileExistsError:
            pid = _read_pid(path)
            if pid is not None and _pid_alive(pid):
                raise _refuse(directory, pid) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # stale: its owner is gone
    else:
        raise _refuse(directory, _read_pid(path))
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_if_unused(directory: str | os.PathLike[str]) -> None:
    """Remove ``directory`` if it holds nothing but a lock file: a run that never started.

    So a command that fails on bad input leaves no empty output folder behind.
    """
    directory = Path(directory)
    with contextlib.suppress(OSError):
        if {e.name for e in directory.iterdir()} <= {LOCK_NAME}:
            (directory / LOCK_NAME).unlink(missing_ok=True)
            directory.rmdir()
