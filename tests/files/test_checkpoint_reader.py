"""``read_checkpoint`` on files that are not checkpoints: each kind gets its own line, naming
the file and saying what it is (found by mutation testing: a kind reported as another went
unnoticed; scripts/mutation.py). The lines are written out here: they are what a user reads.
"""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from tinybcnn.checkpoint import CheckpointError, read_checkpoint


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
