"""An array a file declares is checked against the memory available before it is allocated
(issue 30, D5/F3): one line naming the file, not a MemoryError traceback.

- A sparse ``.npy`` whose header is true (the file really is 8 GB, of holes) under an
  address-space limit (``ulimit -v``, here 3 GB): before, ``_ArrayMemoryError``.
- An IDX header declaring (0, 2^32-1, 2^32-1): before, NumPy's "array is too big;
  ``arr.size * arr.dtype.itemsize`` is larger than..." without the file's name.
- A gzip IDX declaring more than memory holds is refused before a byte is decompressed.
"""

from __future__ import annotations

import gzip
import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.cli_capture import TINY_TRAIN, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 3 << 30


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("memory") / "run"
    code, _, err = run_cli([*TINY_TRAIN, "--out", run])
    assert code == 0, err
    return run


def _limited() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _sparse_npy(path: Path, shape: tuple[int, ...]) -> Path:
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.truncate(f.tell() + 4 * int(np.prod(shape)))   # holes: no disk used
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ulimit -v, /proc/meminfo")
def test_a_sparse_npy_larger_than_memory_is_one_line(tiny_run, tmp_path):
    images = _sparse_npy(tmp_path / "huge.npy", (2, 32768, 32768))   # 8 GiB declared
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYBCNN_")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    done = subprocess.run([sys.executable, "-m", "tinybcnn", "predict", str(tiny_run),
                           str(images), "--samples", "2", "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=_limited)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and str(images) in lines[0] and "memory" in lines[0], done.stderr


def _idx_header(dims: tuple[int, ...]) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def test_idx_dimensions_no_array_can_have_are_named(tiny_run, tmp_path):
    images = tmp_path / "absurd-idx3-ubyte"
    images.write_bytes(_idx_header((0, 2**32 - 1, 2**32 - 1)))
    code, out, err = run_cli(["predict", tiny_run, images, "--samples", "2", "--quiet"])
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert str(images) in err and "dimensions" in err


def test_a_gzip_idx_that_expands_past_memory_is_stopped_while_reading(tmp_path,
                                                                     monkeypatch):
    """A bomb in miniature: 200 MiB of zeros (a 200 KB file) with 100 MiB of memory left.
    Reading stops at the first check (64 MiB in), not when memory runs out."""
    from tinybcnn.data import DataError, read_idx
    from tinybcnn.files import npyfile

    monkeypatch.setattr(npyfile, "available_memory", lambda: 100 << 20)
    n = (200 << 20) // (28 * 28)
    path = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_idx_header((n, 28, 28)))
        for _ in range(200):
            f.write(bytes(1 << 20))
    with pytest.raises(DataError, match="memory") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "decompressing" in str(info.value)


def test_a_gzip_header_that_only_lies_about_its_size_is_answered_by_its_data(tmp_path):
    from tinybcnn.data import DataError, read_idx

    path = tmp_path / "liar-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_header((10**9, 28, 28)) + bytes(28 * 28)))
    with pytest.raises(DataError, match="only 784 bytes"):
        read_idx(path)
