"""The numpy/cupy switch: set_backend, get_backend, TINYBCNN_BACKEND, xp_of, to_numpy,
to_backend, and the promise that importing tinybcnn never imports CuPy."""

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
    with pytest.raises(ValueError, match=r"backend must be one of \('numpy', 'cupy'\).*'torch'"):
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
        assert "pip install" in message and "tinybcnn[gpu]" in message
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
        "import tinybcnn.reference, tinybcnn.gradcheck\n"
        "tinybcnn.backend.get_backend()\n"
        "print('cupy' in sys.modules, 'array_api_compat' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, TINYBCNN_BACKEND="numpy"))
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr
