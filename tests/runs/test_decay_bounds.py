"""A decay so strong that one step moves every weight past zero is refused before anything
is written, in one line naming the option and its sane range (issue 30, D3/F2).

Before: ``--length-scale 1e155`` ended in an OverflowError traceback (``l ** 2``), and
``--weight-decay 1e308`` trained, diverged, and said "try a lower learning rate".
"""

from __future__ import annotations

import math

import pytest
from support.cli_capture import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

TINY = ["train", "--quiet", "--train-size", "100", "--test-size", "50", "--iterations", "2",
        "--eval-samples", "0"]


@pytest.mark.parametrize("flags, option", [
    (["--length-scale", "1e155"], "--length-scale"),
    (["--weight-decay", "1e308"], "--weight-decay"),
    (["--weight-decay", "100", "--lr", "0.01"], "--weight-decay"),   # lr x decay = 1
])
def test_an_absurd_decay_is_refused_before_anything_is_written(tmp_path, flags, option):
    out = tmp_path / "run"
    code, stdout, err = run_cli([*TINY, *flags, "--out", out])
    assert code == 2 and stdout == "" and err.count("\n") == 1, err
    assert option in err and "must be below" in err
    assert not out.exists()


def test_the_length_scale_bound_is_where_lr_times_decay_reaches_one(tmp_path):
    """The prior's kernel decay is l^2 / (N keep) (gradient of l^2/(2 N keep) ||W||^2): with
    N = 100, p = 0.5, lr = 0.01 the bound is sqrt(100 * 0.5 / 0.01) = 70.7."""
    bound = math.sqrt(100 * 0.5 / 0.01)
    code, _, err = run_cli([*TINY, "--length-scale", str(bound * 1.01), "--out", tmp_path / "a"])
    assert code == 2 and "70.7" in err, err
    code, _, err = run_cli([*TINY, "--length-scale", "1", "--out", tmp_path / "b"])
    assert code == 0, err
