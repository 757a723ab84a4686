"""CuPy's own rules in CI: the double of tests/support/cupy_double.py, and what tinybcnn does on it.

array_api_strict has ``__array_namespace__``, takes ``device=`` everywhere and has no cuBLAS;
CuPy 14.2 differs on all three, and each difference once broke the GPU path where no CPU test
could see it (issue 23). The first tests pin the double to those rules (so it cannot drift
into a second array_api_strict); the rest run tinybcnn on it.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from support import cupy_double

import tinybcnn as tb
from tinybcnn import backend

pytest.importorskip("array_api_compat")


@pytest.fixture
def cupy(cupy_double_backend):
    """The double installed as ``cupy`` (tests/device/conftest.py)."""
    return cupy_double_backend


# ---------------------------------------------------------------------------------------
# the double keeps CuPy's rules
# ---------------------------------------------------------------------------------------

def test_double_has_cupys_rules():
    with cupy_double.installed() as cp:
        a = cp.zeros((2, 3), dtype=np.float32)
        assert not hasattr(a, "__array_namespace__")                      # rule 1
        with pytest.raises(TypeError, match="device"):                     # rule 2
            cp.zeros((2,), dtype=np.float32, device=a.device)
        with pytest.raises(TypeError, match="device"):
            cp.arange(3, device=a.device)
        with pytest.raises(TypeError, match="Implicit conversion"):        # rule 3
            np.asarray(a)
        with pytest.raises(TypeError, match="Unsupported type"):           # rule 4
            a + np.ones(3, dtype=np.float32)
        t = cp.ones((4, 3), dtype=np.float32).T                            # rule 5
        assert not t.flags.c_contiguous and (t * 2).flags.c_contiguous
        stream = cp.cuda.Stream()
        with stream:                                                       # rule 6
            stream.begin_capture()
            with pytest.raises(NotImplementedError, match="during stream capture"):
                a @ a.T
            with pytest.raises(NotImplementedError, match="during stream capture"):
                cp.matmul(a, a.T)
            stream.end_capture()
        assert (a @ a.T).shape == (2, 2)
        np.testing.assert_array_equal(a.get(), np.zeros((2, 3)))


def test_array_api_compat_wraps_the_double_as_it_wraps_cupy():
    import array_api_compat

    with cupy_double.installed() as cp:
        import array_api_compat.cupy as xp

        a = cp.ones((2, 3), dtype=np.float32)
        assert array_api_compat.array_namespace(a) is xp
        assert backend.xp_of(a) is xp and backend.namespace_name(xp) == "cupy"
        b = xp.zeros((2, 3), dtype=xp.float32, device=a.device)   # the wrapper drops device=
        assert type(b) is cp.ndarray
    import sys

    assert "cupy" not in sys.modules or sys.modules["cupy"] is not cp


# ---------------------------------------------------------------------------------------
# defect 2: bare CuPy without array_api_compat
# ---------------------------------------------------------------------------------------

def test_cupy_without_array_api_compat_is_one_clear_error():
    """Before the fix the backend fell back to bare CuPy, and the first convolution died with
    ``TypeError: empty() got an unexpected keyword argument 'device'``."""
    with cupy_double.installed(compat=False) as cp:
        before = backend.get_backend()
        try:
            with pytest.raises(backend.BackendError, match="pip install array-api-compat"):
                backend.set_backend("cupy")
            with pytest.raises(backend.BackendError, match="pip install array-api-compat"):
                backend.xp_of(cp.zeros((1,)))
        finally:
            backend.set_backend(before)


def test_cli_says_array_api_compat_is_missing_in_one_line(capsys):
    from tinybcnn import cli

    with cupy_double.installed(compat=False):
        code = cli.main(["info", "--backend", "cupy"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install array-api-compat" in err[0]


# ---------------------------------------------------------------------------------------
# training and prediction on the double
# ---------------------------------------------------------------------------------------

def _lenet(seed=0):
    return tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=3, seed=seed)


def test_training_step_and_mc_prediction_run_on_the_double(cupy):
    model = _lenet()
    obj = tb.objective.Objective.for_model(model, n_train=96, length_scale=1e-2)
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9)
    trainer = tb.train.Trainer(model, obj, opt, seed=0)
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (40, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    before = {k: v.get() for k, v in model.params.items()}
    loss = trainer.step(cupy.asarray(x), cupy.asarray(y))
    assert np.isfinite(float(loss))
    assert all(not np.array_equal(before[k], v.get()) for k, v in model.params.items())
    pred = tb.predict.mc_predict(model, cupy.asarray(x), samples=3, seed=0)
    assert pred.probs.shape == (40, 3)
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-5)


def test_memory_plan_counts_the_same_bytes_as_on_numpy(cupy):
    """Defect 4: ``_is_array`` required ``__array_namespace__``, which cupy.ndarray lacks, so
    the caches the layers hold counted 0 bytes on CuPy (lenet-all at 28×28: 95,640 instead of
    367,500 bytes per row)."""
    from tinybcnn.mc_tiles import bytes_per_row as _bytes_per_row

    rows = np.random.default_rng(0).normal(0, 1, (1, 1, 28, 28)).astype(np.float32)
    backend.set_backend("numpy")
    on_host = tb.models.lenet("all", in_shape=(1, 28, 28), n_classes=10, seed=0)
    host_bytes = _bytes_per_row(on_host, rows, 0, len(on_host))
    backend.set_backend("cupy")
    on_device = tb.models.lenet("all", in_shape=(1, 28, 28), n_classes=10, seed=0)
    device_bytes = _bytes_per_row(on_device, cupy.asarray(rows), 0, len(on_device))
    # the same but for the pooling caches' window offsets: one byte each on NumPy, argmax's
    # 8-byte integers on a device (a cast would be one more launch per pooling forward), and
    # the column of ones each dense layer's input carries on a device (its bias in the GEMM)
    windows = 12 * 12 * 20 + 4 * 4 * 50
    assert device_bytes == host_bytes + 7 * windows + 2 * 4
    # the layers' outputs alone (no caches): what the bug counted
    outputs, h = 0, cupy.asarray(rows)
    for i in range(len(on_device)):
        h = on_device.forward(h, rng=tb.random.make_rng(0, like=h), start=i, stop=i + 1)
        outputs += h.nbytes
    assert device_bytes > 2 * outputs


# ---------------------------------------------------------------------------------------
# scripts/parity.py and tutorial 08 on the double (in this process: the double lives here)
# ---------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_parity_script_passes_on_the_double(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("parity_on_double",
                                                  ROOT / "scripts" / "parity.py")
    parity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parity)
    before = backend.get_backend()
    monkeypatch.setattr(sys, "argv", ["parity.py", "--namespace", "cupy"])
    try:
        with cupy_double.installed():
            code = parity.main()
    finally:
        backend.set_backend(before)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "numpy vs cupy" in out and "words identical" in out


@pytest.mark.slow  # trains
def test_tutorial_08_runs_on_the_double(monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("TINYBCNN_BACKEND", "cupy")
    monkeypatch.setenv("TINYBCNN_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    before = backend.get_backend()
    try:
        with cupy_double.installed():
            monkeypatch.setattr(backend, "_current", None)   # read TINYBCNN_BACKEND again
            runpy.run_path(str(ROOT / "tutorials" / "08_gpu.py"), run_name="__main__")
    finally:
        backend.set_backend(before)
    out = capsys.readouterr().out
    assert "backend: cupy" in out and "all checks passed" in out


def test_cli_commands_run_on_the_double(tmp_path, capsys):
    """train, evaluate, predict and info with --backend cupy, in this process (the double's)."""
    import json

    from tinybcnn import cli
    from tinybcnn.checkpoint import read_checkpoint

    run = tmp_path / "run"
    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8))
    before = backend.get_backend()
    try:
        with cupy_double.installed():
            codes = [
                cli.main(["train", "--backend", "cupy", "--train-size", "200", "--test-size",
                          "100", "--iterations", "12", "--eval-samples", "2", "--batch-size",
                          "16", "--quiet", "--out", str(run)]),
                cli.main(["evaluate", str(run), "--samples", "3", "--backend", "cupy"]),
                cli.main(["predict", str(run), str(images), "--samples", "3",
                          "--backend", "cupy"]),
            ]
            capsys.readouterr()
            codes.append(cli.main(["info", "--backend", "cupy"]))
            info = json.loads(capsys.readouterr().out)
    finally:
        backend.set_backend(before)
    assert codes == [0, 0, 0, 0]
    assert read_checkpoint(run / "checkpoint.npz").trainer["backend"] == "cupy"
    assert info["backend"] == "cupy" and info["cupy"] == "14.2.0"


@pytest.mark.slow  # trains
def test_demo_runs_on_the_double(tmp_path):
    pytest.importorskip("matplotlib")
    from tinybcnn import cli

    before = backend.get_backend()
    try:
        with cupy_double.installed():
            code = cli.main(["demo", "--backend", "cupy", "--quick", "--quiet", "--iterations",
                             "5", "--train-size", "100", "--test-size", "100", "--samples",
                             "3", "--out", str(tmp_path / "demo")])
    finally:
        backend.set_backend(before)
    assert code == 0
    assert (tmp_path / "demo" / "results.json").exists()


# ---------------------------------------------------------------------------------------
# the stricter rules (7-10) and the transfer budgets they let CI count
# ---------------------------------------------------------------------------------------

def test_double_reads_and_copies_as_cupy_does():
    with cupy_double.installed() as cp:
        a = cp.arange(6, dtype=np.float32).reshape(2, 3)
        c = cupy_double.counting()
        with pytest.raises(TypeError):                                   # rule 7: no __index__
            list(range(10))[cp.asarray(1)]
        assert c.copies == [8]                                           # asarray(1): a copy
        repr(a), str(a), f"{a[0, 0]:.1f}", float(a[0, 0]), bool(a[0, 0]), a.get()
        assert c.read_by == ["__repr__", "__str__", "__format__", "__float__", "__bool__",
                             "get"]
        total = np.sum(a)                                                # rule 8
        assert isinstance(total, cp.ndarray) and c.reads == 6
        assert isinstance(np.exp(a), cp.ndarray)
        with pytest.raises(TypeError, match="Unsupported type"):
            np.add(a, np.ones(3, dtype=np.float32))
        taken = cp.take(a, np.array([2, 0]), axis=1)                     # rule 9
        rows = a[np.array([1, 0])]
        assert taken.shape == (2, 2) and rows.shape == (2, 3) and c.copies == [8, 16, 16]
        with pytest.raises(ValueError, match="fill"):
            a[0] = np.zeros(3, dtype=np.float32)
        t = cp.asarray(np.ones((4, 3), dtype=np.float32).T)              # rule 10
        assert t.flags.c_contiguous and c.copies[-1] == 48


def _counted_step(cupy):
    model = _lenet()
    obj = tb.objective.Objective.for_model(model, n_train=96, length_scale=1e-2)
    trainer = tb.train.Trainer(model, obj, tb.optim.SGD(model, lr=0.05, momentum=0.9), seed=0)
    rng = np.random.default_rng(3)
    x = cupy.asarray(rng.normal(0, 1, (40, 1, 16, 16)).astype(np.float32))
    y = cupy.asarray(rng.integers(0, 3, 40))
    return trainer, x, y


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_training_step_reads_nothing_and_copies_nothing(cupy, optimizer):
    trainer, x, y = _counted_step(cupy)
    if optimizer == "adam":
        trainer.optimizer = tb.optim.Adam(trainer.model, lr=1e-3)
    trainer.step(x, y)                          # the first step makes its device constants
    counts = cupy_double.counting()
    for _ in range(3):
        loss = trainer.step(x, y)
    assert counts.reads == 0, counts
    assert counts.copies == [], counts
    assert np.isfinite(float(loss))


# the device copies a LeNet-all step needs for its layout: each pooling's windows moved to
# the last axis (2), conv2's kernel in (i, j, c) order (1, shared by forward and backward),
# Flatten of a channels-last map in Caffe's C order (1), conv2's dW into the flat vector (1)
STEP_DEVICE_COPIES = 5     # 10 at b09a879: + the mask re-layout (2), patch_gradient (2), + 1 W


def test_a_training_step_makes_only_the_device_copies_its_layout_needs(cupy):
    model = tb.models.lenet("all", seed=0)               # 28 × 28: every layer's layout
    obj = tb.objective.Objective.for_model(model, n_train=96, length_scale=1e-2)
    trainer = tb.train.Trainer(model, obj, tb.optim.SGD(model, lr=0.05, momentum=0.9), seed=0)
    rng = np.random.default_rng(3)
    x = cupy.asarray(rng.normal(0, 1, (4, 1, 28, 28)).astype(np.float32))
    y = cupy.asarray(rng.integers(0, 10, 4))
    trainer.step(x, y)
    counts = cupy_double.counting()
    trainer.step(x, y)
    kinds = sorted(c.split()[0] for c in counts.device_copies)
    assert kinds == ["reshape"] * STEP_DEVICE_COPIES, counts.device_copies


def test_the_double_counts_device_copies(cupy):
    a = cupy.ones((4, 6), dtype=cupy.float32)
    counts = cupy_double.counting()
    a.reshape(6, 4)                             # a view: no copy
    cupy.reshape(a[:, :3], (12,))               # a strided slice cannot be a view
    a.T.reshape(24)
    b = cupy.empty((6, 4), dtype=cupy.float32)
    b[...] = a.T                                # a copy kernel
    b[0, 0] = 2.0                               # a fill, not a copy
    a.copy()
    cupy.ascontiguousarray(a.T)
    assert counts.device_copies == ["reshape 48", "reshape 96", "setitem 96", "copy 96",
                                    "ascontiguousarray 96"]
    assert counts.copies == [] and counts.reads == 0


def test_a_whole_mc_prediction_reads_at_most_four_times(cupy, monkeypatch):
    model = _lenet()
    x = cupy.asarray(np.random.default_rng(0).normal(0, 1, (30, 1, 16, 16)).astype(np.float32))
    # tiles planned for 7 inputs in 1 MiB: 5 tiles, in steps of one tile, a few passes a chunk
    monkeypatch.setattr(tb.mc_tiles, "DEVICE", tb.mc_tiles.Reference(7, 2**20))
    def predict():
        return tb.predict.mc_predict(model, x, samples=6, seed=0, batch_size=7)

    counts = cupy_double.counting()
    pred = predict()
    assert pred.probs.shape == (30, 3)
    assert counts.reads <= 4, counts
    # the first call copies each new shape's gather indices once (cached); then none
    again = cupy_double.counting()
    predict()
    assert again.reads <= 4 and again.copies == [], again


def test_evaluate_sends_the_test_set_once(cupy):
    from tinybcnn.runs import evaluate

    model = _lenet()
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (25, 1, 16, 16)).astype(np.float32)
    counts = cupy_double.counting()
    evaluate(model, x, rng.integers(0, 3, 25), samples=4)
    assert counts.copies.count(x.nbytes) == 1, counts        # (the rest: gather indices)
