"""``train --resume --backend B`` on a run trained on another backend is refused in one line
(issue 30, E3); before, the run's own backend was used and the flag ignored in silence."""

from __future__ import annotations

import shutil

import pytest
from support.cli_capture import TINY_TRAIN, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]
pytest.importorskip("array_api_strict")


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".tinybcnn.lock"}


def test_resume_on_another_backend_is_refused(tmp_path):
    run = tmp_path / "run"
    code, _, err = run_cli([*TINY_TRAIN, "--backend", "numpy", "--out", run])
    assert code == 0, err
    before = _snapshot(run)
    code, out, err = run_cli(["train", "--resume", "--iterations", "3", "--quiet",
                              "--backend", "array_api_strict", "--out", run])
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "--backend array_api_strict" in err and "numpy" in err
    assert _snapshot(run) == before
    # the run's own backend, named, is no clash
    code, _, err = run_cli(["train", "--resume", "--iterations", "3", "--quiet",
                            "--backend", "numpy", "--out", run])
    assert code == 0, err
    shutil.rmtree(run)
