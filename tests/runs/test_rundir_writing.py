"""``rundir.writing``: what it leaves when the block fails, the check under the lock, and the
package's own stale temporary files (issue 35).

- A command that fails in a folder it created leaves no empty folder behind; a folder that
  was there before stays.
- The folder is checked again once the lock is held: whatever appeared between the first
  check and the lock (another process's files) is refused then, and nothing of it touched.
- ``.<name>.<pid>.<8 hex>.part`` left by a killed writer does not make a folder non-empty
  (and is cleaned up under the lock); a user's ``.movie.mkv.part`` does and is kept.

The folder kind used here refuses every entry it is shown, so the only way a folder passes
is the rule's "empty": what is empty is decided by the rule, not by the kind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn.files import rundir
from tinybcnn.files.rundir import FolderKind, OutDirError, check_out_dir, writing
from tinybcnn.files.runlock import LOCK_NAME


def _refuse_anything(out: Path, names: set[str], resume: bool) -> None:
    raise rundir.refuse(out, f"holds {sorted(names)}")


EMPTY_ONLY = FolderKind("an empty folder", lambda name: None, _refuse_anything)


class Boom(Exception):
    pass


def test_a_failing_command_removes_the_folder_it_created(tmp_path):
    out = tmp_path / "new" / "run"
    with pytest.raises(Boom):
        with writing(out, EMPTY_ONLY):
            assert out.is_dir() and (out / LOCK_NAME).is_file()
            raise Boom
    assert not out.exists()


def test_a_failing_command_keeps_a_folder_that_was_there(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(Boom):
        with writing(out, EMPTY_ONLY):
            raise Boom
    assert out.is_dir()


def test_a_failing_command_keeps_what_it_wrote(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Boom):
        with writing(out, EMPTY_ONLY):
            (out / "partial.json").write_text("{}")
            raise Boom
    assert (out / "partial.json").read_text() == "{}"


def test_the_folder_is_checked_again_under_the_lock(tmp_path, monkeypatch):
    """Another process writes a file into the (empty, checked) folder just before the lock is
    taken: the check under the lock refuses it, and the block never runs."""
    out = tmp_path / "run"
    out.mkdir()
    real_lock = rundir.run_lock

    def lock_after_a_race(directory):
        (Path(directory) / "theirs.txt").write_text("another process's file")
        return real_lock(directory)

    monkeypatch.setattr(rundir, "run_lock", lock_after_a_race)
    ran = []
    with pytest.raises(OutDirError, match="theirs.txt"):
        with writing(out, EMPTY_ONLY):
            ran.append(True)
    assert not ran
    assert (out / "theirs.txt").read_text() == "another process's file"


@pytest.mark.parametrize("stale", [".config.json.12345.0123abcd.part",
                                   ".checkpoint.npz.1.ffffffff.part",
                                   ".active_learning.json.4194304.00000000.part"])
def test_a_killed_writers_part_file_leaves_the_folder_empty(tmp_path, stale):
    out = tmp_path / "run"
    out.mkdir()
    (out / stale).write_bytes(b"half a file")
    check_out_dir(out, EMPTY_ONLY)
    with writing(out, EMPTY_ONLY):
        assert not (out / stale).exists()   # cleaned up under the lock
    assert sorted(os.listdir(out)) == [LOCK_NAME]


@pytest.mark.parametrize("users", [".movie.mkv.part", "config.json.part",
                                   ".config.json.12345.0123ABCD.part",   # not lower-case hex
                                   ".config.json.0123.0123abcd.part",    # pid with a leading 0
                                   ".config.json.12345.0123abc.part"])   # 7 hex digits
def test_a_users_part_file_is_not_empty(tmp_path, users):
    out = tmp_path / "run"
    out.mkdir()
    (out / users).write_bytes(b"mine")
    with pytest.raises(OutDirError, match="refusing to write into it"):
        check_out_dir(out, EMPTY_ONLY)
    assert (out / users).read_bytes() == b"mine"


@given(name=st.from_regex(r"[a-z_]{1,12}\.(json|npz|csv|png)", fullmatch=True),
       pid=st.integers(1, 4294967295), token=st.binary(min_size=4, max_size=4))
def test_every_own_part_name_counts_as_empty(tmp_path_factory, name, pid, token):
    out = tmp_path_factory.mktemp("run")
    (out / f".{name}.{pid}.{token.hex()}.part").write_bytes(b"")
    check_out_dir(out, EMPTY_ONLY)


def test_a_part_file_gone_before_its_removal_is_skipped(tmp_path, monkeypatch):
    """Another cleanup removed the stale file between the listing and the unlink: nothing
    to do, nothing reported, no error."""
    from tinybcnn.files.atomic import remove_stale_parts

    gone, kept = ".a.json.12.0123abcd.part", ".b.json.12.89abcdef.part"
    (tmp_path / gone).write_bytes(b"")
    (tmp_path / kept).write_bytes(b"")
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if self.name == gone:
            real_unlink(self)          # removed by someone else just now
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    assert remove_stale_parts(tmp_path) == [tmp_path / kept]
    assert os.listdir(tmp_path) == []


def _recording_kind(heard: list[bool]) -> FolderKind:
    def check(out: Path, names: set[str], resume: bool) -> None:
        heard.append(resume)

    return FolderKind("a recording kind", lambda name: None, check)


def test_writing_and_check_out_dir_pass_resume_false_unless_told(tmp_path):
    """The kind's check hears ``resume=False`` by default (a caller that does not say it
    resumes must not be let into a finished run), and what the caller says otherwise."""
    heard: list[bool] = []
    kind = _recording_kind(heard)
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("a user's file")  # not empty: the kind is asked
    check_out_dir(out, kind)
    check_out_dir(out, kind, resume=True)
    with writing(out, kind):
        pass
    with writing(out, kind, resume=True):
        pass
    # check_out_dir twice, then writing: before and under the lock, each time
    assert heard == [False, True, False, False, True, True]


def test_an_out_that_cannot_be_examined_is_named(tmp_path):
    """``--out file/run`` (lstat fails with ENOTDIR, not "no such file") is refused in one line
    that names the folder asked for."""
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "run"
    with pytest.raises(OutDirError) as info:
        check_out_dir(out, EMPTY_ONLY)
    assert str(info.value).startswith(f"{out} cannot be examined (")


def test_is_real_dir_of_a_missing_path_or_a_symlink_is_false(tmp_path):
    """Only a directory itself counts: a missing path, a file and a symlink to a directory
    are not (the oracle: ``os.path.isdir`` after ``os.lstat``, written out)."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    assert rundir.is_real_dir(tmp_path / "dir")
    for name in ("missing", "file", "link"):
        assert not rundir.is_real_dir(tmp_path / name), name


def test_an_out_that_is_a_symlink_or_a_file_is_refused_with_what_to_do(tmp_path):
    """The one line names the folder, says what it is, and (for a symlink) what to give
    instead: the user's next command depends on it."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutDirError) as info:
        check_out_dir(tmp_path / "link", EMPTY_ONLY)
    assert str(info.value) == (f"{tmp_path / 'link'} is a symbolic link: refusing to write "
                               "through it; give the folder it points to, or a new --out")
    with pytest.raises(OutDirError) as info:
        check_out_dir(tmp_path / "file", EMPTY_ONLY)
    assert str(info.value) == f"{tmp_path / 'file'} exists and is not a directory"
