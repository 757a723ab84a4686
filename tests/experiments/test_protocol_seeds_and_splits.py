"""The experiments' protocols as such (issue 27): every round of active learning trains with
its own seed; the regression grid fits on points it never validates on and chooses
``(l, tau)`` by the validation log-likelihood alone, never the test one."""

from __future__ import annotations

import numpy as np
import pytest

from tinybcnn.data import load_dataset
from tinybcnn.experiments import active_learning as al
from tinybcnn.experiments import regression as reg
from tinybcnn.train import Trainer


@pytest.fixture
def trainer_seeds(monkeypatch):
    """Every seed a Trainer is built with, in order."""
    seen = []
    real = Trainer.__init__

    def record(self, *args, **kwargs):
        seen.append(kwargs["seed"] if "seed" in kwargs else args[3])
        real(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", record)
    return seen


def _tiny_al():
    return al.settings_for(quick=True, initial=10, per_round=2, rounds=3, pool_subset=6,
                           samples=2, iterations=1, batch_size=8, test_size=20,
                           test_samples=1, seeds=1)


def test_every_active_learning_round_trains_with_its_own_seed(trainer_seeds):
    data = load_dataset("embedded", progress=False)
    settings = _tiny_al()
    first = al.active_learning(data, "random", settings, seed=0)
    per_seed0 = list(trainer_seeds)
    trainer_seeds.clear()
    al.active_learning(data, "random", settings, seed=1)
    per_seed1 = list(trainer_seeds)
    assert len(first["labels"]) == settings.rounds + 1
    assert len(per_seed0) == len(per_seed1) == settings.rounds + 1
    assert len(set(per_seed0)) == len(per_seed0), per_seed0      # rounds differ
    assert not set(per_seed0) & set(per_seed1)                   # and so do the curves
    # each round labels new images: never one already labelled
    picked = [i for r in first["picked"] for i in r]
    assert len(set(picked)) == len(picked) == settings.rounds * settings.per_round


def test_regression_fit_and_validation_are_disjoint_and_tau_is_chosen_on_validation(
        monkeypatch):
    settings = reg.settings_for(quick=True, n_train=40, taus=(3.0, 10.0, 100.0, 1000.0),
                                length_scales=(0.1, 1.0))
    data = reg.make_gap_data(settings, seed=0)
    fits, vals, tests = [], [], []

    def fake_train(x, y, length_scale, tau, settings=None, seed=0):
        fits.append(np.array(x, copy=True))
        return {"l": length_scale, "tau": tau}

    def fake_score(model, x, y, tau, samples, seed=0):
        is_test = x.shape == data.x_test.shape and np.array_equal(x, data.x_test)
        (tests if is_test else vals).append(np.array(x, copy=True))
        # validation prefers tau = 10, l = 1; the test set prefers tau = 1000, l = 0.1
        best = (1000.0, 0.1) if is_test else (10.0, 1.0)
        ll = -abs(np.log(tau / best[0])) - abs(np.log(model["l"] / best[1]))
        return {"mc": {"ll": float(ll)}, "standard": {"ll": float(ll)}}, None

    monkeypatch.setattr(reg, "train_regression", fake_train)
    monkeypatch.setattr(reg, "evaluate_regression", fake_score)
    search = reg.grid_search(data, settings, seed=0)
    assert (search["best"]["tau"], search["best"]["length_scale"]) == (10.0, 1.0)
    grid = len(settings.taus) * len(settings.length_scales)
    assert len(fits) == len(vals) == grid
    rows = {float(v): i for i, v in enumerate(data.x_train[:, 0])}
    assert len(rows) == len(data.x_train)                         # inputs identify points
    fit = {rows[float(v)] for v in fits[0][:, 0]}
    val = {rows[float(v)] for v in vals[0][:, 0]}
    assert not fit & val
    assert fit | val == set(range(len(data.x_train)))
    assert len(val) == round(settings.val_fraction * len(data.x_train))
    assert search["n_fit"] == len(fit) and search["n_val"] == len(val)
    for f, v in zip(fits, vals, strict=True):                     # the same split throughout
        np.testing.assert_array_equal(f, fits[0])
        np.testing.assert_array_equal(v, vals[0])
