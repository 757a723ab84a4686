"""The experiments in quick mode on tiny data: results files, figures, invariants.

Each experiment runs once per module (fixtures) on a 16×16 IDX data set cut from the embedded
Fashion-MNIST subset, with sizes shrunk further by keyword overrides, so the whole file takes
seconds. The checks are the ones that hold whatever the data: MC with one pass is that pass,
identical scores have AUROC 0.5, 0° is the unrotated image, no dropout means MC = standard,
the nested MC curve ends at the mean of all passes, and the same seed gives the same results.
The active-learning acquisition functions are checked against hand computations and Python
loops, and regression without dropout against the Gaussian log-likelihood written out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from support.idx import write_tiny_idx

from tinybcnn import cli, experiments, metrics
from tinybcnn.data import (
    as_float,
    load_dataset,
    stratified_indices,
    stratified_subset,
)
from tinybcnn.experiments import active_learning as al
from tinybcnn.experiments import regression as reg
from tinybcnn.models import lenet
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
    return write_tiny_idx(tmp_path_factory.mktemp("tiny_idx"))


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


def test_the_rotation_experiment_predicts_on_the_rotated_images(rot, tiny_dataset):
    """At 90° (the second angle) the single image and the test pool are the images
    ``rotate_images`` turns by 90°, which is ``np.rot90`` (counter-clockwise as shown)."""
    _, result = rot
    r = result["results"]
    _, model = load_run(r["run"]["run_dir"])
    data = load_dataset(tiny_dataset, progress=False)
    image = as_float(data.x_test[r["image"]["index"]:r["image"]["index"] + 1])
    turned = np.rot90(image, 1, axes=(2, 3))
    np.testing.assert_array_equal(experiments.rotate_images(image, 90.0), turned)
    np.testing.assert_allclose(r["image"]["standard_probs"][1],
                               standard_predict(model, turned).probs[0], rtol=1e-12)
    x, y = _test_pool(tiny_dataset, TINY["test_size"])
    assert r["test_set"]["standard"]["error"][1] == metrics.error(
        standard_predict(model, np.rot90(x, 1, axes=(2, 3))).probs, y)
    assert r["test_set"]["standard"]["nll"][1] != r["test_set"]["standard"]["nll"][0]


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
    # the summary table (tinybcnn.report), its last line the files
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("scored: ")
    assert printed[-1].startswith(f"files: {out / 'mc_samples.json'}")
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


# ---------------------------------------------------------------------------------------
# active learning: the acquisition functions against hand computations, then the loop
# ---------------------------------------------------------------------------------------

# (T = 2 passes, N = 2 images, K = 2 classes). Image 0: the passes disagree completely
# ([1, 0] then [0, 1]); image 1: both passes say [½, ½]. Same mean, same entropy log 2.
TWO_BY_TWO = np.array([[[1.0, 0.0], [0.5, 0.5]],
                       [[0.0, 1.0], [0.5, 0.5]]])


def test_acquisitions_by_hand_on_two_images():
    log2 = math.log(2)
    # predictive entropy of p̄ = [½, ½] for both
    np.testing.assert_allclose(al.max_entropy(TWO_BY_TWO), [log2, log2])
    # BALD = H[p̄] − mean_t H[p_t]: image 0 has confident passes (H = 0), image 1 none
    np.testing.assert_allclose(al.bald(TWO_BY_TWO), [log2, 0.0], atol=1e-15)
    # variation ratio: image 0's passes vote 0 and 1 (mode 1 of 2), image 1's both vote 0
    np.testing.assert_allclose(al.variation_ratio(TWO_BY_TWO), [0.5, 0.0])
    # mean std: each class of image 0 takes values 1 and 0 (population std ½), image 1 none
    np.testing.assert_allclose(al.mean_std(TWO_BY_TWO), [0.5, 0.0])


def _by_loops(probs: np.ndarray) -> dict[str, list[float]]:
    """The four scores written out with Python loops and math.log, image by image."""
    t_count, n_count, k_count = probs.shape
    out: dict[str, list[float]] = {"max_entropy": [], "bald": [], "variation_ratio": [],
                                   "mean_std": []}
    for n in range(n_count):
        mean = [sum(probs[t][n][k] for t in range(t_count)) / t_count for k in range(k_count)]
        h_mean = -sum(p * math.log(p) for p in mean if p > 0)
        h_each = [-sum(p * math.log(p) for p in probs[t][n] if p > 0) for t in range(t_count)]
        votes = [max(range(k_count), key=lambda k, t=t: probs[t][n][k]) for t in range(t_count)]
        mode_count = max(votes.count(k) for k in range(k_count))
        stds = [math.sqrt(sum((probs[t][n][k] - mean[k]) ** 2 for t in range(t_count))
                          / t_count) for k in range(k_count)]
        out["max_entropy"].append(h_mean)
        out["bald"].append(h_mean - sum(h_each) / t_count)
        out["variation_ratio"].append(1 - mode_count / t_count)
        out["mean_std"].append(sum(stds) / k_count)
    return out


def test_acquisitions_match_loops_on_random_probabilities():
    probs = np.random.default_rng(3).dirichlet(np.full(4, 0.5), size=(7, 9))     # (T, N, K)
    expected = _by_loops(probs)
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(al, name)(probs), values, rtol=1e-12, atol=1e-15,
                                   err_msg=name)
    assert np.all(al.bald(probs) >= -1e-12)
    assert np.all(al.bald(probs) <= al.max_entropy(probs) + 1e-12)
    # one pass: no disagreement, so BALD (the bald_standard score) and the variation ratio vanish
    assert np.all(al.bald(probs[:1]) == 0) and np.all(al.variation_ratio(probs[:1]) == 0)
    with pytest.raises(ValueError, match=r"\(T, N, K\)"):
        al.bald(probs[0])


def test_acquire_takes_the_top_scores_and_breaks_ties_by_position():
    model = lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, seed=0)
    x = np.random.default_rng(0).random((12, 1, 16, 16), dtype=np.float32)
    rng = np.random.default_rng(1)
    chosen, scores = al.acquire("bald", model, x, 4, samples=6, rng=rng)
    assert scores.shape == (12,) and len(set(chosen)) == 4
    assert set(chosen) == set(np.argsort(-scores)[:4])
    assert np.all(scores[chosen] >= np.max(np.delete(scores, chosen)))
    # standard dropout: one deterministic pass, BALD = 0 everywhere: the first 4 positions
    chosen, scores = al.acquire("bald_standard", model, x, 4, samples=6, rng=rng)
    assert np.all(scores == 0) and list(chosen) == [0, 1, 2, 3]
    # random: the scores are the generator's next uniforms
    expected = np.random.default_rng(5).random(12)
    chosen, scores = al.acquire("random", model, x, 3, samples=6, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(scores, expected)
    assert list(chosen) == list(np.argsort(-expected)[:3])


def test_active_learning_decay_follows_the_labelled_set_size(monkeypatch):
    """train_model's docstring: the weight decay comes from the length-scale and the
    *current* labelled-set size, ``λ = l²/(2 N keep)`` (docs/objective.md)."""
    made = []
    real = al.Objective.for_model

    def recording(model, **kwargs):
        made.append(real(model, **kwargs))
        return made[-1]

    monkeypatch.setattr(al.Objective, "for_model", staticmethod(recording))
    settings = dataclasses.replace(al.QUICK, iterations=1, batch_size=4)
    rng = np.random.default_rng(0)
    for n in (6, 12):
        x = rng.random((n, 1, 28, 28), dtype=np.float32)
        al.train_model(x, rng.integers(0, 10, n), 10, settings)
        keep = 1 - settings.p
        assert made[-1].decay["conv1.W"] == pytest.approx(
            settings.length_scale**2 / (2 * n * keep), rel=1e-12)


def test_labels_to_reach_uses_the_mean_over_seeds():
    labels = [20, 30, 40, 50]
    errors = [[0.5, 0.3, 0.2, 0.1], [0.5, 0.5, 0.2, 0.1]]   # means 0.5, 0.4, 0.2, 0.1
    assert al.labels_to_reach(labels, errors, 0.4) == 30
    assert al.labels_to_reach(labels, errors, 0.15) == 50
    assert al.labels_to_reach(labels, errors, 0.05) is None


AL_TINY = dict(initial=10, per_round=5, rounds=2, pool_subset=20, samples=2, iterations=3,
               batch_size=8, test_size=40, test_samples=2, seeds=2)


@pytest.fixture(scope="module")
def al_run(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("active_learning")
    path = experiments.run("active-learning", out, dataset=tiny_dataset, quick=True,
                           progress=False, **AL_TINY)
    return out, path


def test_active_learning_json_schema(al_run, tiny_dataset):
    out, path = al_run
    assert path == out / "active_learning.json"
    result = json.loads(path.read_text())
    assert set(result) == {"dataset", "acquisitions"}           # exactly the documented keys
    assert result["dataset"] == tiny_dataset
    assert list(result["acquisitions"]) == list(al.ACQUISITIONS)
    for name, curve in result["acquisitions"].items():
        # the file's fixed schema first, the paper's report beside it (docs/results.md,
        # "Active learning with BALD": the results file)
        assert list(curve)[:2] == ["labels", "error"], name
        assert set(curve) == {"labels", "error", "labels_to_reach", "last_half_mean_error"}
        assert curve["labels"] == [10, 15, 20]
        errors = np.array(curve["error"])
        assert errors.shape == (2, 3) and np.all((0 <= errors) & (errors <= 1))
    # round 0 trains on the same balanced set with the same seed for every function
    first = {name: [seed_errors[0] for seed_errors in c["error"]]
             for name, c in result["acquisitions"].items()}
    assert len({tuple(v) for v in first.values()}) == 1
    for fig in ("active_learning_curves.png", "active_learning_picks.png"):
        assert (out / fig).read_bytes()[:8] == PNG


def test_active_learning_picks_new_distinct_images(al_run, tiny_dataset):
    out, _ = al_run
    details = json.loads((out / "active_learning_details.json").read_text())
    assert details["seeds"] == [0, 1] and details["settings"]["rounds"] == 2
    data = load_dataset(tiny_dataset, progress=False)
    for name, runs in details["per_acquisition"].items():
        for seed, run in zip(details["seeds"], runs, strict=True):
            initial = set(stratified_indices(data.y_train, 10, seed).tolist())
            assert np.bincount(data.y_train[sorted(initial)], minlength=10).tolist() == [1] * 10
            picked = [i for round_ in run["picked"] for i in round_]
            assert len(run["picked"]) == 2 and len(picked) == 10 == len(set(picked)), name
            assert not initial & set(picked)


def test_active_learning_cli_quick(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "al"
    code = cli.main(["experiment", "active-learning", "--quick", "--out", str(out), "--quiet",
                     "--dataset", tiny_dataset, "--iterations", "3"])
    assert code == 0
    # the summary table (tinybcnn.report), its last line the files
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("scored: ")
    assert printed[-1].startswith(f"files: {out / 'active_learning.json'}")
    result = json.loads((out / "active_learning.json").read_text())
    quick = experiments.QUICK["active_learning"]
    n_labels = [quick.initial + r * quick.per_round for r in range(quick.rounds + 1)]
    assert all(c["labels"] == n_labels and len(c["error"]) == quick.seeds
               for c in result["acquisitions"].values())


def test_active_learning_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="acquisitions must be among"):
        al.settings_for(acquisitions=("bald", "nope"))
    with pytest.raises(ValueError, match="per_round"):
        al.settings_for(per_round=50, pool_subset=10)
    with pytest.raises(ValueError, match="resume does not apply"):   # active learning resumes
        experiments.run("regression", tmp_path, quick=True, resume=True)


# ---------------------------------------------------------------------------------------
# regression with a gap
# ---------------------------------------------------------------------------------------

REG_TINY = dict(n_train=60, hidden=(16, 16), iterations=150, taus=(10.0, 100.0),
                samples=5, n_test=41)


def test_gap_data_leaves_the_gap_empty():
    data = reg.make_gap_data(reg.FULL, seed=1)
    x = data.x_train[:, 0]
    (lo, hi), (g0, g1) = data.x_range, data.gap
    assert x.shape == (reg.FULL.n_train,) and data.y_train.shape == (reg.FULL.n_train, 1)
    assert np.all((x >= lo) & (x <= hi)) and not np.any((x > g0) & (x < g1))
    assert np.any(x < g0) and np.any(x > g1)
    # homoscedastic noise of the stated size around the true function
    resid = data.y_train[:, 0] - reg.true_function(x)
    assert abs(resid.std() - reg.FULL.noise_std) < 0.3 * reg.FULL.noise_std
    assert list(reg.region_of(np.array([[-4.0], [0.0], [1.5]]), data)) == [
        "outside", "gap", "data"]


def test_without_dropout_mc_regression_is_standard_regression():
    """p = 0: every pass is the deterministic one, so MC and standard agree exactly."""
    settings = reg.replace(reg.QUICK, p=0.0, hidden=(8,), iterations=5)
    data = reg.make_gap_data(settings, seed=0)
    model = reg.train_regression(data.x_train, data.y_train, 1e-2, 30.0, settings, seed=0)
    scores, mc = reg.evaluate_regression(model, data.x_test, data.y_test, tau=30.0, samples=4)
    assert scores["mc"]["ll"] == pytest.approx(scores["standard"]["ll"], rel=1e-9)
    assert scores["mc"]["rmse"] == pytest.approx(scores["standard"]["rmse"], rel=1e-9)
    np.testing.assert_allclose(mc.variance, 1 / 30.0, rtol=1e-6)
    # the standard log-likelihood, written out: N(y; ŷ, 1/tau) averaged over the points
    det = np.asarray(model.forward(data.x_test), dtype=np.float64)[:, 0]
    y = data.y_test[:, 0].astype(np.float64)
    by_hand = np.mean(0.5 * np.log(30.0 / (2 * np.pi)) - 15.0 * (y - det) ** 2)
    assert scores["standard"]["ll"] == pytest.approx(by_hand, rel=1e-9)


def test_train_regression_uses_its_tau_and_its_seed(monkeypatch):
    """The objective has the given precision (Gaussian term and decay ``l²/(2 N tau keep)``)
    and the network is initialised from the given seed, as the docstring says."""
    objectives, seeds = [], []
    real_objective, real_mlp = reg.Objective.for_model, reg.mlp

    def objective(model, **kwargs):
        objectives.append(real_objective(model, **kwargs))
        return objectives[-1]

    def mlp(sizes, **kwargs):
        seeds.append(kwargs.get("seed"))
        return real_mlp(sizes, **kwargs)

    monkeypatch.setattr(reg.Objective, "for_model", staticmethod(objective))
    monkeypatch.setattr(reg, "mlp", mlp)
    settings = reg.replace(reg.QUICK, hidden=(8,), iterations=2)
    data = reg.make_gap_data(settings, seed=0)
    reg.train_regression(data.x_train, data.y_train, 0.1, 30.0, settings, seed=7)
    obj, n = objectives[-1], len(data.x_train)
    assert obj.tau == 30.0 and obj.likelihood == "gaussian" and seeds == [7]
    # ip1 -> relu -> dropout -> ip2: the dropout belongs to ip1 (its outputs)
    assert obj.decay["ip1.W"] == pytest.approx(0.1**2 / (2 * n * 30.0 * (1 - settings.p)))
    assert obj.decay["ip2.W"] == pytest.approx(0.1**2 / (2 * n * 30.0))


def test_band_widths_are_the_epistemic_spread_per_region():
    """``std_t(ŷ_t)`` averaged per region, without the noise ``1/tau`` of the variance."""
    data = reg.make_gap_data(reg.QUICK, seed=0)
    x = np.array([[-4.0], [0.0], [0.5], [1.5], [2.0]], dtype=np.float32)
    samples = np.array([[0.0, 1.0, 3.0, 2.0, 5.0], [2.0, 3.0, 3.0, 4.0, 5.0]])   # (T=2, N=5)
    pred = reg.RegressionPrediction(mean=samples.mean(axis=0),
                                    variance=0.5 + samples.var(axis=0), samples=samples)
    # regions: outside, gap, gap, data, data; spreads |a - b| / 2 = 1, 1, 0, 1, 0
    assert reg.band_widths(pred, x, data) == {"data": 0.5, "gap": 0.5, "outside": 1.0}


def test_regression_quick_run(tmp_path):
    path = experiments.run("regression", tmp_path, quick=True, progress=False, **REG_TINY)
    assert path == tmp_path / "regression.json"
    result = json.loads(path.read_text())
    r = result["results"]
    assert result["experiment"] == "regression"
    assert set(r["scores"]) == {"mc", "standard"}
    for kind in ("mc", "standard"):
        assert set(r["scores"][kind]) == {"ll", "rmse"} and r["scores"][kind]["rmse"] > 0
    rows = r["grid"]["rows"]
    assert [(row["length_scale"], row["tau"]) for row in rows] == [(1e-2, 10.0), (1e-2, 100.0)]
    best = max(rows, key=lambda row: row["val_ll"])
    assert (r["tau"], r["length_scale"]) == (best["tau"], best["length_scale"])
    assert r["grid"]["n_fit"] + r["grid"]["n_val"] == REG_TINY["n_train"]
    assert set(r["epistemic_std"]) == {"data", "gap", "outside"}
    assert sorted(result["figures"]) == ["regression_band.png", "regression_tau.png"]
    for fig in result["figures"]:
        assert (tmp_path / fig).read_bytes()[:8] == PNG


def test_regression_cli_rejects_a_dataset(tmp_path, capsys):
    code = cli.main(["experiment", "regression", "--quick", "--out", str(tmp_path), "--quiet",
                     "--dataset", "mnist"])
    assert code == 2
    assert "does not apply" in capsys.readouterr().err


def test_runs_is_reachable_from_the_package():
    """``tb.runs`` in a fresh interpreter (here the tests have imported it already)."""
    import subprocess
    import sys

    code = "import tinybcnn as tb; assert callable(tb.runs.train_run); print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
