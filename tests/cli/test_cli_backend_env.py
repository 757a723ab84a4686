"""``$TINYBCNN_BACKEND`` reaches ``evaluate`` and ``predict``, and ``train --resume`` refuses
a contradicting ``--eval-every`` (issue 35).

The backend a user asks for, by ``--backend`` or by the environment variable, is where a run
is loaded and scored; without either, the backend the run was trained on. A run trained on
NumPy and evaluated with ``TINYBCNN_BACKEND=array_api_strict`` (the CI stand-in for CuPy) is
scored there, not switched back to NumPy by its config.json.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinybcnn import cli
from tinybcnn import runs as runs_mod

# trains and evaluates runs on each backend: pytest -m "not slow" leaves it out
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("env") / "run"
    assert cli.main(["train", "--out", str(out), "--train-size", "64", "--test-size", "32",
                     "--iterations", "4", "--eval-every", "2", "--eval-samples", "2",
                     "--batch-size", "16", "--quiet", "--backend", "numpy"]) == 0
    assert json.loads((out / "config.json").read_text())["backend"] == "numpy"
    return out


@pytest.fixture
def asked(monkeypatch):
    """The ``backend`` argument evaluate_run and load_run (load_members: predict loads one
    network or a deep ensemble's members) get; each then stops the command."""
    got = []

    def record(run_dir, *args, backend=None, **kwargs):
        got.append(backend)
        raise ValueError("stopped by the test")

    monkeypatch.setattr(runs_mod, "evaluate_run", record)
    monkeypatch.setattr(runs_mod, "load_run", record)
    monkeypatch.setattr(runs_mod, "load_members", record)
    return got


@pytest.mark.parametrize("command", [["evaluate"], ["predict", "images.npy"]])
@pytest.mark.parametrize("env, flag, expect", [
    ("array_api_strict", [], "array_api_strict"),          # the environment variable
    ("array_api_strict", ["--backend", "numpy"], "numpy"),  # the flag wins
    (None, [], None),                                       # neither: the run's own
])
def test_the_asked_backend_reaches_the_run(monkeypatch, tmp_path, asked, command, env, flag,
                                           expect):
    if env is None:
        monkeypatch.delenv("TINYBCNN_BACKEND", raising=False)
    else:
        monkeypatch.setenv("TINYBCNN_BACKEND", env)
    np.save(tmp_path / "images.npy", np.zeros((1, 28, 28), np.uint8))
    extra = [str(tmp_path / name) for name in command[1:]]
    argv = [command[0], str(tmp_path), *extra, *flag, "--quiet"]
    assert cli.main(argv) == 2
    assert asked == [expect]


def test_evaluate_scores_on_the_environments_backend(run, monkeypatch, capsys):
    """End to end: the run is loaded onto the environment's backend, never its config's."""
    switched = []
    real = runs_mod.set_backend

    def set_backend(name, *args, **kwargs):
        switched.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(runs_mod, "set_backend", set_backend)
    monkeypatch.setenv("TINYBCNN_BACKEND", "array_api_strict")
    assert cli.main(["evaluate", str(run), "--samples", "2", "--quiet"]) == 0, \
        capsys.readouterr().err
    assert switched and set(switched) == {"array_api_strict"}


# -- train --resume --eval-every --------------------------------------------------------------
def test_resume_refuses_another_eval_every(run, capsys):
    before = (run / "config.json").read_text()
    assert cli.main(["train", "--out", str(run), "--resume", "--iterations", "6",
                     "--eval-every", "3", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--eval-every 3 (the run has 2)" in err, err
    assert (run / "config.json").read_text() == before


# (--eval-samples may change on resume: it changes the evaluations, never the weights)
@pytest.mark.parametrize("option, value, has", [("--batch-size", "32", "16"),
                                                ("--train-size", "100", "64"),
                                                ("--test-size", "16", "32")])
def test_resume_refuses_each_contradicting_config_option(run, capsys, option, value, has):
    assert cli.main(["train", "--out", str(run), "--resume", "--iterations", "6",
                     option, value, "--quiet"]) == 2
    assert f"{option} {value} (the run has {has})" in capsys.readouterr().err
