"""The package's layout as docs/architecture.md states it: what ``import tinybcnn`` gives,
lazily, and (below) that the floors table lists every module of the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAZY_SUBMODULES = ("runs", "demo", "checkpoint", "info")


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter (this one has imported everything already)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("name", LAZY_SUBMODULES)
def test_submodule_is_reachable_after_import_tinybcnn_and_loaded_only_then(name):
    out = _fresh("import sys, json, tinybcnn as tb\n"
                 f"before = 'tinybcnn.{name}' in sys.modules\n"
                 f"module = tb.{name}\n"
                 "print(json.dumps([before, module.__name__]))")
    assert json.loads(out) == [False, f"tinybcnn.{name}"]


def test_import_tinybcnn_loads_no_lazy_submodule():
    import tinybcnn

    out = _fresh("import sys, json, tinybcnn\n"
                 "print(json.dumps(sorted(m for m in sys.modules if m.startswith('tinybcnn'))))")
    loaded = {m.split(".")[1] for m in json.loads(out) if "." in m}
    assert not loaded & set(tinybcnn._LAZY), loaded
    assert loaded <= {"backend", "functional", "random"}, loaded


# ---------------------------------------------------------------------------------------
# The import contracts (pyproject.toml, run by `lint-imports` in .ci/run)
# ---------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _lint_copy(tmp_path: Path, plant: tuple[str, str, str] | None = None) -> tuple[int, str]:
    """``lint-imports`` on a copy of the package (its Python files and pyproject.toml), with
    ``plant`` = (file, text, replacement) applied to the copy first."""
    shutil.copytree(ROOT / "tinybcnn", tmp_path / "tinybcnn",
                    ignore=shutil.ignore_patterns("*.npz", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    if plant is not None:
        path, old, new = plant
        source = (tmp_path / path).read_text()
        assert old in source, f"{path} no longer holds {old!r}: update the plant"
        (tmp_path / path).write_text(source.replace(old, new, 1))
    lint = "from importlinter.cli import lint_imports_command as c; c()"  # = lint-imports
    done = subprocess.run([sys.executable, "-c", lint, "--no-cache", "--no-logo"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    return done.returncode, done.stdout + done.stderr


def test_the_import_contracts_hold(tmp_path):
    pytest.importorskip("importlinter")
    code, out = _lint_copy(tmp_path)
    assert code == 0 and "0 broken" in out, out


def test_the_contracts_catch_an_upward_import_inside_a_function(tmp_path):
    """The cycle of issue 31: the backend asking prediction for its budget rules."""
    pytest.importorskip("importlinter")
    code, out = _lint_copy(tmp_path, ("tinybcnn/backend.py", "def device_memory(",
                                      "def _planted():\n    from .predict import mc_predict\n"
                                      "    return mc_predict\n\n\ndef device_memory("))
    broken = [line for line in out.splitlines() if line.rstrip().endswith("BROKEN")]
    assert code == 1 and len(broken) == 2, out
    assert "tinybcnn.backend -> tinybcnn.predict" in out, out
