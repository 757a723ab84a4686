"""Damaged and misleading files get one clear line and exit 2, and never a large allocation.

A ``.npy`` header (and each member's header in a checkpoint archive) declares the array's
shape, and NumPy allocates that much before reading: these tests craft headers that declare
hundreds of gigabytes in files of a few hundred bytes and run the CLI under an address-space
limit, so an allocation would be a ``MemoryError`` traceback rather than a silent success.
"""

from __future__ import annotations

import io
import os
import pickle
import resource
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from support.cli import (
    assert_one_line_error,
    call,
    child_env,
    cli_cmd,
    train_tiny_run,
    write_idx_dir,
)

from tinybcnn.data import MAX_IDX_CLASSES, load_dataset, write_idx
from tinybcnn.files.npyfile import NpyFileError, load_npy
from tinybcnn.runs import CHECKPOINT, CONFIG, RunConfig, build, load_data

# the CLI needs well under 2 GiB of address space; the crafted headers declare hundreds
ADDRESS_LIMIT = 3 << 30


# trains tiny networks: the fast tier (pytest -m "not slow") leaves these out
pytestmark = [pytest.mark.slow,
              pytest.mark.usefixtures("keep_backend")]  # tests/conftest.py


def npy_header(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    """A version-1.0 ``.npy`` header (magic included) declaring ``shape`` of ``dtype``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def limited() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))


def run_limited(*args, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m tinybcnn ARGS`` with the address space limited to ADDRESS_LIMIT."""
    return subprocess.run(cli_cmd(*args), capture_output=True, text=True, env=child_env(),
                          timeout=timeout, check=False, preexec_fn=limited)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("badfiles") / "run")


def copy_run(run: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in (CONFIG, CHECKPOINT):
        (dst / name).write_bytes((run / name).read_bytes())
    return dst


def checkpoint_with_member(src: Path, dst: Path, member: str, shape: tuple[int, ...]) -> None:
    """A copy of the checkpoint archive ``src`` whose ``member`` header declares ``shape``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                f = io.BytesIO(data)
                np.lib.format.read_magic(f)
                _, _, dtype = np.lib.format.read_array_header_1_0(f)
                data = npy_header(shape, np.lib.format.dtype_to_descr(dtype)) + data[f.tell():]
            zout.writestr(info.filename, data)


# ------------------------------------------------------------------ predict's image files


def test_predict_empty_npy(run, tmp_path, capsys):
    path = tmp_path / "empty.npy"
    path.write_bytes(b"")
    code, _, err = call(["predict", run, path], capsys)
    assert "empty file" in assert_one_line_error(code, err)


def test_predict_npz_named_npy(run, tmp_path, capsys):
    path = tmp_path / "images.npy"
    with open(path, "wb") as f:
        np.savez(f, x=np.zeros((2, 28, 28), np.uint8))
    code, _, err = call(["predict", run, path], capsys)
    assert ".npz archive" in assert_one_line_error(code, err)


def test_predict_npy_declaring_730_gib_is_refused_without_allocating(run, tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_header((10**9, 28, 28)) + bytes(28 * 28))  # one image of data
    result = run_limited("predict", run, path)
    line = assert_one_line_error(result.returncode, result.stderr)
    assert "declares" in line and str(path) in line


def test_predict_directory_as_images_says_so(run, tmp_path, capsys):
    code, _, err = call(["predict", run, tmp_path], capsys)
    assert "is a directory" in assert_one_line_error(code, err)


def test_predict_nan_images_says_nan(run, tmp_path, capsys):
    path = tmp_path / "nan.npy"
    x = np.zeros((2, 28, 28), np.float32)
    x[1, 3, 4] = np.nan
    np.save(path, x)
    code, _, err = call(["predict", run, path], capsys)
    line = assert_one_line_error(code, err)
    assert "NaN" in line and "1 pixel" in line


def test_load_npy_refuses_a_pickle(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(NpyFileError, match="pickle"):
        load_npy(path)


def test_load_npy_accepts_what_np_save_writes(tmp_path):
    x = np.arange(24, dtype=">f8").reshape(2, 3, 4)  # big-endian too
    np.save(tmp_path / "x.npy", x)
    assert np.array_equal(load_npy(tmp_path / "x.npy"), x)


# ------------------------------------------------------------------ checkpoints


@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_checkpoint_member_declaring_1e11_elements(command, run, tmp_path):
    folder = copy_run(run, tmp_path / "run")
    checkpoint_with_member(run / CHECKPOINT, folder / CHECKPOINT, "param/conv1.W.npy",
                           (10**11,))
    argv = (["evaluate", folder, "--samples", "1", "--quiet"] if command == "evaluate"
            else ["train", "--resume", "--iterations", "30", "--quiet", "--out", folder])
    result = run_limited(*argv)
    line = assert_one_line_error(result.returncode, result.stderr)
    assert "param/conv1.W.npy" in line and "declares" in line


@pytest.mark.parametrize("content", ["random", "prepended-junk"])
def test_a_non_archive_checkpoint_is_not_called_pickled(content, run, tmp_path, capsys):
    folder = copy_run(run, tmp_path / "run")
    blob = (run / CHECKPOINT).read_bytes()
    rng = np.random.default_rng(0)
    (folder / CHECKPOINT).write_bytes(rng.bytes(4096) if content == "random"
                                      else b"junk" + blob)
    code, _, err = call(["evaluate", folder, "--quiet"], capsys)
    line = assert_one_line_error(code, err)
    assert "pickle" not in line.lower() and "not an .npz archive" in line


def test_a_pickle_checkpoint_is_called_a_pickle(run, tmp_path, capsys):
    folder = copy_run(run, tmp_path / "run")
    (folder / CHECKPOINT).write_bytes(pickle.dumps({"param/conv1.W": [1.0]}))
    code, _, err = call(["evaluate", folder, "--quiet"], capsys)
    assert "pickle, which is never loaded" in assert_one_line_error(code, err)


def test_a_consistent_checkpoint_with_an_out_of_range_shuffle_index(run, tmp_path, capsys):
    folder = copy_run(run, tmp_path / "run")
    config = RunConfig.load(folder / CONFIG)
    trainer = build(config, load_data(config, progress=False))
    trainer.resume(folder / CHECKPOINT)
    assert trainer.run_state.perm is not None
    trainer.run_state.perm = trainer.run_state.perm.copy()
    trainer.run_state.perm[0] = 10**6  # saved with a matching checksum: only the range can tell
    trainer.save(folder / CHECKPOINT)
    code, _, err = call(["train", "--resume", "--iterations", "40", "--quiet", "--out",
                         folder], capsys)
    assert "permutation" in assert_one_line_error(code, err)


# ------------------------------------------------------------------ idx: labels


def test_idx_label_of_2_to_the_31_is_refused_quickly(tmp_path):
    data = load_dataset("embedded", progress=False).subset(100, 50, seed=0)
    folder = write_idx_dir(tmp_path / "idx", data)
    labels = data.y_train.astype(np.int32)
    labels[7] = 2**31 - 1
    write_idx(folder / "train-labels-idx1-ubyte", labels)
    result = run_limited("train", "--dataset", f"idx:{folder}", "--iterations", "1", "--quiet",
                         "--out", tmp_path / "run", timeout=120)
    line = assert_one_line_error(result.returncode, result.stderr)
    assert f"at most {MAX_IDX_CLASSES} classes" in line and str(2**31 - 1) in line
    assert not (tmp_path / "run").exists()


def test_disk_full_message_names_the_file(tmp_path, monkeypatch):
    import errno

    from tinybcnn.files.atomic import atomic_write_text

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left") as info:
        atomic_write_text(tmp_path / "results.json", "{}")
    assert info.value.filename == str(tmp_path / "results.json")
    assert not list(tmp_path.iterdir())  # neither the file nor its temporary copy
