"""The set-up commands are enough: what .ci/run installs (``".[dev,docs]"``) brings every
module the CPU test suite would otherwise skip for, the demo's folder is not committed, and
no merge leftovers are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # the standard library from Python 3.11

ROOT = Path(__file__).resolve().parents[2]
# import name -> the requirement (in the dev extra, possibly through another extra) giving it
PROVIDED_BY = {"array_api_strict": "array-api-strict", "griffe": "mkdocstrings[python]",
               "mkdocs": "mkdocs", "mkdocstrings": "mkdocstrings[python]",
               "material": "mkdocs-material", "jupytext": "jupytext",
               "hypothesis": "hypothesis", "array_api_compat": "array-api-compat",
               "importlinter": "import-linter",
               # not needed on a CPU: the GPU tests, the package itself, the stdlib; and
               # matplotlib, a dependency of the package (skipped only on a bare GPU machine)
               "cupy": None, "tinybcnn.data": None, "tomllib": None, "matplotlib": None}


def ci_extras() -> list[str]:
    """The extras .ci/run installs (``pip install -e ".[dev,docs]"``)."""
    found = re.findall(r'pip install -q -e "\.\[([\w,-]+)\]"', (ROOT / ".ci" / "run").read_text())
    assert len(found) == 1, f".ci/run should install the package once with its extras: {found}"
    return found[0].split(",")


def dev_requirements(names: list[str] | None = None) -> set[str]:
    """The requirements of the extras CI installs (name and extras, versions dropped),
    extras of extras expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    seen, todo = set(), [r for name in (names or ci_extras()) for r in extras[name]]
    while todo:
        spec = re.split(r"[<>=!~ ;]", todo.pop(), maxsplit=1)[0]
        own = re.fullmatch(r"tinybcnn\[(.+)\]", spec)
        if own:
            for extra in own.group(1).split(","):
                todo.extend(extras[extra.strip()])
        else:
            seen.add(spec)
    return seen


def test_ci_extras_provide_every_module_the_tests_skip_without():
    """What .ci/run installs (dev for the tests, docs for the site and the docs tests) leaves no
    test skipped for a missing module; dev alone skips only the docs ones (issue 26: the
    docs toolchain is its own extra, so ``pip install -e ".[dev]"`` is faster)."""
    assert set(ci_extras()) == {"dev", "docs"}
    assert not {"mkdocs", "mkdocs-material"} & dev_requirements(["dev"])
    skipped_for = set()
    for path in (ROOT / "tests").rglob("*.py"):
        skipped_for |= set(re.findall(r"importorskip\(\"([\w.]+)\"\)", path.read_text()))
    assert skipped_for, "found no importorskip at all: the pattern is stale"
    dev = dev_requirements()
    for module in sorted(skipped_for):
        assert module in PROVIDED_BY, f"add {module} to PROVIDED_BY and to the dev extra"
        if PROVIDED_BY[module] is not None:
            assert PROVIDED_BY[module] in dev, f"{module} needs {PROVIDED_BY[module]} in dev"


def test_the_demo_folder_is_ignored_by_git():
    lines = (ROOT / ".gitignore").read_text().splitlines()
    assert "tinybcnn-demo/" in lines


def test_no_merge_leftovers_are_committed():
    """A merge once committed ``tinybcnn/data/idx.py.orig`` (a stale copy of a module inside
    the package, shipped in every wheel): nothing a merge tool or editor leaves is tracked."""
    git = ROOT / ".git"
    if not git.exists():
        pytest.skip("not a git checkout")
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    leftovers = [p for p in tracked if re.search(r"(\.orig|\.rej|\.bak|~)$", p)]
    assert not leftovers, f"merge or editor leftovers are tracked: {leftovers}"
