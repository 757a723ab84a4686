"""Every tutorial runs top to bottom in full mode, as a reader runs it with no options.

CI runs the tutorials in quick mode only (``tests/course/test_tutorials.py``); quick mode once hid a
check that failed at full size (tutorial 10's variation-ratio bound used the toy example's
``K = 3`` on 10 classes, and only full mode draws enough passes to cross it). These runs take
minutes each on 2 cores, so they are marked ``fullmode`` and deselected by default
(``addopts`` in pyproject.toml). Run them before a release::

    pytest -m fullmode tests/course/test_tutorials_fullmode.py

They run in order in one output folder, so tutorial 07 reuses the model tutorial 06 saved.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tutorials import run_tutorial

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 3 * 3600  # a full-size training on a busy 2-core machine


@pytest.fixture(scope="module")
def tutorial_out(tmp_path_factory):
    return tmp_path_factory.mktemp("tutorials_full")


@pytest.mark.fullmode
@pytest.mark.parametrize("script", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_runs_in_full_mode(script, tutorial_out, record_property, request):
    # another -m on the command line (e.g. -m "not slow") replaces addopts' "not fullmode":
    # these runs happen only when asked for by name
    if "fullmode" not in (request.config.option.markexpr or ""):
        pytest.skip("full-mode tutorial runs take minutes: select them with -m fullmode")
    _, seconds = run_tutorial(script, tutorial_out, record_property, quick=False,
                              timeout_s=TIMEOUT_S)
    print(f"{script.name} (full mode): {seconds:.1f} s")
