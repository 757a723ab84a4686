"""One writer per run directory: a lock file holding the owner's process id.

Two processes training into the same directory would interleave checkpoints and history rows.
:func:`run_lock` takes an exclusive lock on ``DIR/.tinybcnn.lock`` for as long as a run writes
there; a second process gets :class:`RunLocked`, whose message names the first one's pid.

On POSIX the lock is ``fcntl.flock``: the kernel drops it when its owner exits, however it
exits (``kill -9`` included), so a lock left by a dead process never blocks anyone; the pid in
the file is only there to be reported. Elsewhere the file is created with ``O_EXCL`` and a
file whose pid no longer runs is taken over.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunLocked", "run_lock", "remove_if_unused"]

LOCK_NAME = ".tinybcnn.lock"


class RunLocked(ValueError):
    """Another live process holds the run directory's lock."""


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
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


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
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refuse(directory, _read_pid(path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
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
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
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
