"""``experiment --resume`` after a setting changed names the setting and what to do
(issue 30, F1); before, it said "already holds a run; continue it with --resume" to a command
that had been given --resume."""

from __future__ import annotations

import os

import pytest
from support.cli_capture import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

SMALL = ["experiment", "small-data", "--quick", "--seeds", "1", "--quiet"]


def _snapshot(folder):
    return {os.path.join(root, f): open(os.path.join(root, f), "rb").read()
            for root, _, files in os.walk(folder) for f in files if f != ".tinybcnn.lock"}


def test_resume_with_another_setting_names_it(tmp_path):
    out = tmp_path / "exp"
    code, _, err = run_cli([*SMALL, "--iterations", "2", "--out", out])
    assert code == 0, err
    before = _snapshot(out)
    code, stdout, err = run_cli([*SMALL, "--iterations", "3", "--resume", "--out", out])
    assert code == 2 and stdout == "" and err.count("\n") == 1, err
    assert "iterations 2 there, 3 here" in err and "--replace" in err
    assert "continue it with --resume" not in err
    assert _snapshot(out) == before
