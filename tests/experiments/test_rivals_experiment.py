"""``experiment rivals`` and ``experiment critique`` at toy size: the numbers they record
against independent computations from the networks they leave on disk (the members' softmax
averaged with SciPy, the temperature fitted by SciPy's scalar minimiser on the validation
split rebuilt by hand, the mutual information of the members by hand)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import optimize, special

from tinybcnn import experiments
from tinybcnn.calibration import T_BOUNDS
from tinybcnn.data import as_float, load_dataset
from tinybcnn.experiments.common import subset
from tinybcnn.experiments.critique import docs_table as critique_docs_table
from tinybcnn.experiments.rivals import docs_table
from tinybcnn.runs import load_run

TINY = dict(iterations=4, train_pool=90, test_size=30, eval_size=30, eval_points=1,
            eval_samples=0, batch_size=16)


def _pool(seed=0):
    full = load_dataset("embedded", progress=False)
    x_tr, y_tr = subset(full.x_train, full.y_train, TINY["train_pool"], seed)
    x_te, y_te = subset(full.x_test, full.y_test, TINY["test_size"], seed)
    return x_tr, y_tr, x_te, y_te


def _softmax(model, x):
    return special.softmax(model.forward(as_float(x)).astype(np.float64), axis=1)


@pytest.fixture(scope="module")
def rivals(tmp_path_factory):
    out = tmp_path_factory.mktemp("rivals")
    path = experiments.run("rivals", out, quick=True, progress=False, train_size=40,
                           val_size=30, members=2, samples=3, ensemble_samples=2, **TINY)
    return out, json.loads(path.read_text())


def test_rivals_scores_the_ensemble_and_the_temperature_as_scipy_does(rivals):
    out, record = rivals
    seed = record["results"]["per_seed"][0]
    methods = seed["methods"]
    x_tr, y_tr, x_te, y_te = _pool()
    # the deep ensemble: the two members' softmax outputs averaged
    members = [load_run(out / "rivals_runs" / f"ens_s0_m{k}")[1] for k in range(2)]
    p = np.mean([_softmax(m, x_te) for m in members], axis=0)
    assert methods["deep ensemble"]["error"] == pytest.approx(np.mean(p.argmax(1) != y_te))
    assert methods["deep ensemble"]["nll"] == pytest.approx(
        -np.mean(np.log(p[np.arange(len(y_te)), y_te])), rel=1e-5)
    h = lambda q: -np.sum(q * np.log(q), axis=-1)  # noqa: E731
    mi = h(p) - np.mean([h(_softmax(m, x_te)) for m in members], axis=0)
    assert methods["deep ensemble"]["mutual_info"] == pytest.approx(np.mean(mi), rel=1e-4)
    # temperature scaling of standard lenet-all: fitted on the held-out validation images
    # the "split" stream of seed 0 (tinybcnn.seeds), derived here with NumPy directly
    split = np.random.SeedSequence(0, spawn_key=(int.from_bytes(b"splt", "big"),))
    val = np.random.default_rng(split).permutation(len(y_tr))[:30]
    q = _softmax(load_run(out / "rivals_runs" / "lenet-all_s0")[1], x_tr[val])

    def nll(log_t):
        z = np.log(q) / np.exp(log_t)
        return -np.mean(special.log_softmax(z, axis=1)[np.arange(len(val)), y_tr[val]])

    # searched in the package's documented range of T (a fit may end at its bound)
    lo, hi = np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1])
    best = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded",
                                    options={"xatol": 1e-10})
    assert methods["standard lenet-all + TS"]["temperature"] == pytest.approx(
        np.exp(best.x), rel=1e-3)
    # what a method costs, counted
    assert methods["MC-dropout ensemble"]["passes"] == 4 and methods["deep ensemble"][
        "networks"] == 2
    assert methods["standard lenet-all"]["ood_auroc"]["mutual_info"] is None
    assert set(seed["learnt_p"]) == {"drop1", "drop2", "drop3"}


def test_rivals_docs_table_has_a_row_per_method_and_the_summary_numbers(rivals):
    out, record = rivals
    table = docs_table(record, provenance="test")
    summary = record["results"]["summary"]
    assert [r["method"] for r in table["rows"]] == list(summary)
    assert len(table["rows"]) == 11 and (out / "rivals_scores.png").is_file()
    for r in table["rows"]:
        assert r["nll"]["mean"] == round(summary[r["method"]]["nll"]["mean"], 3)
        assert r["error"]["mean"] == round(100 * summary[r["method"]]["error"]["mean"], 1)
    json.dumps(table)  # JSON as it stands


def test_critique_records_the_members_mutual_information_per_size(tmp_path):
    path = experiments.run("critique", tmp_path, quick=True, progress=False, sizes=(20, 40),
                           members=2, samples=2, methods=("ensemble", "mc_dropout"), **TINY)
    record = json.loads(path.read_text())["results"]
    assert record["sizes"] == [20, 40] and (tmp_path / "critique_mutual_info.png").is_file()
    x_tr, y_tr, x_te, y_te = _pool()
    for run in record["runs"]:
        n = run["train_size"]
        members = [load_run(tmp_path / "critique_runs" / f"ens_n{n}_s0_m{k}")[1]
                   for k in range(2)]
        p_k = np.stack([_softmax(m, x_te) for m in members])
        h = lambda q: -np.sum(q * np.log(q), axis=-1)  # noqa: E731
        mi = h(p_k.mean(0)) - h(p_k).mean(0)
        assert run["ensemble"]["mi_in"] == pytest.approx(np.mean(mi), rel=1e-4)
    curve = record["curves"]["ensemble"]
    assert curve["shrink"] == pytest.approx(curve["in"]["mean"][1] / curve["in"]["mean"][0])
    # the docs table (tests/docs/test_critique_results.py) takes the record as it is written
    table = critique_docs_table(json.loads(path.read_text()), provenance="test")
    assert [r["_method"] for r in table["rows"]] == ["mc_dropout"] * 2 + ["ensemble"] * 2
    assert table["rows"][2]["mi_in"]["mean"] == round(record["runs"][0]["ensemble"]["mi_in"], 3)
    with pytest.raises(ValueError, match="methods must be some of"):
        experiments.settings_for("critique", methods=("nope",))
