"""``--batch-size`` larger than the training set is refused before anything is written
(issue 30, E2): before, the refusal came from the training loop, after config.json and the
lock file had been written into the new ``--out``."""

from __future__ import annotations

import pytest
from support.cli_capture import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]


def test_a_batch_larger_than_the_data_is_refused_before_the_folder_is_made(tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(["train", "--quiet", "--train-size", "100", "--test-size", "50",
                                 "--iterations", "2", "--batch-size", "101", "--out", out])
    assert code == 2 and stdout == "" and err.count("\n") == 1, err
    assert "--batch-size 101" in err and "100 training images" in err
    assert not out.exists()


def test_a_batch_as_large_as_the_data_trains(tmp_path):
    code, _, err = run_cli(["train", "--quiet", "--train-size", "100", "--test-size", "50",
                            "--iterations", "1", "--eval-samples", "0", "--batch-size", "100",
                            "--out", tmp_path / "run"])
    assert code == 0, err
