"""The package's layout as docs/architecture.md states it: what ``import tinybcnn`` gives,
lazily; the import contracts of pyproject.toml (run as ``lint-imports``), clean and on a
planted upward import; and the floors table, which names every module of the package on the
floor the contract gives it."""

from __future__ import annotations

import json
import os
import re
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


@pytest.mark.slow   # a fresh interpreter each
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
    assert loaded <= {"backend", "functional", "fused", "random", "seeds", "splitmix"}, loaded


# ---------------------------------------------------------------------------------------
# The import contracts (pyproject.toml, run by `lint-imports` in .ci/run)
# ---------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


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


# ---------------------------------------------------------------------------------------
# docs/architecture.md's floors table against the package and the contract
# ---------------------------------------------------------------------------------------

_ENTRY = re.compile(r"`([\w.]+)`(?:\s*\(([^)]*)\))?")


def floors_table(text: str) -> list[list[str]]:
    """The floors table of docs/architecture.md: per floor from 0 up, the dotted names of its
    modules (``files (`atomic`, ...)`` gives ``files`` and ``files.atomic``, ...)."""
    section = text.split("## Layers (import floors)", 1)[1].split("\n## ", 1)[0]
    floors = []
    for row in re.findall(r"^\| (\d+) \| (.*?) \|", section, re.M):
        names = []
        for name, inner in _ENTRY.findall(row[1]):
            names.append(name)
            names += [f"{name}.{sub}" for sub in re.findall(r"`([\w.]+)`", inner or "")]
        assert int(row[0]) == len(floors), f"floor {row[0]} out of order"
        floors.append(names)
    return floors


def package_modules(root: Path) -> set[str]:
    """Every module of the package as a dotted name below ``tinybcnn`` (a package by its
    folder's name; the root ``__init__`` left out)."""
    names = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            names.add(".".join(parts))
    return names


def test_the_floors_table_names_every_module_of_the_package_once():
    floors = floors_table((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    listed = [name for floor in floors for name in floor]
    assert len(listed) == len(set(listed)), "a module is listed twice"
    actual = package_modules(ROOT / "tinybcnn")
    assert not actual - set(listed), f"modules without a row in docs/architecture.md: " \
                                     f"{sorted(actual - set(listed))}"
    assert not set(listed) - actual, f"rows for modules that do not exist: " \
                                     f"{sorted(set(listed) - actual)}"


def test_the_floors_table_agrees_with_the_import_contract():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "floors")
    present = {n.split(".")[0] for n in package_modules(ROOT / "tinybcnn")}
    layers = []
    for layer in reversed(contract["layers"]):  # the contract lists the highest first
        names = {n.strip().strip("()") for n in re.split(r"[|:]", layer)}
        if names & present:  # an optional layer whose module is not there yet has no row
            layers.append(names & present)
    floors = floors_table((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    assert [{n for n in floor if "." not in n} for floor in floors] == layers


def test_the_table_check_sees_a_new_module_and_a_missing_one(tmp_path):
    """The check above on a copy of the package with one module more: it must fail."""
    shutil.copytree(ROOT / "tinybcnn", tmp_path / "tinybcnn",
                    ignore=shutil.ignore_patterns("*.npz", "__pycache__"))
    (tmp_path / "tinybcnn" / "data" / "newformat.py").write_text('"""A new module."""\n')
    floors = floors_table((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    listed = {name for floor in floors for name in floor}
    assert package_modules(tmp_path / "tinybcnn") - listed == {"data.newformat"}
    (tmp_path / "tinybcnn" / "info.py").unlink()
    assert listed - package_modules(tmp_path / "tinybcnn") == {"info"}


#: A module holds one idea: past this many lines it holds several (metrics.py, one concept with
#: many scores, is the agreed exception); a function past 80 lines does several things.
MODULE_LINES, FUNCTION_LINES, WHOLE = 700, 80, {"metrics.py"}


def _sizes(package: Path) -> tuple[list[str], list[str]]:
    import ast

    modules, functions = [], []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > MODULE_LINES and path.name not in WHOLE:
            modules.append(f"{path.relative_to(package)} ({text.count(chr(10))} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > FUNCTION_LINES:
                    functions.append(f"{path.relative_to(package)}:{node.name} ({n} lines)")
    return modules, functions


def test_no_module_or_function_is_too_long():
    modules, functions = _sizes(ROOT / "tinybcnn")
    assert not modules, f"modules over {MODULE_LINES} lines: {modules}"
    assert not functions, f"functions over {FUNCTION_LINES} lines (docstrings count): {functions}"


def test_the_size_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def f():\n{body}\n")
    assert _sizes(tmp_path) == ([], [f"m.py:f ({FUNCTION_LINES + 1} lines)"])
