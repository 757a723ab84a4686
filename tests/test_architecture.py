"""The package's layout as docs/architecture.md states it: what ``import tinybcnn`` gives,
lazily, and (below) that the floors table lists every module of the package."""

from __future__ import annotations

import json
import subprocess
import sys

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
