"""``tinybcnn demo --quick``: the main job end to end — both models trained, the table with
both predictors printed, the four figures and ``results.json`` written.

Run through ``tinybcnn.cli.main`` in-process, with fewer iterations and MC samples than
``--quick``'s defaults so it stays a smoke test (the sizes do not change what is checked).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import struct
import sys
from pathlib import Path

import matplotlib.text
import numpy as np
import pytest
from support.killpoint import run_until

from tinybcnn.backend import get_backend, set_backend
from tinybcnn.checkpoint import read_checkpoint
from tinybcnn.cli import main

MODELS = ("lenet-all", "lenet-ip")
FIGURES = ("training_curves.png", "reliability.png", "entropy.png", "certain_images.png")
SAMPLES, N_TEST = 3, 500  # --quick evaluates on 500 test images
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path.name}: no IHDR chunk first"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def demo_and_log(tmp_path_factory):
    """Run the demo once, not quiet and off a terminal: (output folder, stdout, exit code),
    and what it logged on stderr (its progress lines)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    before = get_backend()
    buffer, log = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(log):
            code = main(["demo", "--quick", "--out", str(out), "--train-size", "200",
                         "--iterations", "12", "--samples", str(SAMPLES)])
    finally:
        set_backend(before)
    return (out, buffer.getvalue(), code), log.getvalue()


@pytest.fixture(scope="module")
def demo(demo_and_log):
    """The demo run once: (output folder, stdout, exit code)."""
    return demo_and_log[0]


pytestmark = pytest.mark.slow


def test_demo_finishes(demo):
    _, stdout, code = demo
    assert code == 0, stdout


def test_demo_prints_the_table_with_both_models_and_both_predictors(demo):
    out, stdout, _ = demo
    results = json.loads((out / "results.json").read_text())
    rows = {}
    for line in stdout.splitlines():
        words = line.split()
        if words and words[0] in MODELS:
            label = "standard" if words[1] == "standard" else "mc"
            rows[(words[0], label)] = [float(w) for w in words[-3:]]
            if label == "mc":
                assert f"MC (T={SAMPLES})" in line, line
    assert set(rows) == {(m, k) for m in MODELS for k in ("standard", "mc")}, stdout
    for (model, kind), (error_pct, nll, ece) in rows.items():
        scores = results[model][kind]
        assert error_pct == pytest.approx(100 * scores["error"], abs=0.006)
        assert nll == pytest.approx(scores["nll"], abs=6e-4)
        assert ece == pytest.approx(scores["ece"], abs=6e-4)
    for metric, label in (("error", "lowest test error:"), ("nll", "lowest test NLL:")):
        line = next(ln for ln in stdout.splitlines() if ln.startswith(label))
        model, kind = min(((m, k) for m in MODELS for k in ("standard", "mc")),
                          key=lambda mk: results[mk[0]][mk[1]][metric])
        assert line.startswith(f"{label} {model} with {'MC' if kind == 'mc' else 'standard'}"), line


def test_best_line_names_the_lowest_of_each_metric():
    from tinybcnn.demo import best_line
    results = {"lenet-all": {"standard": {"error": 0.20, "nll": 0.70},
                             "mc": {"error": 0.18, "nll": 0.55}},
               "lenet-ip": {"standard": {"error": 0.175, "nll": 0.98},
                            "mc": {"error": 0.19, "nll": 0.74}}}
    assert best_line(results, "error") == \
        "lowest test error: lenet-ip with standard dropout (17.50%)"
    assert best_line(results, "nll") == "lowest test NLL: lenet-all with MC dropout (0.550)"


@pytest.mark.parametrize("name", FIGURES)
def test_demo_writes_the_figures(demo, name):
    out, _, _ = demo
    path = out / name
    assert path.is_file(), sorted(p.name for p in out.iterdir())
    assert path.stat().st_size > 5_000, f"{name} is suspiciously small"
    width, height = png_size(path)
    assert width >= 200 and height >= 150, (width, height)


def test_demo_writes_results_json_with_the_metrics_schema(demo):
    out, _, _ = demo
    results = json.loads((out / "results.json").read_text())
    assert set(results) == set(MODELS)
    for model in MODELS:
        m = results[model]
        assert set(m) == {"samples", "n_test", "standard", "mc", "train_seconds"}, set(m)
        assert m["samples"] == SAMPLES and m["n_test"] == N_TEST
        assert m["train_seconds"] >= 0
        for kind in ("standard", "mc"):
            scores = m[kind]
            assert set(scores) == {"error", "nll", "brier", "ece"}
            assert all(isinstance(v, float) and math.isfinite(v) for v in scores.values())
            assert 0 <= scores["error"] <= 1 and 0 <= scores["ece"] <= 1
            assert 0 <= scores["brier"] <= 2 and scores["nll"] >= 0


def test_demo_leaves_a_run_directory_per_model(demo):
    out, _, _ = demo
    for model in MODELS:
        run = out / model
        config = json.loads((run / "config.json").read_text())
        assert config["model"] == model and config["iterations"] == 12
        ckpt = read_checkpoint(run / "checkpoint.npz")
        assert ckpt.model["name"] == model
        assert ckpt.trainer["iteration"] == 12
        assert (run / "history.csv").is_file()


def test_the_demo_seed_seeds_the_training_runs(tmp_path):
    out = tmp_path / "demo"
    assert _run_demo(["demo", "--quick", "--quiet", "--out", str(out), "--train-size", "100",
                      "--iterations", "2", "--samples", "2", "--seed", "3"]) == 0
    for model in MODELS:
        assert json.loads((out / model / "config.json").read_text())["seed"] == 3
        assert read_checkpoint(out / model / "checkpoint.npz").trainer["seed"] == 3


def test_the_demo_gives_each_image_its_own_masks_whatever_the_chunks():
    """``_predict`` runs MC over chunks of the test images; each chunk passes where its
    images start, so the masks are per image (seed, pass, image, layer): the same picture at
    two positions gets other masks, and the result is mc_predict's on all the images."""
    from tinybcnn.demo import _predict
    from tinybcnn.models import lenet
    from tinybcnn.predict import mc_predict

    model = lenet("all", seed=0)
    image = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    x = np.concatenate([image, image])                 # chunk 1 holds chunk 0's images again
    _, mc = _predict(model, x, samples=3, seed=5, desc="", progress=False, chunk=2)
    assert not np.allclose(mc.probs[:2], mc.probs[2:])
    # the oracle: the same chunks, each told its first image, bit for bit ...
    expected = [mc_predict(model, x[k:k + 2], samples=3, seed=5, first_image=k).probs
                for k in (0, 2)]
    np.testing.assert_array_equal(mc.probs, np.concatenate(expected))
    # ... and one call over all four images, up to float32 rounding of other GEMM shapes
    np.testing.assert_allclose(mc.probs, mc_predict(model, x, samples=3, seed=5).probs,
                               atol=1e-6)


# ------------------------------------------------------------------ running it again


def _run_demo(argv: list[str]) -> int:
    before = get_backend()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return main(argv)
    finally:
        set_backend(before)


def test_running_the_demo_again_reuses_the_finished_runs(demo):
    out, _, _ = demo
    checkpoints = {m: (out / m / "checkpoint.npz").read_bytes() for m in MODELS}
    results = json.loads((out / "results.json").read_text())
    assert _run_demo(["demo", "--quick", "--quiet", "--out", str(out), "--train-size", "200",
                      "--iterations", "12", "--samples", str(SAMPLES)]) == 0
    for m in MODELS:  # nothing retrained: the very same checkpoints
        assert (out / m / "checkpoint.npz").read_bytes() == checkpoints[m]
    again = json.loads((out / "results.json").read_text())
    for m in MODELS:  # evaluated again, maybe on another BLAS count: see _same_scores
        _same_scores(again[m], results[m])


def _same_scores(got: dict, expected: dict) -> None:
    """The scores of the same weights: equal bit for bit, whatever BLAS count the machine's
    load chose for each evaluation (tinybcnn/threads.py): prediction runs its products on
    one BLAS thread per part (tests/model/test_predict_bits.py), as training does
    (tests/training/test_step_bits.py); the callers compare the weights bit for bit."""
    for predictor in ("mc", "standard"):
        assert got[predictor] == expected[predictor], predictor


def test_running_the_demo_again_with_other_settings_needs_replace(tmp_path):
    """Other settings: refused, the runs left as they were; ``--replace``: trained afresh."""
    out = tmp_path / "demo"
    # 32 test images (not --quick's 500): only the settings' identity is under test here
    base = ["demo", "--quick", "--quiet", "--out", str(out), "--train-size", "100",
            "--test-size", "32", "--samples", "2"]
    assert _run_demo([*base, "--iterations", "4"]) == 0
    checkpoints = {m: (out / m / "checkpoint.npz").read_bytes() for m in MODELS}
    assert _run_demo([*base, "--iterations", "6"]) == 2
    for m in MODELS:
        assert (out / m / "checkpoint.npz").read_bytes() == checkpoints[m]
    assert _run_demo([*base, "--iterations", "6", "--replace"]) == 0
    for m in MODELS:
        assert json.loads((out / m / "config.json").read_text())["iterations"] == 6
        assert read_checkpoint(out / m / "checkpoint.npz").trainer["iteration"] == 6


# a small demo: each model checkpoints 8 times (once per iteration here), so the 3rd
# checkpoint is inside lenet-all's training; no --threads: the child and the reruns choose
# their BLAS counts by the load, and the bits must not follow them
SMALL_DEMO = ["demo", "--quick", "--quiet", "--train-size", "64", "--test-size", "32",
              "--iterations", "8", "--samples", "2"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_then_running_again_finishes_the_same_demo(tmp_path):
    """Ctrl-C inside lenet-all's training, sent by progress (``support.killpoint``: right after
    its 3rd checkpoint), not by time: exit 130 and the hint, then the same command finishes the
    demo with the weights of a demo never stopped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYBCNN_")}
    out = tmp_path / "demo"
    stopped = run_until("INT", 3, "checkpoint", [*SMALL_DEMO, "--out", out], env)
    err = stopped.stderr
    assert stopped.returncode == 130, err
    assert "run the same command again" in err and "Traceback" not in err
    assert not (out / "results.json").exists()
    # stopped inside lenet-all's training, its last update saved
    assert read_checkpoint(out / "lenet-all" / "checkpoint.npz").trainer["iteration"] in (3, 4)

    assert _run_demo([*SMALL_DEMO, "--out", str(out)]) == 0
    assert _run_demo([*SMALL_DEMO, "--out", str(tmp_path / "straight")]) == 0
    resumed = json.loads((out / "results.json").read_text())
    straight = json.loads((tmp_path / "straight" / "results.json").read_text())
    for m in MODELS:  # resuming gives the uninterrupted run's weights, bit for bit, whatever
        # the load of either (the step's arithmetic follows no thread count), hence its scores
        ours = read_checkpoint(out / m / "checkpoint.npz").params
        theirs = read_checkpoint(tmp_path / "straight" / m / "checkpoint.npz").params
        assert ours.keys() == theirs.keys()
        for name, value in theirs.items():
            np.testing.assert_array_equal(np.asarray(ours[name]), np.asarray(value),
                                          err_msg=f"{m} {name}")
        _same_scores(resumed[m], straight[m])


# ------------------------------------------------------------------ progress


def test_off_a_terminal_the_demo_logs_progress_lines_per_model(demo_and_log):
    # the module's demo (not quiet, its stderr a StringIO), not a demo of its own
    (_, _, code), err = demo_and_log
    assert code == 0, err
    assert "\r" not in err  # no bar redrawn in a log file
    for m in MODELS:
        # a line per evaluation during training, and the final evaluation's progress
        assert f"{m} train: iteration 12: test error standard" in err, err
        assert f"{m} train: 12/12 it" in err, err
        assert f"{m} evaluate: {N_TEST}/{N_TEST} img" in err, err


def test_line_progress_prints_every_few_seconds(monkeypatch):
    from tinybcnn import progress

    clock = iter([0.0, 1.0, 11.0, 12.0, 30.0, 31.0, 31.0])  # start, 5 updates, close
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    sink = io.StringIO()
    bar = progress.LineProgress(total=5, desc="lenet-all train", every=10.0, file=sink)
    for _ in range(5):
        bar.update()
    bar.close()
    lines = sink.getvalue().splitlines()
    # updates at t = 1 (too soon), 11 (line), 12 (too soon), 30 (line), 31 (too soon); close
    assert [line.split(",")[0] for line in lines] == [
        "lenet-all train: 2/5 it (40%)", "lenet-all train: 4/5 it (80%)",
        "lenet-all train: 5/5 it (100%)"]


def test_on_a_terminal_the_training_bar_names_the_model(tmp_path, monkeypatch):
    from tinybcnn import train

    labels = []
    real = train.progress_bar

    def spy(total, initial=0, enabled=True, desc="", unit="it"):
        labels.append(desc)
        return real(total, initial, enabled=False, desc=desc, unit=unit)

    monkeypatch.setattr(train, "progress_bar", spy)
    assert _run_demo(["demo", "--quick", "--out", str(tmp_path / "demo"), "--train-size", "100",
                      "--iterations", "2", "--samples", "2"]) == 0
    assert labels == ["lenet-all train", "lenet-ip train"]


# ------------------------------------------------------------------ figures


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


def test_training_curves_name_the_mc_samples():
    from tinybcnn import plots

    rows = [{"iteration": i, "train_loss": 1.0 / i, "std_error": 0.3, "mc_error": 0.2}
            for i in (1, 2)]
    fig = plots.training_curves({"lenet-all": rows}, mc_samples=10)
    assert "lenet-all (MC, T=10)" in _texts(fig)


def test_certain_images_show_true_class_model_and_predictor():
    from tinybcnn import plots

    images = np.zeros((20, 28, 28), np.uint8)
    score = np.linspace(0, 1, 20)
    labels, predicted = np.arange(20) % 3, (np.arange(20) + 1) % 3
    fig = plots.certain_images(images, score, labels, predicted, class_names=["a", "b", "c"],
                               k=4, title="lenet-all, MC dropout (T=50)")
    texts = _texts(fig)
    suptitle = fig._suptitle.get_text()  # Figure.get_suptitle() needs matplotlib 3.8
    assert suptitle.startswith("lenet-all, MC dropout (T=50)"), suptitle
    # image 0 (most certain): predicted class 1 ("b"), true class 0 ("a")
    assert any("pred b" in t and "true a" in t for t in texts), texts


def test_reliability_diagram_explains_the_hatch_and_counts_each_bin():
    from tinybcnn import metrics, plots

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=300)
    labels = rng.integers(0, 4, 300)
    result = metrics.ece(probs, labels)
    fig = plots.reliability_diagram({"model": result})
    texts = _texts(fig)
    assert any("overconfident" in t for t in texts), texts
    counts = [int(c) for c in np.asarray(result.bin_counts) if c > 0]
    shown = sorted(int(t) for t in texts if t.isdigit())
    assert shown == sorted(counts) and sum(shown) == 300


def test_line_progress_does_not_repeat_the_final_line(monkeypatch):
    from tinybcnn import progress

    clock = iter([0.0, 11.0, 11.0])  # start, one update (printed), close
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    sink = io.StringIO()
    bar = progress.LineProgress(total=1, desc="lenet-all evaluate", unit="img", file=sink)
    bar.update()
    bar.close()
    assert sink.getvalue().splitlines() == ["lenet-all evaluate: 1/1 img (100%), 11 s"]
