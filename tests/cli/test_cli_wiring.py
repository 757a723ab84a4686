"""The command line's wiring, end to end, one table (issue 27).

Every option of every command (read from :func:`tinybcnn.cli.build_parser`, so a new option
without a row fails :func:`test_every_option_has_a_row`) is set to a value other than its
default, and the test checks that the value reaches what it controls: the run's
``config.json``, the model, objective, optimiser and data that training is built from, the
seed and samples evaluation and prediction use, the experiment's settings. A training
option must also survive ``--resume``. The paper's defaults (Caffe's LeNet solver: lr 0.01,
momentum 0.9, ``inv`` gamma 1e-4 power 0.75, weight decay 5e-4, p 0.5, batch 64) are checked
against the values written here, not against the code's constants.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinybcnn.backend as backend_mod
import tinybcnn.demo as demo_mod
import tinybcnn.experiments as experiments_mod
import tinybcnn.predict as predict_mod
import tinybcnn.progress as progress_mod
import tinybcnn.runs as runs_mod
import tinybcnn.threads as threads_mod
import tinybcnn.train as train_mod
from tinybcnn import cli
from tinybcnn.data import as_float, load_dataset, write_idx
from tinybcnn.models import lenet
from tinybcnn.nn import Dropout
from tinybcnn.predict import standard_predict

TINY = {"--train-size": "64", "--test-size": "32", "--iterations": "2", "--eval-samples": "0"}


# -- the parser's options --------------------------------------------------------------------
def _options() -> list[tuple[str, str]]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for command, p in sub.choices.items():
        for action in p._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            found.append((command, action.option_strings[-1] if action.option_strings
                          else action.dest))
    return found


# -- spies: what the command line handed on --------------------------------------------------
@dataclass
class Seen:
    trainers: list = field(default_factory=list)
    data: list = field(default_factory=list)
    mc: list = field(default_factory=list)        # kwargs of every mc_predict call
    bars: list = field(default_factory=list)      # enabled flag of every progress bar
    threads: list = field(default_factory=list)
    backends: list = field(default_factory=list)
    demo: dict = field(default_factory=dict)
    experiment: dict = field(default_factory=dict)
    load_progress: list = field(default_factory=list)


@pytest.fixture
def seen(monkeypatch):
    s = Seen()
    real_build, real_load = runs_mod.build, runs_mod.load_data

    def build(config, data):
        trainer = real_build(config, data)
        s.trainers.append(trainer)
        return trainer

    def load_data(config, progress=True):
        data = real_load(config, progress=progress)
        s.data.append(data)
        s.load_progress.append(progress)
        return data

    real_mc = predict_mod.mc_predict

    def mc(model, x, samples=50, seed=0, rng=None, **kw):
        s.mc.append({"samples": samples, "seed": seed, "rng": rng, "n": x.shape[0]})
        return real_mc(model, x, samples=min(samples, 2), seed=seed, rng=rng, **kw)

    real_bar = progress_mod.progress_bar

    def bar(*args, enabled=True, **kw):
        s.bars.append(bool(enabled))
        return real_bar(*args, enabled=enabled, **kw)

    real_threads, real_set = threads_mod.apply_threads, backend_mod.set_backend

    def threads(n=None, *args, **kw):
        s.threads.append(n)
        return real_threads(n, *args, **kw)

    def set_backend(name, *args, **kw):
        s.backends.append(name)
        return real_set(name, *args, **kw)

    def demo(**kw):
        s.demo.update(kw)
        return 0

    def experiment(name, **kw):
        s.experiment.update(kw, name=name)
        return Path(kw["out"]) / "done.json"

    monkeypatch.setattr(runs_mod, "build", build)
    monkeypatch.setattr(runs_mod, "load_data", load_data)
    monkeypatch.setattr(runs_mod, "mc_predict", mc)
    monkeypatch.setattr(predict_mod, "mc_predict", mc)
    monkeypatch.setattr(train_mod, "mc_predict", mc)
    monkeypatch.setattr(progress_mod, "progress_bar", bar)
    monkeypatch.setattr(threads_mod, "apply_threads", threads)
    monkeypatch.setattr(backend_mod, "set_backend", set_backend)
    monkeypatch.setattr(runs_mod, "set_backend", set_backend)
    monkeypatch.setattr(demo_mod, "run_demo", demo)
    monkeypatch.setattr(experiments_mod, "run", experiment)
    try:  # the summary printed after an experiment reads the recorder's (absent) results
        import tinybcnn.report as report_mod
    except ImportError:  # pragma: no cover - an older tree prints the path only
        report_mod = None
    if report_mod is not None and hasattr(report_mod, "experiment_summary"):
        monkeypatch.setattr(report_mod, "experiment_summary", lambda path: f"wrote {path}")
    before = backend_mod.get_backend()
    yield s
    real_set(before)


# -- data on disk ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embedded():
    return load_dataset("embedded", progress=False)


def _write_idx_dir(folder: Path, x_train, y_train, x_test, y_test) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte", x_train)
    write_idx(folder / "train-labels-idx1-ubyte", y_train.astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", x_test)
    write_idx(folder / "t10k-labels-idx1-ubyte", y_test.astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory, embedded):
    """An ``idx:DIR`` data set of the embedded images of classes 0-2 only."""
    d = embedded
    tr, te = np.flatnonzero(d.y_train < 3)[:90], np.flatnonzero(d.y_test < 3)[:40]
    return _write_idx_dir(tmp_path_factory.mktemp("idx3") / "three", d.x_train[tr],
                          d.y_train[tr], d.x_test[te], d.y_test[te])


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory, embedded):
    """A --data-dir holding "mnist" (ten classes, 70 train and 40 test images)."""
    d = embedded.subset(70, 40, seed=1)
    root = tmp_path_factory.mktemp("datadir")
    _write_idx_dir(root / "mnist", d.x_train, d.y_train, d.x_test, d.y_test)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run, for evaluate and predict."""
    out = tmp_path_factory.mktemp("trained") / "run"
    args = ["train", "--out", str(out), "--quiet", "--threads", "1"]
    for k, v in TINY.items():
        args += [k, v]
    assert cli.main(args) == 0
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory, embedded):
    folder = tmp_path_factory.mktemp("images")
    np.save(folder / "three.npy", embedded.x_test[:3])
    np.save(folder / "eleven.npy", embedded.x_test[:11])
    return folder


# -- running a command -------------------------------------------------------------------------
def _run(capsys, args: list[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _config(out: Path) -> dict[str, Any]:
    return json.loads((out / "config.json").read_text())


def _history(out: Path) -> list[dict[str, str]]:
    with open(out / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _dropout_ps(model) -> list[float]:
    return [layer.p for layer in model.layers.values() if isinstance(layer, Dropout)]


# -- the table ---------------------------------------------------------------------------------
@dataclass
class Row:
    """``args`` (with ``{tmp}``, ``{idx3}``, ``{datadir}``, ``{run}``, ``{images}``
    substituted; a TINY option given the value None is left out), the ``check(ctx)`` of what
    it controls, and for training runs the arguments of a resume that must keep it."""

    args: dict[str, str | None]
    check: Any
    resume: list[str] | None = None
    positional: list[str] = field(default_factory=list)


def _t(ctx):
    return ctx["seen"].trainers[-1]


def _check_model(ctx):
    assert ctx["config"]["model"] == "lenet-ip"
    ref = lenet("ip", in_shape=(1, 28, 28), n_classes=10, seed=0)
    assert set(_t(ctx).model.params) == set(ref.params)


def _check_dataset(ctx):
    assert ctx["config"]["dataset"] == f"idx:{ctx['idx3']}"
    data = ctx["seen"].data[-1]
    assert set(np.unique(data.y_train)) == {0, 1, 2}
    assert standard_predict(_t(ctx).model, as_float(data.x_test[:1])).probs.shape == (1, 3)


def _check_data_dir(ctx):
    assert ctx["config"]["data_dir"] == str(ctx["datadir"])
    data = ctx["seen"].data[-1]
    assert len(data.y_train) == 64 and str(ctx["datadir"]) in data.source


def _check_train_size(ctx):
    assert ctx["config"]["train_size"] == 48
    assert len(ctx["seen"].data[-1].y_train) == 48 and _t(ctx).state()["n_train"] == 48


def _check_test_size(ctx):
    assert ctx["config"]["test_size"] == 16
    assert len(ctx["seen"].data[-1].y_test) == 16


def _check_epochs(ctx):
    epochs = ctx["config"]["epochs"]
    assert ctx["config"]["iterations"] is None
    # 64 images in batches of 64: one iteration per epoch (the default is 10 epochs)
    assert _t(ctx).iteration == math.ceil(epochs * 64 / 64)
    assert epochs == (2 if not ctx["resumed"] else 3)


def _check_iterations(ctx):
    want = 3 if not ctx["resumed"] else 4
    assert ctx["config"]["iterations"] == want and _t(ctx).iteration == want


def _check_batch_size(ctx):
    assert ctx["config"]["batch_size"] == 32 and _t(ctx).state()["batch_size"] == 32


def _check_p(ctx):
    assert ctx["config"]["p"] == 0.25
    ps = _dropout_ps(_t(ctx).model)
    assert ps and all(p == 0.25 for p in ps)


def _check_lr(ctx):
    assert ctx["config"]["lr"] == 0.02 and _t(ctx).optimizer.base_lr == 0.02


def _check_weight_decay(ctx):
    assert ctx["config"]["weight_decay"] == 1e-3 and ctx["config"]["length_scale"] is None
    objective = _t(ctx).objective
    assert objective.weight_decay == 1e-3 and objective.length_scale is None


def _check_length_scale(ctx):
    assert ctx["config"]["length_scale"] == 0.5 and ctx["config"]["weight_decay"] is None
    objective = _t(ctx).objective
    assert objective.length_scale == 0.5 and objective.weight_decay is None


def _check_eval_every(ctx):
    assert ctx["config"]["eval_every"] == 1
    iterations = [int(r["iteration"]) for r in _history(ctx["out"])]
    assert iterations == list(range(1, _t(ctx).iteration + 1))


def _check_eval_samples(ctx):
    assert ctx["config"]["eval_samples"] == 3
    assert all(r["mc_error"] not in ("", None) for r in _history(ctx["out"]))
    assert {c["samples"] for c in ctx["seen"].mc} == {3}


def _check_resume(ctx):
    if ctx["resumed"]:
        assert _t(ctx).iteration == 3
        assert [int(r["iteration"]) for r in _history(ctx["out"])] == [2, 3]


def _check_train_backend(ctx):
    assert ctx["config"]["backend"] == "array_api_strict"
    assert "array_api_strict" in type(next(iter(_t(ctx).model.params.values()))).__module__


def _check_train_seed(ctx):
    assert ctx["config"]["seed"] == 5 and _t(ctx).seed == 5


def _check_out(ctx):
    assert (ctx["out"] / "checkpoint.npz").is_file()


def _check_members(ctx):
    # two networks, seeded by member_seeds, each with its own checkpoint, no single one
    from tinybcnn.ensembles import member_seeds

    assert ctx["config"]["members"] == 2
    assert [t.seed for t in ctx["seen"].trainers[-2:]] == member_seeds(ctx["config"]["seed"], 2)
    assert all((ctx["out"] / f"member-{k}.npz").is_file() for k in range(2))
    assert not (ctx["out"] / "checkpoint.npz").exists()


def _check_quiet_train(ctx):
    assert ctx["err"] == ""


def _check_threads(ctx):
    assert ctx["seen"].threads and ctx["seen"].threads[0] == 1


def _metrics(ctx, name="metrics.json"):
    return json.loads((ctx["run"] / name).read_text())


def _check_eval_dataset(ctx):
    m = _metrics(ctx, runs_mod.metrics_path(ctx["run"], f"idx:{ctx['idx3']}").name)
    assert m["dataset"] == f"idx:{ctx['idx3']}" and m["n_test"] == 40


def _check_eval_data_dir(ctx):
    m = _metrics(ctx, "metrics-mnist.json")
    assert m["dataset"] == "mnist" and m["n_test"] == 40


def _check_eval_samples_cli(ctx):
    assert _metrics(ctx)["samples"] == 7 and ctx["seen"].mc[-1]["samples"] == 7


def _check_eval_seed(ctx):
    assert ctx["seen"].mc[-1]["seed"] == 9


def _check_eval_run_dir(ctx):
    assert _metrics(ctx)["iteration"] == 2


def _check_backend_set(ctx):
    assert ctx["seen"].backends and ctx["seen"].backends[0] == "array_api_strict"


def _check_backend_scored(ctx):
    # the run was trained on numpy: loading it must not switch back to the config's backend
    assert ctx["seen"].backends and set(ctx["seen"].backends) == {"array_api_strict"}


def _check_quiet_eval(ctx):
    assert ctx["seen"].load_progress and not any(ctx["seen"].load_progress)


def _check_predict_samples(ctx):
    assert ctx["seen"].mc[-1]["samples"] == 7


def _check_predict_seed(ctx):
    assert ctx["seen"].mc[-1]["seed"] == 9


def _check_predict_images(ctx):
    assert ctx["seen"].mc[-1]["n"] == 3
    assert len([line for line in ctx["stdout"].splitlines() if line.strip()]) == 1 + 3


def _check_predict_format(ctx):
    got = json.loads(ctx["stdout"])
    assert got["samples"] == 7 and got["seed"] == 9 and len(got["predictions"]) == 3
    assert ctx["seen"].mc[-1]["samples"] == 7 and ctx["seen"].mc[-1]["seed"] == 9


def _check_quiet_predict(ctx):
    # 11 images at T = 10,000: chunks of 10 images, so a bar; --quiet switches it off
    assert ctx["seen"].bars and not any(ctx["seen"].bars)


def _demo_has(key, value):
    def check(ctx):
        assert ctx["seen"].demo[key] == value, (key, ctx["seen"].demo)
    return check


def _exp_has(key, value):
    def check(ctx):
        got = ctx["seen"].experiment.get(key)
        assert got == value, (key, ctx["seen"].experiment)
    return check


def _exp_setting(key, value):
    """The recorded override, read by the experiment's settings, gives ``value``."""
    def check(ctx):
        got = ctx["seen"].experiment
        settings = experiments_mod.settings_for(got["name"], quick=got["quick"],
                                                **{key: got[key]})
        assert getattr(settings, key) == value, (key, got[key])
    return check


def _check_info_backend(ctx):
    assert json.loads(ctx["stdout"])["backend"] == "array_api_strict"


TRAIN_RESUME = ["--iterations", "3"]

ROWS: dict[tuple[str, str], Row] = {
    # train: each checked after training and again after `train --resume`
    ("train", "--model"): Row({"--model": "lenet-ip"}, _check_model, TRAIN_RESUME),
    ("train", "--dataset"): Row({"--dataset": "idx:{idx3}"}, _check_dataset, TRAIN_RESUME),
    ("train", "--data-dir"): Row({"--dataset": "mnist", "--data-dir": "{datadir}"},
                                 _check_data_dir, TRAIN_RESUME),
    ("train", "--train-size"): Row({"--train-size": "48", "--batch-size": "16"},
                                   _check_train_size, TRAIN_RESUME),
    ("train", "--test-size"): Row({"--test-size": "16"}, _check_test_size, TRAIN_RESUME),
    ("train", "--epochs"): Row({"--iterations": None, "--epochs": "2"}, _check_epochs,
                               ["--epochs", "3"]),
    ("train", "--iterations"): Row({"--iterations": "3"}, _check_iterations,
                                   ["--iterations", "4"]),
    ("train", "--batch-size"): Row({"--batch-size": "32"}, _check_batch_size, TRAIN_RESUME),
    ("train", "--p"): Row({"--p": "0.25"}, _check_p, TRAIN_RESUME),
    ("train", "--lr"): Row({"--lr": "0.02"}, _check_lr, TRAIN_RESUME),
    ("train", "--weight-decay"): Row({"--weight-decay": "1e-3"}, _check_weight_decay,
                                     TRAIN_RESUME),
    ("train", "--length-scale"): Row({"--length-scale": "0.5"}, _check_length_scale,
                                     TRAIN_RESUME),
    ("train", "--eval-every"): Row({"--eval-every": "1"}, _check_eval_every, TRAIN_RESUME),
    ("train", "--eval-samples"): Row({"--eval-samples": "3"}, _check_eval_samples,
                                     TRAIN_RESUME),
    ("train", "--resume"): Row({}, _check_resume, TRAIN_RESUME),
    # the effect of replacing a run is tests/runs/test_run_identity.py's; here: accepted, trains
    ("train", "--replace"): Row({"--replace": ""}, _check_out),
    ("train", "--backend"): Row({"--backend": "array_api_strict"}, _check_train_backend,
                                TRAIN_RESUME),
    ("train", "--seed"): Row({"--seed": "5"}, _check_train_seed, TRAIN_RESUME),
    ("train", "--members"): Row({"--members": "2"}, _check_members, TRAIN_RESUME),
    ("train", "--out"): Row({}, _check_out, TRAIN_RESUME),
    ("train", "--quiet"): Row({"--quiet": ""}, _check_quiet_train, TRAIN_RESUME),
    ("train", "--threads"): Row({"--threads": "1"}, _check_threads, TRAIN_RESUME),
    # evaluate (on a finished tiny run)
    ("evaluate", "run_dir"): Row({}, _check_eval_run_dir, positional=["{run}"]),
    ("evaluate", "--dataset"): Row({"--dataset": "idx:{idx3}"}, _check_eval_dataset,
                                   positional=["{run}"]),
    ("evaluate", "--data-dir"): Row({"--dataset": "mnist", "--data-dir": "{datadir}"},
                                    _check_eval_data_dir, positional=["{run}"]),
    ("evaluate", "--samples"): Row({"--samples": "7"}, _check_eval_samples_cli,
                                   positional=["{run}"]),
    ("evaluate", "--backend"): Row({"--backend": "array_api_strict"}, _check_backend_scored,
                                   positional=["{run}"]),
    ("evaluate", "--seed"): Row({"--seed": "9"}, _check_eval_seed, positional=["{run}"]),
    ("evaluate", "--quiet"): Row({"--quiet": ""}, _check_quiet_eval, positional=["{run}"]),
    ("evaluate", "--threads"): Row({"--threads": "1"}, _check_threads, positional=["{run}"]),
    # predict
    ("predict", "run_dir"): Row({}, _check_predict_images,
                                positional=["{run}", "{images}/three.npy"]),
    ("predict", "images"): Row({}, _check_predict_images,
                               positional=["{run}", "{images}/three.npy"]),
    ("predict", "--samples"): Row({"--samples": "7"}, _check_predict_samples,
                                  positional=["{run}", "{images}/three.npy"]),
    ("predict", "--backend"): Row({"--backend": "array_api_strict"}, _check_backend_scored,
                                  positional=["{run}", "{images}/three.npy"]),
    ("predict", "--seed"): Row({"--seed": "9"}, _check_predict_seed,
                               positional=["{run}", "{images}/three.npy"]),
    ("predict", "--format"): Row({"--format": "json", "--samples": "7", "--seed": "9"},
                                 _check_predict_format,
                                 positional=["{run}", "{images}/three.npy"]),
    ("predict", "--quiet"): Row({"--quiet": "", "--samples": "10000"}, _check_quiet_predict,
                                positional=["{run}", "{images}/eleven.npy"]),
    ("predict", "--threads"): Row({"--threads": "1"}, _check_threads,
                                  positional=["{run}", "{images}/three.npy"]),
    # demo (run_demo replaced by a recorder: its own tests cover what it does)
    ("demo", "--backend"): Row({"--backend": "array_api_strict"}, _check_backend_set),
    ("demo", "--seed"): Row({"--seed": "4"}, _demo_has("seed", 4)),
    ("demo", "--out"): Row({"--out": "{tmp}/d"}, lambda ctx: _demo_has(
        "out", str(ctx["tmp"] / "d"))(ctx)),
    ("demo", "--quiet"): Row({"--quiet": ""}, _demo_has("progress", False)),
    ("demo", "--threads"): Row({"--threads": "1"}, _check_threads),
    ("demo", "--train-size"): Row({"--train-size": "33"}, _demo_has("train_size", 33)),
    ("demo", "--test-size"): Row({"--test-size": "22"}, _demo_has("test_size", 22)),
    ("demo", "--iterations"): Row({"--iterations": "11"}, _demo_has("iterations", 11)),
    ("demo", "--samples"): Row({"--samples": "6"}, _demo_has("samples", 6)),
    ("demo", "--quick"): Row({"--quick": ""}, _demo_has("quick", True)),
    ("demo", "--replace"): Row({"--replace": ""}, _demo_has("replace", True)),
    # experiment (experiments.run replaced by a recorder;
    # tests/experiments/test_experiments.py runs them)
    ("experiment", "name"): Row({}, _exp_has("name", "rotation"), positional=["rotation"]),
    ("experiment", "--dataset"): Row({"--dataset": "idx:{idx3}"},
                                     lambda ctx: _exp_has("dataset", f"idx:{ctx['idx3']}")(ctx),
                                     positional=["rotation"]),
    ("experiment", "--data-dir"): Row({"--data-dir": "{datadir}"},
                                      lambda ctx: _exp_has("data_dir", str(ctx["datadir"]))(ctx),
                                      positional=["rotation"]),
    ("experiment", "--quick"): Row({"--quick": ""}, _exp_has("quick", True),
                                   positional=["rotation"]),
    ("experiment", "--seeds"): Row({"--seeds": "3"}, _exp_has("seeds", 3),
                                   positional=["small-data"]),
    ("experiment", "--iterations"): Row({"--iterations": "12"}, _exp_has("iterations", 12),
                                        positional=["rotation"]),
    ("experiment", "--rounds"): Row({"--rounds": "4"}, _exp_setting("rounds", 4),
                                    positional=["active-learning"]),
    ("experiment", "--pool-subset"): Row({"--pool-subset": "40"}, _exp_setting("pool_subset", 40),
                                         positional=["active-learning"]),
    ("experiment", "--samples"): Row({"--samples": "6"}, _exp_setting("samples", 6),
                                     positional=["active-learning"]),
    ("experiment", "--acquisitions"): Row({"--acquisitions": "bald,random"},
                                          _exp_setting("acquisitions", ("bald", "random")),
                                          positional=["active-learning"]),
    ("experiment", "--thresholds"): Row({"--thresholds": "0.3,0.2"},
                                        _exp_setting("thresholds", (0.3, 0.2)),
                                        positional=["active-learning"]),
    ("experiment", "--resume"): Row({"--resume": ""}, _exp_has("resume", True),
                                    positional=["rotation"]),
    ("experiment", "--replace"): Row({"--replace": ""}, _exp_has("replace", True),
                                     positional=["rotation"]),
    ("experiment", "--backend"): Row({"--backend": "array_api_strict"}, _check_backend_set,
                                     positional=["rotation"]),
    ("experiment", "--seed"): Row({"--seed": "8"}, _exp_has("seed", 8),
                                  positional=["rotation"]),
    ("experiment", "--out"): Row({"--out": "{tmp}/e"},
                                 lambda ctx: _exp_has("out", str(ctx["tmp"] / "e"))(ctx),
                                 positional=["rotation"]),
    ("experiment", "--quiet"): Row({"--quiet": ""}, _exp_has("progress", False),
                                   positional=["rotation"]),
    ("experiment", "--threads"): Row({"--threads": "1"}, _check_threads,
                                     positional=["rotation"]),
    # info
    ("info", "--backend"): Row({"--backend": "array_api_strict"}, _check_info_backend),
}

#: The options a command gets with every row of it, unless the row says otherwise.
BASE = {
    "train": {**TINY, "--out": "{tmp}/run", "--quiet": ""},
    "evaluate": {"--samples": "2", "--quiet": ""},
    "predict": {"--samples": "2", "--quiet": ""},
    "demo": {"--out": "{tmp}/demo", "--quiet": ""},
    "experiment": {"--out": "{tmp}/exp", "--quiet": ""},
    "info": {},
}


def test_every_option_has_a_row():
    missing = [f"{command} {option}" for command, option in _options()
               if (command, option) not in ROWS]
    stale = [f"{c} {o}" for c, o in ROWS if (c, o) not in set(_options())]
    assert not missing, ("options with no row in tests/cli/test_cli_wiring.py's table (add one "
                         "that sets a non-default value and checks where it goes): "
                         + ", ".join(missing))
    assert not stale, "rows for options the parser no longer has: " + ", ".join(stale)


def _argv(command, row: Row, ctx, quiet=True) -> list[str]:
    options = {**BASE[command], **row.args}
    if not quiet:
        options.pop("--quiet", None)
    argv = [command, *row.positional]
    for key, value in options.items():
        if value is None:
            continue
        argv += [key] if value == "" else [key, value]
    return [a.format(**ctx) for a in argv]


@pytest.mark.parametrize("key", list(ROWS), ids=[f"{c}{o}" for c, o in ROWS])
def test_option_reaches_what_it_controls(key, seen, tmp_path, capsys, trained, images,
                                         three_classes, mnist_dir, monkeypatch):
    monkeypatch.delenv("TINYBCNN_DATA", raising=False)
    monkeypatch.delenv("TINYBCNN_THREADS", raising=False)
    command, option = key
    row = ROWS[key]
    ctx = {"tmp": tmp_path, "idx3": three_classes, "datadir": mnist_dir, "run": trained,
           "images": images, "seen": seen, "resumed": False, "out": tmp_path / "run"}
    if option == "--quiet":  # the control: without --quiet something is shown
        code, _, err = _run(capsys, _argv(command, Row({**row.args, "--quiet": None},
                                                       row.check, None, row.positional),
                                          ctx, quiet=False))
        assert code == 0
        if command == "train":
            assert err != ""
        elif command == "predict":
            assert seen.bars and all(seen.bars)
        seen.bars.clear()
        seen.load_progress.clear()
        seen.demo.clear()
        seen.experiment.clear()
        if command == "train":
            ctx["out"] = tmp_path / "run2"
            row = Row({**row.args, "--out": "{tmp}/run2"}, row.check, row.resume,
                      row.positional)
    code, stdout, err = _run(capsys, _argv(command, row, ctx))
    assert code == 0, err
    if command == "train":
        ctx["config"] = _config(ctx["out"])
    ctx.update(stdout=stdout, err=err)
    row.check(ctx)
    if row.resume is None:
        return
    # the same option must hold after `train --resume` (which reads config.json back)
    seen.trainers.clear()
    seen.data.clear()
    seen.mc.clear()
    seen.threads.clear()
    argv = ["train", "--out", str(ctx["out"]), "--resume", "--quiet", *row.resume]
    if option == "--threads":
        argv += ["--threads", "1"]
    code, stdout, err = _run(capsys, argv)
    assert code == 0, err
    ctx.update(config=_config(ctx["out"]), resumed=True, stdout=stdout, err=err)
    row.check(ctx)


# -- the paper's defaults --------------------------------------------------------------------
#: Gal & Ghahramani (2016) train LeNet with Caffe's solver: base_lr 0.01, momentum 0.9,
#: weight_decay 0.0005, lr_policy "inv" with gamma 0.0001 and power 0.75, batch 64; p = 0.5.
PAPER = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "gamma": 1e-4, "power": 0.75,
         "batch_size": 64, "p": 0.5, "length_scale": None, "model": "lenet-all"}


def test_train_defaults_are_the_papers(seen, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TINYBCNN_THREADS", raising=False)
    out = tmp_path / "run"
    code, _, err = _run(capsys, ["train", "--out", str(out), "--train-size", "64",
                                 "--test-size", "32", "--iterations", "2", "--eval-samples",
                                 "0", "--quiet"])
    assert code == 0, err
    config = _config(out)
    for key, value in PAPER.items():
        assert config[key] == value, (key, config[key], value)
    trainer = seen.trainers[-1]
    assert trainer.optimizer.base_lr == 0.01 and trainer.optimizer.momentum == 0.9
    for it in (0, 1, 1000, 10_000):   # Caffe's inv: base_lr (1 + gamma it)^-power
        assert trainer.optimizer.schedule(0.01, it) == pytest.approx(
            0.01 * (1 + 1e-4 * it) ** -0.75, rel=1e-12)
    assert trainer.objective.weight_decay == 5e-4 and trainer.objective.length_scale is None
    assert _dropout_ps(trainer.model) == [0.5] * len(_dropout_ps(trainer.model))
    assert _dropout_ps(trainer.model)
    assert trainer.state()["batch_size"] == 64


def test_epochs_default_is_ten(seen, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _run(capsys, ["train", "--out", str(out), "--train-size", "64",
                                 "--test-size", "32", "--eval-samples", "0", "--quiet",
                                 "--batch-size", "64"])
    assert code == 0, err
    assert seen.trainers[-1].iteration == 10   # 10 epochs of one 64-image batch
