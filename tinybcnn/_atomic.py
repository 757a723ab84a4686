"""All-or-nothing file writes, shared by checkpoints and downloaded data."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write"]


def _fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (POSIX; a no-op where directories can't open)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, where a directory cannot be opened this way
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories: the rename still happened
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[IO[bytes]]:
    """Write ``path`` all or nothing: temp file beside it, fsync, ``os.replace``, fsync the dir.

    Yields a binary file. On success it is flushed, fsync'ed and renamed over ``path``
    (``os.replace`` is atomic within one file system); on any error (or ``KeyboardInterrupt``)
    the temporary file is removed and ``path`` is left as it was. So no reader, and no crash,
    ever sees a half-written file under the final name; a ``kill -9`` leaves at worst a stray
    hidden ``.<name>.<pid>.<hex>.part`` file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # A hidden, unique name beside the target; unlike tempfile.mkstemp this keeps the usual
    # umask permissions instead of 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        with open(tmp, "xb") as f:  # "x": never clobber another writer's temp file
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)
