"""A run's identity decides what a command may reuse, continue or replace (the data-loss cases).

- The demo run again in its folder never removes a run with other settings (one the user
  extended with ``train --resume``): it is refused in one line, the folder left byte for byte
  as it was, and ``--replace`` trains it afresh.
- Nothing is removed before the run's lock is held: a demo (even with ``--replace``) whose run
  another process is training is refused with the folder untouched.
- ``experiment active-learning`` run again without ``--resume`` refuses the saved state of an
  interrupted run instead of discarding it; ``--replace`` discards it.
- ``evaluate --dataset D`` writes one file per data set (no two data sets share a name), and
  the run's own data set given as ``--dataset`` is the run's own ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn.backend import get_backend, set_backend
from tinybcnn.cli import main
from tinybcnn.files.runlock import RunLocked, run_lock
from tinybcnn.runs import dataset_key, metrics_path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

DEMO = ["demo", "--quiet", "--train-size", "100", "--test-size", "100", "--iterations", "4",
        "--samples", "2"]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``tinybcnn.cli.main(argv)`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    before = get_backend()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        set_backend(before)
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (relative name -> bytes, None for a folder); the lock
    file's contents are left out (it is emptied, never removed, by every writer)."""
    seen: dict[str, bytes | None] = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            seen[os.path.relpath(os.path.join(root, d), folder)] = None
        for f in files:
            path = os.path.join(root, f)
            seen[os.path.relpath(path, folder)] = (b"" if f == ".tinybcnn.lock"
                                                   else Path(path).read_bytes())
    return seen


@pytest.fixture(scope="module")
def extended_demo(tmp_path_factory):
    """A demo folder whose lenet-all run the user extended from 4 to 6 iterations."""
    out = tmp_path_factory.mktemp("identity") / "demo"
    code, _, err = run_cli([*DEMO, "--out", out])
    assert code == 0, err
    code, _, err = run_cli(["train", "--resume", "--iterations", "6", "--quiet",
                            "--out", out / "lenet-all"])
    assert code == 0, err
    assert json.loads((out / "lenet-all" / "config.json").read_text())["iterations"] == 6
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_demo_again_refuses_a_run_extended_by_train_resume(extended_demo, tmp_path):
    out = copy_tree(extended_demo, tmp_path / "demo")
    before = snapshot(out)
    code, _, err = run_cli([*DEMO, "--out", out])
    assert code == 2
    assert err.count("\n") == 1 and "lenet-all" in err and "iterations 6 there, 4 here" in err
    assert "--replace" in err
    assert snapshot(out) == before       # nothing written, nothing removed


def test_demo_checks_both_runs_before_training_either(extended_demo, tmp_path):
    """lenet-ip extended, lenet-all's run gone: refused before lenet-all is trained again."""
    import shutil

    out = copy_tree(extended_demo, tmp_path / "demo")
    shutil.rmtree(out / "lenet-all")
    code, _, err = run_cli(["train", "--resume", "--iterations", "6", "--quiet",
                            "--out", out / "lenet-ip"])
    assert code == 0, err
    before = snapshot(out)
    code, _, err = run_cli([*DEMO, "--out", out])
    assert code == 2 and "lenet-ip" in err, err
    assert snapshot(out) == before       # lenet-all was not trained first


def test_demo_replace_trains_the_other_run_afresh(extended_demo, tmp_path):
    out = copy_tree(extended_demo, tmp_path / "demo")
    (out / "lenet-all" / "metrics.json").write_text("{}")   # an evaluation of the old run
    code, _, err = run_cli([*DEMO, "--replace", "--out", out])
    assert code == 0, err
    config = json.loads((out / "lenet-all" / "config.json").read_text())
    assert config["iterations"] == 4
    assert not (out / "lenet-all" / "metrics.json").exists()   # it scored the replaced run


def test_nothing_is_removed_while_another_process_trains_the_run(extended_demo, tmp_path):
    """The run's lock held elsewhere (flock: a second open file description conflicts even in
    this process): the demo is refused, with and without --replace, and the folder is as it
    was. Before, the demo deleted config.json and the checkpoint, then met the lock."""
    out = copy_tree(extended_demo, tmp_path / "demo")
    # the same settings as the demo's, so only the lock stands in the way
    code, _, err = run_cli([*DEMO, "--replace", "--out", out])
    assert code == 0, err
    before = snapshot(out)
    for extra in ([], ["--replace"]):
        with run_lock(out / "lenet-all"):
            code, _, err = run_cli([*DEMO, *extra, "--out", out])
        assert code == 2 and "in use by process" in err, err
        assert snapshot(out) == before


def test_train_replace_removes_the_run_only_under_its_lock(extended_demo, tmp_path):
    from tinybcnn.runs import RunConfig, train_run

    run = copy_tree(extended_demo / "lenet-all", tmp_path / "run")
    before = snapshot(run)
    config = RunConfig(train_size=100, test_size=100, iterations=2, seed=0)
    with run_lock(run), pytest.raises(RunLocked):
        train_run(config, run, progress=False, replace=True)
    assert snapshot(run) == before
    code, _, err = run_cli(["train", "--out", run, "--train-size", "100", "--test-size", "100",
                            "--iterations", "2", "--quiet"])
    assert code == 2 and "--resume" in err                      # without --replace: refused
    assert snapshot(run) == before
    code, _, err = run_cli(["train", "--out", run, "--train-size", "100", "--test-size", "100",
                            "--iterations", "2", "--quiet", "--replace"])
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["iterations"] == 2
    code, _, err = run_cli(["train", "--out", run, "--resume", "--replace", "--quiet"])
    assert code == 2 and "not both" in err


AL = ["experiment", "active-learning", "--quick", "--quiet", "--rounds", "1",
      "--acquisitions", "random", "--seeds", "1", "--iterations", "2", "--samples", "2"]


def test_active_learning_again_refuses_a_saved_state(tmp_path):
    out = tmp_path / "al"
    code, _, err = run_cli([*AL, "--out", out])
    assert code == 0, err
    state = out / "active_learning_state.json"
    assert state.is_file()
    before = snapshot(out)
    code, _, err = run_cli([*AL, "--out", out])
    assert code == 2 and "--resume" in err and "--replace" in err, err
    assert snapshot(out) == before
    code, _, err = run_cli([*AL, "--out", out, "--resume", "--replace"])
    assert code == 2 and "not both" in err
    assert snapshot(out) == before
    code, _, err = run_cli([*AL, "--out", out, "--replace"])
    assert code == 0, err
    assert state.is_file()


@given(st.lists(st.text(min_size=1, max_size=30), min_size=2, max_size=6, unique=True))
def test_metrics_files_are_one_per_data_set(names):
    keys = {dataset_key(n) for n in names}
    paths = {metrics_path("run", n) for n in names}
    assert len(paths) == len(keys)
    assert all(len(p.name.encode()) <= 255 for p in paths)


def test_metrics_file_names_that_a_lossy_slug_merged(tmp_path):
    """``idx:/x/a_b`` and ``idx:/x/a/b`` (and ``a:b``) were all ``metrics-idx_x_a_b.json``."""
    names = [f"idx:{tmp_path}/a_b", f"idx:{tmp_path}/a/b", f"idx:{tmp_path}/a:b",
             f"idx:{tmp_path}/a b"]
    assert len({metrics_path("run", n) for n in names}) == 4
    assert metrics_path("run", "fashion-mnist").name == "metrics-fashion-mnist.json"
    assert metrics_path("run", "idx:./d") == metrics_path("run", f"idx:{Path.cwd()}/d/")


def test_evaluate_with_the_runs_own_data_set_writes_metrics_json(extended_demo, tmp_path):
    run = copy_tree(extended_demo / "lenet-ip", tmp_path / "run")
    code, _, err = run_cli(["evaluate", run, "--dataset", "embedded", "--samples", "2",
                            "--quiet"])
    assert code == 0, err
    assert (run / "metrics.json").is_file()
    assert not list(run.glob("metrics-*.json"))
    assert json.loads((run / "metrics.json").read_text())["n_test"] == 100
