"""The tutorials in ``tutorials/`` run top to bottom, and are well-formed Jupytext scripts.

Each ``tutorials/NN_*.py`` is run as a subprocess with ``TINYBCNN_QUICK=1`` (small sizes,
under a minute each on 2 cores) and ``TINYBCNN_TUTORIAL_OUT`` pointing at one temporary
folder shared by all of them, in order, so tutorial 07 reuses the model tutorial 06 saved
there, as it would for a reader. A tutorial ends with asserts that check what it claims,
so exit status 0 means its claims held. These runs are marked ``slow``; the format checks
are fast.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 600  # generous: the quick runs take well under a minute, but CI machines are shared


def test_tutorials_exist():
    names = [p.name for p in TUTORIALS]
    assert names == sorted(names)
    numbers = [int(n[:2]) for n in names]
    assert numbers == list(range(1, len(numbers) + 1)), "tutorials must be numbered 01, 02, ..."
    assert len(TUTORIALS) >= 8


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_format(script):
    text = script.read_text(encoding="utf-8")
    # Jupytext percent format: a first markdown cell with the title, code cells, asserts at the end
    assert "format_name: percent" in text
    cells = re.split(r"^# %%.*$", text, flags=re.MULTILINE)
    markers = re.findall(r"^# %%.*$", text, flags=re.MULTILINE)
    assert markers[0] == "# %% [markdown]"
    assert re.search(r"^# # \d\d ", cells[1], flags=re.MULTILINE), "first cell: '# # NN title'"
    assert "assert" in cells[-1], "the last cell must check the tutorial's claims"
    # figures go to $TINYBCNN_TUTORIAL_OUT or a temporary folder, never into the repo
    assert 'os.environ.get("TINYBCNN_TUTORIAL_OUT")' in text
    assert 'os.environ.get("TINYBCNN_QUICK") == "1"' in text


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_opens_as_notebook(script):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(script)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds[0] == "markdown" and "code" in kinds


@pytest.fixture(scope="module")
def tutorial_out(tmp_path_factory):
    return tmp_path_factory.mktemp("tutorials")


@pytest.mark.slow
@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_runs(script, tutorial_out, record_property):
    env = {**os.environ, "TINYBCNN_QUICK": "1", "TINYBCNN_TUTORIAL_OUT": str(tutorial_out),
           "TINYBCNN_BACKEND": "numpy", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(script)], cwd=tutorial_out, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 1))
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"{script.name} exited {result.returncode}:\n{output}"
    assert "all checks passed" in result.stdout, f"{script.name} did not reach its checks"
    print(f"{script.name}: {seconds:.1f} s")
