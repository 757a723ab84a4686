"""The run-folder rule (tinybcnn/files/rundir.py) through the real command line: issue 22's cases.

Each case runs ``tinybcnn.cli.main`` in this process (or ``python -m tinybcnn`` with a
timeout where a hang is the bug) and asserts exit 2, one line on stderr, no traceback, and
that every file of the user's is still there, byte for byte.

* Data loss: ``experiment --out`` a user's folder, a symlink, a training run, or a folder
  another experiment writes; a user's ``*.part`` files; a planted ``.tinybcnn.lock``.
* Tracebacks and hangs: deeply nested JSON as ``config.json`` or a checkpoint header; a FIFO
  as ``config.json``.
* Trusted too far: ``evaluate`` while training holds the lock; a checkpoint of another run
  (256 classes, another seed, more iterations); ``evaluate --dataset OTHER``.
* Limits: ``TINYBCNN_THREADS``, ``predict --samples``, ``idx:~/DIR``, ``TINYBCNN_QUICK``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.cli import TINY, assert_one_line_error, call, child_env, cli_cmd, train_tiny_run

from tinybcnn.backend import get_backend, set_backend
from tinybcnn.cli import build_parser
from tinybcnn.files.runlock import LOCK_NAME, run_lock
from tinybcnn.runs import CHECKPOINT, CONFIG, HISTORY, METRICS

USER = b"a user's own bytes, not tinybcnn's\n"
QUICK_DEMO = ["demo", "--quick", "--quiet", "--train-size", "100", "--iterations", "4",
              "--samples", "2"]
EXPERIMENTS = ["small-data", "mc-samples", "rotation", "ood", "regression", "active-learning"]


# trains tiny networks: the fast tier (pytest -m "not slow") leaves these out
pytestmark = [pytest.mark.slow,
              pytest.mark.usefixtures("keep_backend")]  # tests/conftest.py


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny finished run: 20 iterations, seed 0, a checkpoint at the end."""
    return train_tiny_run(tmp_path_factory.mktemp("rules") / "run")


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``, not following symlinks: name -> bytes, or the link."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = f"-> {os.readlink(p)}"
        elif p.is_file():
            out[rel] = p.read_bytes()
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = "special"
    return out


def user_folder(root: Path, *names: str) -> Path:
    folder = root / "mine"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(USER)
    return folder


def refused(argv: list, capsys, *keep: Path) -> str:
    """Run the CLI, expect a one-line refusal, and check ``keep`` folders are unchanged."""
    before = [tree(k) if k.is_dir() else k.read_bytes() for k in keep]
    code, _, err = call(argv, capsys)
    line = assert_one_line_error(code, err)
    after = [tree(k) if k.is_dir() else k.read_bytes() for k in keep]
    assert after == before, "a file that is not tinybcnn's was changed"
    return line


# ------------------------------------------------------------------------- 1. experiments


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_refuses_a_users_folder(name, tmp_path, capsys):
    key = name.replace("-", "_")
    folder = user_folder(tmp_path, f"{key}.json", "notes.txt")
    line = refused(["experiment", name, "--quick", "--quiet", "--out", folder], capsys, folder)
    assert str(folder) in line


@pytest.mark.parametrize("name", ["regression", "small-data"])
def test_experiment_refuses_a_users_results_file_even_alone(name, tmp_path, capsys):
    folder = user_folder(tmp_path, f"{name.replace('-', '_')}.json")
    refused(["experiment", name, "--quick", "--quiet", "--out", folder], capsys, folder)


def test_experiment_refuses_a_symlink_to_a_users_folder(tmp_path, capsys):
    folder = user_folder(tmp_path, "notes.txt")
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    line = refused(["experiment", "small-data", "--quick", "--quiet", "--out", link], capsys,
                   folder)
    assert "symbolic link" in line


def test_experiment_refuses_a_symlink_to_an_empty_folder(tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    refused(["experiment", "regression", "--quick", "--quiet", "--out", link], capsys, folder)
    assert not list(folder.iterdir())


def test_experiment_refuses_a_training_run_folder(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    refused(["experiment", "regression", "--quick", "--quiet", "--out", copy], capsys, copy)


def test_a_second_experiment_on_the_same_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    with run_lock(folder):  # the first experiment, still writing
        line = refused(["experiment", "regression", "--quick", "--quiet", "--out", folder],
                       capsys)
    assert "in use" in line
    assert not (folder / "regression.json").exists()


def test_an_experiment_folder_of_ours_is_reused_and_a_users_file_beside_it_kept(tmp_path,
                                                                               capsys):
    folder = tmp_path / "results"
    code, _, err = call(["experiment", "regression", "--quick", "--quiet", "--out", folder],
                        capsys)
    assert code == 0, err
    (folder / "notes.txt").write_bytes(USER)
    code, _, err = call(["experiment", "regression", "--quick", "--quiet", "--out", folder],
                        capsys)
    assert code == 0, err
    assert (folder / "notes.txt").read_bytes() == USER
    assert json.loads((folder / "regression.json").read_text())["experiment"] == "regression"


def test_train_and_demo_refuse_an_experiment_folder(tmp_path, capsys):
    folder = tmp_path / "results"
    assert call(["experiment", "regression", "--quick", "--quiet", "--out", folder],
                capsys)[0] == 0
    refused(["train", *TINY, "--out", folder], capsys, folder)
    refused([*QUICK_DEMO, "--out", folder], capsys, folder)


# -------------------------------------------------------------------- 2. a user's .part files


@pytest.mark.parametrize("names", [(".movie.mkv.part", "thesis.pdf.part"), (".backup.part",),
                                   (".x.part",), (".notes.txt.123.part",)])
def test_train_and_demo_do_not_count_a_users_part_files_as_empty(names, tmp_path, capsys):
    folder = user_folder(tmp_path, *names)
    refused(["train", *TINY, "--out", folder], capsys, folder)
    refused([*QUICK_DEMO, "--out", folder], capsys, folder)
    refused(["experiment", "regression", "--quick", "--quiet", "--out", folder], capsys,
            folder)


def test_only_the_packages_own_temp_names_are_cleaned_up(run, tmp_path):
    from tinybcnn.cli import main

    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    stale = folder / f".{CHECKPOINT}.4242.deadbeef.part"   # what kill -9 mid-write leaves
    stale.write_bytes(b"half a checkpoint")
    users = [folder / n for n in (".movie.mkv.part", "thesis.pdf.part", ".backup.part",
                                  ".a.b.DEADBEEF.part", ".c.12.deadbee.part")]
    for p in users:
        p.write_bytes(USER)
    assert main(["train", "--resume", "--iterations", "21", "--quiet", "--out",
                 str(folder)]) == 0
    assert not stale.exists()
    assert all(p.read_bytes() == USER for p in users)


def test_remove_stale_parts_leaves_a_symlink_and_its_target(tmp_path):
    from tinybcnn.files.atomic import remove_stale_parts

    target = tmp_path / "precious"
    target.write_bytes(USER)
    folder = tmp_path / "d"
    folder.mkdir()
    link = folder / ".x.123.deadbeef.part"
    link.symlink_to(target)
    remove_stale_parts(folder)
    assert link.is_symlink() and target.read_bytes() == USER


# ------------------------------------------------------------------ 3. a planted lock file


def _planted_lock(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A folder whose only entry is a ``.tinybcnn.lock`` of ``kind``; and the user's file."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(USER)
    folder = tmp_path / "out"
    folder.mkdir()
    lock = folder / LOCK_NAME
    if kind == "symlink":
        lock.symlink_to(victim)
    elif kind == "dangling":
        lock.symlink_to(tmp_path / "would-be-created")
    elif kind == "hardlink":
        os.link(victim, lock)
    elif kind == "dir":
        lock.mkdir()
    elif kind == "fifo":
        os.mkfifo(lock)
    elif kind == "foreign":
        lock.write_bytes(USER)
    return folder, victim


LOCK_KINDS = ["symlink", "dangling", "hardlink", "dir", "fifo", "foreign"]


@pytest.mark.parametrize("kind", LOCK_KINDS)
@pytest.mark.parametrize("command", ["train", "demo", "experiment"])
def test_a_planted_lock_is_refused_and_its_target_left_alone(kind, command, tmp_path, capsys):
    folder, victim = _planted_lock(tmp_path, kind)
    argv = {"train": ["train", *TINY], "demo": QUICK_DEMO,
            "experiment": ["experiment", "regression", "--quick", "--quiet"]}[command]
    line = refused([*argv, "--out", folder], capsys, folder, victim)
    assert LOCK_NAME in line
    assert not (tmp_path / "would-be-created").exists()


@pytest.mark.parametrize("kind", LOCK_KINDS)
def test_evaluate_refuses_a_planted_lock_in_a_run(kind, run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder, ignore=shutil.ignore_patterns(LOCK_NAME))
    victim = tmp_path / "victim.txt"
    victim.write_bytes(USER)
    lock = folder / LOCK_NAME
    {"symlink": lambda: lock.symlink_to(victim),
     "dangling": lambda: lock.symlink_to(tmp_path / "would-be-created"),
     "hardlink": lambda: os.link(victim, lock), "dir": lock.mkdir,
     "fifo": lambda: os.mkfifo(lock), "foreign": lambda: lock.write_bytes(USER)}[kind]()
    refused(["evaluate", folder, "--samples", "2", "--quiet"], capsys, victim)
    assert not (folder / METRICS).exists()


def test_the_lock_is_opened_without_following_symlinks(tmp_path):
    """The lock module itself, past the folder check: a symlink raced in is not followed."""
    from tinybcnn.files.runlock import LockFileError

    folder, victim = _planted_lock(tmp_path, "symlink")
    with pytest.raises(LockFileError), run_lock(folder):
        pass
    assert victim.read_bytes() == USER


@pytest.mark.parametrize("name", [CONFIG, HISTORY, METRICS])
def test_a_run_file_that_is_a_symlink_is_refused(name, run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder, ignore=shutil.ignore_patterns(CHECKPOINT))  # no checkpoint:
    victim = tmp_path / "victim.txt"                                          # train may write
    victim.write_bytes((run / name).read_bytes() if name == CONFIG else USER)
    (folder / name).unlink(missing_ok=True)
    (folder / name).symlink_to(victim)
    refused(["train", *TINY, "--out", folder], capsys, folder, victim)


def test_atomic_write_replaces_a_symlink_rather_than_following_it(tmp_path):
    from tinybcnn.files.atomic import atomic_write_text

    victim = tmp_path / "victim.txt"
    victim.write_bytes(USER)
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    atomic_write_text(link, "{}\n")
    assert not link.is_symlink() and link.read_text() == "{}\n"
    assert victim.read_bytes() == USER


# ---------------------------------------------------- 4-5. nested JSON, FIFOs: one line, no hang

NESTED = "[" * 100_000 + "]" * 100_000


def _run_with(run: Path, tmp_path: Path, name: str, content: str | None) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    (folder / name).unlink()
    if content is None:
        os.mkfifo(folder / name)
    else:
        (folder / name).write_text(content)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "x.npy"
    np.save(path, np.zeros((2, 28, 28), np.uint8))
    return path


@pytest.mark.parametrize("command", ["evaluate", "predict", "train-resume", "train-out"])
def test_a_deeply_nested_config_is_one_line(command, run, tmp_path, images, capsys):
    folder = _run_with(run, tmp_path, CONFIG, NESTED)
    if command == "train-out":
        (folder / CHECKPOINT).unlink()
    argv = {"evaluate": ["evaluate", folder, "--samples", "2", "--quiet"],
            "predict": ["predict", folder, images, "--samples", "2"],
            "train-resume": ["train", "--resume", "--quiet", "--out", folder],
            "train-out": ["train", *TINY, "--out", folder]}[command]
    line = refused(argv, capsys, folder)
    assert "nested" in line


def test_a_deeply_nested_config_in_a_demo_folder_is_one_line(run, tmp_path, capsys):
    folder = tmp_path / "demo"
    folder.mkdir()
    shutil.copytree(run, folder / "lenet-all")
    (folder / "lenet-all" / CONFIG).write_text(NESTED)
    refused([*QUICK_DEMO, "--out", folder], capsys, folder)


def _with_header(src: Path, dst: Path, header: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(src) as z_in, zipfile.ZipFile(dst, "w") as z_out:
        for info in z_in.infolist():
            data = z_in.read(info)
            if info.filename == "header.npy":
                buf = __import__("io").BytesIO()
                np.save(buf, np.frombuffer(header, dtype=np.uint8))
                data = buf.getvalue()
            z_out.writestr(info.filename, data)


@pytest.mark.parametrize("command", ["evaluate", "predict", "train-resume"])
def test_a_deeply_nested_checkpoint_header_is_one_line(command, run, tmp_path, images, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    _with_header(run / CHECKPOINT, folder / CHECKPOINT, NESTED.encode())
    argv = {"evaluate": ["evaluate", folder, "--samples", "2", "--quiet"],
            "predict": ["predict", folder, images, "--samples", "2"],
            "train-resume": ["train", "--resume", "--iterations", "30", "--quiet", "--out",
                             folder]}[command]
    line = refused(argv, capsys, folder)
    assert CHECKPOINT in line


@pytest.mark.parametrize("command", ["evaluate", "predict", "train-resume", "train-out"])
def test_a_fifo_as_config_is_refused_without_hanging(command, run, tmp_path, images):
    folder = _run_with(run, tmp_path, CONFIG, None)
    if command == "train-out":
        (folder / CHECKPOINT).unlink()
    argv = {"evaluate": ["evaluate", folder, "--samples", "2", "--quiet"],
            "predict": ["predict", folder, images, "--samples", "2"],
            "train-resume": ["train", "--resume", "--quiet", "--out", folder],
            "train-out": ["train", *TINY, "--out", folder]}[command]
    try:
        done = subprocess.run(cli_cmd(*argv), capture_output=True, text=True, env=child_env(),
                              timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command} hung on a FIFO named {CONFIG}")
    line = assert_one_line_error(done.returncode, done.stderr)
    assert CONFIG in line


# ------------------------------------------------------------- 6-8. trusted too far


def test_evaluate_is_refused_while_another_process_holds_the_lock(run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    with run_lock(folder):  # training, in another process as far as the file lock goes
        line = refused(["evaluate", folder, "--samples", "2", "--quiet"], capsys, folder)
    assert "in use" in line


def test_evaluate_records_the_iteration_and_the_dataset(run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    code, _, err = call(["evaluate", folder, "--samples", "2", "--quiet"], capsys)
    assert code == 0, err
    metrics = json.loads((folder / METRICS).read_text())
    assert metrics["iteration"] == 20 and metrics["dataset"] == "embedded"


def test_evaluate_on_another_dataset_keeps_the_runs_own_metrics(run, tmp_path, capsys):
    from support.cli import write_idx_dir

    from tinybcnn.data import load_dataset

    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    assert call(["evaluate", folder, "--samples", "2", "--quiet"], capsys)[0] == 0
    own = (folder / METRICS).read_bytes()
    other = write_idx_dir(tmp_path / "other", load_dataset("embedded", progress=False)
                          .subset(50, 30, seed=3))
    code, out, err = call(["evaluate", folder, "--dataset", f"idx:{other}", "--samples", "2",
                           "--quiet"], capsys)
    assert code == 0, err
    assert (folder / METRICS).read_bytes() == own
    [path] = folder.glob("metrics-*.json")
    assert str(path) in out
    record = json.loads(path.read_text())
    assert record["dataset"] == f"idx:{other}" and record["n_test"] == 30
    assert record["iteration"] == 20


def _lenet_checkpoint(path: Path, n_classes: int) -> None:
    from tinybcnn.checkpoint import save_checkpoint
    from tinybcnn.models import lenet

    save_checkpoint(path, lenet("all", p=0.5, n_classes=n_classes, seed=0))


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_a_checkpoint_with_other_classes_is_refused(command, run, tmp_path, images, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    _lenet_checkpoint(folder / CHECKPOINT, 256)
    argv = {"evaluate": ["evaluate", folder, "--samples", "2", "--quiet"],
            "predict": ["predict", folder, images, "--samples", "2"]}[command]
    line = refused(argv, capsys, folder)
    assert "256" in line


@pytest.fixture(scope="module")
def seed7(tmp_path_factory) -> Path:
    from tinybcnn.cli import main

    path = tmp_path_factory.mktemp("seed7") / "run"
    before = get_backend()
    try:
        assert main(["train", *TINY, "--seed", "7", "--out", str(path)]) == 0
    finally:
        set_backend(before)
    return path


@pytest.mark.parametrize("command", ["resume", "evaluate", "predict"])
def test_a_checkpoint_of_another_seed_is_refused(command, run, seed7, tmp_path, images,
                                                 capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    shutil.copy(seed7 / CHECKPOINT, folder / CHECKPOINT)
    argv = {"resume": ["train", "--resume", "--iterations", "30", "--quiet", "--out", folder],
            "evaluate": ["evaluate", folder, "--samples", "2", "--quiet"],
            "predict": ["predict", folder, images, "--samples", "2"]}[command]
    line = refused(argv, capsys, folder)
    assert "seed 7" in line


def test_resume_to_fewer_iterations_than_done_is_refused(run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    line = refused(["train", "--resume", "--iterations", "10", "--quiet", "--out", folder],
                   capsys, folder)
    assert "20" in line and "10" in line


def test_a_checkpoint_past_the_configs_total_is_refused(run, tmp_path, capsys, images):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    config = json.loads((folder / CONFIG).read_text())
    (folder / CONFIG).write_text(json.dumps({**config, "iterations": 10}))
    refused(["evaluate", folder, "--samples", "2", "--quiet"], capsys, folder)
    refused(["train", "--resume", "--quiet", "--out", folder], capsys, folder)


# ----------------------------------------------------------------------------- 9. limits


def test_threads_above_the_cpus_are_clamped_and_said(monkeypatch, tmp_path, capsys):
    from tinybcnn.threads import available_cpus

    monkeypatch.setenv("TINYBCNN_THREADS", "99999")
    code, _, err = call(["train", *TINY, "--iterations", "2", "--out", tmp_path / "run"],
                        capsys)
    assert code == 0, err
    cpus = available_cpus()[0]
    assert "99999" in err and f"{cpus}" in err and "Traceback" not in err
    config = json.loads((tmp_path / "run" / CONFIG).read_text())
    assert config["blas_threads"] <= cpus and config["step_threads"] <= cpus


def test_predict_samples_above_the_cap_is_refused(run, images, capsys):
    from tinybcnn.cli import MAX_PREDICT_SAMPLES

    line = refused(["predict", run, images, "--samples", "1000000000"], capsys)
    assert f"{MAX_PREDICT_SAMPLES:,}" in line
    refused(["predict", run, images, "--samples", str(MAX_PREDICT_SAMPLES + 1)], capsys)


def test_idx_tilde_is_expanded_by_the_parser(monkeypatch, tmp_path):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    args = build_parser().parse_args(["train", "--dataset", "idx:~/data", "--out", "x"])
    assert Path(args.dataset[4:]).expanduser() == tmp_path / "data"


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("YES", True),
                                          ("on", True), ("0", False), ("false", False),
                                          ("no", False), ("off", False), ("", False)])
def test_tinybcnn_quick_accepts_the_usual_spellings(value, quick):
    from tinybcnn.envflags import quick_mode

    assert quick_mode({"TINYBCNN_QUICK": value}) is quick
    assert quick_mode({}) is False


@pytest.mark.parametrize("value", ["2", "maybe", "yes please", "1.0"])
def test_tinybcnn_quick_refuses_garbage_with_one_line(value):
    code = ("import sys; sys.path.insert(0, 'tutorials'); "
            "from tinybcnn.envflags import quick_mode; quick_mode()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**child_env(), "TINYBCNN_QUICK": value}, timeout=60, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "TINYBCNN_QUICK" in lines[0] and repr(value) in lines[0]


def test_predict_in_chunks_is_one_seeded_stream(run):
    """predict runs big jobs in chunks, with progress: the first chunk is exactly the
    unchunked prediction of its images, the rest agree within Monte Carlo error."""
    from tinybcnn.cli import _predict_with_progress
    from tinybcnn.data import as_float
    from tinybcnn.predict import mc_predict
    from tinybcnn.runs import load_run

    _, model = load_run(run)
    x = as_float(np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8))
    small = _predict_with_progress(model, x, 50, 3, progress=False)   # one chunk
    assert np.array_equal(small.probs, mc_predict(model, x, samples=50, seed=3).probs)
    chunked = _predict_with_progress(model, x, 200, 3, progress=False, work=400)  # 2 a chunk
    first = mc_predict(model, x[:2], samples=200, seed=3)
    assert np.array_equal(chunked.probs[:2], first.probs)
    whole = mc_predict(model, x, samples=200, seed=3)
    assert chunked.probs.shape == whole.probs.shape
    np.testing.assert_allclose(chunked.probs.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(chunked.probs, whole.probs, atol=0.15)


@pytest.mark.parametrize("script", sorted(Path(__file__).parents[2].glob("tutorials/[0-9]*.py")),
                         ids=lambda p: p.name)
def test_every_tutorial_reads_tinybcnn_quick_through_quick_mode(script):
    """``TINYBCNN_QUICK=yes`` was silently "no" (only "1" counted) in every tutorial."""
    text = script.read_text(encoding="utf-8")
    assert "QUICK = quick_mode()" in text
    assert 'os.environ.get("TINYBCNN_QUICK")' not in text


def test_a_tutorial_refuses_a_garbage_quick_value_with_one_line(tmp_path):
    script = Path(__file__).parents[2] / "tutorials" / "01_im2col.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env={**child_env(), "TINYBCNN_QUICK": "maybe",
                               "TINYBCNN_TUTORIAL_OUT": str(tmp_path)},
                          timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert [ln for ln in done.stderr.splitlines() if ln.strip()] == [
        "tinybcnn: error: TINYBCNN_QUICK must be 1, true, yes or on (or 0, false, no, off, "
        "unset), got 'maybe'"]
