"""``experiment active-learning --resume`` checks its saved state before continuing it
(issue 30, B3/D2/F3): every curve's ``next_round``, ``done``, ``labelled`` indices (inside the
training pool, distinct, as many as the rounds allow), record and generator states. A bad
field is one line naming the file and the field, with the folder left as it was.

Before: labelled indices -1...-30 trained on the last 30 images, ``next_round`` 99 reported
a curve cut short as finished, and "abc" or a broken generator state were tracebacks or
"invalid literal for int()".
"""

from __future__ import annotations

import json
import os

import pytest
from support.cli_capture import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

AL = ["experiment", "active-learning", "--quick", "--quiet", "--rounds", "1",
      "--acquisitions", "random", "--seeds", "1", "--iterations", "2", "--samples", "2"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("al") / "al"
    code, _, err = run_cli([*AL, "--out", out])
    assert code == 0, err
    return out


def _snapshot(folder):
    return {os.path.join(root, f): open(os.path.join(root, f), "rb").read()
            for root, _, files in os.walk(folder) for f in files if f != ".tinybcnn.lock"}


def _edit(snap, field, value):
    snap[field] = value


CASES = [
    ("labelled", lambda s: _edit(s, "labelled", [-i for i in range(1, len(s["labelled"]) + 1)])),
    ("labelled", lambda s: _edit(s, "labelled", "abc")),
    ("labelled", lambda s: _edit(s, "labelled", s["labelled"][:1] * len(s["labelled"]))),
    ("next_round", lambda s: _edit(s, "next_round", 99)),
    ("next_round", lambda s: _edit(s, "next_round", "2")),
    ("done", lambda s: _edit(s, "done", False)),
    ("record", lambda s: _edit(s, "record", {"error": "x"})),
    ("pool_rng", lambda s: _edit(s, "pool_rng", {"bit_generator": "MT19937"})),
]


@pytest.mark.parametrize("field, edit", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_a_bad_saved_curve_is_named_and_nothing_changes(finished, tmp_path, field, edit):
    import shutil

    out = tmp_path / "al"
    shutil.copytree(finished, out)
    path = out / "active_learning_state.json"
    state = json.loads(path.read_text())
    edit(state["curves"]["random"]["0"])
    path.write_text(json.dumps(state))
    before = _snapshot(out)
    code, stdout, err = run_cli([*AL, "--resume", "--out", out])
    assert code == 2 and stdout == "" and err.count("\n") == 1, err
    assert str(path) in err and f"curves.random.0.{field}" in err, err
    assert _snapshot(out) == before


def test_the_state_as_written_resumes(finished, tmp_path):
    import shutil

    out = tmp_path / "al"
    shutil.copytree(finished, out)
    code, _, err = run_cli([*AL, "--resume", "--out", out])
    assert code == 0, err
