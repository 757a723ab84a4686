"""``read_idx``: each way an IDX file can be wrong gets one line that names the file and says
exactly what is wrong, with the sizes worked out here from the format (found by mutation
testing: a lost or wrong part of these lines went unnoticed; scripts/mutation.py).

The format: ``00 00 <type> <ndim>``, ``ndim`` big-endian uint32 dimensions, then
``prod(dims) * itemsize`` bytes.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from tinybcnn.data import DataError, load_idx_pair, read_idx, write_idx


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


KNOWN = "0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E"

CASES = {
    "magic": (b"\x00\x01\x08\x01" + b"\x00" * 8,
              "not an IDX file: magic number 0x00010801 does not start with 0x0000"),
    "first magic byte": (b"\x01\x00\x08\x01" + b"\x00" * 8,
                         "not an IDX file: magic number 0x01000801 does not start with 0x0000"),
    "type code": (b"\x00\x00\x0a\x01" + b"\x00" * 8,
                  f"unknown IDX data type code 0x0A (known: {KNOWN})"),
    "no dimensions": (b"\x00\x00\x08\x00", "IDX header declares 0 dimensions"),
    "cut magic": (b"\x00\x00", "truncated IDX file: the magic number needs 4 bytes, found 2"),
    "cut dimensions": (b"\x00\x00\x08\x02" + b"\x00\x00\x00\x02\x00",
                       "truncated IDX file: 2 dimensions needs 8 bytes, found 5"),
    "short float32": (_header(0x0D, (2, 3)) + b"\x00" * 23,
                      "IDX header declares shape (2, 3) of float32 (24 bytes) but the file "
                      "holds 23 bytes of data"),
    "thousand bytes": (_header(0x08, (10, 100)) + b"\x00" * 999,
                       "IDX header declares shape (10, 100) of uint8 (1,000 bytes) but the file "
                       "holds 999 bytes of data"),
    "eight dimensions": (_header(0x08, (1,) * 8),
                         "IDX header declares shape (1, 1, 1, 1, 1, 1, 1, 1) of uint8 (1 bytes) "
                         "but the file holds 0 bytes of data"),
    "nine dimensions": (_header(0x08, (1,) * 9),
                        "IDX header declares shape 9 dimensions of uint8 (1 bytes) but the "
                        "file holds 0 bytes of data"),
    # exactly 10**15 bytes: the first size written as a magnitude
    "a petabyte": (_header(0x08, (10**5, 10**5, 10**5)),
                   "IDX header declares shape (100000, 100000, 100000) of uint8 (~10^15 bytes) "
                   "but the file holds 0 bytes of data"),
    # (2**32 - 1)**3 elements: past NumPy's index range, refused before any size
    "too many elements": (_header(0x08, (2**32 - 1,) * 3),
                          f"IDX header declares dimensions {(2**32 - 1,) * 3}, more elements "
                          "than any array can hold: damaged or not an IDX file"),
    # 454279 * 31252369 * 649657 == 2**63 - 1: as many bytes of uint8 as an index can reach,
    # and 8 times too many of float64
    "index range of uint8": (_header(0x08, (454279, 31252369, 649657)),
                             "IDX header declares shape (454279, 31252369, 649657) of uint8 "
                             "(~10^18 bytes) but the file holds 0 bytes of data"),
    "index range of float64": (_header(0x0E, (454279, 31252369, 649657)),
                               "IDX header declares dimensions (454279, 31252369, 649657), more "
                               "elements than any array can hold: damaged or not an IDX file"),
    # 2**50 float64 = 2**53 bytes, past 10**15: the size as a magnitude (16 digits)
    "petabytes": (_header(0x0E, (2**25, 2**25)),
                  "IDX header declares shape (33554432, 33554432) of float64 "
                  "(~10^15 bytes) but the file holds 0 bytes of data"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_wrong_raw_file_gets_its_line(tmp_path, case):
    content, line = CASES[case]
    path = tmp_path / "f.idx"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(info.value) == f"{path}: {line}"


@pytest.mark.parametrize("extra, holds", [(-1, "only 5 bytes of data"),
                                          (1, "more data than that")])
def test_a_compressed_payload_of_the_wrong_length_says_which_way(tmp_path, extra, holds):
    path = tmp_path / "f.idx.gz"
    path.write_bytes(gzip.compress(_header(0x08, (2, 3)) + b"\x07" * (6 + extra)))
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(info.value) == (f"{path}: IDX header declares shape (2, 3) of uint8 (6 bytes) "
                               f"but the file holds {holds}")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError) as info:
        read_idx(tmp_path / "none.idx")
    assert str(info.value) == f"{tmp_path / 'none.idx'}: no such file"


def test_a_raw_file_larger_than_the_memory_left_is_named(tmp_path, monkeypatch):
    from tinybcnn.files import npyfile

    monkeypatch.setattr(npyfile, "available_memory", lambda: 10)
    path = tmp_path / "f.idx"
    path.write_bytes(_header(0x0D, (2, 3)) + b"\x00" * 24)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert str(info.value) == (f"{path}: its IDX header declares shape (2, 3) of float32 "
                               "(24 bytes), which would take 24 bytes of memory, more than the "
                               "10 available; use a smaller file or a machine with more memory")


# -- write_idx ------------------------------------------------------------------------------
def test_a_gz_file_is_the_same_bytes_every_time(tmp_path):
    """mtime 0 and no file name in the gzip header (RFC 1952: bytes 4-7, flag FNAME = 8)."""
    data = write_idx(tmp_path / "a.idx.gz", np.arange(6, dtype=np.uint8)).read_bytes()
    assert data[:4] == b"\x1f\x8b\x08\x00" and data[4:8] == b"\x00\x00\x00\x00"
    assert gzip.decompress(data) == _header(0x08, (6,)) + bytes(range(6))


def test_write_idx_refuses_what_the_format_cannot_hold_by_name(tmp_path):
    with pytest.raises(DataError) as info:
        write_idx(tmp_path / "b.idx", np.zeros(2, dtype=bool))
    assert str(info.value) == (f"{tmp_path / 'b.idx'}: IDX cannot store dtype bool (use uint8, "
                               "int8, int16, int32, float32 or float64, e.g. "
                               "labels.astype(np.uint8))")
    # a dimension of 2**32 does not fit IDX's uint32 (a view: nothing is allocated)
    for n in (2**32, 2**33):
        huge = np.broadcast_to(np.uint8(0), (n,))
        with pytest.raises(DataError) as info:
            write_idx(tmp_path / "c.idx", huge)
        assert str(info.value) == f"{tmp_path / 'c.idx'}: IDX cannot store an array of shape ({n},)"


def test_negative_labels_without_a_class_count_are_named(tmp_path):
    images = write_idx(tmp_path / "i.idx", np.zeros((2, 2, 2), dtype=np.uint8))
    labels = write_idx(tmp_path / "l.idx", np.array([-1, 2], dtype=np.int8))
    with pytest.raises(DataError) as info:
        load_idx_pair(images, labels)
    assert str(info.value) == f"{labels}: labels must be >= 0, found -1..2"
    with pytest.raises(DataError) as info:
        load_idx_pair(images, labels, n_classes=2)
    assert str(info.value) == f"{labels}: labels must be [0, 2), found -1..2"
