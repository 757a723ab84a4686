"""Resources are bounded the same way everywhere (issue 30, C1/C2).

- A thread count recorded in a run's config.json is clamped to the CPUs available when the
  run is resumed, with a warning, as ``--threads`` is (before: 64 recorded threads resumed on
  64 BLAS threads on a 2-CPU machine, silently, 14 times slower).
- Every ``--samples`` and ``train --eval-samples`` takes at most 10,000 (before: only
  ``predict --samples``; ``evaluate --samples 1000000000`` ran until killed).
- A run whose config.json asks for more evaluation samples than that (one stuck in an
  evaluation that would take days) is refused on a plain resume, in one line saying what to
  do, and resumes with ``--eval-samples T``: the evaluations change, the weights do not (the
  oracle: the same run resumed with its own count).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import threadpoolctl
from support.cli_capture import TINY_TRAIN, run_cli

from tinybcnn.checkpoint import read_checkpoint
from tinybcnn.threads import available_cpus

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("bounds") / "run"
    code, _, err = run_cli([*TINY_TRAIN, "--out", run])
    assert code == 0, err
    return run


def _set_config(run, **values):
    path = run / "config.json"
    config = json.loads(path.read_text())
    config.update(values)
    path.write_text(json.dumps(config))


def test_a_recorded_thread_count_above_the_cpus_is_clamped_on_resume(tiny_run, tmp_path,
                                                                      monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    _set_config(run, blas_threads=64, step_threads=64)
    monkeypatch.delenv("TINYBCNN_THREADS", raising=False)
    limits = []
    real = threadpoolctl.threadpool_limits

    def spy(limits_=None, *args, **kwargs):
        limits.append(kwargs.get("limits", limits_))
        return real(*((limits_,) if limits_ is not None else ()), *args, **kwargs)

    monkeypatch.setattr(threadpoolctl, "threadpool_limits", spy)
    code, _, err = run_cli(["train", "--resume", "--iterations", "3", "--quiet", "--out", run])
    assert code == 0, err
    cpus = available_cpus()[0]
    assert limits and max(limits) <= cpus, limits
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "64" in warning[0] and f"{cpus} CPUs" in warning[0], err


@pytest.mark.parametrize("argv", [
    ["evaluate", "{run}", "--samples", "10001"],
    ["predict", "{run}", "{run}/config.json", "--samples", "10001"],
    ["train", "--out", "{new}", "--eval-samples", "10001"],
    ["demo", "--out", "{new}", "--samples", "10001"],
    ["experiment", "active-learning", "--out", "{new}", "--samples", "10001"],
])
def test_every_samples_option_is_bounded(tiny_run, tmp_path, argv):
    argv = [a.format(run=tiny_run, new=tmp_path / "new") for a in argv]
    code, out, err = run_cli([*argv, "--quiet"])
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "10,000" in err and "10001" in err
    assert not (tmp_path / "new").exists()


def test_ten_thousand_samples_is_accepted_where_it_is_the_bound():
    from tinybcnn.cli import build_parser

    args = build_parser().parse_args(["evaluate", ".", "--samples", "10000"])
    assert args.samples == 10_000
    args = build_parser().parse_args(["train", "--out", "x", "--eval-samples", "10000"])
    assert args.eval_samples == 10_000


def _params(run):
    return read_checkpoint(run / "checkpoint.npz").params


def test_a_run_stuck_on_huge_eval_samples_resumes_with_a_sane_count(tiny_run, tmp_path):
    stuck, oracle = tmp_path / "stuck", tmp_path / "oracle"
    shutil.copytree(tiny_run, stuck)
    shutil.copytree(tiny_run, oracle)
    _set_config(stuck, eval_samples=10**9)
    before = {p.name: p.read_bytes() for p in stuck.iterdir()}
    code, _, err = run_cli(["train", "--resume", "--iterations", "3", "--quiet", "--out", stuck])
    assert code == 2 and err.count("\n") == 1, err
    assert "eval_samples 1,000,000,000" in err and "--eval-samples" in err
    assert {p.name: p.read_bytes() for p in stuck.iterdir()} == before
    code, _, err = run_cli(["train", "--resume", "--iterations", "3", "--eval-samples", "3",
                            "--quiet", "--out", stuck])
    assert code == 0, err
    assert json.loads((stuck / "config.json").read_text())["eval_samples"] == 3
    code, _, err = run_cli(["train", "--resume", "--iterations", "3", "--quiet",
                            "--out", oracle])
    assert code == 0, err
    a, b = _params(stuck), _params(oracle)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
