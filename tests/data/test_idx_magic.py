"""The IDX magic number: both leading bytes must be zero (issue 35).

An IDX file starts ``0x00 0x00 <type code> <ndim>`` (LeCun's format). A file whose second
byte is not zero is not IDX, even when its first byte, type code and dimensions look right:
``00 07 08 01`` must be refused, not read as a 1-D ``uint8`` array. The oracle is the format's
definition: the files are built here byte by byte.
"""

from __future__ import annotations

import gzip
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn.data import DataError, read_idx


def _file(first: int, second: int, payload: bytes = bytes(range(4))) -> bytes:
    """A 1-D uint8 IDX file of ``payload`` whose magic starts ``first second``."""
    return bytes([first, second, 0x08, 1]) + struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize("first, second", [(0x00, 0x07), (0x07, 0x00), (0x00, 0x01),
                                           (0x00, 0xFF), (0x1F, 0x00)])
@pytest.mark.parametrize("gz", [False, True])
def test_a_magic_with_either_byte_nonzero_is_refused(tmp_path, first, second, gz):
    data = _file(first, second)
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(data) if gz else data)
    magic = f"0x{first:02X}{second:02X}0801"
    with pytest.raises(DataError, match=f"not an IDX file: magic number {magic}"):
        read_idx(path)


def test_the_zero_zero_magic_is_read(tmp_path):
    """The limit: ``00 00 08 01`` is the format's own and is read."""
    (tmp_path / "images").write_bytes(_file(0, 0))
    assert read_idx(tmp_path / "images").tolist() == [0, 1, 2, 3]


@given(first=st.integers(0, 255), second=st.integers(0, 255))
def test_only_two_zero_bytes_start_an_idx_file(tmp_path_factory, first, second):
    path = tmp_path_factory.mktemp("idx") / "f"
    path.write_bytes(_file(first, second))
    if (first, second) == (0, 0):
        assert read_idx(path).tolist() == [0, 1, 2, 3]
    else:
        with pytest.raises(DataError, match="not an IDX file"):
            read_idx(path)
