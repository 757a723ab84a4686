"""The command line on array_api_strict, CuPy's CI stand-in: ``train``, ``evaluate`` and
``predict`` run their whole device path (model, data, masks, prediction) in that namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinybcnn.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow  # trains through the CLI (pytest -m "not slow" leaves it out)

pytest.importorskip("array_api_strict")


def _run(*args, env_backend=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TINYBCNN_BACKEND", "TINYBCNN_DATA", "TINYBCNN_MIRROR")}
    if env_backend:
        env["TINYBCNN_BACKEND"] = env_backend
    return subprocess.run([sys.executable, "-m", "tinybcnn", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_train_evaluate_predict_on_array_api_strict(tmp_path):
    run = tmp_path / "run"
    done = _run("train", "--backend", "array_api_strict", "--train-size", "200",
                "--test-size", "100", "--iterations", "12", "--eval-samples", "2",
                "--batch-size", "16", "--quiet", "--out", run)
    assert done.returncode == 0, done.stderr
    ckpt = read_checkpoint(run / "checkpoint.npz")
    assert ckpt.trainer["backend"] == "array_api_strict" and ckpt.trainer["iteration"] == 12
    assert json.loads((run / "config.json").read_text())["backend"] == "array_api_strict"

    done = _run("evaluate", run, "--samples", "3")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["samples"] == 3 and metrics["n_test"] == 100
    assert 0 <= metrics["mc"]["error"] <= 1 and 0 <= metrics["standard"]["error"] <= 1

    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8))
    done = _run("predict", run, images, "--samples", "3", env_backend="array_api_strict")
    assert done.returncode == 0, done.stderr
    assert len([line for line in done.stdout.splitlines() if line.strip()]) >= 4


def test_info_on_every_backend_without_a_gpu():
    for name in ("numpy", "array_api_strict"):
        done = _run("info", "--backend", name)
        assert done.returncode == 0, done.stderr
        info = json.loads(done.stdout)
        assert info["backend"] == name
        assert info["mc_predict_defaults"]["memory_budget_mib"] > 0
        assert "cupy" in info
