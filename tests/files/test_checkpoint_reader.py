"""``read_checkpoint`` on files that are not checkpoints: each kind gets its own line, naming
the file and saying what it is (found by mutation testing: a kind reported as another went
unnoticed; scripts/mutation.py). The lines are written out here: they are what a user reads.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from support.checkpoint_edit import read_arrays, rewrite_checkpoint, write_arrays

import tinybcnn as tb
from tinybcnn.checkpoint import CheckpointError, read_checkpoint, save_checkpoint


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


def _deflated_with_bad_data(src: Path, dst: Path) -> str:
    """``src`` rezipped with every member deflated (as ``np.savez_compressed`` writes them;
    the reader accepts both), its largest member's deflate stream cut after 16 KiB of good
    data and the rest overwritten with 0xFF: a block of the reserved type 3, which zlib
    refuses ("invalid block type"). The member's ``.npy`` header (its first 128 bytes) and
    the first 4 KiB zipfile inflates to read it stay good, so only the full read meets the
    damage. Returns the damaged member's name."""
    with zipfile.ZipFile(src) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    name = max(members, key=lambda n: len(members[n]))
    assert len(members[name]) > 32 << 10  # random float32 weights: deflate stores them
    with zipfile.ZipFile(dst) as archive:
        info = archive.getinfo(name)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    good = squeeze.compress(members[name][: 16 << 10]) + squeeze.flush(zlib.Z_FULL_FLUSH)
    assert 4 << 10 < len(good) < info.compress_size
    raw = bytearray(dst.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start:start + info.compress_size] = good + b"\xff" * (info.compress_size - len(good))
    dst.write_bytes(bytes(raw))
    return name


def test_deflated_data_that_does_not_inflate_is_one_line_naming_the_file(tmp_path):
    """A member whose compressed data is damaged past its header: zlib's own error surfaced as
    a traceback (found while measuring checkpoint.py with mutmut)."""
    model = _lenet()
    good = save_checkpoint(tmp_path / "good.npz", model)
    bad = tmp_path / "bad.npz"
    name = _deflated_with_bad_data(good, bad)
    with zipfile.ZipFile(bad) as archive, pytest.raises(zlib.error, match="invalid block type"):
        archive.read(name)  # the oracle: zlib itself refuses the member
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(bad)
    # the exception's type, then zlib's own words: "error: Error -3 while decompressing ..."
    assert str(info.value).startswith(f"{bad}: not a readable checkpoint (error: Error -3 ")
    assert "invalid block type" in str(info.value)
    assert "\n" not in str(info.value)


# -- the header's own refusals, each line written out (found by mutmut's sample of stop 7) ---
def _lenet():
    return tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, seed=0)


@pytest.mark.parametrize("raw, line", [
    (b"{not json", "damaged checkpoint header (header: not valid JSON (Expecting property name "
                   "enclosed in double quotes: line 1 column 2 (char 1)))"),
    (b"[1]", "not a tinybcnn checkpoint (format None)"),             # JSON, not an object
    (b'{"format": "x"}', "not a tinybcnn checkpoint (format 'x')"),
    # parsed (Python's JSON reads NaN), but the checksum's strict JSON cannot hash it
    (b'{"format": "tinybcnn-checkpoint", "version": 1, "x": NaN}',
     "damaged checkpoint header (Out of range float values are not JSON compliant)"),
    (b'{"format": "tinybcnn-checkpoint", "version": 1}',            # no sha256 at all
     "checksum mismatch: the file was modified or damaged after it was written"),
])
def test_a_header_that_is_not_a_checkpoints_gets_its_line(tmp_path, raw, line):
    path = write_arrays(tmp_path / "c.npz", header=np.frombuffer(raw, dtype=np.uint8))
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == f"{path}: {line}"


def test_an_archive_without_a_header_is_not_a_checkpoint(tmp_path):
    path = write_arrays(tmp_path / "c.npz", weights=np.zeros(3))
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == f"{path}: not a tinybcnn checkpoint (no JSON header)"


@pytest.fixture
def saved(tmp_path):
    """A checkpoint of a LeNet and its SGD after one step (so it holds momentum buffers)."""
    model = _lenet()
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9)
    model.backward(np.ones_like(model.forward(np.zeros((2, 1, 16, 16), np.float32))))
    opt.step()
    return save_checkpoint(tmp_path / "c.npz", model, opt)


def _edited(path: Path, edit) -> Path:
    rewrite_checkpoint(path, header=edit)
    return path


@pytest.mark.parametrize("edit, line", [
    (lambda h: h.update(model=[1, 2]), "model must be an object, got [1, 2]"),
    (lambda h: h["model"].update(n_classes="3"),                     # nullable: "or null"
     "model.n_classes must be an integer >= 0 or null, got '3'"),
    (lambda h: h["model"]["layers"][1].update(p="0.5"),              # drop1's own p
     "model.layers[1].p must be a finite number, got '0.5'"),
    (lambda h: h["optimizer"].update(base_lr=True),                  # a bool is not a number
     "optimizer.base_lr must be a finite number, got True"),
    (lambda h: h["optimizer"].update(base_lr="0.01"),
     "optimizer.base_lr must be a finite number, got '0.01'"),
])
def test_a_header_field_of_the_wrong_kind_is_named_with_its_kind(saved, edit, line):
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(_edited(saved, edit))
    assert str(info.value) == f"{saved}: checkpoint header field {line}"


def test_a_parameter_of_another_dtype_than_its_header_says_is_refused(saved):
    def widen(params):
        params["conv1.W"] = params["conv1.W"].astype(np.float64)   # same shape, other dtype
    rewrite_checkpoint(saved, params=widen)
    shape = read_arrays(saved)["param/conv1.W"].shape
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(saved)
    assert str(info.value) == (f"{saved}: parameter conv1.W is float64 {shape}, the header "
                               f"says float32 {shape}")


def test_non_finite_weights_are_counted_and_explained(saved):
    def spoil(params):
        params["ip1.W"][0, :2] = [np.nan, np.inf]
    rewrite_checkpoint(saved, params=spoil)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(saved)
    assert str(info.value) == (
        f"{saved}: parameter ip1.W is not finite (2 NaN or infinite values): training never "
        "saves such weights, so the file was damaged or written by another tool; use an "
        "earlier checkpoint or train again")


def _step(base_lr, iteration):
    return base_lr


def test_what_a_checkpoint_says_about_a_hand_built_model_and_its_optimiser():
    from tinybcnn.checkpoint import describe_model, describe_optimizer

    model = tb.nn.Sequential([("fc", tb.nn.Dense(4, 2, seed=0))])
    assert describe_model(model)["name"] == "sequential"
    assert describe_optimizer(tb.optim.SGD(model, lr=0.1, schedule=_step))["schedule"] == "_step"
    assert describe_optimizer(tb.optim.SGD(model, lr=0.1, schedule=tb.optim.fixed())) == {
        "class": "SGD", "base_lr": 0.1, "schedule": "fixed", "momentum": 0.9, "iteration": 0}
    assert describe_optimizer(tb.optim.Adam(model, lr=0.001)) == {
        "class": "Adam", "base_lr": 0.001, "schedule": "fixed", "beta1": 0.9, "beta2": 0.999,
        "eps": 1e-8, "iteration": 0}


class _Halving:
    """A schedule that is an object, not a function: it has no __name__."""

    def __call__(self, base_lr, iteration):
        return base_lr / 2


def test_a_schedule_object_is_named_by_its_class_and_the_checkpoint_reads_back(tmp_path):
    from tinybcnn.checkpoint import describe_optimizer

    model = _lenet()
    opt = tb.optim.SGD(model, lr=0.1, schedule=_Halving())
    assert describe_optimizer(opt)["schedule"] == "_Halving"
    read_checkpoint(save_checkpoint(tmp_path / "c.npz", model, opt))   # a string: it reads


def test_an_object_array_among_the_extra_arrays_is_named_when_saving(tmp_path):
    model = _lenet()
    with pytest.raises(TypeError) as refused:
        save_checkpoint(tmp_path / "c.npz", model, arrays={"order": np.array([{}], dtype=object)})
    assert str(refused.value) == "cannot save 'order': object arrays would need pickle"
    assert not (tmp_path / "c.npz").exists()


# -- checkpoint's second random draw (seed 1) ------------------------------------------------
def _documented_checksum(path: Path) -> tuple[str, str]:
    """The stored sha256 and one recomputed from the format as written out in
    ``_checksum``'s docstring: per array in name order, the canonical JSON (sorted keys,
    no spaces) of ``[name, dtype.str, shape]``, a NUL, the array's bytes; then the header
    without its sha256."""
    import hashlib
    import json

    arrays = read_arrays(path)
    header = json.loads(arrays.pop("header").tobytes())
    stored = header.pop("sha256")
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        h.update(json.dumps([name, a.dtype.str, list(a.shape)], separators=(",", ":"))
                 .encode() + b"\0")
        h.update(a.tobytes())
    h.update(json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
             .encode())
    return stored, h.hexdigest()


def test_the_stored_checksum_is_the_documented_one(saved):
    stored, recomputed = _documented_checksum(saved)
    assert stored == recomputed
    assert read_checkpoint(saved).header["sha256"] == stored   # the header as in the file


def test_an_array_reshaped_in_place_fails_the_checksum(saved):
    """Same bytes, another shape: the checksum covers each array's shape, so this is
    refused as modified before any header check sees the shape."""
    arrays = read_arrays(saved)
    arrays["param/conv1.W"] = arrays["param/conv1.W"].reshape(-1)
    write_arrays(saved, **arrays)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(saved)
    assert str(info.value) == (f"{saved}: checksum mismatch: the file was modified or damaged "
                               "after it was written")


def test_a_header_that_is_not_a_byte_vector_is_no_checkpoint(tmp_path):
    for header in (np.frombuffer(b"{}", dtype=np.uint8).astype(np.float64),   # 1-d, not bytes
                   np.frombuffer(b"{}{}", dtype=np.uint8).reshape(2, 2)):    # bytes, not 1-d
        path = write_arrays(tmp_path / "c.npz", header=header)
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(path)
        assert str(info.value) == f"{path}: not a tinybcnn checkpoint (no JSON header)"


@pytest.mark.parametrize("edit, line", [
    (lambda h: h["model"]["layers"][0].update(type=3),
     "checkpoint header field model.layers[0].type must be a string, got 3"),
    (lambda h: h["model"]["params"]["conv1.b"].update(dtype=None),
     "checkpoint header field model.params['conv1.b'].dtype must be a string, got None"),
    (lambda h: h["model"].update(in_shape=[1, "16", 16]),
     "checkpoint header field model.in_shape must be a list of integers >= 0 or null, got "
     "[1, '16', 16]"),
    (lambda h: h.update(optimizer=None),          # its momentum buffers are still there
     "optimiser buffers without an optimiser description"),
])
def test_the_rest_of_the_headers_refusals_name_the_file_and_the_field(saved, edit, line):
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(_edited(saved, edit))
    assert str(info.value) == f"{saved}: {line}"


# -- checkpoint's third random draw (seed 2) -------------------------------------------------
def test_the_class_count_is_the_last_weight_layers_output_width():
    """A dense layer's W is (in, out), a convolution's (C_out, C_in, kh, kw): a network
    ending in a convolution has C_out classes, one with no weight layer none."""
    from tinybcnn.checkpoint import describe_model

    conv_last = tb.nn.Sequential([tb.nn.Dense(4, 2, seed=0),
                                  tb.nn.Conv2D(1, 5, kernel_size=3, seed=0)])
    assert describe_model(conv_last)["n_classes"] == 5
    assert describe_model(tb.nn.Sequential([tb.nn.ReLU()]))["n_classes"] is None


# -- checkpoint's full run -------------------------------------------------------------------
def test_a_header_with_text_beyond_ascii_is_hashed_as_utf8_and_reads_back(tmp_path):
    """The checksum covers the header's UTF-8 bytes, not an ASCII escape of them (the
    documented canonical JSON); what a caller put in ``extra`` comes back as it was."""
    model = _lenet()
    path = save_checkpoint(tmp_path / "c.npz", model, extra={"note": "σ² = 1/τ, données"})
    stored, recomputed = _documented_checksum(path)
    assert stored == recomputed
    assert read_checkpoint(path).header["extra"] == {"note": "σ² = 1/τ, données"}


def test_what_a_checkpoint_says_of_its_layers_and_of_no_optimiser(tmp_path):
    model = _lenet()
    header = read_checkpoint(save_checkpoint(tmp_path / "c.npz", model)).header
    assert [layer["type"] for layer in header["model"]["layers"]] == [
        "Conv2D", "Dropout", "MaxPool2D", "Conv2D", "Dropout", "MaxPool2D", "Flatten",
        "Dense", "ReLU", "Dropout", "Dense"]
    assert "optimizer" in header and header["optimizer"] is None    # said, not left out
