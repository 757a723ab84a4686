"""Import a project file that is not a package module (a docs hook, a script) by its path."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_file(path: Path, name: str) -> ModuleType:
    """A fresh module executed from ``path`` under ``name`` (not put in ``sys.modules``): each
    call gives its own copy, so a test may change its globals without touching another's."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
