"""Checkpoints: round trip, atomic writes (also under SIGKILL), tamper detection, no pickle,
and refusing a checkpoint of another model."""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn.checkpoint import (
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointError,
    _checksum,
    load_checkpoint,
    model_from_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from tinybcnn.train import Trainer

IN_SHAPE = (1, 16, 16)


def _trained(variant: str = "all", seed: int = 0, iterations: int = 3, p: float = 0.5,
             n_classes: int = 3, in_shape: tuple[int, int, int] = IN_SHAPE) -> Trainer:
    """A tiny LeNet trained a few steps, so its optimiser has momentum buffers."""
    model = tb.models.lenet(variant, p=p, in_shape=in_shape, n_classes=n_classes, seed=seed)
    obj = tb.objective.Objective.for_model(model, n_train=32, weight_decay=5e-4)
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
    trainer = Trainer(model, obj, opt, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.random((32, *in_shape), dtype=np.float32)
    y = rng.integers(0, n_classes, 32)
    trainer.fit(x, y, iterations=iterations, batch_size=16, progress=False)
    return trainer


def _fresh(variant: str = "all", **kw) -> tuple:
    model = tb.models.lenet(variant, p=kw.get("p", 0.5), in_shape=kw.get("in_shape", IN_SHAPE),
                            n_classes=kw.get("n_classes", 3), seed=99)
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
    return model, opt


def _params(model) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in model.params.items()}


def _rewrite(path: pathlib.Path, edit) -> None:
    """Load every array of an npz, let ``edit(arrays)`` change them, write them back."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    edit(arrays)
    np.savez(path, **arrays)


def _header(arrays: dict) -> dict:
    return json.loads(arrays["header"].tobytes().decode())


def _set_header(arrays: dict, header: dict, rehash: bool) -> None:
    """Store ``header``; with ``rehash`` recompute the checksum (a consistent but edited file)."""
    header = dict(header)
    if rehash:
        header.pop("sha256", None)
        data = {k: v for k, v in arrays.items() if k != "header"}
        header["sha256"] = _checksum(data, header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)


# ------------------------------------------------------------------------------ round trip


def test_round_trip_restores_params_and_optimizer(tmp_path):
    trainer = _trained()
    path = save_checkpoint(tmp_path / "c.npz", trainer.model, trainer.optimizer)
    model, opt = _fresh()
    ckpt = load_checkpoint(path, model, opt)
    for k, v in trainer.model.params.items():
        assert np.array_equal(model.params[k], v) and model.params[k].dtype == v.dtype
    assert opt.iteration == trainer.optimizer.iteration == 3
    assert set(opt.buffers) == set(trainer.optimizer.buffers)
    for k, v in trainer.optimizer.buffers.items():
        assert np.array_equal(opt.buffers[k], v)
    # the loaded parameters are the model's own: updating them does not touch the checkpoint
    model.params["conv1.W"] += 1
    assert not np.array_equal(ckpt.params["conv1.W"], model.params["conv1.W"])


def test_header_describes_model_optimizer_and_trainer(tmp_path):
    trainer = _trained("ip", p=0.25)
    path = trainer.save(tmp_path / "c.npz")
    with np.load(path, allow_pickle=False) as npz:
        names = set(npz.files)
        header = _header({"header": npz["header"]})
    assert "param/conv1.W" in names and "opt/velocity:ip2.b" in names and "state/perm" in names
    assert header["format"] == FORMAT_NAME and header["version"] == FORMAT_VERSION
    assert len(header["sha256"]) == 64
    model = header["model"]
    assert model["name"] == "lenet-ip" and model["variant"] == "ip" and model["p"] == 0.25
    assert model["in_shape"] == list(IN_SHAPE) and model["n_classes"] == 3
    assert [layer["name"] for layer in model["layers"]][:3] == ["conv1", "pool1", "conv2"]
    assert model["params"]["conv1.W"] == {"shape": [20, 1, 5, 5], "dtype": "float32"}
    opt = header["optimizer"]
    assert opt["class"] == "SGD" and opt["base_lr"] == 0.01 and opt["momentum"] == 0.9
    assert opt["iteration"] == 3 and opt["schedule"].startswith("inv(")
    state = header["trainer"]
    assert state["iteration"] == 3
    # PCG64 state integers are 128-bit: JSON keeps them exactly
    saved = state["rng"]["shuffle"]
    assert saved == trainer.run_state.shuffle_rng.bit_generator.state
    assert saved["state"]["state"] > 2**64


def test_model_from_checkpoint_rebuilds_lenet(tmp_path):
    trainer = _trained("all")
    path = trainer.save(tmp_path / "c.npz", extra={"argv": ["train", "--seed", "0"]})
    model, ckpt = model_from_checkpoint(path)
    assert ckpt.header["extra"] == {"argv": ["train", "--seed", "0"]}
    assert model.variant == "all" and model.in_shape == IN_SHAPE
    for k, v in trainer.model.params.items():
        assert np.array_equal(model.params[k], v)
    assert ckpt.trainer["iteration"] == 3


# ------------------------------------------------------------------------------ atomicity


def _write_two_versions(tmp_path):
    """Save checkpoint v1; return the path, v1's params, and a trainer one step further."""
    trainer = _trained()
    path = trainer.save(tmp_path / "c.npz")
    old = _params(trainer.model)
    x = np.random.default_rng(1).random((16, *IN_SHAPE), dtype=np.float32)
    trainer.step(x, np.zeros(16, dtype=np.int64))
    return path, old, trainer


def _assert_loads_params(path, expected):
    ckpt = read_checkpoint(path)
    for k, v in expected.items():
        assert np.array_equal(ckpt.params[k], v)


def _no_temp_files(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".part")] == []


def test_failed_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path, old, trainer = _write_two_versions(tmp_path)

    def crash(*args, **kwargs):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        trainer.save(path)
    _assert_loads_params(path, old)
    assert _no_temp_files(tmp_path)


def test_crash_half_way_through_the_archive_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path, old, trainer = _write_two_versions(tmp_path)
    real_write = np.lib.format.write_array
    calls = []

    def write_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt  # e.g. Ctrl-C while the archive is half written
        return real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.save(path)
    _assert_loads_params(path, old)
    assert _no_temp_files(tmp_path)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_during_a_write_leaves_the_previous_checkpoint(tmp_path):
    """A real process killed with SIGKILL while its archive is half written."""
    path, old, _ = _write_two_versions(tmp_path)
    child = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r})
        from test_checkpoint import _trained
        real_write = np.lib.format.write_array
        calls = []

        def slow_write(*args, **kwargs):
            calls.append(1)
            real_write(*args, **kwargs)
            if len(calls) == 3:  # some arrays are in the temp file, the rest never will be
                print("writing", flush=True)
                time.sleep(60)

        trainer = _trained(seed=1)
        np.lib.format.write_array = slow_write
        trainer.save({str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert len(leftovers) == 1  # the half-written temp file: the kill really was mid-write
    _assert_loads_params(path, old)


# ------------------------------------------------------------------------------ tampering


@pytest.fixture
def saved(tmp_path):
    trainer = _trained()
    return trainer.save(tmp_path / "c.npz"), trainer


def test_flipped_byte_in_the_raw_file_is_refused(saved):
    path, trainer = saved
    raw = bytearray(path.read_bytes())
    needle = np.ascontiguousarray(trainer.model.params["ip1.W"]).tobytes()[:64]
    at = raw.find(needle)
    assert at > 0
    raw[at + 10] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError):  # the zip CRC or the SHA-256 catches it
        read_checkpoint(path)


def test_modified_array_fails_the_checksum(saved):
    path, _ = saved

    def edit(arrays):
        arrays["param/ip2.b"] = arrays["param/ip2.b"] + np.float32(1e-3)

    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match="checksum"):
        read_checkpoint(path)


@pytest.mark.parametrize("change", ["variant", "iteration", "drop_array", "rename_array"])
def test_edited_header_or_layout_fails_the_checksum(saved, change):
    path, _ = saved

    def edit(arrays):
        header = _header(arrays)
        if change == "variant":
            header["model"]["variant"] = "ip"
        elif change == "iteration":
            header["trainer"]["iteration"] += 1
        elif change == "drop_array":
            del arrays["opt/velocity:conv1.W"]
        else:
            arrays["opt/velocity:conv9.W"] = arrays.pop("opt/velocity:conv1.W")
        _set_header(arrays, header, rehash=False)

    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match="checksum"):
        read_checkpoint(path)


def test_unsupported_version_and_format_are_named(saved):
    path, _ = saved

    def edit(arrays):
        header = _header(arrays)
        header["version"] = 99
        _set_header(arrays, header, rehash=True)

    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match="version 99 is not supported"):
        read_checkpoint(path)

    def other_format(arrays):
        header = _header(arrays)
        header["format"] = "something-else"
        _set_header(arrays, header, rehash=True)

    _rewrite(path, other_format)
    with pytest.raises(CheckpointError, match="not a tinybcnn checkpoint"):
        read_checkpoint(path)


def test_header_that_is_not_json_is_refused(saved):
    path, _ = saved

    def edit(arrays):
        arrays["header"] = np.frombuffer(b"{not json", dtype=np.uint8)

    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match="header"):
        read_checkpoint(path)


class _Trap:
    """Unpickling this creates ``marker``: proof that something was unpickled."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_object_arrays_are_refused_and_never_unpickled(saved, tmp_path):
    path, _ = saved
    marker = tmp_path / "unpickled"
    trap = np.empty(1, dtype=object)
    trap[0] = _Trap(marker)

    def edit(arrays):
        arrays["state/perm"] = trap

    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    edit(arrays)
    np.savez(path, allow_pickle=True, **arrays)  # the attacker's writer allows pickle
    with pytest.raises(CheckpointError, match="pickle"):
        read_checkpoint(path)
    assert not marker.exists()


def test_a_pickle_file_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "c.npz"
    path.write_bytes(pickle.dumps(_Trap(marker)))
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, "npy", "truncated"])
def test_unreadable_files_are_one_clear_error(saved, tmp_path, content):
    path, _ = saved
    if content == "npy":
        buf = io.BytesIO()
        np.save(buf, np.zeros(3))
        content = buf.getvalue()
    elif content == "truncated":
        content = path.read_bytes()[: path.stat().st_size // 2]
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.npz"):
        read_checkpoint(bad)


def test_missing_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "nope.npz")


def test_saving_an_object_array_is_refused(tmp_path):
    model, opt = _fresh()
    with pytest.raises(TypeError, match="pickle"):
        save_checkpoint(tmp_path / "c.npz", model, opt,
                        arrays={"x": np.array([object()], dtype=object)})
    assert not (tmp_path / "c.npz").exists()


def test_checkpoint_is_a_plain_zip_of_npy_files(saved):
    path, _ = saved
    with zipfile.ZipFile(path) as zf:
        assert all(name.endswith(".npy") for name in zf.namelist())
        assert "header.npy" in zf.namelist()


# ------------------------------------------------------------------------------ other models


@pytest.mark.parametrize("other, message", [
    ({"variant": "ip"}, "checkpoint is for lenet-all, this model is lenet-ip"),
    ({"in_shape": (1, 20, 20)}, r"checkpoint is for inputs \(1, 16, 16\), this model takes"),
    ({"n_classes": 4}, "parameter ip2.W is float32 .* in the checkpoint"),
    ({"p": 0.25}, "dropout p=0.5 in drop1, this model has p=0.25"),
])
def test_checkpoint_of_another_model_is_refused(saved, other, message):
    path, _ = saved
    kwargs = {"variant": "all", **other}
    model, opt = _fresh(kwargs.pop("variant"), **kwargs)
    before = _params(model)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path, model, opt)
    for k, v in before.items():  # refused means untouched
        assert np.array_equal(model.params[k], v)
    assert opt.iteration == 0 and not opt.buffers


def test_checkpoint_of_another_dtype_is_refused(saved):
    path, _ = saved
    model, _ = _fresh()
    model.astype(np.float64)
    with pytest.raises(CheckpointError, match="float32 .* in the checkpoint, float64"):
        load_checkpoint(path, model)


@pytest.mark.parametrize("make_opt, message", [
    (lambda m: tb.optim.Adam(m, lr=0.01), "trained with SGD, this optimiser is Adam"),
    (lambda m: tb.optim.SGD(m, lr=0.1, schedule=tb.optim.inv()), "base_lr=0.01, this optimiser "
                                                                 "has base_lr=0.1"),
    (lambda m: tb.optim.SGD(m, lr=0.01), "schedule"),
])
def test_checkpoint_of_another_optimizer_is_refused(saved, make_opt, message):
    path, _ = saved
    model, _ = _fresh()
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path, model, make_opt(model))


# ------------------------------------------------------- compatibility and rebuilding, by line
# (found by mutation testing, scripts/mutation.py: these lines and cases went unchecked)


def _save_fresh(tmp_path, model, optimizer=None) -> pathlib.Path:
    return save_checkpoint(tmp_path / "m.npz", model, optimizer)


def test_a_model_without_an_input_shape_loads_into_its_twin(tmp_path):
    """An MLP records no input shape (None on both sides): still the same model."""
    model = tb.models.mlp((3, 4, 2), seed=1)
    path = _save_fresh(tmp_path, model)
    twin = tb.models.mlp((3, 4, 2), seed=2)
    load_checkpoint(path, twin)
    np.testing.assert_array_equal(twin.params["ip1.W"], model.params["ip1.W"])


def test_mismatch_lines_name_both_sides(tmp_path):
    path = _save_fresh(tmp_path, tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=3))
    other = tb.models.lenet("all", in_shape=(1, 20, 20), n_classes=3)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, other)
    assert str(info.value) == (f"{path}: checkpoint is for inputs (1, 16, 16), this model "
                               "takes (1, 20, 20)")
    model, opt = _fresh()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model, opt)
    assert str(info.value) == f"{path}: checkpoint holds no optimiser state"


def test_an_optimiser_setting_missing_from_the_checkpoint_is_a_mismatch(tmp_path):
    """A header (checksum recomputed) without ``momentum``: resuming with momentum 0.9 would
    not continue the run that wrote it."""
    model, opt = _fresh()
    path = _save_fresh(tmp_path, model, opt)

    def edit(arrays):
        header = _header(arrays)
        del header["optimizer"]["momentum"]
        _set_header(arrays, header, rehash=True)

    _rewrite(path, edit)
    model, opt = _fresh()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model, opt)
    assert str(info.value) == (f"{path}: checkpoint was trained with SGD momentum=None, this "
                               "optimiser has momentum=0.9")


@pytest.mark.parametrize("variant, p", [("all", 0.25), ("ip", 0.75), ("none", 0.5)])
def test_model_from_checkpoint_rebuilds_every_variant_dtype_and_p(tmp_path, variant, p):
    """The rebuilt model is the saved one: its layers (dropout p included), its dtype, and
    its deterministic output on an image."""
    saved = tb.models.lenet(variant, p=p, in_shape=(1, 16, 16), n_classes=4, seed=3,
                            dtype=np.float64)
    path = _save_fresh(tmp_path, saved)
    model, _ = model_from_checkpoint(path)
    assert model.variant == variant
    assert [(n, type(layer).__name__, getattr(layer, "p", None)) for n, layer in model] == \
        [(n, type(layer).__name__, getattr(layer, "p", None)) for n, layer in saved]
    assert all(v.dtype == np.float64 for v in model.params.values())
    x = np.random.default_rng(0).random((2, 1, 16, 16))
    np.testing.assert_array_equal(model.forward(x), saved.forward(x))


def test_model_from_checkpoint_refuses_a_lenet_without_an_input_shape(tmp_path):
    model = tb.models.lenet("ip", in_shape=(1, 16, 16), n_classes=3)
    model.in_shape = None
    path = _save_fresh(tmp_path, model)
    with pytest.raises(CheckpointError) as info:
        model_from_checkpoint(path)
    assert str(info.value) == (f"{path}: checkpoint is for lenet-ip, which "
                               "model_from_checkpoint cannot rebuild (only lenet-* models)")
