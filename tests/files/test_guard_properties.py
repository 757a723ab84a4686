"""The guards' bounds as properties: each drawn around its limit, on both sides (issue 35).

tests/files/test_guard_limits.py tries each bound at its exact limit and one past it by example;
here hypothesis draws the shapes, types and values around the same limits, and the expected
verdict comes from the formats' definitions (the ``.npy`` header's declared size, IDX's
``prod(dims) · itemsize``, the documented ranges of ``--samples`` and thread counts), not
from the code under test. (The JSON bounds: tests/files/test_json_depth.py; the mask's keep == 1:
tests/functional/test_mask_keep_limit.py; the cgroup quota: tests/training/test_cpu_quota.py.)
"""

from __future__ import annotations

import argparse
import io
import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn import cli, threads
from tinybcnn.data import DataError, read_idx
from tinybcnn.files.npyfile import NpyFileError, read_npy_header

DTYPES = [np.uint8, np.int16, np.float32, np.float64, np.complex64]
SHAPES = st.lists(st.integers(0, 6), min_size=0, max_size=3).map(tuple)


# -- .npy: a header that declares more payload than the bytes present is refused ------------
@given(dtype=st.sampled_from(DTYPES), shape=SHAPES, delta=st.integers(-3, 3))
def test_npy_declared_size_around_the_bytes_present(dtype, shape, delta):
    array = np.zeros(shape, dtype)
    buf = io.BytesIO()
    np.save(buf, array)
    data = buf.getvalue()
    payload = math.prod(shape) * np.dtype(dtype).itemsize
    header = len(data) - payload
    available = header + payload + delta
    if available < header:
        return   # the header itself cut: another guard (a damaged header)
    f = io.BytesIO(data[:available] + bytes(max(0, available - len(data))))
    if delta >= 0:
        assert read_npy_header(f, "x.npy", available) == (shape, np.dtype(dtype), payload)
    else:
        with pytest.raises(NpyFileError, match="truncated or damaged"):
            read_npy_header(f, "x.npy", available)


# -- IDX: exactly prod(dims) * itemsize bytes after the header ---------------------------------
IDX_TYPES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


@given(code=st.sampled_from(sorted(IDX_TYPES)),
       dims=st.lists(st.integers(1, 5), min_size=1, max_size=3), delta=st.integers(-2, 2))
def test_idx_payload_around_its_declared_size(tmp_path_factory, code, dims, delta):
    exact = math.prod(dims) * IDX_TYPES[code]
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    path = tmp_path_factory.mktemp("idx") / "f"
    path.write_bytes(header + bytes(max(0, exact + delta)))
    if delta == 0:
        assert read_idx(path).shape == tuple(dims)
    else:
        with pytest.raises(DataError, match="declares"):
            read_idx(path)


@given(ndim=st.integers(1, 4), cut=st.integers(1, 4))
def test_idx_header_cut_inside_its_dimensions(tmp_path_factory, ndim, cut):
    """A header of 4 + 4·ndim bytes cut by 1 to 4 bytes is a truncated header."""
    header = bytes([0, 0, 0x08, ndim]) + struct.pack(f">{ndim}I", *([1] * ndim))
    path = tmp_path_factory.mktemp("idx") / "f"
    path.write_bytes(header[:-cut])
    with pytest.raises(DataError, match="truncated IDX file"):
        read_idx(path)


# -- --samples: predict takes 1 to 10,000; evaluate, demo and --eval-samples their ranges ------
def _parses(argv: list[str]) -> bool:
    try:
        cli.build_parser().parse_args(argv)
    except SystemExit:
        return False
    return True


AROUND = st.one_of(st.integers(-3, 4), st.integers(9_996, 10_004), st.integers(-10**6, 10**6))


@given(value=AROUND)
def test_predict_samples_range(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("p")
    (folder / "x.npy").write_bytes(b"")
    argv = ["predict", str(folder), str(folder / "x.npy"), "--samples", str(value)]
    assert _parses(argv) == (1 <= value <= 10_000)


@given(value=AROUND, command=st.sampled_from(["evaluate", "demo"]))
def test_samples_is_a_positive_integer(tmp_path_factory, value, command):
    folder = tmp_path_factory.mktemp("e")
    argv = ([command, str(folder)] if command == "evaluate" else [command]) + \
        ["--samples", str(value)]
    assert _parses(argv) == (1 <= value <= 10_000)   # every --samples has predict's bound


@given(value=st.integers(-3, 3))
def test_eval_samples_may_be_zero(tmp_path_factory, value):
    argv = ["train", "--out", str(tmp_path_factory.mktemp("t") / "r"), "--eval-samples",
            str(value)]
    assert _parses(argv) == (value >= 0)


# -- thread counts: at least 1, clamped to the CPUs --------------------------------------------
@given(requested=st.integers(1, 64), cpus=st.integers(1, 16))
def test_requested_threads_are_clamped_to_the_cpus(requested, cpus):
    choice = threads.choose_threads(requested, cpus=cpus, environ={})
    assert choice.threads == min(requested, cpus)
    assert ("clamped" in choice.reason) == (requested > cpus)


@given(value=st.integers(-3, 20), cpus=st.integers(1, 8))
def test_thread_count_from_the_environment_around_one(value, cpus):
    env = {threads.ENV_VAR: str(value)}
    if value >= 1:
        assert threads.choose_threads(cpus=cpus, environ=env).threads == min(value, cpus)
    else:
        with pytest.raises(ValueError, match="whole number of threads >= 1"):
            threads.choose_threads(cpus=cpus, environ=env)


@given(value=st.integers(-3, 3))
def test_threads_option_is_a_positive_integer(value):
    argv = ["train", "--out", "r", "--threads", str(value)]
    assert _parses(argv) == (value >= 1)


def test_the_refusal_is_the_samples_range(tmp_path, capsys):
    """The control for ``_parses``: with a real images file, only --samples is refused."""
    (tmp_path / "x.npy").write_bytes(b"")
    argv = ["predict", str(tmp_path), str(tmp_path / "x.npy"), "--samples"]
    assert _parses(argv + ["10000"])
    assert not _parses(argv + ["10001"])
    assert "--samples: expected a number of samples from 1 to 10,000, got 10001" in \
        capsys.readouterr().err
    with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 10,000"):
        cli._predict_samples("10001")
