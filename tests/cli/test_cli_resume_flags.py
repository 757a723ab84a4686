"""Flags given with ``train --resume`` (issue 26): one that contradicts the run's config.json is
refused in one line naming it (it was silently ignored), one that repeats the run's value
passes, and the total (``--iterations``) may change."""

from __future__ import annotations

import json

import pytest

from tinybcnn import cli


@pytest.fixture()
def run(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--train-size", "100", "--test-size", "100",
                     "--iterations", "4", "--quiet", "--eval-samples", "0",
                     "--batch-size", "16"]) == 0
    return out


def _resume(out, *flags):
    return cli.main(["train", "--out", str(out), "--resume", "--quiet", *flags])


@pytest.mark.parametrize("flags, named", [
    (["--lr", "0.1"], ["--lr 0.1 (the run has 0.01)"]),
    (["--batch-size", "32", "--p", "0.3"], ["--batch-size 32 (the run has 16)",
                                            "--p 0.3 (the run has 0.5)"]),
    (["--batch", "32"], ["--batch-size 32"]),          # an abbreviation argparse accepts
    (["--lr=0.5"], ["--lr 0.5"]),
    (["--model", "lenet-ip"], ["--model lenet-ip (the run has lenet-all)"]),
    (["--seed", "7"], ["--seed 7 (the run has 0)"]),
])
def test_contradicting_flags_are_refused_in_one_line(run, capsys, flags, named):
    before = (run / "config.json").read_text()
    assert _resume(run, "--iterations", "6", *flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for text in named:
        assert text in err
    assert "--resume" in err and "config.json" in err
    assert (run / "config.json").read_text() == before   # nothing trained, nothing rewritten


def test_flags_repeating_the_run_pass_and_the_total_may_change(run, capsys):
    assert _resume(run, "--iterations", "6", "--lr", "0.01", "--batch-size", "16",
                   "--seed", "0") == 0
    assert "trained 6 iterations" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["iterations"] == 6
