"""A folder's state, to assert that a refused command left it exactly as it was.

A refusal (exit 2) must come before anything is written or removed (docs/architecture.md,
"Threat model"), so every file under the folder keeps its name, size, modification time and
bytes. Left out: the lock file ``.tinybcnn.lock``, which every writer leaves behind empty
(taking the lock is the first step of the rule, before the checks made under it), and the
folders' own times, which that lock's creation changes. A symlink is recorded as its target,
never followed; a FIFO or other special file by its kind.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

__all__ = ["snapshot", "assert_unchanged", "refusal_leaves_folder"]

LOCK = ".tinybcnn.lock"


def _entry(path: str) -> tuple:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir",)
    if not stat.S_ISREG(st.st_mode):
        return ("special", stat.S_IFMT(st.st_mode))
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return ("file", st.st_size, st.st_mtime_ns, digest)


def snapshot(folder: str | os.PathLike[str]) -> dict[str, tuple]:
    """Every entry under ``folder`` (not following symlinks): relative name -> its kind and,
    for a regular file, ``(size, mtime_ns, sha256)``. An absent folder is ``{}``."""
    folder = Path(folder)
    if not os.path.lexists(folder):
        return {}
    if not folder.is_dir() or folder.is_symlink():
        return {".": _entry(str(folder))}
    seen: dict[str, tuple] = {}
    for root, dirs, files in os.walk(folder):   # os.walk never descends into a symlink
        for name in dirs + files:
            if name == LOCK:
                continue
            path = os.path.join(root, name)
            seen[os.path.relpath(path, folder)] = _entry(path)
    return seen


def assert_unchanged(folder: str | os.PathLike[str], before: dict[str, tuple]) -> None:
    """Assert ``folder`` is as :func:`snapshot` saw it, naming the entries that changed."""
    after = snapshot(folder)
    changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
    assert not changed, f"a refusal changed {folder}: " + ", ".join(
        f"{n} ({before.get(n, 'absent')} -> {after.get(n, 'absent')})" for n in changed[:5])


def refusal_leaves_folder(folder: str | os.PathLike[str], before: dict[str, tuple],
                          code: int) -> None:
    """After a command exited with ``code``: if it refused (2), ``folder`` is unchanged."""
    if code == 2:
        assert_unchanged(folder, before)
