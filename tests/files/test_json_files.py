"""``tinybcnn.files.jsonfile``: plain values from NumPy ones, strict JSON written whole, and the
reader's refusals, one line each (what the JSON files of runs and experiments go through).

The expected values are written out by hand (the JSON text, Python's own ``json`` reading
it back); the refusals are the file kinds of the threat model (docs/architecture.md): a
symlink, a folder, a FIFO, a missing file, bytes that are not UTF-8 JSON.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tinybcnn.files.jsonfile import JSONFileError, jsonable, parse_json, read_json, write_json


# -- jsonable ---------------------------------------------------------------------------------
def test_jsonable_turns_numpy_values_into_plain_ones():
    value = {1: np.float32(0.5), "a": (np.int64(3), np.bool_(True)),
             "arr": np.arange(3, dtype=np.int16), "nested": [np.float64(2.25), Path("x/y")],
             "none": None, "s": "text", "big": 2**100}
    got = jsonable(value)
    assert got == {"1": 0.5, "a": [3, True], "arr": [0, 1, 2], "nested": [2.25, "x/y"],
                   "none": None, "s": "text", "big": 2**100}
    assert type(got["a"][0]) is int and type(got["a"][1]) is bool
    assert type(got["1"]) is float and type(got["arr"][0]) is int
    assert type(got["nested"][1]) is str


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan"),
                                 np.float64("inf")])
def test_jsonable_writes_nan_and_infinity_as_null(bad):
    assert jsonable([bad, 1.0]) == [None, 1.0]


def test_jsonable_keeps_bool_apart_from_int():
    assert jsonable([True, np.bool_(False), 1, np.int8(0)]) == [True, False, 1, 0]
    assert [type(v) for v in jsonable([True, np.bool_(False), 1, np.int8(0)])] == \
        [bool, bool, int, int]


def test_jsonable_of_a_2d_array_and_an_unknown_object():
    assert jsonable(np.array([[1.5, np.nan]])) == [[1.5, None]]
    marker = object()
    assert jsonable(marker) is marker    # left for json.dumps to refuse


# -- write_json -------------------------------------------------------------------------------
def test_write_json_writes_strict_indented_json_with_a_final_newline(tmp_path):
    path = write_json(tmp_path / "sub" / "r.json", {"x": np.float32(1.5), "n": math.nan})
    assert path == tmp_path / "sub" / "r.json"
    assert path.read_text() == '{\n  "x": 1.5,\n  "n": null\n}\n'
    write_json(path, [1, 2], indent=None)
    assert path.read_text() == "[1, 2]\n"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]   # no temporary left


def test_write_json_refuses_what_json_cannot_hold(tmp_path):
    with pytest.raises(TypeError):
        write_json(tmp_path / "r.json", {"x": object()})
    assert not (tmp_path / "r.json").exists()


# -- read_json and parse_json -----------------------------------------------------------------
def test_read_json_reads_back_what_was_written(tmp_path):
    record = {"a": [1, 2.5, None, True], "b": {"c": "é"}}
    write_json(tmp_path / "r.json", record)
    assert read_json(tmp_path / "r.json") == record
    assert read_json(str(tmp_path / "r.json")) == record


def test_a_missing_file(tmp_path):
    with pytest.raises(JSONFileError, match=f"^{tmp_path / 'none.json'} does not exist$"):
        read_json(tmp_path / "none.json")


def test_a_symlink_is_refused_not_followed(tmp_path):
    (tmp_path / "target.json").write_text("{}")
    os.symlink(tmp_path / "target.json", tmp_path / "link.json")
    with pytest.raises(JSONFileError, match="link.json is a symbolic link, not a file this "
                                            "package wrote: refusing to read it"):
        read_json(tmp_path / "link.json")


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(JSONFileError, match=f"^{tmp_path} is a directory, not a JSON file$"):
        read_json(tmp_path)


def test_a_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "f.json")

    def hung(*args):
        raise TimeoutError("read_json blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        with pytest.raises(JSONFileError, match="is not a regular file .a FIFO, socket or "
                                                "device.: refusing to read it"):
            read_json(tmp_path / "f.json")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_file_swapped_for_a_fifo_after_the_lstat_is_refused(tmp_path, monkeypatch):
    """The open file is checked again (fstat): a FIFO swapped in after the name was looked
    at is refused too, and O_NONBLOCK keeps the open from hanging."""
    path = tmp_path / "r.json"
    path.write_text("{}")
    real_lstat = os.lstat

    def lstat_then_swap(p, *args, **kw):
        result = real_lstat(p, *args, **kw)
        if Path(p) == path and path.is_file():
            path.unlink()
            os.mkfifo(path)
        return result

    monkeypatch.setattr(os, "lstat", lstat_then_swap)
    with pytest.raises(JSONFileError, match=f"^{path} is not a regular file "):
        read_json(path)


@pytest.mark.parametrize("data, what", [(b"{", "not valid JSON"), (b"", "not valid JSON"),
                                        (b"\xff\xfe{}", "not valid JSON"),
                                        (b"{} {}", "not valid JSON"),
                                        (b"NaN", None), (b'"\\ud800"', None)])
def test_what_is_not_json(tmp_path, data, what):
    (tmp_path / "r.json").write_bytes(data)
    if what is None:   # Python's json reads these; the package never writes them
        got = read_json(tmp_path / "r.json")
        assert (math.isnan(got) if data == b"NaN" else got == "\ud800")
        return
    with pytest.raises(JSONFileError, match=f"^{tmp_path / 'r.json'}: {what} "):
        read_json(tmp_path / "r.json")


def test_parse_json_names_what_it_parsed():
    with pytest.raises(JSONFileError, match=r"^the checkpoint header: not valid JSON \("):
        parse_json(b"[1,", "the checkpoint header")
    assert parse_json('{"a": 1}', "x") == json.loads('{"a": 1}')
    assert parse_json(b'{"a": 1}', "x") == {"a": 1}


def test_a_parser_recursion_error_is_the_depth_error(monkeypatch):
    import tinybcnn.files.jsonfile as json_mod

    def deep(text):
        raise RecursionError

    monkeypatch.setattr(json_mod.json, "loads", deep)
    with pytest.raises(JSONFileError, match=r"^x: JSON nested too deeply \(more than 7 "
                                            r"levels\)$"):
        parse_json("[]", "x", max_depth=7)


def test_a_file_that_grows_while_read_is_refused(tmp_path, monkeypatch):
    """Its size passed the fstat check, but more than max_bytes came: refused."""
    path = tmp_path / "r.json"
    path.write_bytes(b"[0]")
    real_fstat = os.fstat

    def fstat_then_grow(fd):
        result = real_fstat(fd)
        with open(path, "ab") as f:
            f.write(b" " * 10)
        return result

    monkeypatch.setattr(os, "fstat", fstat_then_grow)
    with pytest.raises(JSONFileError, match=f"^{path} is more than the 8 bytes a tinybcnn "
                                            "JSON file may have$"):
        read_json(path, max_bytes=8)


def test_the_reader_asks_for_at_most_one_byte_more_than_the_bound(tmp_path, monkeypatch):
    """A file that keeps growing while read must not be read whole: the one read asks for
    ``max_bytes + 1`` bytes, enough to tell that it is too large."""
    path = tmp_path / "r.json"
    path.write_bytes(b"[0]")
    asked = []
    real_fdopen = os.fdopen

    class Recording:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def read(self, n=-1):
            asked.append(n)
            return self.f.read(n)

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: Recording(real_fdopen(*a, **k)))
    assert read_json(path, max_bytes=100) == [0]
    assert asked == [101]


def test_an_error_reading_the_open_file_names_it(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    path.write_text("{}")

    # Only the descriptor read_json opens for this path fails: a stray fstat of another file
    # (pytest's capture, a thread left by an earlier test) must not see the fault. (CI once
    # failed here with the OSError escaping; it passed alone, so the fault hit another caller.)
    real_open, real_fstat, ours = os.open, os.fstat, []

    def open_(name, *args, **kwargs):
        fd = real_open(name, *args, **kwargs)
        if Path(name) == path:
            ours.append(fd)
        return fd

    def fstat(fd):
        if fd in ours:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_fstat(fd)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "fstat", fstat)
    with pytest.raises(JSONFileError, match=f"^cannot read {path}: {os.strerror(errno.EIO)}$"):
        read_json(path)


def test_read_json_passes_its_depth_bound_on(tmp_path):
    (tmp_path / "r.json").write_text("[[[[0]]]]")
    assert read_json(tmp_path / "r.json", max_depth=4) == [[[[0]]]]
    with pytest.raises(JSONFileError, match=r"more than 3 levels"):
        read_json(tmp_path / "r.json", max_depth=3)


def test_a_symlink_swapped_in_after_the_lstat_is_not_followed(tmp_path, monkeypatch):
    """The name is a regular file when looked at, a symlink when opened: O_NOFOLLOW refuses
    it, so the file it points to is never read."""
    path, target = tmp_path / "r.json", tmp_path / "users.json"
    path.write_text("{}")
    target.write_text('{"users": "data"}')
    real_lstat = os.lstat

    def lstat_then_swap(p, *args, **kw):
        result = real_lstat(p, *args, **kw)
        if Path(p) == path and not path.is_symlink():
            path.unlink()
            os.symlink(target, path)
        return result

    monkeypatch.setattr(os, "lstat", lstat_then_swap)
    with pytest.raises(JSONFileError, match=f"^cannot read {path}: "
                                            f"{os.strerror(errno.ELOOP)}$"):
        read_json(path)


@pytest.mark.parametrize("missing", [["O_NOFOLLOW"], ["O_NONBLOCK"], ["O_NOFOLLOW", "O_NONBLOCK"]])
def test_read_json_where_the_os_lacks_the_flags(tmp_path, monkeypatch, missing):
    """Windows has neither O_NOFOLLOW nor O_NONBLOCK: the reader opens files without them."""
    (tmp_path / "r.json").write_text('{"a": [1]}')
    for name in missing:
        monkeypatch.delattr(os, name)
    assert read_json(tmp_path / "r.json") == {"a": [1]}
