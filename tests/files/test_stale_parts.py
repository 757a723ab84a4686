"""``remove_stale_parts`` removes only the package's own ``.<name>.<pid>.<8 hex>.part`` files
(issue 27; the contract of issue 22): a user's ``.part`` files, hidden or not, survive."""

from __future__ import annotations

import os

import pytest

from tinybcnn.files.atomic import atomic_write_text, remove_stale_parts

OURS = [".config.json.12345.0badf00d.part", ".checkpoint.npz.7.deadbeef.part",
        ".a.b.c.4194304.00000000.part"]
THEIRS = [".movie.mkv.part", "thesis.pdf.part", "config.json.12345.0badf00d.part",
          ".config.json.0.0badf00d.part",       # pid 0 is no process
          ".config.json.012.0badf00d.part",     # a pid has no leading zero
          ".config.json.12345.0BADF00D.part",   # token_hex is lower case
          ".config.json.12345.0badf00.part",    # 7 hex digits
          ".config.json.12345.0badf00d0.part",  # 9 hex digits
          ".config.json.12345678901.0badf00d.part",  # 11 digits: not a pid
          ".config.json.12345.0badf00d.part.bak", ".12345.0badf00d.part", "movie.part"]


def test_only_the_packages_own_stale_parts_are_removed(tmp_path):
    for name in OURS + THEIRS:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_parts(tmp_path)
    assert sorted(p.name for p in removed) == sorted(OURS)
    left = sorted(os.listdir(tmp_path))
    assert left == sorted(THEIRS)
    for name in THEIRS:
        assert (tmp_path / name).read_bytes() == b"x"


def test_a_symlink_or_folder_with_our_name_is_left(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / ".x.json.99.01234567.part").symlink_to(target)
    (tmp_path / ".y.json.99.01234567.part").mkdir()
    assert remove_stale_parts(tmp_path) == []
    assert target.read_bytes() == b"keep"


def test_a_killed_writers_part_file_is_recognised(tmp_path, monkeypatch):
    """The name atomic_write really gives its temporary file is one remove_stale_parts takes."""
    seen = []
    real_replace = os.replace

    def crash(src, dst):
        seen.append(os.path.basename(src))
        # a copy under the temp name, as a kill -9 before the rename would leave it
        with open(src, "rb") as f, open(os.path.join(os.path.dirname(src), "copy"), "wb") as g:
            g.write(f.read())
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(tmp_path / "run.json", "{}")
    monkeypatch.setattr(os, "replace", real_replace)
    (tmp_path / "copy").rename(tmp_path / seen[0])
    (tmp_path / "thesis.pdf.part").write_bytes(b"mine")
    assert [p.name for p in remove_stale_parts(tmp_path)] == [seen[0]]
    assert sorted(os.listdir(tmp_path)) == ["thesis.pdf.part"]
