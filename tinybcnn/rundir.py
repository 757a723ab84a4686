"""The one rule for every folder the package writes: what it may hold, who writes it, what is
cleaned up and what is refused.

``train --out``, ``demo --out``, ``evaluate RUN`` and every ``experiment --out`` go through
here (:func:`check_out_dir` to refuse early, :func:`writing` around the writes), so the rule is
stated once:

May hold
    Nothing (a new or empty folder), or what this package wrote there for the *same kind* of
    command: a training run (``config.json`` that is a valid run config), a demo folder (a run
    of a demo model in ``lenet-all/`` or ``lenet-ip/``), an experiment folder (an
    experiment's results JSON, recognised by its contents, or its ``<name>_runs/`` folder).
    Other entries of such a folder are the user's and are never touched. A folder holding
    anything else is refused, whatever the names: a user's ``regression.json`` is not an
    experiment's, and a training run is not an experiment folder.
Who writes
    One process at a time: every writer holds ``.tinybcnn.lock`` (:mod:`tinybcnn.runlock`) for
    as long as it writes; a second one (another ``train``, an ``evaluate`` while training runs,
    a second experiment on the same folder) is refused with one line.
Cleaned up
    Only the package's own temporary names, ``.<name>.<pid>.<8 hex>.part``
    (:func:`tinybcnn._atomic.is_own_part`), and only while holding the lock; an empty folder
    the command itself created is removed if it fails before writing anything. A user's
    ``.movie.mkv.part`` is neither cleaned up nor counted as "empty".
Refused
    An ``--out`` that is a symbolic link, or not a directory; a lock file that is not a
    regular file of this package; an entry under a name the package writes that is a symlink,
    a FIFO, a device, or a folder where a file belongs (or a file where a folder belongs).
    Files are written by :func:`tinybcnn._atomic.atomic_write` (a new file, then
    ``os.replace``, which replaces a symlink rather than following it), read by
    :func:`tinybcnn._json.read_json` (regular files only, bounded).

``docs/architecture.md`` ("Threat model") says the same for readers.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._atomic import is_own_part, remove_stale_parts
from ._json import JSONFileError, read_json
from .runlock import LOCK_NAME, check_lock_file, remove_if_unused, run_lock

__all__ = ["RUN", "DEMO", "EXPERIMENT", "KINDS", "OutDirError", "check_out_dir", "writing",
           "is_own_entry", "EXPERIMENT_NAMES"]

RUN, DEMO, EXPERIMENT = "run", "demo", "experiment"
KINDS = (RUN, DEMO, EXPERIMENT)
#: The experiments whose outputs an experiment folder may hold (``<name>.json``,
#: ``<name>_details.json``, ``<name>_*.png``, ``<name>_runs/``).
EXPERIMENT_NAMES = ("small_data", "mc_samples", "rotation", "ood", "regression",
                    "active_learning")
_WHAT = {RUN: "a tinybcnn run directory", DEMO: "a tinybcnn demo folder",
         EXPERIMENT: "a tinybcnn experiment folder"}


class OutDirError(ValueError):
    """An output folder the package may not write into (one line: what and why)."""


def is_own_entry(name: str) -> bool:
    """Whether ``name`` is the lock or one of :func:`~tinybcnn._atomic.atomic_write`'s temporary
    files: the entries that leave a folder "empty"."""
    return name == LOCK_NAME or is_own_part(name)


# -- the names each kind of folder writes: (files, folders) --------------------------------
def _run_files(name: str) -> bool:
    from .runs import CHECKPOINT, CONFIG, HISTORY, METRICS

    return name in (CONFIG, CHECKPOINT, HISTORY, METRICS) or (
        name.startswith("metrics-") and name.endswith(".json"))


def _demo_names() -> tuple[set[str], set[str]]:
    from .demo import FIGURES, MODELS, RESULTS

    return {RESULTS, *FIGURES}, set(MODELS)


def _experiment_names(key: str, name: str) -> str | None:
    """``"file"`` or ``"dir"`` if experiment ``key`` writes ``name``, else None."""
    if name == f"{key}_runs":
        return "dir"
    if name in (f"{key}.json", f"{key}_details.json") or (
            name.startswith(f"{key}_") and name.endswith(".png")):
        return "file"
    return None


# -- is a folder of this kind ours? --------------------------------------------------------
def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_run(path: Path) -> bool:
    from .runs import is_run_dir

    return _is_real_dir(path) and is_run_dir(path)


def _own_experiment_json(path: Path, key: str) -> bool:
    """Whether ``path`` is a results file experiment ``key`` wrote (read within bounds)."""
    try:
        record = read_json(path)
    except JSONFileError:
        return False
    if not isinstance(record, dict):
        return False
    if path.name == "active_learning.json":  # exactly {"dataset", "acquisitions"}
        return set(record) == {"dataset", "acquisitions"}
    return record.get("experiment") == key


def _experiment_marker(out: Path, names: set[str]) -> bool:
    """Whether ``out`` holds an experiment's results JSON or run folder (a run or empty)."""
    for key in EXPERIMENT_NAMES:
        for file in (f"{key}.json", f"{key}_details.json"):
            if file in names and _own_experiment_json(out / file, key):
                return True
        runs = out / f"{key}_runs"
        if f"{key}_runs" in names and _is_real_dir(runs):
            inside = [e.name for e in os.scandir(runs) if not is_own_entry(e.name)]
            if not inside or any(_is_run(runs / n) for n in inside):
                return True
    return False


# -- the rule ------------------------------------------------------------------------------
def _refuse(out: Path, why: str) -> OutDirError:
    return OutDirError(f"{out} {why}: refusing to write into it; choose a new or empty --out")


def check_out_dir(out: str | os.PathLike[str], kind: str, name: str | None = None,
                  resume: bool = False) -> None:
    """Refuse ``out`` as the folder of a command of ``kind`` unless the rule allows it.

    Parameters
    ----------
    out : path
        The output folder (it need not exist).
    kind : {"run", "demo", "experiment"}
        What will be written: a training run (``train``, ``evaluate``), the demo, or
        experiment ``name``.
    name : str, optional
        The experiment (``"small_data"``, ...), for ``kind="experiment"``.
    resume : bool
        A run is continued (or evaluated): its checkpoint is expected, not refused.

    Raises
    ------
    OutDirError
        If ``out`` is a symlink or not a directory, holds anything but the lock and the
        package's temporary files and is not a folder of this kind, or holds an entry of a
        name the package writes that is not what the package writes there.
    LockFileError
        If ``.tinybcnn.lock`` is there and is not this package's lock file.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    out = Path(out)
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _refuse(out, f"cannot be examined ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise OutDirError(f"{out} is a symbolic link: refusing to write through it; give the "
                          "folder it points to, or a new --out")
    if not stat.S_ISDIR(st.st_mode):
        raise OutDirError(f"{out} exists and is not a directory")
    try:
        entries = {e.name: e for e in os.scandir(out)}
    except OSError as exc:
        raise _refuse(out, f"cannot be listed ({exc.strerror})") from None
    if LOCK_NAME in entries:
        check_lock_file(out / LOCK_NAME, os.lstat(out / LOCK_NAME))
    names = {n for n in entries if not is_own_entry(n)}
    if not names:
        return  # empty, or only what a killed run of ours left
    _check_kinds(out, kind, name, entries, names)
    if kind == RUN:
        _check_run(out, names, resume)
    elif kind == DEMO:
        if not any(_is_run(out / m) for m in _demo_names()[1]):
            raise _refuse(out, f"is not empty and is not {_WHAT[DEMO]}")
    elif not _experiment_marker(out, names):
        raise _refuse(out, f"is not empty and is not {_WHAT[EXPERIMENT]}")
    elif name is not None:  # this experiment's results files must be its own
        for file in (f"{name}.json", f"{name}_details.json"):
            if file in names and not _own_experiment_json(out / file, name):
                raise _refuse(out, f"holds {file}, which is not {name}'s results file")


def _check_kinds(out: Path, kind: str, name: str | None, entries: dict[str, Any],
                 names: set[str]) -> None:
    """Refuse an entry under a name the package writes that is not a plain file (or folder)."""
    for n in sorted(names):
        if kind == RUN:
            expect = "file" if _run_files(n) else None
        elif kind == DEMO:
            files, dirs = _demo_names()
            expect = "file" if n in files else "dir" if n in dirs else None
        else:
            expect = _experiment_names(name, n) if name else None
        if expect is None:
            continue
        entry = entries[n]
        if entry.is_symlink():
            raise _refuse(out, f"holds {n} as a symbolic link, where tinybcnn writes a "
                          f"{'folder' if expect == 'dir' else 'file'}")
        ok = entry.is_dir(follow_symlinks=False) if expect == "dir" else \
            entry.is_file(follow_symlinks=False)
        if not ok:
            raise _refuse(out, f"holds {n}, which is not a regular "
                          f"{'folder' if expect == 'dir' else 'file'}")


def _check_run(out: Path, names: set[str], resume: bool) -> None:
    from .runs import CHECKPOINT, CONFIG, RunConfig

    if CONFIG not in names:
        if resume:
            raise OutDirError(f"{out} holds no {CONFIG}: it is not {_WHAT[RUN]}")
        raise _refuse(out, f"is not empty and is not {_WHAT[RUN]}")
    try:
        RunConfig.load(out / CONFIG)
    except ValueError as exc:
        raise OutDirError(f"{exc}; refusing to write into {out}") from None
    if CHECKPOINT in names and not resume:
        raise OutDirError(f"{out} already holds a run; continue it with --resume, or choose "
                          "another --out")


@contextlib.contextmanager
def writing(out: str | os.PathLike[str], kind: str, name: str | None = None,
            resume: bool = False) -> Iterator[Path]:
    """Write into ``out`` under the rule: check it, create it if new, hold its lock, check it
    again (no one else can change it now), remove the package's stale temporary files.

    If the block fails and ``out`` was created here, it is removed again when it holds
    nothing but the lock (a command that fails on bad input leaves no empty folder).

    Raises
    ------
    OutDirError, tinybcnn.runlock.LockFileError
        As :func:`check_out_dir`.
    RunLocked
        If another process writes there.
    """
    out = Path(out)
    check_out_dir(out, kind, name, resume)
    created = not os.path.lexists(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(out):
            check_out_dir(out, kind, name, resume)
            remove_stale_parts(out)
            yield out
    except BaseException:
        if created:
            remove_if_unused(out)
        raise

