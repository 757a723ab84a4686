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
import struct
from pathlib import Path

import pytest

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
def demo(tmp_path_factory):
    """Run the demo once: (output folder, stdout, exit code)."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    before = get_backend()
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            code = main(["demo", "--quick", "--quiet", "--out", str(out), "--train-size", "200",
                         "--iterations", "12", "--samples", str(SAMPLES)])
    finally:
        set_backend(before)
    return out, buffer.getvalue(), code


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
    assert "lowest test error:" in stdout


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
