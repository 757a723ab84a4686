"""The numpy/cupy/array_api_strict switch: set_backend, get_backend, TINYBCNN_BACKEND, xp_of,
to_numpy, to_backend, to_namespace, check_namespace, the device memory budget, and the promise
that importing tinybcnn never imports CuPy."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tinybcnn import backend


def cupy_with_gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or CUDA driver errors of CuPy's own types
        return False


@pytest.fixture(autouse=True)
def fresh_backend(monkeypatch):
    """Every test starts with no backend chosen and no TINYBCNN_BACKEND; monkeypatch restores
    the module state afterwards."""
    monkeypatch.setattr(backend, "_current", None)
    monkeypatch.delenv("TINYBCNN_BACKEND", raising=False)


def test_default_is_numpy():
    assert backend.get_backend() == "numpy"
    assert backend.get_xp() is np


@pytest.mark.parametrize("value", ["numpy", "NumPy", " numpy ", ""])
def test_environment_variable_numpy(monkeypatch, value):
    monkeypatch.setenv("TINYBCNN_BACKEND", value)
    assert backend.get_backend() == "numpy"


def test_set_backend_takes_precedence_over_environment(monkeypatch):
    monkeypatch.setenv("TINYBCNN_BACKEND", "not-a-backend")
    backend.set_backend("numpy")
    assert backend.get_backend() == "numpy"


def test_unknown_backend_name():
    pattern = r"backend must be one of \('numpy', 'cupy', 'array_api_strict'\).*'torch'"
    with pytest.raises(ValueError, match=pattern):
        backend.set_backend("torch")
    assert backend.get_backend() == "numpy"  # state unchanged


def test_unknown_backend_in_environment(monkeypatch):
    monkeypatch.setenv("TINYBCNN_BACKEND", "jax")
    with pytest.raises(ValueError, match=r"TINYBCNN_BACKEND must be one of.*'jax'"):
        backend.get_backend()


needs_no_gpu = pytest.mark.skipif(cupy_with_gpu(), reason="CuPy with a GPU is present")


@needs_no_gpu
def test_cupy_without_gpu_raises_backend_error_naming_the_fix():
    with pytest.raises(backend.BackendError) as info:
        backend.set_backend("cupy")
    message = str(info.value)
    assert "cupy" in message.lower()
    assert "--backend numpy" in message  # the way out that always works
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert "pip install" in message and "tinybcnn[gpu-cuda12]" in message
        assert "tinybcnn[gpu-cuda13]" in message and "nvidia-smi" in message
    # the failed switch leaves the backend where it was
    assert backend.get_backend() == "numpy"


@needs_no_gpu
def test_cupy_from_environment_without_gpu(monkeypatch):
    monkeypatch.setenv("TINYBCNN_BACKEND", "cupy")
    with pytest.raises(backend.BackendError, match="--backend numpy"):
        backend.get_backend()


def test_backend_error_is_not_a_value_error():
    # callers (the CLI) tell "bad name" from "missing GPU" by type
    assert not issubclass(backend.BackendError, ValueError)


def test_xp_of_numpy_and_array_api_strict():
    xps = pytest.importorskip("array_api_strict")
    a = np.ones(3)
    s = xps.ones(3)
    assert backend.xp_of(a) is np
    assert backend.xp_of() is np
    assert backend.xp_of(None, 1.0, 2, a) is np
    assert backend.xp_of(np.float64(1.0)) is np
    assert backend.xp_of(s) is s.__array_namespace__()
    assert backend.xp_of(None, 3, s).__name__ == "array_api_strict"
    assert backend.xp_of(a, s).__name__ == "array_api_strict"  # the first non-NumPy wins


def test_to_numpy_and_to_backend_round_trip():
    xps = pytest.importorskip("array_api_strict")
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert backend.to_numpy(a) is a
    b = backend.to_backend([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    assert isinstance(b, np.ndarray)
    np.testing.assert_array_equal(b, a)
    c = backend.to_backend(a, dtype=np.float32)
    assert c.dtype == np.float32
    np.testing.assert_array_equal(backend.to_numpy(c), a.astype(np.float32))
    s = xps.asarray(a)
    back = backend.to_numpy(s)
    assert isinstance(back, np.ndarray) and back.dtype == np.float64
    np.testing.assert_array_equal(back, a)


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_with_gpu(), reason="needs CuPy and a GPU")
def test_cupy_round_trip():
    import cupy

    backend.set_backend("cupy")
    a = np.arange(6, dtype=np.float32)
    g = backend.to_backend(a)
    assert isinstance(g, cupy.ndarray)
    np.testing.assert_array_equal(backend.to_numpy(g), a)


def test_importing_tinybcnn_does_not_import_cupy():
    code = (
        "import sys\n"
        "import tinybcnn, tinybcnn.backend, tinybcnn.random, tinybcnn.functional\n"
        "import tinybcnn.functional.reference, tinybcnn.gradcheck\n"
        "tinybcnn.backend.get_backend()\n"
        "print('cupy' in sys.modules, 'array_api_compat' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, TINYBCNN_BACKEND="numpy"))
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr


# ------------------------------------------------------------------ array_api_strict backend


def test_array_api_strict_backend_by_name_and_environment(monkeypatch):
    xps = pytest.importorskip("array_api_strict")
    backend.set_backend("array_api_strict")
    assert backend.get_xp() is xps and backend.array_namespace() is xps
    a = backend.to_backend(np.arange(4.0), dtype=np.float32)
    assert type(a).__module__.startswith("array_api_strict") and a.dtype == xps.float32
    np.testing.assert_array_equal(backend.to_numpy(a), np.arange(4.0, dtype=np.float32))
    monkeypatch.setattr(backend, "_current", None)
    monkeypatch.setenv("TINYBCNN_BACKEND", "Array_API_Strict")
    assert backend.get_backend() == "array_api_strict"


def test_to_namespace_moves_between_namespaces_and_casts():
    xps = pytest.importorskip("array_api_strict")
    host = np.array([[1, 2], [3, 4]], dtype=np.int32)
    s = backend.to_namespace(host, xps, np.float64)
    assert s.dtype == xps.float64 and backend.xp_of(s) is xps
    assert backend.to_namespace(s, xps) is s          # already there: not copied
    back = backend.to_namespace(s, np, np.float32)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, host)


@pytest.mark.parametrize("name", ["numpy", "cupy", "array_api_strict", "array_api_compat.cupy"])
def test_namespace_name(name):
    class Fake:
        __name__ = name
    expected = {"array_api_compat.cupy": "cupy"}.get(name, name)
    assert backend.namespace_name(np if name == "numpy" else Fake()) == expected


def test_check_namespace_names_both_sides_and_the_fix():
    xps = pytest.importorskip("array_api_strict")
    backend.check_namespace(np.ones(2), np.zeros(3))      # same namespace: fine
    with pytest.raises(backend.NamespaceMismatch) as info:
        backend.check_namespace(np.ones(2), xps.zeros(3), "x", "the model")
    message = str(info.value)
    assert "x is a numpy array" in message and "array_api_strict" in message
    assert "to_backend" in message
    assert isinstance(info.value, TypeError)


def test_device_memory_is_none_off_the_gpu():
    backend.set_backend("numpy")
    assert backend.device_memory() is None


# ------------------------------------------------------------------ memory-aware defaults


def test_default_budget_on_cpu_namespaces_is_the_cache_sized_one():
    xps = pytest.importorskip("array_api_strict")
    from tinybcnn import predict

    for xp in (np, xps):
        assert predict.default_memory_budget(xp) == 64 * 2**20
        assert predict.default_batch_size(xp) == 200


def test_default_budget_on_cupy_is_a_constant_not_the_free_memory(monkeypatch):
    """Before, half the free memory (capped at 4 GiB): the tiles, and so the bits, followed
    what else ran on the GPU. Now the device reference, and free memory is never read."""
    from tinybcnn import predict

    class FakeCupy:
        __name__ = "cupy"

    def boom():
        raise AssertionError("free device memory read")

    monkeypatch.setattr(backend, "device_memory", boom)
    assert predict.default_memory_budget(FakeCupy()) == 2 * 2**30
    assert predict.default_batch_size(FakeCupy()) == 1000


def test_info_describes_the_gpu_memory_and_budget_with_a_fake_device():
    backend.set_backend("numpy")
    fake = lambda: (6 * 2**30, 80 * 2**30)  # noqa: E731
    from tinybcnn.info import describe_gpu

    info = describe_gpu(memory=fake)
    assert info["gpu_memory"] == "6.0 GiB free of 80.0 GiB"
    assert info["mc_predict_defaults"] == {"backend": "numpy", "memory_budget_mib": 64,
                                           "batch_size": 200,
                                           "on_gpu_memory_budget_mib": 2 * 1024}
    if not cupy_with_gpu():
        assert "cupy" in info and "gpu" not in info
    plain = describe_gpu(memory=lambda: None)   # no GPU: no memory line, no crash
    assert "gpu_memory" not in plain and plain["mc_predict_defaults"]["memory_budget_mib"] == 64
