"""The BLAS thread decision (tinybcnn.threads) with injected CPUs and load, and its override."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tinybcnn import threads
from tinybcnn.threads import ENV_VAR, choose_threads

NO_ENV: dict[str, str] = {}


@pytest.mark.parametrize("cpus, load, want", [
    (2, 0.0, 2), (2, 0.3, 2),     # idle machine: every CPU
    (2, 0.6, 1), (2, 1.2, 1),     # another process keeps one core busy: 1 thread
    (2, 2.0, 1), (2, 9.5, 1),     # overloaded: 1 thread, never 0
    (8, 2.4, 6), (8, 0.0, 8), (1, 0.0, 1),
])
def test_automatic_choice_leaves_the_busy_cores(cpus, load, want):
    choice = choose_threads(cpus=cpus, whole_machine=True, load=load, environ=NO_ENV)
    assert choice.threads == want
    assert f"{cpus} CPUs" in choice.reason and f"{load:.2f}" in choice.reason


def test_load_is_ignored_when_it_is_not_about_our_cpus():
    # pinned to 2 CPUs of a big machine (or under a cgroup quota): the machine-wide load
    # says nothing about them
    choice = choose_threads(cpus=2, whole_machine=False, load=30.0, environ=NO_ENV)
    assert choice.threads == 2 and "load" not in choice.reason


def test_platform_without_load_average(monkeypatch):
    monkeypatch.setattr(threads, "_load_average", lambda: None)
    assert choose_threads(cpus=4, whole_machine=True, environ=NO_ENV).threads == 4


def test_busy_cores_are_the_run_queue_now_not_the_lagging_load_average(monkeypatch, tmp_path):
    # a competitor with 2 spinning threads started a second ago: the 1-min average is still
    # low, the run queue is not (3 runnable tasks, one of them this process)
    proc = tmp_path / "loadavg"
    proc.write_text("0.10 0.05 0.01 3/120 4242\n")
    monkeypatch.setattr(threads, "_PROC_LOADAVG", proc)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.10, 0.05, 0.01))
    # this process runs one thread here (the tests before may have left BLAS threads spinning)
    idle = tmp_path / "idle"
    (idle / "1").mkdir(parents=True)
    (idle / "1" / "stat").write_text("1 (python3) R 1 2 3\n")
    monkeypatch.setattr(threads, "_OWN_TASKS", idle)
    assert threads._load_average() == 2.0
    proc.write_text("1.80 0.90 0.30 1/120 4242\n")        # only us, right after a run of
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.80, 0.90, 0.30))   # our own
    assert threads._load_average() == 0.0                  # the lagging average is not used
    assert choose_threads(cpus=2, whole_machine=True, environ=NO_ENV).threads == 2
    # this process's own runnable threads (BLAS workers still spinning) are not competitors
    tasks = tmp_path / "task"
    for tid, state in [(10, "R"), (11, "R"), (12, "S")]:
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (python3 x) {state} 1 2 3\n")
    monkeypatch.setattr(threads, "_OWN_TASKS", tasks)
    proc.write_text("0.10 0.05 0.01 4/120 4242\n")        # 2 of ours + 2 of a competitor
    assert threads._own_running_threads() == 2
    assert threads._load_average() == 2.0
    proc.write_text("0.10 0.05 0.01 2/120 4242\n")        # only our two
    assert threads._load_average() == 0.0
    monkeypatch.setattr(threads, "_PROC_LOADAVG", tmp_path / "missing")   # not Linux
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.5, 1.0, 0.5))
    assert threads._load_average() == 1.5


def test_override_order_flag_then_environment_then_automatic():
    env = {ENV_VAR: "3"}
    assert choose_threads(1, cpus=2, whole_machine=True, load=5.0, environ=env).threads == 1
    choice = choose_threads(cpus=4, whole_machine=True, load=5.0, environ=env)
    assert choice.threads == 3 and choice.reason == ENV_VAR
    assert choose_threads(cpus=2, whole_machine=True, load=5.0,
                          environ={ENV_VAR: " "}).threads == 1


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_environment_value_is_one_clear_error(bad):
    with pytest.raises(ValueError, match=ENV_VAR):
        choose_threads(environ={ENV_VAR: bad})


def test_cgroup_quota_caps_the_cpus(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")
    assert threads._cgroup_quota_cpus(cpu_max) == 2
    cpu_max.write_text("max 100000\n")
    assert threads._cgroup_quota_cpus(cpu_max) is None
    assert threads._cgroup_quota_cpus(tmp_path / "missing") is None


def test_measured_cpus_are_sane():
    cpus, _ = threads.available_cpus()
    assert cpus >= 1


def test_apply_threads_limits_blas_as_threadpoolctl_reports(monkeypatch):
    import threadpoolctl  # a dependency of the package (pyproject.toml)
    before = threadpoolctl.threadpool_info()
    if not any(d.get("user_api") == "blas" for d in before):
        pytest.skip("no BLAS library loaded")
    try:
        choice = threads.apply_threads(1)
        assert choice.threads == 1 and choice.reason == "--threads"
        assert all(b["num_threads"] == 1 for b in threads.blas_threads())
        assert threads.describe(1).startswith(
            "evaluation and prediction on 1 BLAS thread (--threads; change with --threads N "
            "or TINYBCNN_THREADS=N); training steps on 1 core: each batch in two halves one "
            "after the other, on one BLAS thread; BLAS libraries: ")
        assert threads.describe(2).startswith(
            "evaluation and prediction on 2 BLAS threads (--threads; change with --threads N "
            "or TINYBCNN_THREADS=N); training steps on 2 cores: each batch in two halves")
        monkeypatch.setattr(threads, "available_cpus", lambda: (8, True))  # 4 <= the CPUs
        assert threads.describe(4).startswith(
            "evaluation and prediction on 4 BLAS threads (--threads; change with --threads N "
            "or TINYBCNN_THREADS=N); training steps on 2 cores: each batch in two halves side "
            "by side, one BLAS thread each; BLAS libraries: ")  # the same halves on 4
    finally:  # restore what was there
        for d in before:
            if d.get("user_api") == "blas":
                threadpoolctl.threadpool_limits(limits=d["num_threads"], user_api="blas")


@pytest.mark.slow   # fresh interpreters running the command line
def test_cli_threads_flag_and_info(tmp_path):
    # --threads is accepted by the commands that train or predict, and `info` reports the
    # choice and the BLAS library without asking to install threadpoolctl (a dependency now;
    # "cupy": "not installed" is a fact about the GPU, not a request)
    env_cmd = [sys.executable, "-m", "tinybcnn"]
    out = subprocess.run(env_cmd + ["info"], capture_output=True, text=True, timeout=120,
                         env={**_env(), ENV_VAR: "1"})
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["threads"].startswith(f"evaluation and prediction on 1 BLAS thread ({ENV_VAR}; "
                                      f"change with --threads N or {ENV_VAR}=N); training "
                                      "steps on 1 core: ")
    assert "threadpoolctl" not in out.stdout
    assert not [v for k, v in info.items() if k != "cupy" and "install" in str(v)]
    bad = subprocess.run(env_cmd + ["train", "--threads", "0", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=120, env=_env())
    assert bad.returncode == 2 and "--threads" in bad.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != ENV_VAR}


# -- small_work_threads: one thread for small matrices, unless the user chose -------------------
def _blas_or_skip() -> None:
    if not threads.blas_threads():
        pytest.skip("no BLAS library loaded")


def _counts() -> set[int]:
    return {b["num_threads"] for b in threads.blas_threads()}


@pytest.mark.parametrize("applied, env, expected", [
    (None, None, 1),                                               # nothing chosen: one thread
    (threads.ThreadChoice(2, "2 CPUs, load 0.10"), None, 1),       # automatic choice: one thread
    (threads.ThreadChoice(2, "--threads"), None, 2),               # --threads 2 is obeyed
    (None, "2", 2),                                                # TINYBCNN_THREADS=2 too
])
def test_small_work_threads_obeys_an_explicit_choice_only(monkeypatch, applied, env, expected):
    import threadpoolctl
    _blas_or_skip()
    monkeypatch.setattr(threads, "_applied", applied)
    if env is None:
        monkeypatch.delenv(threads.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(threads.ENV_VAR, env)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with threads.small_work_threads():
            assert _counts() == {expected}
        assert _counts() == {2}                                    # restored after the block


def test_user_chose_threads_reads_the_environment_and_the_applied_choice(monkeypatch):
    monkeypatch.setattr(threads, "_applied", None)
    assert not threads.user_chose_threads(environ={})
    assert threads.user_chose_threads(environ={threads.ENV_VAR: "3"})
    assert not threads.user_chose_threads(environ={threads.ENV_VAR: "  "})
    monkeypatch.setattr(threads, "_applied", threads.ThreadChoice(1, "--threads"))
    assert threads.user_chose_threads(environ={})


@pytest.mark.slow   # trains a regression network
def test_regression_experiment_trains_with_the_users_thread_count(monkeypatch):
    """`experiment regression --threads 2` trains with 2 BLAS threads, not the pinned 1."""
    import threadpoolctl

    from tinybcnn.experiments import regression
    _blas_or_skip()
    seen: list[set[int]] = []
    real_fit = regression.Trainer.fit

    def recording_fit(self, *args, **kwargs):
        seen.append(_counts())
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(regression.Trainer, "fit", recording_fit)
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    x = np.linspace(-1, 1, 16, dtype=np.float32)[:, None]
    settings = regression.QUICK
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        monkeypatch.setattr(threads, "_applied", threads.ThreadChoice(2, "--threads"))
        regression.train_regression(x, x, length_scale=1e-2, tau=10.0, settings=settings)
        monkeypatch.setattr(threads, "_applied", None)
        regression.train_regression(x, x, length_scale=1e-2, tau=10.0, settings=settings)
    assert seen == [{2}, {1}]


# -- step_threads: training steps keep the CPUs when the load lowers the BLAS count ------------
@pytest.mark.parametrize("cpus, whole_machine, load", [
    (2, True, 1.2), (2, True, 0.0), (2, False, 30.0), (8, True, 2.4), (1, True, 0.0)])
def test_automatic_choice_gives_training_steps_the_cpus_whatever_the_load(
        cpus, whole_machine, load):
    choice = choose_threads(cpus=cpus, whole_machine=whole_machine, load=load,
                            environ=NO_ENV)
    assert choice.steps == cpus
    assert choice.threads == (max(1, cpus - round(load)) if whole_machine else cpus)


def test_an_explicit_count_is_the_steps_count_too():
    assert choose_threads(1, cpus=2, whole_machine=True, load=0.0, environ=NO_ENV).steps == 1
    assert choose_threads(cpus=2, whole_machine=True, load=0.0,
                          environ={ENV_VAR: "1"}).steps == 1
    assert threads.ThreadChoice(3, "--threads").steps == 3


def test_on_a_busy_two_core_machine_blas_gets_one_thread_and_steps_keep_their_halves(
        monkeypatch):
    """The automatic choice beside a competitor: products on 1 BLAS thread (they would
    spin), training steps in two halves (they do not: benchmarks/README.md, busy machine)."""
    import tinybcnn as tb
    from tinybcnn.training.split import split_parts
    _blas_or_skip()
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: (2, True))
    monkeypatch.setattr(threads, "_load_average", lambda: 1.1)
    choice = threads.apply_threads(None)
    assert (choice.threads, choice.steps) == (1, 2)
    assert _counts() == {1} and threads.step_threads() == 2
    model = tb.models.lenet("all", seed=0)
    objective = tb.objective.Objective.for_model(model, n_train=100, weight_decay=5e-4)
    x = np.zeros((16, 1, 28, 28), np.float32)
    assert split_parts(x, model, objective) == 2
    assert threads.describe().startswith(
        "evaluation and prediction on 1 BLAS thread (2 CPUs, load 1.10: about 1 core busy "
        "with other work; change with --threads N or TINYBCNN_THREADS=N); training steps on 2 "
        "cores: each batch in two halves")
    with threads.small_work_threads():          # small work: the halves on one thread
        assert threads.step_threads() == 1 and split_parts(x, model, objective) == 2
    assert threads.step_threads() == 2          # restored after the block
    monkeypatch.setattr(threads, "_load_average", lambda: 0.0)
    assert threads.apply_threads(1).steps == 1 and split_parts(x, model, objective) == 2


def test_without_a_choice_steps_follow_the_blas_count():
    import threadpoolctl
    _blas_or_skip()
    for n in (1, 2):
        with threadpoolctl.threadpool_limits(limits=n, user_api="blas"):
            assert threads.step_threads() == n


def test_same_threads_as_sets_both_counts_and_restores_them(monkeypatch):
    import threadpoolctl
    _blas_or_skip()
    monkeypatch.delenv(ENV_VAR, raising=False)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with threads.same_threads_as(1, started_steps=2):
            assert _counts() == {1} and threads.step_threads() == 2
        assert _counts() == {2} and threads.step_threads() == 2
        with threads.same_threads_as(1):          # a run recorded before steps had a count
            assert _counts() == {1} and threads.step_threads() == 1
        monkeypatch.setattr(threads, "_applied", threads.ThreadChoice(2, "--threads"))
        with pytest.warns(UserWarning, match=r"started with 1 BLAS thread \(training steps "
                                             r"on 2\) and continues with 2 BLAS threads"):
            with threads.same_threads_as(1, started_steps=2):
                assert _counts() == {2}           # the explicit count wins
