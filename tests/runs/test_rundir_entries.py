"""``rundir.check_out_dir`` on a folder's entries, without training anything (issue 35).

The command-level tests (``test_rundir_rules.py``) show each refusal through ``train``,
``demo`` and ``experiment``, which train or run a tutorial first: too slow to run once per
mutant. Here the same rule is checked on a small stand-in :class:`FolderKind` that writes
``config.json`` (a file) and ``runs`` (a folder) and accepts anything else, so each refusal is
the rule's, not the kind's:

- an entry under a name the package writes must be what the package writes there (a regular
  file, a real folder): a symlink, a FIFO, a folder for a file or a file for a folder is
  refused in one line that names it; a name the kind never writes is not looked at;
- a ``.tinybcnn.lock`` that is not a lock file of the package is refused before anything;
- the kind is asked only when the folder holds more than the lock and the package's own
  temporary files, and hears exactly the other names and the caller's ``resume``;
- an unreadable folder is named in one line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tinybcnn.files import rundir
from tinybcnn.files.rundir import FolderKind, OutDirError, check_out_dir, writing
from tinybcnn.files.runlock import LOCK_NAME, LockFileError

WRITES = {"config.json": "file", "runs": "dir"}
TAIL = ": refusing to write into it; choose a new or empty --out"


class Heard:
    """A kind that writes ``WRITES`` and records what its check was shown."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, set[str], bool]] = []
        self.kind = FolderKind("a stand-in folder", WRITES.get, self._check)

    def _check(self, out: Path, names: set[str], resume: bool) -> None:
        self.calls.append((out, set(names), resume))


def test_refuse_is_one_line_naming_the_folder_and_what_to_do(tmp_path):
    error = rundir.refuse(tmp_path, "holds x")
    assert isinstance(error, OutDirError)
    assert str(error) == f"{tmp_path} holds x{TAIL}"


@pytest.mark.parametrize("resume", [False, True])
def test_the_kind_hears_the_names_but_not_the_lock_or_own_parts(tmp_path, resume):
    heard = Heard()
    (tmp_path / LOCK_NAME).write_text("")
    (tmp_path / ".config.json.12.0123abcd.part").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "runs").mkdir()
    (tmp_path / "notes.txt").write_text("a user's")
    check_out_dir(str(tmp_path), heard.kind, resume=resume)
    assert heard.calls == [(tmp_path, {"config.json", "runs", "notes.txt"}, resume)]


def test_a_folder_with_only_the_lock_and_own_parts_is_empty(tmp_path):
    heard = Heard()
    (tmp_path / LOCK_NAME).write_text("")
    (tmp_path / ".runs.3.89abcdef.part").write_bytes(b"")
    check_out_dir(tmp_path, heard.kind)
    assert heard.calls == []


def test_a_missing_folder_passes_without_asking_the_kind(tmp_path):
    heard = Heard()
    check_out_dir(tmp_path / "new", heard.kind)
    assert heard.calls == [] and not (tmp_path / "new").exists()


def _plant(path: Path, what: str) -> None:
    if what == "symlink":
        target = path.parent.parent / f"target-{path.name}"
        target.mkdir() if WRITES[path.name] == "dir" else target.write_text("{}")
        path.symlink_to(target)
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "dir":
        path.mkdir()
    else:
        path.write_text("{}")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs and symlinks")
@pytest.mark.parametrize("name, what, why", [
    ("config.json", "symlink",
     "holds config.json as a symbolic link, where tinybcnn writes a file"),
    ("runs", "symlink", "holds runs as a symbolic link, where tinybcnn writes a folder"),
    ("config.json", "fifo", "holds config.json, which is not a regular file"),
    ("config.json", "dir", "holds config.json, which is not a regular file"),
    ("runs", "file", "holds runs, which is not a regular folder"),
    ("runs", "fifo", "holds runs, which is not a regular folder"),
])
def test_an_entry_that_is_not_what_the_package_writes_is_refused(tmp_path, name, what, why):
    out = tmp_path / "out"
    out.mkdir()
    _plant(out / name, what)
    heard = Heard()
    with pytest.raises(OutDirError) as info:
        check_out_dir(out, heard.kind)
    assert str(info.value) == f"{out} {why}{TAIL}"
    assert heard.calls == []
    assert os.path.lexists(out / name)   # refused, not removed


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs and symlinks")
def test_a_name_the_kind_never_writes_is_not_looked_at(tmp_path):
    """A user's symlink or FIFO beside the run is the user's: the kind decides, the rule
    does not refuse it."""
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "data").symlink_to(tmp_path / "elsewhere")
    os.mkfifo(out / "pipe")
    heard = Heard()
    check_out_dir(out, heard.kind)
    assert heard.calls == [(out, {"data", "pipe"}, False)]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX symlinks")
@pytest.mark.parametrize("plant", ["symlink", "dir", "hardlink", "big"])
def test_a_lock_that_is_not_ours_is_refused_even_in_an_empty_folder(tmp_path, plant):
    out = tmp_path / "out"
    out.mkdir()
    lock = out / LOCK_NAME
    if plant == "symlink":
        (tmp_path / "victim").write_text("keep me")
        lock.symlink_to(tmp_path / "victim")
    elif plant == "dir":
        lock.mkdir()
    elif plant == "hardlink":
        (tmp_path / "victim").write_text("keep me")
        os.link(tmp_path / "victim", lock)
    else:
        lock.write_text("1" * 100_000)
    heard = Heard()
    with pytest.raises(LockFileError) as info:
        check_out_dir(out, heard.kind)
    assert str(info.value).startswith(f"{lock} is ")   # names the lock file itself
    assert "not a tinybcnn lock file" in str(info.value)
    with pytest.raises(LockFileError):
        with writing(out, heard.kind):
            pytest.fail("the block ran under a lock that is not ours")
    assert heard.calls == []
    if plant in ("symlink", "hardlink"):
        assert (tmp_path / "victim").read_text() == "keep me"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="root lists any folder")
def test_a_folder_that_cannot_be_listed_is_named(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o300)
    try:
        with pytest.raises(OutDirError) as info:
            check_out_dir(out, Heard().kind)
    finally:
        out.chmod(0o700)
    assert str(info.value).startswith(f"{out} cannot be listed (")


def test_a_folder_that_cannot_be_listed_is_named_whoever_runs(tmp_path, monkeypatch):
    """The same refusal with the listing failing by hand (root may list any folder)."""
    def scandir(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(rundir.os, "scandir", scandir)
    with pytest.raises(OutDirError) as info:
        check_out_dir(tmp_path, Heard().kind)
    assert str(info.value) == f"{tmp_path} cannot be listed (Permission denied){TAIL}"


def test_writing_yields_the_folder_as_a_path_and_creates_its_parents(tmp_path):
    out = tmp_path / "a" / "b"
    heard = Heard()
    with writing(str(out), heard.kind) as got:
        assert got == out and isinstance(got, Path)
        assert sorted(os.listdir(out)) == [LOCK_NAME]
        (out / "config.json").write_text("{}")
    assert sorted(os.listdir(out)) == [LOCK_NAME, "config.json"]
    assert heard.calls == []   # new, then empty under the lock


def test_a_failing_block_in_a_created_folder_keeps_a_users_file_written_meanwhile(tmp_path):
    """The folder created here is removed only while it holds nothing but the lock."""
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        with writing(out, Heard().kind):
            (out / "notes.txt").write_text("mine")
            raise KeyboardInterrupt
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs")
def test_a_users_name_sorted_first_does_not_end_the_entry_checks(tmp_path):
    """The entries are checked in sorted order; a user's ``a.txt`` before ``config.json``
    is passed over, and the FIFO under the package's name after it is still refused."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("a user's")
    os.mkfifo(out / "config.json")
    heard = Heard()
    with pytest.raises(OutDirError, match="holds config.json, which is not a regular file"):
        check_out_dir(out, heard.kind)
    assert heard.calls == []
