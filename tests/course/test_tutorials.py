"""The tutorials in ``tutorials/`` run top to bottom as notebooks, show their figures, and are
well-formed Jupytext scripts.

Each ``tutorials/NN_*.py`` is executed as a notebook, as a reader runs it in Jupyter
(``support/notebooks.py``: an IPython kernel, matplotlib's inline backend), with
``TINYBCNN_QUICK=1`` (small sizes, under a minute each on 2 cores) and
``TINYBCNN_TUTORIAL_OUT`` pointing at one temporary folder shared by all of them, in order, so
tutorial 07 reuses the model tutorial 06 saved there, as it would for a reader. A tutorial ends
with asserts that check what it claims, so a run without an error means its claims held; and
every cell that draws a figure must show it as an image, not as the text "<Figure size ...>".
(One notebook run replaces the script run these tests made before: it checks the same claims,
and the figures besides.) These runs are marked ``slow``; the format checks are fast.

Every tutorial ends with exercises: a cell of stubs (``raise NotImplementedError``) and an
assert-graded check cell that grades each exercise on its own. The solutions live apart, in
``tutorials/solutions/``; here the check cell runs against them (after the tutorial's import
cell, as a reader would run it); tests/course/test_tutorial_exercises.py runs it against the
common wrong answers, which it must reject and explain.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from support.notebooks import run_notebook
from support.tutorials import CHECKS_CELL, TIMEOUT_S, n_exercises, run_exercises, split_cells

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
SOLUTIONS = ROOT / "tutorials" / "solutions"
WITH_EXERCISES = TUTORIALS          # every tutorial ends with exercises
WITHOUT_FIGURES = {"08_gpu.py"}     # timings and parity: nothing to draw
ANSWERS_CELL = "# %% Exercises: your answers"


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
    # TINYBCNN_QUICK read as the package reads yes/no variables (1/true/yes/on; else refused)
    assert "QUICK = quick_mode()" in text and 'TINYBCNN_QUICK") ==' not in text


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
def test_tutorial_runs_as_notebook_and_shows_its_figures(script, tutorial_out, record_property):
    for package in ("jupytext", "nbclient", "ipykernel"):   # in the dev extra: CI has them
        pytest.importorskip(package, reason=f"running tutorials as notebooks needs {package}")
    start = time.perf_counter()
    cells = run_notebook(script, tutorial_out, quick=True, timeout_s=TIMEOUT_S)
    record_property("seconds", round(time.perf_counter() - start, 1))
    stdout = "".join(c.stdout for c in cells)
    assert "all checks passed" in stdout, f"{script.name} did not reach its checks"
    assert "exercise 1: not attempted yet" in stdout       # the stubs are left for the reader
    drawing = [c for c in cells if c.figures_saved]
    assert drawing or script.name in WITHOUT_FIGURES, f"{script.name} draws no figure"
    for cell in cells:
        first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        assert not cell.text_only_figures, (
            f"{script.name}: a figure shows as text, not as an image, in the cell "
            f"starting {first_line!r}: {cell.text_only_figures}")
        assert cell.images >= len(cell.figures_saved), (
            f"{script.name}: the cell starting {first_line!r} draws "
            f"{len(cell.figures_saved)} figure(s) but shows {cell.images} image(s)")


# ---------------------------------------------------------------------------------------
# Exercises
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("tutorial", WITH_EXERCISES, ids=lambda p: p.name)
def test_tutorial_ends_with_exercises(tutorial):
    text = tutorial.read_text(encoding="utf-8")
    markers = [m for m, _ in split_cells(text)]
    # exercises last: their text, the stubs, then the check cell
    assert markers[-3:] == ["# %% [markdown]", ANSWERS_CELL, CHECKS_CELL]
    assert 1 <= n_exercises(tutorial) <= 3
    stubs = split_cells(text)[-2][1]
    assert stubs.count("raise NotImplementedError") == n_exercises(tutorial)
    assert (SOLUTIONS / tutorial.name).exists(), "solutions are kept in tutorials/solutions/"


@pytest.mark.slow   # one fresh interpreter per tutorial
@pytest.mark.parametrize("tutorial", WITH_EXERCISES, ids=lambda p: p.name)
def test_exercise_checks_pass_with_the_solutions(tutorial, tmp_path):
    answers = (SOLUTIONS / tutorial.name).read_text(encoding="utf-8")
    result = run_exercises(tutorial, answers, tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for k in range(1, n_exercises(tutorial) + 1):
        assert f"exercise {k}: correct" in result.stdout, result.stdout
    assert "not attempted" not in result.stdout
