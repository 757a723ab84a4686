"""The package's one count check, tinybcnn.functional.checks.positive_int: integers only (a
Python or NumPy integer; no bool, no float such as 2.0), at least ``minimum``, returned as
``int``; and no second checker beside it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tinybcnn.functional.checks import positive_int

PACKAGE = Path(__file__).resolve().parents[2] / "tinybcnn"


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), np.array(3)])
def test_integers_pass_as_python_ints(value):
    got = positive_int(value, "n")
    assert got == 3 and type(got) is int


@pytest.mark.parametrize("value", [2.0, np.float64(2.0), True, "2", None, [2], 2.5])
def test_anything_else_is_refused_with_its_name(value):
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
        positive_int(value, "n")


def test_the_minimum_is_inclusive():
    assert positive_int(0, "seed", minimum=0) == 0
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        positive_int(-1, "seed", minimum=0)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        positive_int(0, "n")


def test_callers_refuse_a_float_count():
    from tinybcnn.ensembles import member_seeds  # noqa: PLC0415
    from tinybcnn.experiments.regression import QUICK, RegressionSettings  # noqa: PLC0415
    from tinybcnn.metrics import ece  # noqa: PLC0415

    with pytest.raises(ValueError, match="n_bins must be an integer >= 1, got 2.0"):
        ece(np.full((2, 2), 0.5), np.array([0, 1]), n_bins=2.0)
    with pytest.raises(ValueError, match="members must be an integer >= 1, got 4.0"):
        member_seeds(0, 4.0)
    settings = {k: getattr(QUICK, k) for k in QUICK.__dataclass_fields__}
    with pytest.raises(ValueError, match="samples must be an integer >= 1, got 3.0"):
        RegressionSettings(**{**settings, "samples": 3.0})


def test_there_is_one_checker():
    defined = [f"{p.relative_to(PACKAGE)}: {m.group(0)}" for p in PACKAGE.rglob("*.py")
               for m in re.finditer(r"def \w*positive_int\w*\(", p.read_text())]
    assert defined == ["functional/checks.py: def positive_int("]
