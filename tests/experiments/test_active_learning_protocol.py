"""The active-learning protocol's wiring (issue 35): which settings reach which step.

- The test error is measured with ``test_samples`` MC passes (``samples`` is the scoring T).
- The test subset is stratified: on a test split sorted by class, ``test_size`` images hold
  every class equally (the first ``test_size`` images would be one class).
- ``seed`` (``experiment --seed``) gives the curves' seeds ``seed, seed + 1, ...``.
- A saved state is continued only with ``resume``; without it every curve starts afresh.

Training and scoring are replaced by recorders (the protocol is what is under test here; the
loop's numbers are tested in test_experiments and test_active_learning_scale), so each test
takes seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.datasets import random_dataset

from tinybcnn import cli
from tinybcnn.data import Dataset
from tinybcnn.experiments import active_learning as al
from tinybcnn.models import lenet
from tinybcnn.report import experiment_summary

CLASSES = 5


def _sorted_data(per_class_train: int = 12, per_class_test: int = 20) -> Dataset:
    """Images 16x16 whose splits are sorted by class (class 0 first)."""
    return random_dataset(CLASSES, per_class_train, per_class_test, "sorted",
                          sorted_by_class=True)


@pytest.fixture
def scored(monkeypatch):
    """Record every test_error call: (samples, labels scored); train a model in no time."""
    calls = []
    model = lenet("all", in_shape=(1, 16, 16), n_classes=CLASSES, seed=0)
    monkeypatch.setattr(al, "train_model", lambda *a, **k: model)

    def test_error(model, x, y, samples, seed=0):
        calls.append({"samples": samples, "y": np.asarray(y).copy(), "seed": seed})
        return 0.5

    monkeypatch.setattr(al, "test_error", test_error)
    return calls


SETTINGS = dict(acquisitions=("random",), initial=5, per_round=2, rounds=2, pool_subset=10,
                samples=5, iterations=1, test_size=10, test_samples=3, seeds=1)


def test_the_test_error_uses_test_samples(scored):
    settings = al.ActiveLearningSettings(**SETTINGS)
    al.active_learning(_sorted_data(), "random", settings, seed=0)
    assert [c["samples"] for c in scored] == [3, 3, 3]      # one per evaluation, T = 3 not 5


@pytest.mark.parametrize("test_size", [5, 10, 25])
def test_the_test_subset_is_stratified(scored, test_size):
    settings = al.ActiveLearningSettings(**{**SETTINGS, "test_size": test_size})
    al.active_learning(_sorted_data(), "random", settings, seed=3)
    for call in scored:
        counts = np.bincount(call["y"], minlength=CLASSES)
        assert counts.sum() == test_size
        assert counts.max() - counts.min() <= (test_size % CLASSES != 0), counts
    assert all(np.array_equal(c["y"], scored[0]["y"]) for c in scored)   # the same subset


# -- the whole experiment: seeds and resume --------------------------------------------------
@pytest.fixture
def curves(monkeypatch):
    """Replace each curve by a recorder that saves one finished snapshot; no figures."""
    seen = []

    def fake_curve(data, name, settings, seed=0, progress=False, state=None, on_round=None):
        seen.append({"name": name, "seed": seed, "state": state})
        rounds = settings.rounds + 1     # a finished curve, as the real one saves it
        labels = [settings.initial + settings.per_round * r for r in range(rounds)]
        record = {"labels": labels, "error": [0.5 - 0.01 * (r + seed) for r in range(rounds)],
                  "picked": [[0, 1]] * settings.rounds, "train_seconds": [0.0] * rounds,
                  "test_seconds": [0.0] * rounds, "score_seconds": [0.0] * settings.rounds}
        if on_round is not None:
            generator = np.random.default_rng(seed).bit_generator.state
            on_round({"next_round": rounds, "done": True, "labelled": list(range(labels[-1])),
                      "pool_rng": generator, "score_rng": generator, "record": record})
        return record

    monkeypatch.setattr(al, "active_learning", fake_curve)
    monkeypatch.setattr(al, "load_dataset", lambda *a, **k: _sorted_data())
    monkeypatch.setattr(al.figures, "active_learning_curves", lambda *a, **k: None)
    monkeypatch.setattr(al.figures, "active_learning_picks", lambda *a, **k: None)
    return seen


def test_the_seed_sets_the_curves_seeds(curves, tmp_path):
    al.run_active_learning(tmp_path / "al", seed=7, progress=False,
                           **{**SETTINGS, "seeds": 3})
    assert [c["seed"] for c in curves] == [7, 8, 9]


def test_experiment_seed_reaches_the_curves(curves, tmp_path, capsys):
    """``tinybcnn experiment active-learning --seed 7``: the option reaches the curves."""
    out = tmp_path / "al"
    assert cli.main(["experiment", "active-learning", "--quick", "--quiet", "--seed", "7",
                     "--seeds", "2", "--out", str(out)]) == 0, capsys.readouterr().err
    assert curves and all([c["seed"] for c in curves if c["name"] == name] == [7, 8]
                          for name in {c["name"] for c in curves})
    details = json.loads((out / "active_learning_details.json").read_text())
    assert details["seeds"] == [7, 8]


def test_a_saved_state_is_continued_only_with_resume(curves, tmp_path):
    out = tmp_path / "al"
    al.run_active_learning(out, progress=False, **SETTINGS)
    assert (out / al.STATE_NAME).is_file() and curves[-1]["state"] is None
    curves.clear()
    with pytest.raises(ValueError, match="--resume.*--replace"):     # no resume: refused
        al.run_active_learning(out, progress=False, **SETTINGS)
    assert not curves
    al.run_active_learning(out, progress=False, replace=True, **SETTINGS)   # asked: afresh
    assert curves and all(c["state"] is None for c in curves)
    curves.clear()
    al.run_active_learning(out, progress=False, resume=True, **SETTINGS)
    assert curves and all(c["state"] is not None and c["state"]["done"] for c in curves)


def test_without_resume_a_state_of_other_settings_is_not_read(curves, tmp_path):
    """What a user sees: a new run with other settings in the same folder runs when asked to
    replace the old one (its state then belongs to the new run: resuming with the old
    settings is refused)."""
    out = tmp_path / "al"
    al.run_active_learning(out, progress=False, **SETTINGS)
    al.run_active_learning(out, progress=False, replace=True, **{**SETTINGS, "samples": 4})
    with pytest.raises(ValueError, match="cannot resume from .*samples 4 there, 5 here"):
        al.run_active_learning(out, progress=False, resume=True, **SETTINGS)


# -- the summary table ------------------------------------------------------------------------
def test_the_summary_shows_the_last_labelled_set_size(tmp_path):
    """``labels`` is the size after the last round; first and last are mean errors (%)."""
    path = tmp_path / "active_learning.json"
    path.write_text(json.dumps({"dataset": "embedded", "acquisitions": {
        "bald": {"labels": [20, 30, 45], "error": [[0.5, 0.4, 0.25], [0.7, 0.3, 0.15]]},
        "random": {"labels": [20, 31, 52], "error": [[0.6, 0.5, 0.4]]}}}))
    lines = experiment_summary(path).splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines
            if line.split() and line.split()[0] in ("bald", "random")}
    assert rows["bald"] == ["45", "60.00", "20.00"]
    assert rows["random"] == ["52", "60.00", "40.00"]
