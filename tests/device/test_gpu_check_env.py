"""scripts/gpu_check.sh on a bare GPU machine: step 0 names each missing package on one line,
with how to carry it there (issue 23). Checked here by hiding packages from the interpreter."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# runs scripts/gpu_check.sh, whose steps train: not in the fast tier (pytest -m "not slow")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")]


def test_step_0_names_each_missing_package_with_how_to_carry_it(tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    # sitecustomize runs at start-up: these imports then fail, and find_spec says None
    (hide / "sitecustomize.py").write_text(
        "import sys\nfor name in ('matplotlib', 'torch', 'threadpoolctl'):\n"
        "    sys.modules[name] = None\n")
    env = {**os.environ, "ENV_ONLY": "1", "PYTHON": sys.executable,
           "PYTHONPATH": str(hide), "GPU_CHECK_OUT": str(tmp_path / "out"),
           "WHEELS": str(tmp_path / "no-wheels-here")}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for module in ("matplotlib", "torch", "threadpoolctl"):
        said = [line for line in lines if line.startswith(f"MISSING {module} ")]
        assert len(said) == 1, done.stdout
        assert f"pip download {module} -d wheels" in said[0]
        assert f"--no-index --find-links wheels {module}" in said[0]
    assert any(line.startswith("numpy ") for line in lines)
    assert not any(line.startswith("MISSING numpy") for line in lines)
    assert "===" not in "".join(lines[lines.index(next(x for x in lines if "MISSING" in x)):])


def _with_the_double_as_cupy(tmp_path):
    """A folder whose sitecustomize puts tests/support/cupy_double.py in place as ``cupy``, in every
    Python the script starts: the check's steps then run here on the double."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from support import cupy_double\n"
        "_installed = cupy_double.installed()\n_installed.__enter__()\n")
    return site


def test_the_check_reruns_into_the_same_folder_and_prints_one_table(tmp_path):
    """Steps 1 (CuPy computes), 3 (train) and 5 (resume, bit-identical) on the double, run
    again into the same output folder: the second run used to fail at step 3 ('…/run already
    holds a run'). The first run is step 3 alone, the step that writes that run."""
    pytest.importorskip("array_api_compat")
    env = {**os.environ, "PYTHON": sys.executable,
           "PYTHONPATH": str(_with_the_double_as_cupy(tmp_path)),
           "GPU_CHECK_OUT": str(tmp_path / "out"), "WHEELS": str(tmp_path / "no-wheels"),
           "TRAIN_ITERATIONS": "4", "TRAIN_SIZE": "200", "TEST_SIZE": "40",
           "LIMIT_SCALE": "20", "OPENBLAS_NUM_THREADS": "1",
           # on the double the step is the device path (no fixed partition): its float32
           # products round by the BLAS count, which tinybcnn would choose by the load, so a
           # busy machine (the other xdist worker) made the resumed run differ; a GPU does not
           "TINYBCNN_THREADS": "1"}
    rows = {"1": "| 1. CuPy computes on the GPU | PASS |",
            "3": "| 3. tinybcnn train (4 iterations) on CuPy | PASS |",
            "5": "| 5. train 2, resume to 4: same weights as step 3 | PASS |"}
    for steps in ("3", "1 3 5"):
        done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")],
                              env={**env, "STEPS": steps}, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        out = done.stdout
        assert out.count("| GPU check | result |") == 1, out[-2000:]
        for step in steps.split():
            assert rows[step] in out, out[-2000:]
        assert "GPU CHECK: all steps passed" in out
    assert "bit-identical to the straight run" in out
    assert len(list((tmp_path / "out").glob("attempt-*"))) == 2


def test_the_step_limits_add_up_to_at_most_eight_minutes():
    text = (ROOT / "scripts" / "gpu_check.sh").read_text()
    limits = [int(n) for n in re.findall(r'^\s*run_step \d+ "[^"]+" (\d+)', text, re.MULTILINE)]
    install = int(re.search(r"timeout --kill-after=2 (\d+) \$PY -m pip install", text)[1])
    assert len(limits) == 8
    total = sum(limits) + install
    assert total <= 8 * 60
    assert f"step limits add up to {total} s" in text
    assert "--kill-after=2" in text and total + 2 * (len(limits) + 1) <= 8 * 60


def test_the_device_tests_need_no_hypothesis(tmp_path):
    """tests/conftest.py imported hypothesis at top level: without it pytest exited 4 before
    any test ran. Now the files that draw examples are skipped, the others run."""
    hide = tmp_path / "hide"
    hide.mkdir()
    # every finder is wrapped to find no hypothesis: as on a machine without it (a None in
    # sys.modules would stop the import before conftest's finder could turn it into a skip)
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class Hide:\n"
        "    def __init__(self, inner):\n"
        "        self.inner = inner\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in ('hypothesis', '_hypothesis_pytestplugin'):\n"
        "            return None\n"
        "        return self.inner.find_spec(name, path, target)\n"
        "    def __getattr__(self, name):\n"
        "        return getattr(self.inner, name)\n"
        "sys.meta_path[:] = [Hide(f) for f in sys.meta_path]\n")
    env = {**os.environ, "PYTHONPATH": f"{hide}{os.pathsep}{ROOT}", "OPENBLAS_NUM_THREADS": "1",
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    # (plugins installed here are not loaded: hypothesis's would import it; on a machine
    # without hypothesis there is no such plugin)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", "-rs",
                           "tests/model/test_mc_masks.py::test_a_block_refuses_a_mask_of_the_wrong_rows",
                           "tests/functional/test_dropout.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed, 1 skipped" in done.stdout and "needs hypothesis" in done.stdout


def test_the_probe_names_the_cuda_toolkit_when_it_is_missing():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cupy_probe",
                                                  ROOT / "scripts" / "cupy_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    for error in ("RuntimeError: CuPy failed to load libnvrtc.so.12: OSError: libnvrtc.so.12: "
                  "cannot open shared object file: No such file or directory",
                  "DynamicLibNotFoundError: Failure finding \"libcublas.so\""):
        said = probe.explain(error)
        assert "CUDA toolkit" in said and "cupy-cuda12x[ctk]" in said
        assert "--no-index --find-links wheels" in said and "driver" not in said
    said = probe.explain("CUDARuntimeError: cudaErrorInsufficientDriver: CUDA driver version "
                         "is insufficient for CUDA runtime version")
    assert "driver" in said and "toolkit" not in said
    assert probe.explain("ValueError: something else").startswith("CuPy failed: ValueError")
