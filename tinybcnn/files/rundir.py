"""The one rule for every folder the package writes: what it may hold, who writes it, what is
cleaned up and what is refused.

``train --out``, ``demo --out``, ``evaluate RUN`` and every ``experiment --out`` go through
here (:func:`check_out_dir` to refuse early, :func:`writing` around the writes), so the rule is
stated once. Each kind of folder is a :class:`FolderKind` defined beside the code that writes
it (``runs.RUN_FOLDER``, ``demo.DEMO_FOLDER``, ``experiments.outdir.experiment_folder``): the
names it writes and how to recognise a folder of its own; this module knows nothing else, so
it sits on the lowest floor (it imports only ``atomic`` and ``runlock``, beside it in
:mod:`tinybcnn.files`).

May hold
    Nothing (a new or empty folder), or what this package wrote there for the *same kind* of
    command: a training run (``config.json`` that is a valid run config), a demo folder (a run
    of a demo model in ``lenet-all/`` or ``lenet-ip/``), an experiment folder (an
    experiment's results JSON, recognised by its contents, or its ``<name>_runs/`` folder).
    Other entries of such a folder are the user's and are never touched. A folder holding
    anything else is refused, whatever the names: a user's ``regression.json`` is not an
    experiment's, and a training run is not an experiment folder.
Who writes
    One process at a time: every writer holds ``.tinybcnn.lock`` (:mod:`tinybcnn.files.runlock`) for
    as long as it writes; a second one (another ``train``, an ``evaluate`` while training runs,
    a second experiment on the same folder) is refused with one line.
Cleaned up
    Only the package's own temporary names, ``.<name>.<pid>.<8 hex>.part``
    (:func:`tinybcnn.files.atomic.is_own_part`), and only while holding the lock; an empty folder
    the command itself created is removed if it fails before writing anything. A user's
    ``.movie.mkv.part`` is neither cleaned up nor counted as "empty".
Refused
    An ``--out`` that is a symbolic link, or not a directory; a lock file that is not a
    regular file of this package; an entry under a name the package writes that is a symlink,
    a FIFO, a device, or a folder where a file belongs (or a file where a folder belongs).
    Files are written by :func:`tinybcnn.files.atomic.atomic_write` (a new file, then
    ``os.replace``, which replaces a symlink rather than following it), read by
    :func:`tinybcnn.files.jsonfile.read_json` (regular files only, bounded).

``docs/architecture.md`` ("Threat model") says the same for readers.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .atomic import is_own_part, remove_stale_parts
from .runlock import LOCK_NAME, check_lock_file, remove_if_unused, run_lock

__all__ = ["FolderKind", "OutDirError", "check_out_dir", "writing", "is_own_entry",
           "is_real_dir", "refuse"]


class OutDirError(ValueError):
    """An output folder the package may not write into (one line: what and why)."""


@dataclass(frozen=True)
class FolderKind:
    """One kind of output folder: what it is called, the names it writes, how it is known.

    Attributes
    ----------
    what : str
        ``"a tinybcnn run directory"``: how a refusal names it.
    expect : callable
        ``expect(name)`` is ``"file"`` or ``"dir"`` for a name the package writes in such a
        folder, else None (a name it never touches).
    check : callable
        ``check(out, names, resume)`` raises :class:`OutDirError` unless ``out``, holding the
        entries ``names`` (the lock and temporary files left out), is a folder of this kind.
    """

    what: str
    expect: Callable[[str], str | None]
    check: Callable[[Path, set[str], bool], None]


def is_own_entry(name: str) -> bool:
    """Whether ``name`` is the lock or one of :func:`~tinybcnn.files.atomic.atomic_write`'s
    temporary files: the entries that leave a folder "empty"."""
    return name == LOCK_NAME or is_own_part(name)


def is_real_dir(path: Path) -> bool:
    """Whether ``path`` is a directory itself (not a symlink to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def refuse(out: Path, why: str) -> OutDirError:
    """The one-line refusal of ``out``: ``"<out> <why>: refusing to write into it; ..."``."""
    return OutDirError(f"{out} {why}: refusing to write into it; choose a new or empty --out")


def check_out_dir(out: str | os.PathLike[str], kind: FolderKind, resume: bool = False) -> None:
    """Refuse ``out`` as the folder of a command writing a ``kind`` folder unless the rule
    allows it.

    Parameters
    ----------
    out : path
        The output folder (it need not exist).
    kind : FolderKind
        What will be written there.
    resume : bool
        An existing folder is continued (or evaluated): passed on to ``kind.check``.

    Raises
    ------
    OutDirError
        If ``out`` is a symlink or not a directory, holds anything but the lock and the
        package's temporary files and is not a folder of this kind, or holds an entry of a
        name the package writes that is not what the package writes there (a symlink, a FIFO,
        a folder for a file).
    tinybcnn.files.runlock.LockFileError
        If ``.tinybcnn.lock`` is there and is not this package's lock file.
    """
    out = Path(out)
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise refuse(out, f"cannot be examined ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise OutDirError(f"{out} is a symbolic link: refusing to write through it; give the "
                          "folder it points to, or a new --out")
    if not stat.S_ISDIR(st.st_mode):
        raise OutDirError(f"{out} exists and is not a directory")
    try:
        entries = {e.name: e for e in os.scandir(out)}
    except OSError as exc:
        raise refuse(out, f"cannot be listed ({exc.strerror})") from None
    if LOCK_NAME in entries:
        check_lock_file(out / LOCK_NAME, os.lstat(out / LOCK_NAME))
    names = {n for n in entries if not is_own_entry(n)}
    if not names:
        return  # empty, or only what a killed run of ours left
    for n in sorted(names):  # a name the package writes holds what the package writes there
        expect = kind.expect(n)
        if expect is None:
            continue
        entry, noun = entries[n], "folder" if expect == "dir" else "file"
        if entry.is_symlink():
            raise refuse(out, f"holds {n} as a symbolic link, where tinybcnn writes a {noun}")
        if not (entry.is_dir(follow_symlinks=False) if expect == "dir"
                else entry.is_file(follow_symlinks=False)):
            raise refuse(out, f"holds {n}, which is not a regular {noun}")
    kind.check(out, names, resume)


def writing(out: str | os.PathLike[str], kind: FolderKind,
            resume: bool = False) -> Iterator[Path]:
    """Write into ``out`` under the rule: check it, create it if new, hold its lock, check it
    again (no one else can change it now), remove the package's stale temporary files.

    If the block fails and ``out`` was created here, it is removed again when it holds
    nothing but the lock (a command that fails on bad input leaves no empty folder).

    Raises
    ------
    OutDirError, tinybcnn.files.runlock.LockFileError
        As :func:`check_out_dir`.
    tinybcnn.files.runlock.RunLocked
        If another process writes there.
    """
    out = Path(out)
    check_out_dir(out, kind, resume)
    created = not os.path.lexists(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(out):
            check_out_dir(out, kind, resume)
            remove_stale_parts(out)
            yield out
    except BaseException:
        if created:
            remove_if_unused(out)
        raise


# Wrapped here rather than under a decorator: mutmut (scripts/mutation.py) does not mutate a
# decorated function, and this one holds the rule's order (check, create, lock, check again).
writing = contextlib.contextmanager(writing)
