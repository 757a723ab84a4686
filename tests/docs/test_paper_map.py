"""Every function and test named on docs/paper-to-code.md (and the teaching pages beside it)
exists: the map must not point at code that was renamed or never was.

A function is written as `tinybcnn.module.name` (a module, or an attribute of one, a method
included: `tinybcnn.objective.Objective.for_model`); a test as
`tests/FOLDER/test_file.py::test_name`. The oracle is the import system and the test files' text,
not the page.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["paper-to-code.md", "start-here.md", "glossary.md", "uncertainty-at-work.md"]
FUNCTION = re.compile(r"`(tinybcnn(?:\.\w+)+)`")
TEST = re.compile(r"`(tests/(?:\w+/)?test_\w+\.py)::(\w+)`")


def resolve(dotted: str) -> object:
    """The object a dotted name points at: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)          # AttributeError: the name does not exist
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("page", PAGES)
def test_every_named_function_exists(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    names = sorted(set(FUNCTION.findall(text)))
    if page == "paper-to-code.md":
        assert len(names) >= 25
    missing = []
    for name in names:
        try:
            resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, missing


@pytest.mark.parametrize("page", PAGES)
def test_every_named_test_exists(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    tests = sorted(set(TEST.findall(text)))
    if page == "paper-to-code.md":
        assert len(tests) >= 25
    missing = [f"{path}::{name}" for path, name in tests
               if not (ROOT / path).exists()
               or not re.search(rf"^def {name}\(", (ROOT / path).read_text("utf-8"), re.M)]
    assert not missing, missing


def test_resolver_rejects_names_that_do_not_exist():
    assert resolve("tinybcnn.predict.mc_predict") is not None
    with pytest.raises(AttributeError):
        resolve("tinybcnn.predict.no_such_function")
