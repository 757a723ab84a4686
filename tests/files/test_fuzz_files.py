"""Fuzzing ``predict`` and ``evaluate`` with random, truncated and bit-flipped files.

Whatever the bytes, the CLI answers with exit 0 or with exit 2 and one line (the in-process
helper turns any exception into a test failure), never reaches ``np.load`` with a file whose
header declares more data than the file holds, and changes no file outside the run (and in
the run, only ``metrics.json``).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cli import TINY, assert_one_line_error, call

from tinybcnn.backend import get_backend, set_backend
from tinybcnn.cli import main
from tinybcnn.runs import CHECKPOINT, CONFIG, METRICS

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, object]:
    """A trained run and the valid files the fuzzer starts from."""
    root = tmp_path_factory.mktemp("fuzz")
    before = get_backend()
    try:
        assert main(["train", *TINY, "--out", str(root / "run")]) == 0
    finally:
        set_backend(before)
    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    npy, npz = io.BytesIO(), io.BytesIO()
    np.save(npy, x)
    np.savez(npz, x=x)
    return {"root": root, "run": root / "run", "npy": npy.getvalue(), "npz": npz.getvalue(),
            "checkpoint": (root / "run" / CHECKPOINT).read_bytes()}


def mutate(blob: bytes, data: st.DataObject) -> bytes:
    """Truncate, flip bytes, overwrite the header region or prepend junk, as drawn."""
    how = data.draw(st.sampled_from(["truncate", "flip", "header", "prepend", "random"]))
    if how == "truncate":
        return blob[:data.draw(st.integers(0, max(len(blob) - 1, 0)))]
    if how == "random":
        return data.draw(st.binary(max_size=512))
    if how == "prepend":
        return data.draw(st.binary(min_size=1, max_size=16)) + blob
    out = bytearray(blob)
    top = len(out) - 1 if how == "flip" else min(len(out) - 1, 200)  # "header": the start
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, top))
        out[i] = data.draw(st.integers(0, 255))
    return bytes(out)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _declared_npy_bytes(f, available: int) -> bool:
    """Whether a .npy stream declares no more payload than ``available`` bytes (an oracle
    written against NumPy's header reader, not tinybcnn's)."""
    try:
        version = np.lib.format.read_magic(f)
        reader = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, _, dtype = reader(f)
    except Exception:
        return True  # np.load would fail on the header itself, before allocating
    return int(np.prod(shape, dtype=object)) * dtype.itemsize <= available - f.tell()


def _fits(path: str | os.PathLike[str] | io.IOBase) -> bool:
    """Whether every array in the file declares at most the bytes present."""
    blob = Path(path).read_bytes() if not isinstance(path, io.IOBase) else path.read()
    if blob.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(blob)) as z:
                return all(_declared_npy_bytes(z.open(i), min(i.file_size, len(blob)))
                           for i in z.infolist())
        except Exception:
            return True
    return _declared_npy_bytes(io.BytesIO(blob), len(blob))


@pytest.fixture
def guarded_load(monkeypatch):
    """Fail the test if np.load is reached with a file that declares more than it holds."""
    real = np.load

    def load(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            assert _fits(file), f"np.load reached with {file}, which declares too much"
        elif hasattr(file, "seek"):
            at = file.tell()
            assert _fits(io.BytesIO(file.read())), "np.load reached with an oversized file"
            file.seek(at)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", load)


def _check(code: int, err: str) -> None:
    if code != 0:
        assert_one_line_error(code, err)


@FUZZ
@given(data=st.data())
def test_predict_survives_any_image_file(bases, guarded_load, capsys, data):
    base = data.draw(st.sampled_from(["npy", "npz"]))
    blob = mutate(bases[base], data)
    path = bases["root"] / data.draw(st.sampled_from(["images.npy", "images.npz",
                                                      "images-idx3-ubyte"]))
    path.write_bytes(blob)
    before = snapshot(bases["root"])
    code, _, err = call(["predict", bases["run"], path, "--samples", "1"], capsys)
    _check(code, err)
    assert snapshot(bases["root"]) == before


@FUZZ
@given(data=st.data())
def test_evaluate_survives_any_checkpoint(bases, guarded_load, capsys, data, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    run = root / "run"
    run.mkdir()
    (run / CONFIG).write_bytes((bases["run"] / CONFIG).read_bytes())
    (run / CHECKPOINT).write_bytes(mutate(bases["checkpoint"], data))
    (root / "outside.txt").write_text("a user's file\n")
    before = snapshot(root)
    code, _, err = call(["evaluate", run, "--samples", "1", "--quiet"], capsys)
    _check(code, err)
    after = snapshot(root)
    after.pop(f"run/{METRICS}", None)  # the one file evaluate may write
    after.pop("run/.tinybcnn.lock", None)
    assert after == before
