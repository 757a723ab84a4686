"""One experiment protocol (issue 31): the registry holds modules, the runner names no
experiment, and a seventh experiment is one module plus one registry entry.

A toy experiment is registered and run from the command line exactly as the six are: its
settings come from its own ``FULL`` / ``QUICK`` (with ``--iterations`` and ``--seeds`` as
overrides), its ``main`` runs inside the checked, locked output folder, and what it returns is
the path the CLI reports."""

from __future__ import annotations

import ast
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import tinybcnn.experiments as experiments
from tinybcnn import choices, cli
from tinybcnn.experiments import runner


@dataclass(frozen=True)
class ToySettings:
    iterations: int = 100
    seeds: int = 3
    scale: float = 1.0


def _toy_module(calls: list) -> types.ModuleType:
    module = types.ModuleType("toy_experiment")
    module.FULL, module.QUICK = ToySettings(), ToySettings(iterations=5, seeds=1)

    def settings_for(quick=False, **overrides):
        return runner.settings_from("toy", module.FULL, module.QUICK, quick, overrides)

    def main(request: runner.Request) -> Path:
        overrides = dict(request.overrides)
        if request.iterations is not None:
            overrides["iterations"] = request.iterations
        if request.seeds is not None:
            overrides["seeds"] = request.seeds
        settings = settings_for(request.quick, **overrides)
        calls.append((request, settings, sorted(p.name for p in Path(request.out).iterdir())))
        path = Path(request.out) / "toy.json"
        path.write_text(json.dumps({"experiment": "toy", "seed": request.seed,
                                    "iterations": settings.iterations,
                                    "seeds": settings.seeds}))
        return path

    module.settings_for, module.main = settings_for, main
    return module


@pytest.fixture
def toy(monkeypatch):
    """Register the toy through the registry (and its name where the CLI reads names)."""
    calls: list = []
    monkeypatch.setattr(choices, "EXPERIMENT_NAMES", (*choices.EXPERIMENT_NAMES, "toy"))
    monkeypatch.setattr(experiments, "EXPERIMENTS", dict(experiments.EXPERIMENTS))
    monkeypatch.setattr(experiments, "FULL", dict(experiments.FULL))
    monkeypatch.setattr(experiments, "QUICK", dict(experiments.QUICK))
    experiments.register("toy", _toy_module(calls))
    return calls


def test_a_registered_experiment_runs_from_the_command_line(toy, tmp_path, capsys):
    out = tmp_path / "toy-out"
    code = cli.main(["experiment", "toy", "--quick", "--iterations", "7", "--seed", "4",
                     "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    (request, settings, inside) = toy[0]
    assert request.name == "toy" and request.seed == 4 and request.quick
    assert (settings.iterations, settings.seeds, settings.scale) == (7, 1, 1.0)
    assert inside == [".tinybcnn.lock"]          # main ran inside the locked folder
    assert json.loads((out / "toy.json").read_text())["iterations"] == 7
    assert "toy.json" in capsys.readouterr().out
    assert experiments.settings_for("toy").iterations == 100  # FULL, through the registry


def test_a_registered_experiment_gets_the_shared_checks(toy, tmp_path, capsys):
    # the runner's checks hold for it too, before its main is called: a user's folder is
    # refused, and so is a bad seed
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert cli.main(["experiment", "toy", "--out", str(mine), "--quiet"]) == 2
    with pytest.raises(ValueError, match="seed"):
        experiments.run("toy", tmp_path / "x", seed=-1)
    assert toy == [] and (mine / "notes.txt").read_text() == "mine"


def test_the_runner_names_no_experiment():
    source = Path(runner.__file__).read_text()
    tree = ast.parse(source)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
               and isinstance(n.value, str)}
    for name in choices.EXPERIMENT_NAMES:
        key = choices.experiment_key(name)
        assert key not in strings and name not in strings, key


def test_every_experiment_is_a_module_with_the_protocol():
    for name in choices.EXPERIMENT_NAMES:
        key = choices.experiment_key(name)
        module = sys.modules[f"tinybcnn.experiments.{key}"]
        assert experiments.EXPERIMENTS[key] is module
        assert getattr(experiments, key) is module      # the attribute is the module
        assert experiments.FULL[key] is module.FULL and experiments.QUICK[key] is module.QUICK
        assert callable(module.main) and callable(module.settings_for)
        assert module.settings_for(True) == module.QUICK
