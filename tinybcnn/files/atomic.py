"""All-or-nothing file writes, shared by checkpoints, run files, figures and downloaded data."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_text", "remove_stale_parts", "is_own_part",
           "PART_SUFFIX"]

PART_SUFFIX = ".part"
#: The exact names :func:`atomic_write` gives its temporary files: ``.<name>.<pid>.<8 hex>.part``.
#: Only these are ever cleaned up; a user's ``.movie.mkv.part`` or ``thesis.pdf.part`` is not
#: of this form and is left alone.
_OWN_PART = re.compile(r"\.(?P<name>.+)\.(?P<pid>[1-9][0-9]{0,9})\.(?P<hex>[0-9a-f]{8})"
                       + re.escape(PART_SUFFIX))


def is_own_part(name: str) -> bool:
    """Whether ``name`` (a bare file name) is one of :func:`atomic_write`'s temporary names."""
    return _OWN_PART.fullmatch(name) is not None


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{PART_SUFFIX}")
    try:
        with open(tmp, "xb") as f:  # "x": never clobber another writer's temp file
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            # "No space left on device" alone does not say which file could not be written
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` all or nothing (see :func:`atomic_write`); return it."""
    path = Path(path)
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))
    return path


def remove_stale_parts(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the hidden ``.<name>.<pid>.<hex>.part`` files a killed writer left in ``directory``.

    Call it only while holding the directory's lock (:mod:`tinybcnn.files.runlock`): then no other
    writer can be in the middle of a write there, so every such file is stale. Only names of
    exactly that form (:func:`is_own_part`) that are regular files (not symlinks) are removed:
    a user's ``.movie.mkv.part`` is not the package's. Returns the paths removed.
    """
    removed = []
    for entry in os.scandir(directory):
        if not is_own_part(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        part = Path(directory) / entry.name
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
            removed.append(part)
    return removed
