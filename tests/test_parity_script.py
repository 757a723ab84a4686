"""The GPU scripts run end to end on array_api_strict (CuPy's stand-in in CI): the parity
script, the GPU benchmark's code path, and the shell check's syntax."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "parity.py"


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


def test_gpu_benchmark_runs_its_array_api_strict_path(tmp_path):
    pytest.importorskip("array_api_strict")
    table = tmp_path / "table.md"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gpu.py"),
                           "--namespace", "array_api_strict", "--quick", "--markdown",
                           str(table)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    text = table.read_text()
    assert "| LeNet-all step, batch 8 |" in text and "| MC T = 5, 64 images" in text
    assert "| host syncs per training step | 0 |" in text


def test_gpu_check_script_is_valid_bash():
    done = subprocess.run(["bash", "-n", str(ROOT / "scripts" / "gpu_check.sh")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
