"""scripts/gpu_check.sh on a bare GPU machine: step 0 names each missing package on one line,
with how to carry it there (issue 23). Checked here by hiding packages from the interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


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
