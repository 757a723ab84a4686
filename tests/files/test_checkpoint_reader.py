"""``read_checkpoint`` on files that are not checkpoints: each kind gets its own line, naming
the file and saying what it is (found by mutation testing: a kind reported as another went
unnoticed; scripts/mutation.py). The lines are written out here: they are what a user reads.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn.checkpoint import CheckpointError, read_checkpoint, save_checkpoint


def _npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    return buf.getvalue()


KINDS = {
    "empty": (b"", "an empty file"),
    "npy": (_npy_bytes(), "a single .npy array"),
    "pickle": (pickle.dumps({"a": 1}, protocol=4), "a Python pickle, which is never loaded"),
    "text": (b"hello", "not an .npz archive: it does not start with a zip header"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_file_of_another_kind_is_named_as_that_kind(tmp_path, kind):
    content, what = KINDS[kind]
    path = tmp_path / "ckpt.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == f"{path}: not a tinybcnn checkpoint ({what})"


def test_a_symlink_a_fifo_and_a_missing_file_each_get_their_line(tmp_path):
    (tmp_path / "real.npz").write_bytes(b"")
    (tmp_path / "link.npz").symlink_to(tmp_path / "real.npz")
    os.mkfifo(tmp_path / "fifo.npz")
    for name, line in [("link.npz", "is a symbolic link, not a checkpoint this package wrote; "
                                    "move it away"),
                       ("fifo.npz", "is not a regular file, not a checkpoint this package "
                                    "wrote; move it away"),
                       ("none.npz", ": no such checkpoint file")]:
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(tmp_path / name)
        sep = "" if line.startswith(":") else " "
        assert str(info.value) == f"{tmp_path / name}{sep}{line}", name


def _deflated_with_bad_data(src: Path, dst: Path) -> str:
    """``src`` rezipped with every member deflated (as ``np.savez_compressed`` writes them;
    the reader accepts both), its largest member's deflate stream cut after 16 KiB of good
    data and the rest overwritten with 0xFF: a block of the reserved type 3, which zlib
    refuses ("invalid block type"). The member's ``.npy`` header (its first 128 bytes) and
    the first 4 KiB zipfile inflates to read it stay good, so only the full read meets the
    damage. Returns the damaged member's name."""
    with zipfile.ZipFile(src) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    name = max(members, key=lambda n: len(members[n]))
    assert len(members[name]) > 32 << 10  # random float32 weights: deflate stores them
    with zipfile.ZipFile(dst) as archive:
        info = archive.getinfo(name)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    good = squeeze.compress(members[name][: 16 << 10]) + squeeze.flush(zlib.Z_FULL_FLUSH)
    assert 4 << 10 < len(good) < info.compress_size
    raw = bytearray(dst.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start:start + info.compress_size] = good + b"\xff" * (info.compress_size - len(good))
    dst.write_bytes(bytes(raw))
    return name


def test_deflated_data_that_does_not_inflate_is_one_line_naming_the_file(tmp_path):
    """A member whose compressed data is damaged past its header: zlib's own error surfaced as
    a traceback (found while measuring checkpoint.py with mutmut)."""
    model = tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, seed=0)
    good = save_checkpoint(tmp_path / "good.npz", model)
    bad = tmp_path / "bad.npz"
    name = _deflated_with_bad_data(good, bad)
    with zipfile.ZipFile(bad) as archive, pytest.raises(zlib.error, match="invalid block type"):
        archive.read(name)  # the oracle: zlib itself refuses the member
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(bad)
    assert str(info.value).startswith(f"{bad}: not a readable checkpoint (")
    assert "invalid block type" in str(info.value)
    assert "\n" not in str(info.value)
