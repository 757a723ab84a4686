"""The command line keeps its robustness promises (docs/architecture.md, "Conventions").

* Bad input — arguments, data folders, image files, checkpoints, a missing GPU — gets exit
  code 2 and exactly one line on stderr, never a traceback. Checked in-process through
  ``tinybcnn.cli.main`` for every case, and in real subprocesses (``python -m tinybcnn``)
  for one case of each kind.
* ``train`` → ``evaluate`` → ``predict`` round trip, with the ``metrics.json`` schema.
* Ctrl-C saves a checkpoint and exits 130; ``--resume`` then finishes the run with the very
  weights of an uninterrupted run.
* A NaN loss stops training with a one-line message, and any checkpoint left behind loads.
* ``info`` and ``--help``.

The tests near the end pin bugs found while writing this file (all fixed).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from support.cli import (
    LONG,
    TINY,
    assert_one_line_error,
    call,
    child_env,
    cli_cmd,
    cli_process,
    error_lines,
    run_cli,
    wait_for_file,
    write_idx_dir,
)

from tinybcnn.backend import get_backend, set_backend
from tinybcnn.checkpoint import read_checkpoint
from tinybcnn.cli import main
from tinybcnn.data import FASHION_MNIST_CLASSES, load_dataset, write_idx

METRIC_KEYS = {"error", "nll", "brier", "ece"}
HAS_CUPY = importlib.util.find_spec("cupy") is not None


# trains tiny networks: the fast tier (pytest -m "not slow") leaves these out
pytestmark = [pytest.mark.slow,
              pytest.mark.usefixtures("keep_backend")]  # tests/conftest.py


def flip_byte(path: Path, offset: int) -> None:
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 0xFF
    path.write_bytes(bytes(blob))


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def parse_predictions(stdout: str) -> list[tuple[int, int, float, float, float]]:
    """The rows ``image class prob entropy MI name`` of ``tinybcnn predict``; each name must be
    the Fashion-MNIST name of its class (the runs here train on the embedded data)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines[0].split() == ["image", "class", "prob", "entropy", "MI", "name"], lines[0]
    rows = []
    for line in lines[1:]:
        i, k, p, h, mi, *name = line.split()
        assert " ".join(name) == FASHION_MNIST_CLASSES[int(k)], line
        rows.append((int(i), int(k), float(p), float(h), float(mi)))
    return rows


def assert_sane_predictions(rows, n: int, n_classes: int = 10) -> None:
    assert [r[0] for r in rows] == list(range(n))
    for _, k, prob, entropy, mi in rows:
        assert 0 <= k < n_classes
        assert 1 / n_classes - 1e-3 <= prob <= 1
        assert -1e-3 <= entropy <= math.log(n_classes) + 1e-3
        assert -1e-3 <= mi <= entropy + 1e-3  # MI = H[mean] - mean H <= H[mean]


def assert_metrics_schema(m: dict, samples: int, n_test: int, extra: set[str] = frozenset()):
    assert set(m) == {"samples", "n_test", "standard", "mc"} | set(extra), set(m)
    assert m["samples"] == samples and m["n_test"] == n_test
    for kind in ("standard", "mc"):
        scores = m[kind]
        assert set(scores) == METRIC_KEYS, scores
        assert all(isinstance(v, float) and math.isfinite(v) for v in scores.values()), scores
        assert 0 <= scores["error"] <= 1
        assert 0 <= scores["ece"] <= 1
        assert 0 <= scores["brier"] <= 2
        assert scores["nll"] >= 0
        # errors are fractions of n_test images
        assert abs(scores["error"] * n_test - round(scores["error"] * n_test)) < 1e-6


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> dict[str, Path]:
    """Run directories, data folders and image files shared by the tests of this module.

    Everything is derived from two tiny runs trained in-process (lenet-all and lenet-ip).
    """
    root = tmp_path_factory.mktemp("cli")
    p: dict[str, Path] = {"root": root}
    p["run"] = root / "run"
    p["run_ip"] = root / "run-ip"
    before = get_backend()
    try:
        assert main(["train", *TINY, "--out", str(p["run"])]) == 0
        assert main(["train", "--model", "lenet-ip", "--train-size", "200", "--test-size",
                     "100", "--iterations", "2", "--eval-samples", "1", "--batch-size", "16",
                     "--quiet", "--out", str(p["run_ip"])]) == 0
    finally:
        set_backend(before)
    ckpt = read_checkpoint(p["run"] / "checkpoint.npz")

    # -- damaged and foreign checkpoints --------------------------------------------
    blob = (p["run"] / "checkpoint.npz").read_bytes()
    p["flip_param"] = copy_run(p["run"], root / "flip-param")  # a byte of conv1.W's data
    w = ckpt.params["conv1.W"].tobytes()
    flip_byte(p["flip_param"] / "checkpoint.npz", blob.index(w) + len(w) // 2)
    p["flip_opt"] = copy_run(p["run"], root / "flip-opt")  # a byte of a momentum buffer
    v = next(iter(ckpt.optimizer_state["buffers"].values())).tobytes()
    flip_byte(p["flip_opt"] / "checkpoint.npz", blob.index(v) + len(v) // 3)
    p["flip_header"] = copy_run(p["run"], root / "flip-header")  # a byte of the JSON header
    flip_byte(p["flip_header"] / "checkpoint.npz", blob.index(b'"format":') + 3)
    p["truncated"] = copy_run(p["run"], root / "truncated")
    (p["truncated"] / "checkpoint.npz").write_bytes(blob[: len(blob) // 2])
    # a well-formed archive whose header was edited (re-zipped, so zip's CRCs pass and only
    # the checkpoint's own checksum can tell)
    p["edited"] = copy_run(p["run"], root / "edited")
    with np.load(p["run"] / "checkpoint.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays["header"].tobytes())
    header["model"]["p"] = 0.25
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(p["edited"] / "checkpoint.npz", "wb") as f:
        np.savez(f, **arrays)
    p["no_ckpt"] = copy_run(p["run"], root / "no-ckpt")
    (p["no_ckpt"] / "checkpoint.npz").unlink()
    p["bad_config"] = copy_run(p["run"], root / "bad-config")
    (p["bad_config"] / "config.json").write_text("{ not json")
    # lenet-ip weights in a run whose config.json says lenet-all
    p["foreign"] = copy_run(p["run"], root / "foreign")
    shutil.copy(p["run_ip"] / "checkpoint.npz", p["foreign"] / "checkpoint.npz")

    # -- data folders ------------------------------------------------------------------
    data = load_dataset("embedded", progress=False).subset(200, 100, seed=0)
    p["idx"] = write_idx_dir(root / "idx", data)
    p["corrupt_idx"] = copy_run(p["idx"], root / "corrupt-idx")
    images = p["corrupt_idx"] / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-1000])  # truncated payload
    p["empty_dir"] = root / "empty"
    p["empty_dir"].mkdir()

    # -- image files for predict -------------------------------------------------------
    x = data.x_test[:5]
    np.save(p.setdefault("npy", root / "images.npy"), x)
    np.save(p.setdefault("npy4", root / "images-nchw.npy"), x[:, None])
    np.save(p.setdefault("npy_float", root / "images-float.npy"),
            x.astype(np.float32) / np.float32(256))
    write_idx(p.setdefault("idx_images", root / "images-idx3-ubyte"), x)
    write_idx(p.setdefault("idx_labels", root / "labels-idx1-ubyte"),
              data.y_test[:5].astype(np.uint8))
    np.save(p.setdefault("small", root / "small.npy"), x[:, :20, :20])
    np.save(p.setdefault("nan", root / "nan.npy"), np.full((2, 28, 28), np.nan, np.float32))
    np.save(p.setdefault("rgb", root / "rgb.npy"), np.zeros((2, 3, 28, 28), np.uint8))
    np.save(p.setdefault("ints", root / "ints.npy"), x.astype(np.int64))
    np.save(p.setdefault("pickled", root / "pickled.npy"), np.array([1, "a"], dtype=object),
            allow_pickle=True)
    np.save(p.setdefault("empty_npy", root / "empty.npy"), np.zeros((0, 28, 28), np.uint8))
    np.save(p.setdefault("float255", root / "float255.npy"), x.astype(np.float32))
    p.setdefault("garbage", root / "garbage.npy").write_bytes(b"not an array at all")
    return p


# ------------------------------------------------------------------------------ bad input

# (id, argv with {placeholders} from the `work` fixture, also run as a subprocess?)
BAD_INPUT = [
    # arguments
    ("train-size-negative", ["train", "--train-size", "-5", "--out", "{root}/x"], True),
    ("train-size-text", ["train", "--train-size", "many", "--out", "{root}/x"], False),
    ("iterations-zero", ["train", "--iterations", "0", "--out", "{root}/x"], True),
    ("epochs-zero", ["train", "--epochs", "0", "--out", "{root}/x"], False),
    ("epochs-and-iterations", ["train", "--epochs", "1", "--iterations", "5",
                               "--out", "{root}/x"], False),
    ("batch-size-zero", ["train", "--batch-size", "0", "--out", "{root}/x"], False),
    ("p-one", ["train", "--p", "1.0", "--out", "{root}/x"], True),
    ("p-negative", ["train", "--p", "-0.1", "--out", "{root}/x"], True),
    ("p-nan", ["train", "--p", "nan", "--out", "{root}/x"], False),
    ("lr-inf", ["train", "--lr", "inf", "--out", "{root}/x"], False),
    ("seed-negative", ["train", "--seed", "-1", "--out", "{root}/x"], False),
    ("model-unknown", ["train", "--model", "resnet", "--out", "{root}/x"], False),
    ("dataset-unknown", ["train", "--dataset", "foo", "--out", "{root}/x"], True),
    ("dataset-missing-dir", ["train", "--dataset", "idx:{root}/nope", "--out", "{root}/x"],
     True),
    ("out-missing", ["train", "--iterations", "5"], False),
    ("evaluate-missing-dir", ["evaluate", "{root}/nope"], True),
    ("evaluate-samples-zero", ["evaluate", "{run}", "--samples", "0"], False),
    ("predict-missing-images", ["predict", "{run}", "{root}/missing.npy"], True),
    ("predict-missing-run", ["predict", "{root}/nope", "{npy}"], False),
    ("unknown-subcommand", ["frobnicate"], True),
    # bare `tinybcnn` prints the help and exits 2: tests/cli/test_cli_light.py (issue 26)
    ("experiment-unknown", ["experiment", "everything", "--out", "{root}/x"], False),
    # arguments that are fine alone but not together with the data
    ("train-size-too-large", ["train", "--train-size", "100000", "--iterations", "1",
                              "--quiet", "--out", "{root}/x"], False),
    ("batch-larger-than-data", ["train", "--train-size", "20", "--batch-size", "64",
                                "--iterations", "1", "--quiet", "--out", "{root}/x"], False),
    ("resume-without-checkpoint", ["train", "--resume", "--quiet", "--out", "{empty_dir}"],
     False),
    # data folders
    ("idx-truncated-train", ["train", "--dataset", "idx:{corrupt_idx}", "--iterations", "1",
                             "--quiet", "--out", "{root}/x"], True),
    ("idx-truncated-evaluate", ["evaluate", "{run}", "--dataset", "idx:{corrupt_idx}",
                                "--samples", "1", "--quiet"], False),
    ("idx-files-missing", ["train", "--dataset", "idx:{empty_dir}", "--iterations", "1",
                           "--quiet", "--out", "{root}/x"], False),
    ("experiment-idx-files-missing", ["experiment", "small-data", "--quick", "--dataset",
                                      "idx:{empty_dir}", "--quiet", "--out", "{root}/x"],
     False),
    # checkpoints and run directories
    ("ckpt-flipped-param-byte", ["evaluate", "{flip_param}", "--samples", "1", "--quiet"],
     True),
    ("ckpt-flipped-param-byte-predict", ["predict", "{flip_param}", "{npy}"], False),
    ("ckpt-flipped-optimizer-byte", ["evaluate", "{flip_opt}", "--samples", "1", "--quiet"],
     False),
    ("ckpt-flipped-header-byte", ["evaluate", "{flip_header}", "--quiet"], False),
    ("ckpt-edited-header", ["evaluate", "{edited}", "--quiet"], True),
    ("ckpt-truncated", ["evaluate", "{truncated}", "--quiet"], False),
    ("ckpt-missing", ["evaluate", "{no_ckpt}", "--quiet"], False),
    ("run-not-a-run", ["evaluate", "{empty_dir}", "--quiet"], False),
    ("config-not-json", ["evaluate", "{bad_config}", "--quiet"], False),
    ("ckpt-foreign-resume", ["train", "--resume", "--quiet", "--out", "{foreign}"], True),
    # image files
    ("predict-wrong-image-size", ["predict", "{run}", "{small}"], True),
    ("predict-nan-images", ["predict", "{run}", "{nan}"], False),
    ("predict-three-channels", ["predict", "{run}", "{rgb}"], False),
    ("predict-int64-images", ["predict", "{run}", "{ints}"], False),
    ("predict-pickled-npy", ["predict", "{run}", "{pickled}"], True),
    ("predict-garbage-npy", ["predict", "{run}", "{garbage}"], False),
    ("predict-labels-as-images", ["predict", "{run}", "{idx_labels}"], False),
    ("predict-samples-zero", ["predict", "{run}", "{npy}", "--samples", "0"], False),
]


def _argv(template: list[str], work: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in work.items() if isinstance(v, Path)})
            for a in template]


@pytest.mark.parametrize("template", [pytest.param(t, id=i) for i, t, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2(template, work, capsys):
    code, _, err = call(_argv(template, work), capsys)
    assert_one_line_error(code, err)


def test_bad_input_in_real_processes(work):
    """One case of each kind through ``python -m tinybcnn``: exit 2, one line, no traceback."""
    cases = [(i, _argv(t, work)) for i, t, sub in BAD_INPUT if sub]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: run_cli(*c[1], cwd=work["root"]), cases))
    for (case, argv), result in zip(cases, results, strict=True):
        try:
            assert_one_line_error(result.returncode, result.stderr)
        except AssertionError as exc:
            raise AssertionError(f"{case}: tinybcnn {' '.join(argv)}: {exc}") from None


def test_error_lines_say_what_is_wrong(work, capsys):
    """A few messages checked for content, not only for shape."""
    expect = {
        ("train", "--p", "1.0", "--out", "-"): ["drop probability", "[0, 1)"],
        ("train", "--dataset", "foo", "--out", "-"): ["foo", "idx:DIR"],
        ("evaluate", str(work["flip_param"])): ["checkpoint.npz"],
        ("evaluate", str(work["edited"])): ["checksum"],
        ("train", "--resume", "--out", str(work["foreign"])): ["lenet-ip", "lenet-all"],
        ("predict", str(work["run"]), str(work["small"])): ["(28, 28)", "(20, 20)"],
        ("train", "--dataset", f"idx:{work['corrupt_idx']}", "--iterations", "1",
         "--out", str(work["root"] / "x")): ["train-images-idx3-ubyte", "holds"],
    }
    for argv, words in expect.items():
        code, _, err = call(list(argv), capsys)
        line = assert_one_line_error(code, err)
        for word in words:
            assert word in line, (argv, line)


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
@pytest.mark.parametrize("argv", [["info", "--backend", "cupy"],
                                  ["train", *TINY, "--backend", "cupy", "--out", "x"]],
                         ids=["info", "train"])
def test_cupy_backend_without_cupy_names_the_fix(argv, tmp_path):
    result = run_cli(*argv, cwd=tmp_path)
    line = assert_one_line_error(result.returncode, result.stderr)
    assert "CuPy" in line and "pip install" in line and "--backend numpy" in line, line
    assert not (tmp_path / "x").exists()


def test_bad_backend_in_the_environment(tmp_path):
    env = {**child_env(), "TINYBCNN_BACKEND": "tpu"}
    result = subprocess.run(cli_cmd("info"), capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120, check=False)
    line = assert_one_line_error(result.returncode, result.stderr)
    assert "TINYBCNN_BACKEND" in line


# ------------------------------------------------------------------------------ round trip


def test_train_evaluate_predict_round_trip(tmp_path, work, capsys):
    run = tmp_path / "run"
    result = run_cli("train", *TINY, "--out", run, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"trained 20 iterations into {run}" in result.stdout
    assert {"config.json", "checkpoint.npz", "history.csv"} <= {f.name for f in run.iterdir()}

    result = run_cli("evaluate", run, "--samples", "3", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert_metrics_schema(metrics, samples=3, n_test=100, extra={"dataset", "iteration"})
    assert (metrics["dataset"], metrics["iteration"]) == ("embedded", 20)
    # the printed table shows the same numbers as the file
    std_row = next(line for line in result.stdout.splitlines() if line.startswith("standard"))
    # (issue 26's one results format: error in percent, what was scored, where the file went)
    assert float(std_row.split()[1]) / 100 == pytest.approx(metrics["standard"]["error"],
                                                            abs=1e-4)
    assert any(line.startswith("MC (T=3)") for line in result.stdout.splitlines())
    assert "scored: embedded test set, 100 images, T = 3" in result.stdout
    assert result.stdout.strip().endswith(f"files: {run / 'metrics.json'}")

    # the same arguments in-process give the same run (and so the same metrics)
    code, _, err = call(["train", *TINY, "--out", tmp_path / "again"], capsys)
    assert code == 0, err
    a, b = (read_checkpoint(d / "checkpoint.npz") for d in (run, tmp_path / "again"))
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)

    result = run_cli("predict", run, work["npy"], "--samples", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = parse_predictions(result.stdout)
    assert_sane_predictions(rows, n=5)

    # IDX image files, and images of the wrong size: see test_predict_reads_every_image_format
    # _alike and BAD_INPUT


@pytest.mark.parametrize("images", ["npy4", "npy_float", "idx_images"])
def test_predict_reads_every_image_format_alike(images, work, capsys):
    """(N, 1, H, W) arrays, float images in [0, 1) scaled like the training data, and IDX files
    give exactly the predictions of the (N, H, W) uint8 .npy."""
    code, reference, err = call(["predict", work["run"], work["npy"], "--samples", "3"], capsys)
    assert code == 0, err
    code, out, err = call(["predict", work["run"], work[images], "--samples", "3"], capsys)
    assert code == 0, err
    assert parse_predictions(out) == parse_predictions(reference)


def test_predict_takes_a_single_image_and_its_seed(work, tmp_path, capsys):
    """A lone (H, W) image is a batch of one (N, H, W), and ``--seed`` draws the MC masks:
    the library's ``mc_predict(..., seed=S)`` numbers."""
    from tinybcnn.data import as_float
    from tinybcnn.predict import mc_predict
    from tinybcnn.runs import load_run

    images = np.load(work["npy"])
    np.save(tmp_path / "lone.npy", images[0])                    # (H, W)
    np.save(tmp_path / "batch_of_one.npy", images[:1])           # (1, H, W)
    outs = []
    for name in ("lone.npy", "batch_of_one.npy"):
        code, out, err = call(["predict", work["run"], tmp_path / name, "--samples", "3"],
                              capsys)
        assert code == 0, err
        outs.append(parse_predictions(out))
    assert len(outs[0]) == 1 and outs[0] == outs[1]
    _, model = load_run(work["run"])
    for seed in (1, 2):
        code, out, err = call(["predict", work["run"], work["npy"], "--samples", "3",
                               "--seed", seed], capsys)
        assert code == 0, err
        mc = mc_predict(model, as_float(images), samples=3, seed=seed)
        assert [row[4] for row in parse_predictions(out)] == pytest.approx(
            list(mc.mutual_info), abs=6e-4)                    # printed with 3 decimals


def test_evaluate_on_an_idx_copy_of_the_test_set(work, tmp_path, capsys):
    """``--dataset idx:DIR`` holding the run's own data gives the run's own metrics, in
    ``metrics-idx_<dir>.json`` beside the run's own ``metrics.json`` (left as it was)."""
    run = copy_run(work["run"], tmp_path / "run")
    assert call(["evaluate", run, "--samples", "2", "--quiet"], capsys)[0] == 0
    own_bytes = (run / "metrics.json").read_bytes()
    own = json.loads(own_bytes)
    code, _, err = call(["evaluate", run, "--dataset", f"idx:{work['idx']}", "--samples", "2",
                         "--quiet"], capsys)
    assert code == 0, err
    assert (run / "metrics.json").read_bytes() == own_bytes
    [path] = run.glob("metrics-idx*.json")
    other = json.loads(path.read_text())
    assert_metrics_schema(other, samples=2, n_test=100, extra={"dataset", "iteration"})
    assert other["dataset"] == f"idx:{work['idx']}"
    assert {**other, "dataset": own["dataset"]} == own


def test_train_on_an_idx_folder(work, tmp_path, capsys):
    code, out, err = call(["train", "--dataset", f"idx:{work['idx']}", "--iterations", "3",
                           "--batch-size", "16", "--eval-samples", "1", "--quiet",
                           "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert "trained 3 iterations" in out
    assert read_checkpoint(tmp_path / "run" / "checkpoint.npz").trainer["iteration"] == 3


# ------------------------------------------------------------------------------ Ctrl-C

def _history_without_time(run: Path) -> list[list[str]]:
    rows = [line.split(",") for line in (run / "history.csv").read_text().splitlines()]
    assert rows[0][-1] == "time"
    return [row[:-1] for row in rows]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_saves_a_checkpoint_and_resume_gives_the_uninterrupted_weights(tmp_path):
    # (one process at a time: two BLAS thread pools spinning on two cores slow each other
    # down many times over)
    run = tmp_path / "interrupted"
    with cli_process(*LONG, "--out", run, cwd=tmp_path) as proc:
        wait_for_file(proc, run / "checkpoint.npz")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, f"exit {proc.returncode}; stdout {out!r}; stderr {err!r}"
    line = assert_one_line_error(proc.returncode, err, code=130)
    assert "interrupted" in line and "--resume" in line and str(run / "checkpoint.npz") in line
    stopped = read_checkpoint(run / "checkpoint.npz").trainer["iteration"]
    assert 10 <= stopped < 120, stopped

    result = run_cli("train", "--resume", "--quiet", "--out", run, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "trained 120 iterations" in result.stdout

    result = run_cli(*LONG, "--out", "reference", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    a = read_checkpoint(tmp_path / "reference" / "checkpoint.npz")
    b = read_checkpoint(run / "checkpoint.npz")
    assert a.trainer["iteration"] == b.trainer["iteration"] == 120
    assert a.params.keys() == b.params.keys()
    for name in a.params:
        assert a.params[name].dtype == b.params[name].dtype
        assert np.array_equal(a.params[name], b.params[name]), name
    buffers_a, buffers_b = a.optimizer_state["buffers"], b.optimizer_state["buffers"]
    assert buffers_a.keys() == buffers_b.keys()
    for name in buffers_a:
        assert np.array_equal(buffers_a[name], buffers_b[name]), name
    # and the evaluation log is the one of the uninterrupted run (timings aside)
    assert _history_without_time(run) == _history_without_time(tmp_path / "reference")


# ------------------------------------------------------------------------------ NaN

HUGE_LR = ["train", "--train-size", "200", "--test-size", "20", "--iterations", "30",
           "--eval-samples", "1", "--batch-size", "16", "--lr", "1e6", "--quiet"]


def _assert_loadable_if_present(run: Path) -> None:
    path = run / "checkpoint.npz"
    if path.exists():
        ckpt = read_checkpoint(path)
        assert all(np.isfinite(v).all() for v in ckpt.params.values())
        assert main(["evaluate", str(run), "--samples", "1", "--quiet"]) == 0


def test_huge_learning_rate_stops_with_a_divergence_message(tmp_path):
    result = run_cli(*HUGE_LR, "--out", "run", cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # 1: training failed (2 is for bad input)
    assert "Traceback" not in result.stderr
    last = error_lines(result.stderr)[-1]
    assert last.startswith("tinybcnn: error: training diverged"), result.stderr
    assert "lower learning rate" in last
    _assert_loadable_if_present(tmp_path / "run")


def test_huge_learning_rate_message_is_one_line(tmp_path):
    result = run_cli(*HUGE_LR, "--out", "run", cwd=tmp_path)
    line = assert_one_line_error(result.returncode, result.stderr, code=1)
    assert "diverged" in line


def test_divergence_after_a_checkpoint_keeps_it_loadable(tmp_path):
    """With a checkpoint every iteration, one is on disk before the blow-up: it must load."""
    result = run_cli(*HUGE_LR, "--eval-every", "1", "--out", "run", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert (tmp_path / "run" / "checkpoint.npz").exists()
    _assert_loadable_if_present(tmp_path / "run")


def test_divergence_found_by_an_evaluation_is_reported_as_divergence(tmp_path):
    result = run_cli(*HUGE_LR, "--eval-every", "1", "--out", "run", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    last = error_lines(result.stderr)[-1]
    assert "diverged" in last and str(Path("run") / "checkpoint.npz") in last, last


# ------------------------------------------------------------------------------ reported bugs


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_checkpoint_of_another_model_than_the_config_is_refused(command, work, capsys):
    argv = [command, work["foreign"], "--quiet"] if command == "evaluate" else \
        [command, work["foreign"], work["npy"], "--samples", "2"]
    code, _, err = call(argv, capsys)
    line = assert_one_line_error(code, err)
    assert "lenet-ip" in line and "lenet-all" in line


@pytest.mark.parametrize("field,value", [("batch_size", None), ("lr", "fast"), ("seed", [1])])
def test_config_with_a_wrong_type_is_one_line(field, value, work, tmp_path, capsys):
    run = copy_run(work["run"], tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config[field] = value
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = call(["evaluate", run, "--quiet"], capsys)
    line = assert_one_line_error(code, err)
    assert "config.json" in line and field in line


def test_evaluate_on_another_dataset_with_a_small_training_split(work, tmp_path, capsys):
    small = load_dataset("embedded", progress=False).subset(50, 40, seed=1)
    folder = write_idx_dir(tmp_path / "small", small)  # 50 < the run's train_size 200
    run = copy_run(work["run"], tmp_path / "run")
    code, _, err = call(["evaluate", run, "--dataset", f"idx:{folder}", "--samples", "2",
                         "--quiet"], capsys)
    assert code == 0, err
    [path] = run.glob("metrics-idx*.json")
    assert_metrics_schema(json.loads(path.read_text()), samples=2, n_test=40,
                          extra={"dataset", "iteration"})


def test_predict_on_an_empty_file_names_it(work, capsys):
    code, _, err = call(["predict", work["run"], work["empty_npy"]], capsys)
    line = assert_one_line_error(code, err)
    assert str(work["empty_npy"]) in line


def test_predict_refuses_float_images_outside_the_unit_range(work, capsys):
    code, _, err = call(["predict", work["run"], work["float255"]], capsys)
    line = assert_one_line_error(code, err)
    assert str(work["float255"]) in line


# ------------------------------------------------------------------------------ info, help


def test_info_prints_json_with_backend_and_versions(tmp_path):
    script = Path(sys.executable).with_name("tinybcnn")  # the installed console script
    cmd = [str(script), "info"] if script.exists() else cli_cmd("info")
    result = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), cwd=tmp_path,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["backend"] == "numpy"
    assert info["numpy"] == np.__version__
    assert {"tinybcnn", "python", "cupy"} <= set(info)


def test_python_m_tinybcnn_help(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tinybcnn")
    for command in ("demo", "train", "evaluate", "predict", "experiment", "info"):
        assert command in result.stdout


def test_train_help_lists_the_options(capsys):
    code, out, err = call(["train", "--help"], capsys)
    assert code == 0, err
    for option in ("--model", "--dataset", "--train-size", "--epochs", "--iterations",
                   "--batch-size", "--p", "--seed", "--backend", "--out", "--resume"):
        assert f"{option} " in out or f"{option}\n" in out, option
    for choice in ("lenet-all", "lenet-ip", "idx:DIR", "drop probability"):
        assert choice in out, choice


# (subcommand, option, the default its help must show)
DEFAULTS = [("train", "--lr", "(0.01)"), ("train", "--batch-size", "(64)"),
            ("train", "--iterations", "10 epochs"), ("train", "--epochs", "default 10"),
            ("train", "--train-size", "all of it"), ("train", "--test-size", "all of it"),
            ("train", "--p", "(0.5)"), ("train", "--seed", "(0)"),
            ("predict", "--samples", "(50)"), ("evaluate", "--samples", "(50)"),
            ("demo", "--train-size", "(1000)"), ("demo", "--samples", "(50)"),
            ("demo", "--iterations", "default 2000")]


@pytest.mark.parametrize(("command", "option", "default"), DEFAULTS,
                         ids=[f"{c}{o}" for c, o, _ in DEFAULTS])
def test_help_shows_the_defaults(command, option, default, capsys):
    code, out, err = call([command, "--help"], capsys)
    assert code == 0, err
    # an option's help runs from its name to the next option
    block = re.search(rf"^\s+{re.escape(option)}\b.*?(?=^\s+-|\Z)", out, re.M | re.S)
    assert block, f"{option} not in {command} --help"
    assert default in " ".join(block.group(0).split()), block.group(0)


def test_data_dir_help_says_where_downloads_go(capsys):
    code, out, _ = call(["train", "--help"], capsys)
    text = " ".join(out.split())
    assert "~/.cache/tinybcnn" in text and "(and cache)" not in text

