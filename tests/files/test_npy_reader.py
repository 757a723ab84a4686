"""``load_npy`` and ``sniff``: each kind of file that is not a ``.npy`` array gets its own one
line, naming the file, saying what it is and what to do (found by mutation testing: a wrong
kind or a lost advice went unnoticed; scripts/mutation.py).

The expected lines are written out here: what a user reads is the behaviour under test.
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest

from tinybcnn.files import npyfile
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


def _npy(tmp_path, array, cut: int = 0):
    path = tmp_path / "x.npy"
    np.save(path, array)
    if cut:
        path.write_bytes(path.read_bytes()[:-cut])
    return path


def test_a_truncated_npy_is_named_with_its_declared_and_present_sizes(tmp_path):
    path = _npy(tmp_path, np.zeros((3, 5)), cut=105)   # 120 payload bytes, 15 left
    with pytest.raises(NpyFileError) as info:
        load_npy(path)
    assert str(info.value) == (f"{path}: the header declares a float64 array of shape (3, 5) "
                               "(120 bytes) but the file holds 15: truncated or damaged")


def test_an_array_larger_than_the_memory_left_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(npyfile, "available_memory", lambda: 100)
    path = _npy(tmp_path, np.zeros((3, 5)))
    with pytest.raises(NpyFileError) as info:
        load_npy(path)
    assert str(info.value) == (f"{path}: its float64 array of shape (3, 5) would take 120 "
                               "bytes of memory, more than the 100 available; use a smaller "
                               "file or a machine with more memory")


def test_numpy_failing_after_the_header_is_one_line_naming_the_file(tmp_path, monkeypatch):
    path = _npy(tmp_path, np.zeros(3))

    def fail(*args, **kwargs):
        raise EOFError("cut short")

    monkeypatch.setattr(npyfile.np, "load", fail)
    with pytest.raises(NpyFileError) as info:
        load_npy(path)
    assert str(info.value) == f"{path}: damaged .npy file (cut short)"


# -- available_memory: MemAvailable, lowered by an address-space limit; None if unknown -------
# The kernel's files are replaced by ones written here, so the answer is known exactly.
MEMINFO = "MemTotal:       8000000 kB\nMemFree:         100000 kB\nMemAvailable:    3000000 kB\n"
STATUS = "Name:\tpython\nVmPeak:\t  900000 kB\nVmSize:\t  700000 kB\nVmRSS:\t   90000 kB\n"


@pytest.fixture
def proc(monkeypatch):
    """``proc(meminfo=..., status=..., soft=...)``: the /proc files npyfile reads (None: the
    file is missing) and the soft address-space limit (None: unlimited)."""
    import io
    import resource

    def install(meminfo: str | None = MEMINFO, status: str | None = STATUS,
                soft: int | None = None) -> None:
        files = {"/proc/meminfo": meminfo, "/proc/self/status": status}

        def fake_open(name, *args, **kwargs):
            if files.get(str(name)) is None:
                raise FileNotFoundError(name)
            return io.StringIO(files[str(name)])

        limit = resource.RLIM_INFINITY if soft is None else soft
        monkeypatch.setattr(npyfile, "open", fake_open, raising=False)
        monkeypatch.setattr(resource, "getrlimit",
                            lambda which: (limit, resource.RLIM_INFINITY))

    return install


KIB = 1024


def test_available_memory_is_the_kernels_memavailable(proc):
    proc()
    assert npyfile.available_memory() == 3000000 * KIB


def test_available_memory_without_meminfo_or_limit_is_unknown(proc):
    proc(meminfo=None)
    assert npyfile.available_memory() is None


@pytest.mark.parametrize("meminfo", [MEMINFO, None])
def test_an_address_space_limit_lowers_available_memory(proc, meminfo):
    """``ulimit -v``: what is left is the limit minus this process's VmSize."""
    proc(meminfo=meminfo, soft=800000 * KIB)
    assert npyfile.available_memory() == (800000 - 700000) * KIB


def test_a_limit_above_the_memory_available_leaves_memavailable(proc):
    proc(soft=9000000 * KIB)
    assert npyfile.available_memory() == 3000000 * KIB


def test_a_limit_without_vmsize_leaves_memavailable(proc):
    proc(status="Name:\tpython\n", soft=800000 * KIB)
    assert npyfile.available_memory() == 3000000 * KIB


def test_an_unreadable_npz_is_named(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(NpyFileError) as info:
        npyfile.check_npz_sizes(path)
    assert str(info.value).startswith(f"{path}: not a readable .npz archive (")


# -- sniff: the first bytes decide ------------------------------------------------------------
@pytest.mark.parametrize("head, kind", [(b"\x80", "unknown"), (b"\x80\x02", "pickle"),
                                        (b"\x80\x06", "unknown")])
def test_sniff_of_files_of_one_or_two_bytes(tmp_path, head, kind):
    """A pickle is 0x80 then a protocol 2..5: two bytes are enough, one is not."""
    (tmp_path / "f").write_bytes(head)
    assert npyfile.sniff(tmp_path / "f") == kind


# -- read_npy_header: versions, damaged headers, objects ---------------------------------------
def _written(array, version) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=True)
    return buf.getvalue()


def test_a_version_2_npy_is_read(tmp_path):
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    path = tmp_path / "v2.npy"
    path.write_bytes(_written(array, (2, 0)))
    np.testing.assert_array_equal(load_npy(path), array)


def test_a_version_3_npy_is_refused_by_name(tmp_path):
    path = tmp_path / "v3.npy"
    path.write_bytes(_written(np.zeros(2), (3, 0)))
    with pytest.raises(NpyFileError) as info:
        load_npy(path)
    assert str(info.value) == f"{path}: .npy format version (3, 0) is not supported"


def test_a_damaged_header_and_an_object_array_get_their_lines(tmp_path):
    bad = tmp_path / "bad.npy"
    text = b"{'descr': '<zz', 'fortran_order': False, 'shape': (2,), }\n"   # no such dtype
    bad.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text)
    with pytest.raises(NpyFileError) as info:
        load_npy(bad)
    assert str(info.value).startswith(f"{bad}: not a readable .npy file (")
    objects = tmp_path / "objects.npy"
    objects.write_bytes(_written(np.array([1, None], dtype=object), (1, 0)))
    with pytest.raises(NpyFileError) as info:
        load_npy(objects)
    assert str(info.value) == (f"{objects}: holds Python objects, which would need pickle; "
                               "only numeric arrays are read")


def test_a_member_claiming_fewer_bytes_than_its_header_holds_nothing():
    data = _written(np.zeros(4), (1, 0))
    with pytest.raises(NpyFileError) as info:
        npyfile.read_npy_header(io.BytesIO(data), "m", available=10)
    assert str(info.value) == ("m: the header declares a float64 array of shape (4,) "
                               "(32 bytes) but the file holds 0: truncated or damaged")


# -- check_memory: the bound itself is allowed ------------------------------------------------
def test_an_array_of_exactly_the_memory_left_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(npyfile, "available_memory", lambda: 120)
    path = _npy(tmp_path, np.ones((3, 5)))
    np.testing.assert_array_equal(load_npy(path), np.ones((3, 5)))


def test_memory_already_overdrawn_is_called_zero(monkeypatch):
    monkeypatch.setattr(npyfile, "available_memory", lambda: -5)
    with pytest.raises(NpyFileError, match=r"x: it would take 1 bytes of memory, more than the "
                                           r"0 available;"):
        npyfile.check_memory(1, "x", "it")


# -- check_npz_sizes: a member is named archive:member -----------------------------------------
def test_a_lying_or_damaged_member_is_named_with_its_archive(tmp_path):
    short = tmp_path / "short.npz"
    with zipfile.ZipFile(short, "w") as z:
        z.writestr("a.npy", _written(np.zeros(4), (1, 0))[:-8])
    with pytest.raises(NpyFileError) as info:
        npyfile.check_npz_sizes(short)
    assert str(info.value).startswith(f"{short}:a.npy: the header declares a float64 array")
    crypt = tmp_path / "crypt.npz"   # flag bit 0: an encrypted member, which zipfile refuses
    with zipfile.ZipFile(crypt, "w") as z:
        z.writestr("b.npy", _written(np.zeros(4), (1, 0)))
    raw = bytearray(crypt.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.index(sig) + flag_at
        raw[at] |= 1
    crypt.write_bytes(bytes(raw))
    with pytest.raises(NpyFileError) as info:
        npyfile.check_npz_sizes(crypt)
    assert str(info.value).startswith(f"{crypt}:b.npy: damaged archive member (")


def test_a_header_with_unbalanced_brackets_is_one_line(tmp_path):
    """NumPy's parser of old headers raises tokenize.TokenError here, not a ValueError."""
    text = b"{'descr': 'nonsense'\n"
    path = tmp_path / "bad.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text)
    with pytest.raises(NpyFileError) as info:
        load_npy(path)
    assert str(info.value).startswith(f"{path}: not a readable .npy file (")


def test_a_deflated_member_that_does_not_inflate_is_one_line(tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.npy", _written(np.zeros(100), (1, 0)))
    raw = bytearray(path.read_bytes())
    start = raw.index(b"a.npy") + len("a.npy")   # the member's data follows its local name
    raw[start:start + 20] = b"\xff" * 20
    path.write_bytes(bytes(raw))
    with pytest.raises(NpyFileError) as info:
        npyfile.check_npz_sizes(path)
    assert str(info.value).startswith(f"{path}:a.npy: damaged archive member (")
