"""The GPU parity script runs end to end on array_api_strict (CuPy's stand-in in CI)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "parity.py"


def test_whole_training_step_matches_numpy_on_array_api_strict():
    done = subprocess.run([sys.executable, str(SCRIPT), "--namespace", "array_api_strict"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "38 arrays compared" in done.stdout
    assert "device generator: 1017 words identical" in done.stdout


def test_parity_without_cupy_is_one_clear_line():
    pytest.importorskip("array_api_strict")
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed")
    except ImportError:
        pass
    done = subprocess.run([sys.executable, str(SCRIPT), "--namespace", "cupy"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "needs CuPy" in done.stderr


@pytest.mark.gpu
def test_parity_with_cupy_where_a_gpu_is_present():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("needs a GPU")
    except Exception:  # CuPy without a driver
        pytest.skip("needs a GPU")
    done = subprocess.run([sys.executable, str(SCRIPT), "--namespace", "cupy"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
