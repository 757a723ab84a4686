"""One results format and machine-readable predictions (issue 26), through the command line.

* ``predict --format csv|json``: parsed with the csv / json modules, each image's
  probabilities sum to 1 and equal :func:`tinybcnn.predict.mc_predict` with the same seed (an
  independent call, not the CLI's code path), and so do entropy, MI and variation ratio;
* ``predict`` warns when float pixels reach 1.0 (pixels / 255, where training used / 256);
* a FIFO given as the image file is "not a regular file";
* ``evaluate`` prints what it scored, the error in percent and where the file went;
* ``experiment regression`` prints a summary, not just a path.
"""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest

from tinybcnn import cli
from tinybcnn.data import as_float, load_dataset
from tinybcnn.predict import mc_predict
from tinybcnn.runs import load_run

pytestmark = pytest.mark.slow  # trains runs to predict from (pytest -m "not slow" leaves it out)

SAMPLES, SEED, N = 4, 3, 6


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run and N embedded test images as uint8 .npy."""
    root = tmp_path_factory.mktemp("formats")
    out = root / "run"
    code = cli.main(["train", "--out", str(out), "--train-size", "100", "--test-size", "100",
                     "--iterations", "5", "--quiet", "--eval-samples", "2"])
    assert code == 0
    images = load_dataset("embedded").x_test[:N]
    np.save(root / "images.npy", images)
    return out, root / "images.npy", images


def _predict(capsys, run_dir, path, *extra):
    code = cli.main(["predict", str(run_dir), str(path), "--samples", str(SAMPLES),
                     "--seed", str(SEED), "--quiet", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _oracle(run_dir, images):
    _, model = load_run(run_dir)
    return mc_predict(model, as_float(images), samples=SAMPLES, seed=SEED)


def test_predict_csv_matches_mc_predict(run, capsys):
    run_dir, path, images = run
    code, out, _ = _predict(capsys, run_dir, path, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == N
    k = 10
    assert list(rows[0]) == ["image", "class", "name", *(f"p_{j}" for j in range(k)),
                             "entropy", "mutual_info", "variation_ratio"]
    expected = _oracle(run_dir, images)
    for i, row in enumerate(rows):
        probs = np.array([float(row[f"p_{j}"]) for j in range(k)])
        # float32 softmax per pass, averaged in float64: 1 to float32 precision
        assert probs.sum() == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(probs, expected.probs[i], rtol=0, atol=1e-12)
        assert int(row["image"]) == i and int(row["class"]) == int(np.argmax(expected.probs[i]))
        assert float(row["entropy"]) == pytest.approx(expected.entropy[i], abs=1e-12)
        assert float(row["mutual_info"]) == pytest.approx(expected.mutual_info[i], abs=1e-12)
        assert float(row["variation_ratio"]) == pytest.approx(expected.variation_ratio[i],
                                                              abs=1e-12)


def test_predict_json_matches_mc_predict(run, capsys):
    run_dir, path, images = run
    code, out, _ = _predict(capsys, run_dir, path, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["samples"], doc["seed"], len(doc["classes"])) == (SAMPLES, SEED, 10)
    expected = _oracle(run_dir, images)
    got = np.array([r["probs"] for r in doc["predictions"]])
    np.testing.assert_allclose(got, expected.probs, rtol=0, atol=1e-12)
    assert [r["name"] for r in doc["predictions"]] == [
        doc["classes"][int(k)] for k in np.argmax(expected.probs, axis=1)]


def test_predict_warns_on_pixels_over_255(run, tmp_path, capsys):
    run_dir, _, images = run
    path = tmp_path / "over255.npy"
    np.save(path, images.astype(np.float32) / 255)  # torchvision's ToTensor scaling
    code, _, err = _predict(capsys, run_dir, path)
    assert code == 0
    assert "pixels / 255" in err and "pixels / 256" in err and str(path) in err
    # training's own scaling gives no warning
    path = tmp_path / "over256.npy"
    np.save(path, images.astype(np.float32) / 256)
    code, _, err = _predict(capsys, run_dir, path)
    assert code == 0 and "warning" not in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_as_image_file_is_not_a_regular_file(run, tmp_path, capsys):
    run_dir, _, _ = run
    fifo = tmp_path / "images.npy"
    os.mkfifo(fifo)
    with pytest.raises(SystemExit) as exc:
        cli.main(["predict", str(run_dir), str(fifo)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and "does not exist" not in err
    assert len(err.strip().splitlines()) == 1


def test_evaluate_prints_the_results_table(run, capsys):
    run_dir, _, _ = run
    code = cli.main(["evaluate", str(run_dir), "--samples", "2", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    lines = out.strip().splitlines()
    assert lines[0].startswith("scored: embedded test set, 100 images, T = 2")
    assert lines[1].split() == ["error", "%", "NLL", "ECE"]
    std = lines[2].split()
    assert std[0] == "standard"
    assert float(std[1]) == pytest.approx(100 * metrics["standard"]["error"], abs=0.006)
    assert lines[3].startswith("MC (T=2)")
    assert lines[-1] == f"files: {run_dir / 'metrics.json'}"
    assert metrics["dataset"] == "embedded"


def test_experiment_regression_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "reg"
    code = cli.main(["experiment", "regression", "--quick", "--quiet", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    result = json.loads((out / "regression.json").read_text())["results"]
    assert printed[0].startswith("scored: the 1-D regression test set")
    rows = {line.split()[0]: line.split()[1:] for line in printed[2:4]}
    for kind in ("standard", "mc"):
        assert float(rows[kind][0]) == pytest.approx(result["scores"][kind]["rmse"], abs=6e-4)
        assert float(rows[kind][1]) == pytest.approx(result["scores"][kind]["ll"], abs=6e-3)
    assert printed[-1].startswith(f"files: {out / 'regression.json'}")
