"""The paper's experiments in quick mode on tiny data: results files, figures, invariants.

Each experiment runs once per module (fixtures) on a 16×16 IDX data set cut from the embedded
Fashion-MNIST subset, with sizes shrunk further by keyword overrides, so the whole file takes
seconds. The checks are the ones that hold whatever the data: MC with one pass is that pass,
identical scores have AUROC 0.5, 0° is the unrotated image, no dropout means MC = standard,
the nested MC curve ends at the mean of all passes, and the same seed gives the same results.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tinybcnn import cli, experiments, metrics
from tinybcnn.data import IDX_FILES, as_float, load_dataset, stratified_subset, write_idx
from tinybcnn.predict import mc_predict, standard_predict
from tinybcnn.runs import load_run

pytestmark = pytest.mark.slow

# shrinks every experiment further than its quick mode: 96 training / 60 test images
TINY = dict(train_pool=96, test_size=60, eval_size=60, iterations=6, batch_size=16,
            eval_points=2, eval_samples=2)
PNG = b"\x89PNG\r\n\x1a\n"
KEYS = {"experiment", "arguments", "settings", "dataset", "seeds", "machine", "started",
        "wall_seconds", "figures", "results"}


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> str:
    """``idx:DIR``: 160 train / 100 test Fashion-MNIST images shrunk to 16×16 (LeNet's minimum)."""
    from scipy import ndimage

    folder = tmp_path_factory.mktemp("tiny_idx")
    data = load_dataset("embedded", progress=False)
    for split, n in (("train", 160), ("t10k", 100)):
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        x, y = stratified_subset(x, y, n, seed=0)
        small = ndimage.zoom(x.astype(np.float32), (1, 16 / 28, 16 / 28), order=1)
        write_idx(folder / f"{split}-images-idx3-ubyte", np.clip(small, 0, 255).astype(np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", y.astype(np.uint8))
    assert sorted(p.name for p in folder.iterdir()) == sorted(IDX_FILES.values())
    return f"idx:{folder}"


def _run(name: str, out: Path, dataset: str, **kwargs) -> dict:
    kwargs = {**TINY, **kwargs}
    path = experiments.run(name, out, dataset=dataset, quick=True, progress=False, **kwargs)
    assert path == out / f"{name}.json"
    result = json.loads(path.read_text())
    assert set(result) == KEYS
    assert result["experiment"] == name
    assert result["arguments"]["seed"] == result["seeds"]["base"] == kwargs.get("seed", 0)
    assert result["seeds"]["training"] and result["seeds"]["mc"]
    assert result["arguments"]["dataset"] == dataset
    assert result["dataset"]["name"] == dataset
    assert result["dataset"]["used_sizes"]["test"] == kwargs["test_size"]
    assert result["machine"]["numpy"] == np.__version__
    assert result["wall_seconds"] > 0
    assert result["figures"], "no figures written"
    for fig in result["figures"]:
        assert fig.startswith(f"{name}_") and fig.endswith(".png")
        assert (out / fig).read_bytes()[:8] == PNG
    return result


def _test_pool(dataset: str, test_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The test images an experiment evaluated on (the stratified subset it draws)."""
    data = load_dataset(dataset, progress=False)
    x, y = stratified_subset(data.x_test, data.y_test, test_size, seed)
    return as_float(x), y


def _strip(obj, drop=("time", "seconds", "wall_seconds", "started", "out", "run_dir")):
    """A results record without wall times and output paths (what may differ between runs)."""
    if isinstance(obj, dict):
        return {k: _strip(v, drop) for k, v in obj.items()
                if k not in drop and not k.endswith("_seconds")}
    if isinstance(obj, list):
        return [_strip(v, drop) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------
# small_data
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("small_data")
    return out, _run("small_data", out, tiny_dataset, fractions=(0.5, 1.0), seeds=2,
                     samples=3)


def test_small_data_records_every_run(small):
    out, result = small
    r = result["results"]
    assert result["settings"]["fractions"] == [0.5, 1.0]
    assert r["train_sizes"] == [48, 96] and r["seeds"] == [0, 1]
    assert len(r["runs"]) == 3 * 2 * 2
    assert {"small_data_curves.png", "small_data_final.png"} <= set(result["figures"])
    for run in r["runs"]:
        assert Path(run["run_dir"]).is_dir()
        assert run["iterations"] == TINY["iterations"]
        assert [row["iteration"] for row in run["history"]] == [3, 6]
        for kind, scores in run["final"].items():
            assert 0 <= scores["error"] <= 1 and scores["nll"] > 0, (kind, scores)
        if run["model"] == "lenet-none":
            # no dropout: MC would equal standard, so it is recorded once
            assert set(run["final"]) == {"standard"}
            assert all(row["mc_error"] is None for row in run["history"])
        else:
            assert set(run["final"]) == {"standard", "mc"}
            assert all(row["mc_error"] is not None for row in run["history"])
    summary = r["summary"]
    assert set(summary["lenet-none"]) == {"standard"}
    for model in ("lenet-ip", "lenet-all"):
        for kind in ("standard", "mc"):
            s = summary[model][kind]
            assert s["train_size"] == [48, 96]
            assert all(lo <= m <= hi for lo, m, hi in zip(s["min"], s["mean"], s["max"],
                                                          strict=True))
            errors = [run["final"][kind]["error"] for run in r["runs"]
                      if run["model"] == model and run["train_size"] == 96]
            assert s["mean"][1] == pytest.approx(np.mean(errors))


def test_small_data_lenet_none_mc_equals_standard(small, tiny_dataset):
    _, result = small
    run = next(r for r in result["results"]["runs"] if r["model"] == "lenet-none")
    _, model = load_run(run["run_dir"])
    x, y = _test_pool(tiny_dataset, TINY["test_size"])
    std, mc = standard_predict(model, x), mc_predict(model, x, samples=3, seed=0)
    np.testing.assert_allclose(mc.probs, std.probs, rtol=1e-6, atol=1e-12)
    assert np.all(mc.mutual_info < 1e-9) and np.all(mc.variation_ratio == 0)
    assert run["final"]["standard"]["error"] == metrics.error(std.probs, y)


# ---------------------------------------------------------------------------------------
# mc_samples
# ---------------------------------------------------------------------------------------

T_VALUES = (1, 2, 3, 5, 10)


@pytest.fixture(scope="module")
def mcs(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("mc_samples")
    return out, _run("mc_samples", out, tiny_dataset, t_values=T_VALUES, seeds=2)


def test_mc_samples_curve(mcs, tiny_dataset):
    out, result = mcs
    r = result["results"]
    assert r["t_values"] == list(T_VALUES)
    assert result["figures"] == ["mc_samples_error.png"]
    assert [rep["seed"] for rep in r["repetitions"]] == [0, 1]
    errors = np.array([rep["error"] for rep in r["repetitions"]])
    np.testing.assert_allclose(r["mc_error_mean"], errors.mean(axis=0))
    np.testing.assert_allclose(r["mc_error_std"], errors.std(axis=0))
    for rep in r["repetitions"]:
        assert len(rep["error"]) == len(rep["nll"]) == len(T_VALUES)
        # T = 1 is a single stochastic pass: its error is that pass's error
        assert rep["error"][0] == rep["first_pass_error"]
        # T = T_max is the mean over all the passes
        assert rep["error"][-1] == rep["mean_error"]
    # ... and that mean is what mc_predict gives for T_max passes with the same seed
    _, model = load_run(r["run"]["run_dir"])
    x, y = _test_pool(tiny_dataset, TINY["test_size"])
    for rep in r["repetitions"]:
        pred = mc_predict(model, x, samples=T_VALUES[-1], seed=rep["seed"])
        assert rep["error"][-1] == metrics.error(pred.probs, y)
    std = standard_predict(model, x)
    assert r["standard"]["error"] == metrics.error(std.probs, y)


def test_mc_with_one_sample_is_one_stochastic_pass(mcs, tiny_dataset):
    _, result = mcs
    _, model = load_run(result["results"]["run"]["run_dir"])
    x, y = _test_pool(tiny_dataset, TINY["test_size"])
    pred = mc_predict(model, x, samples=1, seed=3, return_samples=True)
    assert pred.sample_probs.shape == (1, len(y), 10)
    np.testing.assert_array_equal(pred.probs, pred.sample_probs[0])
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(pred.variation_ratio, 0.0)
    np.testing.assert_allclose(pred.mutual_info, 0.0, atol=1e-12)
    assert metrics.error(pred.probs, y) == metrics.error(pred.sample_probs[0], y)
    # a stochastic pass, not the deterministic one
    assert not np.allclose(pred.probs, standard_predict(model, x).probs)


def test_mc_error_curve_invariants():
    rng = np.random.default_rng(0)
    sample_probs = rng.dirichlet(np.ones(4), size=(20, 50))          # (T, N, K)
    labels = rng.integers(0, 4, size=50)
    curve = experiments.mc_error_curve(sample_probs, labels, (1, 7, 20))
    assert curve["error"][0] == metrics.error(sample_probs[0], labels)
    assert curve["nll"][0] == pytest.approx(metrics.nll(sample_probs[0], labels))
    assert curve["error"][1] == metrics.error(sample_probs[:7].mean(axis=0), labels)
    assert curve["error"][2] == metrics.error(sample_probs.mean(axis=0), labels)
    with pytest.raises(ValueError, match="T >= max"):
        experiments.mc_error_curve(sample_probs, labels, (1, 21))
    with pytest.raises(ValueError, match="increasing"):
        experiments.mc_error_curve(sample_probs, labels, (5, 2))


# ---------------------------------------------------------------------------------------
# rotation
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rot(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("rotation")
    return out, _run("rotation", out, tiny_dataset, steps=2, image_samples=4, samples=2)


def test_rotation_records(rot):
    _, result = rot
    r = result["results"]
    assert r["angles"] == [0.0, 90.0, 180.0]
    assert set(result["figures"]) == {"rotation_image.png", "rotation_test_set.png"}
    img = r["image"]
    assert img["label"] == 1 and len(img["top_classes"]) == 3
    assert np.array(img["sample_probs"]).shape == (3, 4, 10)
    assert np.array(img["standard_probs"]).shape == np.array(img["mc_probs"]).shape == (3, 10)
    np.testing.assert_allclose(np.array(img["sample_probs"]).mean(axis=1), img["mc_probs"])
    assert all(e >= mi >= -1e-9 for e, mi in zip(img["entropy"], img["mutual_info"],
                                                 strict=True))
    for kind in ("standard", "mc"):
        for key in ("error", "nll", "ece", "entropy", "mutual_info"):
            assert len(r["test_set"][kind][key]) == 3
    assert r["test_set"]["standard"]["mutual_info"] == [0.0, 0.0, 0.0]


def test_rotation_at_zero_degrees_is_the_unrotated_image(rot, tiny_dataset):
    _, result = rot
    r = result["results"]
    _, model = load_run(r["run"]["run_dir"])
    data = load_dataset(tiny_dataset, progress=False)
    image = as_float(data.x_test[r["image"]["index"]:r["image"]["index"] + 1])
    np.testing.assert_array_equal(experiments.rotate_images(image, 0.0), image)
    std = standard_predict(model, image)
    mc = mc_predict(model, image, samples=4, seed=r["image"]["mc_seed"])
    np.testing.assert_allclose(r["image"]["standard_probs"][0], std.probs[0], rtol=1e-12)
    np.testing.assert_allclose(r["image"]["mc_probs"][0], mc.probs[0], rtol=1e-12)
    assert r["image"]["mutual_info"][0] == pytest.approx(mc.mutual_info[0], abs=1e-12)
    x, y = _test_pool(tiny_dataset, TINY["test_size"])
    assert r["test_set"]["standard"]["error"][0] == metrics.error(
        standard_predict(model, x).probs, y)
    assert r["test_set"]["mc"]["error"][0] == metrics.error(
        mc_predict(model, x, samples=2, seed=r["test_set"]["mc_seed"]).probs, y)


def test_rotate_images_shapes_and_range():
    x = np.random.default_rng(0).random((3, 1, 16, 16), dtype=np.float32)
    for angle in (15.0, 90.0, 180.0):
        y = experiments.rotate_images(x, angle)
        assert y.shape == x.shape and y.dtype == np.float32
        assert y.min() >= 0 and y.max() <= 1
    # 180° twice is the identity away from the (interpolated) border
    back = experiments.rotate_images(experiments.rotate_images(x, 180.0), 180.0)
    np.testing.assert_allclose(back[..., 2:-2, 2:-2], x[..., 2:-2, 2:-2], atol=1e-5)


# ---------------------------------------------------------------------------------------
# ood
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ood_run(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("ood")
    return out, _run("ood", out, tiny_dataset, samples=4)


def test_ood_records(ood_run):
    _, result = ood_run
    r = result["results"]
    assert r["in_classes"] == [0, 1, 2, 3, 4] and r["out_classes"] == [5, 6, 7, 8, 9]
    assert r["n_in"] + r["n_out"] == TINY["test_size"]
    assert set(result["figures"]) == {"ood_scores.png", "ood_auroc.png"}
    (seed_run,) = r["per_seed"]
    scores = {"1-max_prob", "entropy", "mutual_info", "variation_ratio"}
    for kind in ("standard", "mc"):
        assert set(seed_run["scores"][kind]) == scores
        for v in seed_run["scores"][kind].values():
            assert 0 <= v["auroc"] <= 1 and 0 <= v["fpr_at_tpr"] <= 1
        assert 0 <= seed_run["in_distribution"][kind]["error"] <= 1
    # one deterministic pass has no spread: identical scores, AUROC exactly 0.5
    for score in ("mutual_info", "variation_ratio"):
        assert seed_run["scores"]["standard"][score]["auroc"] == 0.5
        assert seed_run["scores"]["standard"][score]["fpr_at_tpr"] == 1.0
    _, model = load_run(seed_run["run_dir"])
    assert model.layers["ip2"].params["W"].shape[1] == 5


def test_ood_one_sample_and_reproducible(tiny_dataset, tmp_path):
    """T = 1: MI and variation ratio vanish (AUROC 0.5); the same seed gives the same JSON."""
    a = _run("ood", tmp_path / "a", tiny_dataset, samples=1)
    b = _run("ood", tmp_path / "b", tiny_dataset, samples=1)
    mc = a["results"]["per_seed"][0]["scores"]["mc"]
    for score in ("mutual_info", "variation_ratio"):
        assert mc[score]["mean_in"] == mc[score]["mean_out"] == 0
        assert mc[score]["auroc"] == 0.5
    assert _strip(a) == _strip(b)
    c = _run("ood", tmp_path / "c", tiny_dataset, samples=1, seed=1)
    assert _strip(c)["results"] != _strip(a)["results"]


def test_auroc_of_identical_scores_is_one_half():
    pos = np.r_[np.zeros(7, bool), np.ones(5, bool)]
    assert metrics.auroc(np.full(12, 0.3), pos) == 0.5
    assert metrics.fpr_at_tpr(np.zeros(12), pos) == 1.0


# ---------------------------------------------------------------------------------------
# run(), settings and the command line
# ---------------------------------------------------------------------------------------

def test_settings_and_defaults():
    full, quick = experiments.settings_for("small-data"), experiments.settings_for(
        "small_data", quick=True)
    assert full.fractions == (1 / 32, 1 / 8, 1 / 4, 1.0) and full.seeds == 3
    assert quick.train_pool <= 500 and quick.iterations <= 50
    assert experiments.settings_for("mc_samples").t_values[-1] == 100
    assert experiments.settings_for("mc_samples").seeds == 5
    assert experiments.default_iterations(187) == 1000
    assert experiments.default_iterations(60000) == 10000
    assert experiments.default_iterations(6000) == math.ceil(30 * 6000 / 64)
    with pytest.raises(ValueError, match="unknown setting"):
        experiments.settings_for("ood", bogus=1)
    with pytest.raises(ValueError, match="t_values"):
        experiments.settings_for("mc_samples", t_values=(0, 2))
    with pytest.raises(ValueError, match="fractions"):
        experiments.settings_for("small_data", fractions=(0.0, 1.0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="nope"), "unknown experiment"),
    (dict(name="rotation", seeds=2), "seeds must be 1"),
    (dict(name="ood", iterations=0), "iterations"),
    (dict(name="ood", run_dir="x"), "run_dir"),
])
def test_run_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiments.run(out=tmp_path, quick=True, progress=False, **kwargs)


def test_resume_and_reuse_trained_runs(tiny_dataset, rot, tmp_path):
    a = _run("mc_samples", tmp_path, tiny_dataset, t_values=(1, 2), seeds=1)
    b = _run("mc_samples", tmp_path, tiny_dataset, t_values=(1, 2), seeds=1, resume=True)
    assert not a["results"]["run"]["resumed"] and b["results"]["run"]["resumed"]
    b["results"]["run"]["resumed"] = False
    assert _strip(b["results"]) == _strip(a["results"])
    # an explicit run_dir: no training at all
    rot_run = rot[1]["results"]["run"]["run_dir"]
    c = _run("mc_samples", tmp_path / "reuse", tiny_dataset, t_values=(1, 2), seeds=1,
             run_dir=rot_run)
    assert c["results"]["run"]["reused"] and c["results"]["run"]["run_dir"] == rot_run
    assert not (tmp_path / "reuse" / "mc_samples_runs").exists()


def test_cli_experiment_quick(tiny_dataset, tmp_path, capsys):
    """``tinybcnn experiment NAME --quick --out DIR`` with the unmodified quick settings."""
    out = tmp_path / "exp"
    code = cli.main(["experiment", "mc-samples", "--quick", "--out", str(out), "--quiet",
                     "--dataset", tiny_dataset, "--seed", "2"])
    assert code == 0
    assert capsys.readouterr().out.strip() == f"wrote {out / 'mc_samples.json'}"
    result = json.loads((out / "mc_samples.json").read_text())
    args = result["arguments"]
    assert args["quick"] is True and args["seed"] == 2 and args["overrides"] == {}
    assert result["dataset"]["name"] == tiny_dataset
    assert result["settings"] == json.loads(json.dumps(
        dataclasses.asdict(experiments.QUICK["mc_samples"])))
    r = result["results"]
    assert r["t_values"] == list(experiments.QUICK["mc_samples"].t_values)
    assert [rep["seed"] for rep in r["repetitions"]] == [2, 3, 4]
    assert (out / "mc_samples_error.png").read_bytes()[:8] == PNG


def test_cli_experiment_bad_setting_is_one_line(tmp_path, capsys):
    code = cli.main(["experiment", "rotation", "--quick", "--seeds", "2", "--out",
                     str(tmp_path), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seeds must be 1" in err
