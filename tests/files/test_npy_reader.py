"""``load_npy`` and ``sniff``: each kind of file that is not a ``.npy`` array gets its own one
line, naming the file, saying what it is and what to do (found by mutation testing: a wrong
kind or a lost advice went unnoticed; scripts/mutation.py).

The expected lines are written out here: what a user reads is the behaviour under test.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tinybcnn.files.npyfile import NpyFileError, load_npy


def _files(tmp_path):
    """name -> (bytes, the line load_npy must give)."""
    npz = tmp_path / "made.npz"
    np.savez(npz, a=np.zeros(2))
    return {
        "empty.npy": (b"", "empty file (0 bytes)"),
        "archive.npy": (npz.read_bytes(), "an .npz archive, not a .npy array: save one array "
                        "with np.save, or extract it from the archive"),
        "pickle.npy": (pickle.dumps([1, 2], protocol=4), "a Python pickle, not a .npy array; "
                       "pickles are never loaded"),
        "text.npy": (b"1,2,3\n", "not a .npy file (it does not start with the NumPy magic "
                     "string)"),
    }


@pytest.mark.parametrize("name", ["empty.npy", "archive.npy", "pickle.npy", "text.npy"])
def test_each_kind_of_wrong_file_gets_its_own_line(tmp_path, name):
    content, line = _files(tmp_path)[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(NpyFileError) as info:
        load_npy(path)
    assert str(info.value) == f"{path}: {line}"
