"""The active-learning protocol's pieces on tiny inputs, each against what it must do written
out by hand (issue 35: mutation testing; each test takes well under a second).

The settings' bounds at their limits; the command line's comma lists; what one training,
one test error and one acquisition are called with; the loop's labelled sets, pool subsets,
seeds and snapshots, and a curve resumed from any snapshot equal to one never stopped; the
saved state's checks at each bound; the report's cells; the files and figures of a run.
Training and prediction are replaced by recorders where the protocol, not the numbers, is
under test.
"""

from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
from support.datasets import random_dataset

from tinybcnn.data import Dataset
from tinybcnn.experiments import active_learning as al
from tinybcnn.models import lenet
from tinybcnn.seeds import stream

CLASSES = 3
TINY = dict(acquisitions=("random",), initial=3, per_round=2, rounds=2, pool_subset=4,
            samples=2, iterations=1, batch_size=4, test_size=6, test_samples=1, seeds=1)


def _data(per_class_train: int = 5, per_class_test: int = 4) -> Dataset:
    return random_dataset(CLASSES, per_class_train, per_class_test, "tiny")


# -- the acquisition functions' input check ---------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 4)])
def test_samples_of_any_positive_shape_are_scored(shape):
    probs = np.full(shape, 1.0 / shape[2])
    for name in ("max_entropy", "bald", "variation_ratio", "variation_ratio_probs", "mean_std"):
        assert getattr(al, name)(probs).shape == (shape[1],), name


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 1), (0, 3, 4), (2, 0, 4), (2, 3, 0)])
def test_samples_not_t_n_k_are_refused(shape):
    with pytest.raises(ValueError, match=r"shape \(T, N, K\)"):
        al.max_entropy(np.ones(shape))


def test_entropy_scores_are_in_nats_and_mean_std_is_the_population_std():
    # one image, passes (1/4, 3/4) and (3/4, 1/4): mean (1/2, 1/2)
    probs = np.array([[[0.25, 0.75]], [[0.75, 0.25]]])
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    np.testing.assert_allclose(al.max_entropy(probs), [math.log(2)], rtol=1e-12)
    np.testing.assert_allclose(al.bald(probs), [math.log(2) - h], rtol=1e-12)
    np.testing.assert_allclose(al.mean_std(probs), [0.25], rtol=1e-12)   # |0.75 - 0.5|
    np.testing.assert_allclose(al.variation_ratio(probs), [0.5])         # votes 1 and 0


def test_float32_passes_are_scored_in_float64():
    """MC passes come as float32; the scores are float64 (near ties ranked by the exact
    probabilities, not by float32 rounding)."""
    probs = np.random.default_rng(1).dirichlet(np.ones(4), size=(3, 5)).astype(np.float32)
    exact = probs.astype(np.float64)
    for n in range(5):
        mean = [sum(float(exact[t, n, k]) for t in range(3)) / 3 for k in range(4)]
        h_mean = -sum(m * math.log(m) for m in mean)
        h_each = [-sum(float(p) * math.log(float(p)) for p in exact[t, n]) for t in range(3)]
        assert al.max_entropy(probs)[n] == pytest.approx(h_mean, rel=1e-13, abs=0)
        assert al.bald(probs)[n] == pytest.approx(h_mean - sum(h_each) / 3, rel=1e-12, abs=0)
        assert al.variation_ratio_probs(probs)[n] == pytest.approx(1 - max(mean), rel=1e-13)
    assert al.mean_std(probs).dtype == np.float64


# -- the settings' bounds, each at its limit and one past it ----------------------------------
COUNTS = ("initial", "per_round", "pool_subset", "samples", "iterations", "batch_size",
          "test_samples", "seeds", "test_size")


@pytest.mark.parametrize("name", COUNTS)
def test_counts_start_at_one(name):
    base = {**TINY, "per_round": 1}
    assert getattr(al.ActiveLearningSettings(**{**base, name: 1}), name) == 1
    with pytest.raises(ValueError, match=f"{name} must be an integer >= 1, got 0"):
        al.ActiveLearningSettings(**{**base, name: 0})


def test_rounds_start_at_zero_and_test_size_may_be_the_whole_split():
    assert al.ActiveLearningSettings(**{**TINY, "rounds": 0}).rounds == 0
    with pytest.raises(ValueError, match="rounds must be an integer >= 0, got -1"):
        al.ActiveLearningSettings(**{**TINY, "rounds": -1})
    assert al.ActiveLearningSettings(**{**TINY, "test_size": None}).test_size is None


def test_per_round_may_equal_but_not_exceed_the_pool_subset():
    assert al.ActiveLearningSettings(**{**TINY, "per_round": 4}).per_round == 4
    with pytest.raises(ValueError, match=r"per_round \(5\) cannot exceed pool_subset \(4\)"):
        al.ActiveLearningSettings(**{**TINY, "per_round": 5})


@pytest.mark.parametrize("p, ok", [(0.0, True), (0.999, True), (1.0, False), (-0.01, False)])
def test_p_is_a_drop_probability(p, ok):
    if ok:
        assert al.ActiveLearningSettings(**{**TINY, "p": p}).p == p
    else:
        with pytest.raises(ValueError, match=r"p is a drop probability.*\[0, 1\)"):
            al.ActiveLearningSettings(**{**TINY, "p": p})


@pytest.mark.parametrize("name", ["lr", "length_scale"])
@pytest.mark.parametrize("value, ok", [(1e-12, True), (1e12, True), (0.0, False),
                                       (-1.0, False), (math.inf, False), (math.nan, False)])
def test_lr_and_length_scale_are_positive_and_finite(name, value, ok):
    if ok:
        assert getattr(al.ActiveLearningSettings(**{**TINY, name: value}), name) == value
    else:
        with pytest.raises(ValueError) as refused:
            al.ActiveLearningSettings(**{**TINY, name: value})
        assert str(refused.value) == "lr and length_scale must be positive and finite"


@pytest.mark.parametrize("thresholds, ok", [((0.5,), True), ((0.001, 0.999), True), ((), True),
                                            ((0,), False), ((1,), False), ((1.0,), False),
                                            ((True,), False), (("0.2",), False),
                                            ((0.2, 1.5), False)])
def test_thresholds_are_test_errors_strictly_inside_zero_one(thresholds, ok):
    if ok:
        assert al.ActiveLearningSettings(**{**TINY, "thresholds": thresholds}).thresholds \
            == thresholds
    else:
        with pytest.raises(ValueError, match=r"thresholds are test errors in \(0, 1\)"):
            al.ActiveLearningSettings(**{**TINY, "thresholds": thresholds})


@pytest.mark.parametrize("acquisitions", [(), ("bald", "nope"), ("BALD",)])
def test_acquisitions_must_be_known_and_not_none(acquisitions):
    with pytest.raises(ValueError, match="acquisitions must be among random, max_entropy"):
        al.ActiveLearningSettings(**{**TINY, "acquisitions": acquisitions})


def test_every_acquisition_is_accepted():
    names = ("random", "max_entropy", "bald", "variation_ratio", "variation_ratio_probs",
             "mean_std", "bald_standard")
    assert al.ActiveLearningSettings(**{**TINY, "acquisitions": names}).acquisitions == names
    # which passes each one scores: T MC passes, the one standard pass, or none at all
    assert {n: p for n, (_, p) in al.ACQUISITIONS.items()} == {
        "random": None, "max_entropy": "mc", "bald": "mc", "variation_ratio": "mc",
        "variation_ratio_probs": "mc", "mean_std": "mc", "bald_standard": "standard"}


# -- settings_for: the command line's strings --------------------------------------------------
def test_settings_for_reads_comma_lists_from_a_command_line():
    s = al.settings_for(True, acquisitions=" random , ,variation-ratio-probs,",
                        thresholds="0.25,0.2", rounds=4)
    assert s.acquisitions == ("random", "variation_ratio_probs")
    assert s.thresholds == (0.25, 0.2) and s.rounds == 4
    assert s.samples == 5 and s.pool_subset == 100            # the rest: QUICK's
    full = al.settings_for(False, acquisitions=["bald"], thresholds=[0.3])
    assert full.acquisitions == ("bald",) and full.thresholds == (0.3,)   # lists: tuples
    assert full.samples == 20 and full.pool_subset == 1000    # the rest: FULL's
    assert al.settings_for() == al.FULL and al.settings_for(quick=True) == al.QUICK


def test_settings_for_refuses_a_bad_list_and_unknown_names_in_one_line():
    with pytest.raises(ValueError, match=r"thresholds must be a comma list of test errors in "
                                         r"\(0, 1\), got '0.2,x'$"):
        al.settings_for(thresholds="0.2,x")
    with pytest.raises(ValueError, match=r"^unknown setting\(s\) depth, width for experiment "
                                         r"active_learning$"):
        al.settings_for(width=1, depth=2, rounds=3)


# -- one training, one test error, one acquisition ---------------------------------------------
def test_train_model_trains_from_scratch_with_the_settings(monkeypatch):
    calls = {}

    class Recorder:
        def __init__(self, model, objective, optimizer, seed):
            calls.update(model=model, objective=objective, lr=optimizer.lr, seed=seed)

        def fit(self, x, y, **kwargs):
            calls.update(x=x, y=y, **kwargs)

    monkeypatch.setattr(al, "Trainer", Recorder)
    settings = al.ActiveLearningSettings(**{**TINY, "batch_size": 5, "iterations": 7,
                                            "lr": 0.01, "p": 0.25, "length_scale": 2.0})
    x = np.zeros((3, 1, 16, 16), np.float32)
    model = al.train_model(x, np.array([0, 1, 2]), 4, settings, seed=11)
    assert calls["model"] is model and calls["seed"] == 11 and calls["lr"] == 0.01
    # the batch is the whole labelled set when it is smaller than batch_size
    assert (calls["iterations"], calls["batch_size"], calls["mc_samples"],
            calls["progress"]) == (7, 3, 0, False)
    assert calls["x"] is x and list(calls["y"]) == [0, 1, 2]
    # λ = l² / (2 N keep) for N = 3 labels, keep = 0.75; 4 classes out of 16x16 images
    assert calls["objective"].decay["conv1.W"] == pytest.approx(4.0 / (2 * 3 * 0.75))
    assert model.forward(x).shape == (3, 4)
    al.train_model(np.zeros((9, 1, 16, 16), np.float32), np.arange(9) % 4, 4, settings)
    assert calls["batch_size"] == 5 and calls["seed"] == 0


def test_train_model_uses_p_for_the_dropout_masks(monkeypatch):
    monkeypatch.setattr(al, "Trainer", lambda *a, **k: SimpleNamespace(fit=lambda *a, **k: 0))
    made = []
    monkeypatch.setattr(al, "lenet", lambda *a, **k: made.append((a, k)) or lenet(*a, **k))
    settings = al.ActiveLearningSettings(**{**TINY, "p": 0.125})
    al.train_model(np.zeros((2, 1, 16, 20), np.float32), np.array([0, 1]), 2, settings, 5)
    assert made == [(("all",), dict(p=0.125, in_shape=(1, 16, 20), n_classes=2, seed=5))]


def test_test_error_is_the_mc_prediction_s_error_with_its_passes_and_seed(monkeypatch):
    seen = {}

    def fake(model, x, samples, seed):
        seen.update(samples=samples, seed=seed)
        return SimpleNamespace(probs=np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4],
                                               [0.3, 0.7]]))

    monkeypatch.setattr(al, "mc_predict", fake)
    # arg-max classes 0, 1, 0, 1 against labels 0, 0, 0, 1: one of four wrong
    assert al.test_error("model", "x", np.array([0, 0, 0, 1]), 7, seed=3) == 0.25
    assert seen == {"samples": 7, "seed": 3}
    al.test_error("model", "x", np.array([0, 0, 0, 1]), 7)
    assert seen == {"samples": 7, "seed": 0}                  # the documented default


def test_acquire_scores_t_mc_passes_and_takes_the_top_k(monkeypatch):
    # 5 images; the function's scores (bald) by hand: image 3 highest, then a tie 1 and 4
    sample_probs = np.array([[[.5, .5], [1, 0], [.5, .5], [1, 0], [1, 0]],
                             [[.5, .5], [0, 1], [.5, .5], [0, 1], [0, 1]],
                             [[.5, .5], [1, 0], [.5, .5], [0, 1], [1, 0]],
                             [[.5, .5], [0, 1], [.5, .5], [1, 0], [0, 1]]], dtype=float)
    sample_probs[:, 3] = [[1, 0], [0, 1], [1, 0], [0, 1]]
    sample_probs[:, 1] = sample_probs[:, 4] = [[1, 0], [0, 1], [1, 0], [1, 0]]
    seen = {}

    def fake(model, x, samples, rng, return_samples):
        seen.update(samples=samples, rng=rng, return_samples=return_samples, n=len(x))
        return SimpleNamespace(sample_probs=sample_probs)

    monkeypatch.setattr(al, "mc_predict", fake)
    rng = np.random.default_rng(0)
    chosen, scores = al.acquire("bald", "model", np.zeros((5, 1, 2, 2)), 2, 9, rng)
    assert seen == {"samples": 9, "rng": rng, "return_samples": True, "n": 5}
    # BALD: image 3 log 2; images 1 and 4: H(3/4, 1/4) (every pass certain); 0 and 2: 0
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    np.testing.assert_allclose(scores, [0, h, 0, math.log(2), h], atol=1e-12)
    assert list(chosen) == [3, 1]                      # the tie 1 / 4 goes to the earlier
    chosen, _ = al.acquire("max_entropy", "model", np.zeros((5, 1, 2, 2)), 5, 9, rng)
    assert list(chosen) == [0, 2, 3, 1, 4]             # ties in position order


def test_acquire_ties_go_to_the_earlier_image_even_for_many_ties(monkeypatch):
    # 40 images, one pass: the odd ones certain (entropy 0), the even ones (1/2, 1/2); a
    # stable order only: NumPy's default sort reorders equal keys of an array this long
    probs = np.array([[0.5, 0.5], [1.0, 0.0]] * 20)[None]              # (1, 40, 2)
    monkeypatch.setattr(al, "mc_predict", lambda *a, **k: SimpleNamespace(sample_probs=probs))
    chosen, _ = al.acquire("max_entropy", "m", np.zeros((40, 1, 2, 2)), 40, 1, None)
    assert list(chosen) == list(range(0, 40, 2)) + list(range(1, 40, 2))


def test_bald_standard_scores_the_standard_pass(monkeypatch):
    """The non-Bayesian control: BALD of the one deterministic pass (0 for every image: the
    first k of the subset), never the MC passes."""
    seen = []
    monkeypatch.setattr(al, "mc_predict", None)
    monkeypatch.setattr(al, "standard_predict", lambda model, x: seen.append((model, len(x)))
                        or SimpleNamespace(probs=np.full((len(x), 3), 1 / 3)))
    chosen, scores = al.acquire("bald_standard", "m", np.zeros((20, 1, 2, 2)), 5, 9, None)
    assert seen == [("m", 20)]
    assert list(chosen) == [0, 1, 2, 3, 4] and np.all(scores == 0)


def test_random_acquisition_needs_no_prediction(monkeypatch):
    monkeypatch.setattr(al, "mc_predict", None)         # calling either would fail
    monkeypatch.setattr(al, "standard_predict", None)
    chosen, scores = al.acquire("random", "m", np.zeros((6, 1, 2, 2)), 2, 9,
                                np.random.default_rng(4))
    expected = np.random.default_rng(4).random(6)
    np.testing.assert_array_equal(scores, expected)
    assert list(chosen) == list(np.argsort(-expected)[:2])


# -- the loop -----------------------------------------------------------------------------------
@pytest.fixture
def fake_round(monkeypatch):
    """Training: a fixed network keyed by the seed (no updates); the test error: a recorder
    returning a number that names the round's training seed. Records every call's arguments."""
    calls = {"train": [], "test": [], "acquire": []}

    def train(x, y, n_classes, settings, seed):
        calls["train"].append({"n": len(y), "y": list(y), "seed": seed, "x": x})
        return lenet("all", in_shape=x.shape[1:], n_classes=n_classes, seed=seed)

    def test(model, x, y, samples, seed=0):
        calls["test"].append({"n": len(y), "samples": samples, "seed": seed, "x": x,
                              "y": list(y)})
        return calls["train"][-1]["seed"] / 1e4

    real_acquire = al.acquire

    def acquire(name, model, x_pool, k, samples, rng):
        calls["acquire"].append({"m": len(x_pool), "k": k, "samples": samples,
                                 "x": x_pool.copy()})
        return real_acquire(name, model, x_pool, k, samples, rng)

    monkeypatch.setattr(al, "train_model", train)
    monkeypatch.setattr(al, "test_error", test)
    monkeypatch.setattr(al, "acquire", acquire)
    return calls


def _saved(snaps):
    """An ``on_round`` that keeps each snapshot as a state file does (JSON, read back)."""
    return lambda snap: snaps.append(json.loads(json.dumps(snap)))


def test_the_loop_labels_k_new_images_per_round(fake_round):
    data, settings = _data(), al.ActiveLearningSettings(**TINY)
    snaps = []
    record = al.active_learning(data, "random", settings, seed=2, on_round=_saved(snaps))
    assert record["labels"] == [3, 5, 7] and record["error"] == [0.2, 0.2001, 0.2002]
    assert [len(p) for p in record["picked"]] == [2, 2]
    assert [len(record[k]) for k in ("train_seconds", "test_seconds", "score_seconds")] \
        == [3, 3, 2]
    # rounds train with seeds 2000, 2001, 2002 on the labelled set so far (pixels / 256)
    initial = list(al.stratified_indices(data.y_train, 3, 2))
    labelled = initial + record["picked"][0] + record["picked"][1]
    assert [c["seed"] for c in fake_round["train"]] == [2000, 2001, 2002]
    for r, call in enumerate(fake_round["train"]):
        chosen = labelled[:3 + 2 * r]
        assert call["y"] == list(data.y_train[chosen])
        np.testing.assert_array_equal(call["x"], data.x_train[chosen][:, None] / 256.0)
    assert len(set(labelled)) == 7                              # never one labelled twice
    # the test error: T = test_samples, MC seed = the curve's seed, every round
    assert [{k: c[k] for k in ("n", "samples", "seed")} for c in fake_round["test"]] \
        == [{"n": 6, "samples": 1, "seed": 2}] * 3
    # each round scores pool_subset unlabelled images, labels per_round with T = samples
    assert [(c["m"], c["k"], c["samples"]) for c in fake_round["acquire"]] == [(4, 2, 2)] * 2
    # the pool subset is the pool stream's draw from the unlabelled images, as floats
    unlabelled = np.setdiff1d(np.arange(15), initial)
    scored = stream(2, "pool").choice(unlabelled, 4, replace=False)
    np.testing.assert_array_equal(fake_round["acquire"][0]["x"],
                                  data.x_train[scored][:, None] / 256.0)
    assert set(record["picked"][0]) <= set(scored)
    # random acquisition: the score stream's uniforms, the k highest of the subset
    uniforms = stream(2, "score").random(4)
    assert record["picked"][0] == [int(i) for i in scored[np.argsort(-uniforms)[:2]]]
    # a snapshot after every round; the last says done
    assert [(s["next_round"], s["done"], len(s["labelled"])) for s in snaps] == [
        (1, False, 5), (2, False, 7), (3, True, 7)]
    # the seconds are durations of this call's steps
    for key in ("train_seconds", "test_seconds", "score_seconds"):
        assert all(0 <= t < 60 for t in record[key]), (key, record[key])


def test_the_loop_s_progress_bar(fake_round, monkeypatch):
    bars = []

    class Bar:
        def __init__(self, total, desc, progress, unit):
            bars.append(self)
            self.args, self.steps, self.postfix, self.closed = (total, desc, progress,
                                                               unit), [], [], False

        def update(self, n):
            self.steps.append(n)

        def set_postfix_str(self, text):
            self.postfix.append(text)

        def close(self):
            self.closed = True

    monkeypatch.setattr(al, "progress_bar", Bar)
    settings = al.ActiveLearningSettings(**TINY)
    snaps = []
    al.active_learning(_data(), "random", settings, seed=2, progress=True,
                       on_round=_saved(snaps))
    bar, = bars
    assert bar.args == (3, "random seed 2", True, "round") and bar.closed
    assert bar.steps == [0, 1, 1, 1]                 # from round 0, one step per round
    assert bar.postfix == ["3 labels, error 0.200", "5 labels, error 0.200",
                           "7 labels, error 0.200"]
    al.active_learning(_data(), "random", settings, seed=2, state=snaps[1])
    assert bars[1].args[2] is False and bars[1].steps == [2, 1] and bars[1].closed


def test_the_pool_subset_is_at_most_the_unlabelled_images(fake_round):
    # 15 training images, 13 labelled before the last round's scoring: 2 left to score
    settings = al.ActiveLearningSettings(**{**TINY, "initial": 3, "per_round": 5, "rounds": 3,
                                            "pool_subset": 10})
    record = al.active_learning(_data(), "random", settings, seed=0)
    assert [c["m"] for c in fake_round["acquire"]] == [10, 7, 2]
    assert record["labels"] == [3, 8, 13, 15]


def test_the_whole_test_split_when_test_size_is_none_or_not_smaller(fake_round):
    for size in (None, 12, 13):
        settings = al.ActiveLearningSettings(**{**TINY, "rounds": 0, "test_size": size})
        al.active_learning(_data(), "random", settings, seed=0)
    assert [c["n"] for c in fake_round["test"]] == [12, 12, 12]
    # in its own order (each image's MC masks follow its position), as floats
    data = _data()
    for call in fake_round["test"]:
        assert call["y"] == list(data.y_test)
        np.testing.assert_array_equal(call["x"], data.x_test[:, None] / 256.0)
    settings = al.ActiveLearningSettings(**{**TINY, "rounds": 0, "test_size": 11})
    al.active_learning(_data(), "random", settings, seed=0)
    assert fake_round["test"][-1]["n"] == 11


def test_an_unknown_acquisition_is_refused():
    with pytest.raises(ValueError, match="unknown acquisition 'nope'; choose one of random, "):
        al.active_learning(_data(), "nope", al.ActiveLearningSettings(**TINY))


@pytest.mark.parametrize("name", ["random", "bald", "variation_ratio_probs"])
@pytest.mark.parametrize("stop", [0, 1, 2])
def test_a_curve_continued_from_any_snapshot_is_the_curve_never_stopped(fake_round, name,
                                                                        stop):
    data = _data()
    settings = al.ActiveLearningSettings(**{**TINY, "acquisitions": (name,)})
    snaps = []
    whole = al.active_learning(data, name, settings, seed=1, on_round=_saved(snaps))
    whole_calls = {k: len(v) for k, v in fake_round.items()}
    rest = []
    continued = al.active_learning(data, name, settings, seed=1, state=snaps[stop],
                                   on_round=_saved(rest))
    strip = {k: v for k, v in whole.items() if not k.endswith("_seconds")}
    assert {k: v for k, v in continued.items() if not k.endswith("_seconds")} == strip
    assert [s["labelled"] for s in rest] == [s["labelled"] for s in snaps[stop + 1:]]
    # only the rounds not yet done are trained again
    assert len(fake_round["train"]) - whole_calls["train"] == settings.rounds - stop


def test_a_finished_curve_is_returned_as_saved(fake_round):
    record = {"labels": [1], "error": [0.5]}
    state = {"done": True, "record": record, "next_round": 99}
    assert al.active_learning(_data(), "random", al.ActiveLearningSettings(**TINY),
                              state=state) is record
    assert fake_round["train"] == []


# -- the report ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reached, most, cell", [
    ([50], 60, "50 1/1"),                         # one seed: no spread
    ([None], 60, "> 60 0/1"),
    ([30, 50], 60, "40 (30–50) 2/2"),             # the median of two
    ([50, None, None], 60, "> 60 (50) 1/3"),      # one of three reached: its count
    ([20, 20, 30, 40], 60, "25 (20–40) 4/4"),
    ([2.5], 9, "2.5 1/1"),
])
def test_reach_cell_by_hand(reached, most, cell):
    assert al._reach_cell(reached, most) == cell


def test_report_table_by_hand():
    curves = {"bald": {"labels": [10, 20, 30], "error": [[0.5, 0.3, 0.104], [0.3, 0.2, 0.25]]},
              "random": {"labels": [10, 20, 30], "error": [[0.6, 0.5, 0.4]]}}
    assert al.report_table(curves, (0.3, 0.125)).splitlines() == [
        "| acquisition | labels to 30% error | labels to 12.5% error | "
        "last-half mean error (per seed) |",
        "|---|---|---|---|",
        # last half: evaluations 1 and 2 -> (0.3 + 0.104) / 2, (0.2 + 0.25) / 2
        # 30%: at 20 and 10 labels; 12.5%: at 30 by one seed, never by the other
        "| bald | 15 (10–20) 2/2 | > 30 (30) 1/2 | 20.2, 22.5 % |",
        "| random | > 30 0/1 | > 30 0/1 | 45.0 % |"]


def test_curve_entry_by_hand():
    runs = [{"labels": [10, 20], "error": [0.3, 0.2]}, {"labels": [10, 20], "error": [0.4, 0.3]}]
    assert al._curve(runs, (0.3, 0.25)) == {
        "labels": [10, 20], "error": [[0.3, 0.2], [0.4, 0.3]],
        "labels_to_reach": {"0.3": [10, 20], "0.25": [20, None]},
        "last_half_mean_error": [0.2, 0.3]}


def test_labels_to_reach_compares_the_errors_exact_values():
    # float32 0.1 is 0.10000000149...: above a target of 0.1 (reached only at 0.05)
    errors = np.array([[0.1, 0.05]], dtype=np.float32)
    assert al.labels_to_reach([10, 20], errors, 0.1) == 20
    assert al.labels_to_reach_per_seed([10, 20], errors, 0.1) == [20]


def test_labels_to_reach_with_one_seed_and_at_the_target():
    assert al.labels_to_reach([5, 6, 7], [[0.3, 0.2, 0.1]], 0.2) == 6
    assert al.labels_to_reach([5, 6, 7], [[0.3, 0.2, 0.1]], 0.05) is None
    assert al.labels_to_reach_per_seed([5, 6, 7], [0.3, 0.2, 0.1], 0.2) == [6]   # one curve
    assert al.last_half_mean_error([[0.5, 0.1, 0.2]]) == [pytest.approx(0.15)]


# -- the saved state's checks, each bound at its limit and one past it ------------------------
S = al.ActiveLearningSettings(**TINY)      # initial 3, per_round 2, rounds 2
N_TRAIN = 15


def _snap(next_round: int = 2, labelled: list | None = None, errors: list | None = None):
    """A snapshot as :func:`active_learning` writes it after round ``next_round - 1``."""
    n = next_round
    labelled = list(range(3 + 2 * min(n, S.rounds))) if labelled is None else labelled
    generator = np.random.default_rng(0).bit_generator.state
    return {"next_round": n, "done": n == S.rounds + 1, "labelled": labelled,
            "pool_rng": generator, "score_rng": generator,
            "record": {"labels": [3] * n, "error": [0.5] * n if errors is None else errors,
                       "picked": [], "train_seconds": [], "test_seconds": [],
                       "score_seconds": []}}


def _check(snap, name="bald"):
    al._check_snapshots("STATE", {name: {"0": snap}}, S, N_TRAIN)


@pytest.mark.parametrize("snap", [
    _snap(1), _snap(3), _snap(2, labelled=[0, 14, 7]), _snap(1, labelled=[0, 1, 2, 3, 4]),
    _snap(3, labelled=list(range(7))), _snap(2, errors=[0, 1]), _snap(2, errors=[0.0, 1.0])])
def test_a_snapshot_at_each_bound_is_accepted(snap):
    _check(snap)
    al._check_snapshots("STATE", {}, S, N_TRAIN)            # no curve saved yet


def _with(field, value, **kwargs):
    snap = _snap(**kwargs)
    snap[field] = value
    return snap


def _record(field, value):
    snap = _snap()
    snap["record"][field] = value
    return snap


@pytest.mark.parametrize("snap, where, what", [
    (_with("next_round", 0), "next_round", "must be an integer from 1 to 3, got 0"),
    (_with("next_round", 4), "next_round", "from 1 to 3, got 4"),
    (_with("next_round", True), "next_round", "from 1 to 3, got True"),
    (_with("next_round", 2.0), "next_round", "from 1 to 3, got 2.0"),
    (_with("done", True), "done", "must be False at next_round 2"),
    (_with("done", 0), "done", "must be False at next_round 2"),
    (_with("done", 1, next_round=3), "done", "must be True at next_round 3"),
    (_with("labelled", [0, 1, 15]), "labelled", "indices from 0 to 14"),
    (_with("labelled", [0, 1, -1]), "labelled", "indices from 0 to 14"),
    (_with("labelled", [0, 1, True]), "labelled", "indices from 0 to 14"),
    (_with("labelled", (0, 1, 2)), "labelled", "indices from 0 to 14"),
    (_with("labelled", [0, 1, 1]), "labelled", "must hold 3 to 7 distinct indices at "
                                                "next_round 2, got 3"),
    (_with("labelled", [0, 1]), "labelled", "3 to 7 distinct indices at next_round 2, got 2"),
    (_with("labelled", list(range(8))), "labelled", "3 to 7 distinct"),
    (_with("labelled", list(range(6)), next_round=1), "labelled", "3 to 5 distinct"),
    (_with("labelled", list(range(8)), next_round=3), "labelled", "3 to 7 distinct"),
    (_with("record", []), "record", "must hold the lists labels, error, picked, "
                                    "train_seconds, test_seconds, score_seconds"),
    (_record("score_seconds", None), "record", "must hold the lists"),
    (_record("labels", 3), "record", "must hold the lists"),
    (_record("error", [0.5]), "record.error", "must hold 2 errors in [0, 1] at next_round 2"),
    (_record("labels", [3]), "record.error", "must hold 2 errors"),
    (_record("error", [0.5, 1.01]), "record.error", "must hold 2 errors"),
    (_record("error", [-0.01, 0.5]), "record.error", "must hold 2 errors"),
    (_record("error", [True, 0.5]), "record.error", "must hold 2 errors"),
    (_record("error", ["0.5", 0.5]), "record.error", "must hold 2 errors"),
    (_with("pool_rng", {"bit_generator": "MT19937"}), "pool_rng", "is not a generator state"),
    (_with("score_rng", None), "score_rng", "is not a generator state"),
    (_with("score_rng", {"bit_generator": "PCG64"}), "score_rng", "is not a generator state"),
])
def test_a_bad_snapshot_is_named_with_its_field(snap, where, what):
    with pytest.raises(ValueError) as err:
        _check(snap)
    message = str(err.value)
    assert message.startswith(f"cannot resume from STATE: curves.bald.0.{where} "), message
    assert what in message, message
    assert message.endswith("the file was damaged or edited: start afresh with --replace")


@pytest.mark.parametrize("curves, where, what", [
    ([], "curves", "must be an object"),
    ({"nope": {}}, "curves.nope", "is not an acquisition function's curves"),
    ({"bald": []}, "curves.bald", "is not an acquisition function's curves"),
    ({"bald": {"0": 3}}, "curves.bald.0", "must be an object"),
])
def test_a_bad_curves_object_is_named(curves, where, what):
    with pytest.raises(ValueError, match=f"^cannot resume from STATE: {where} {what}; "):
        al._check_snapshots("STATE", curves, S, N_TRAIN)


# -- the state file: read, matched to the run, refused or discarded ----------------------------
def _key(**settings):
    return al._run_key("tiny", al.ActiveLearningSettings(**{**TINY, **settings}))


def test_the_run_key_leaves_out_what_a_resumed_run_may_change():
    key = _key()
    assert key["dataset"] == "tiny"
    assert set(key["settings"]) == {f.name for f in al.fields(al.ActiveLearningSettings)} \
        - {"acquisitions", "seeds", "thresholds"}
    assert key["settings"]["initial"] == 3 and key["settings"]["test_size"] == 6
    assert _key(seeds=4, thresholds=(0.5,), acquisitions=("bald",)) == key


NOT_STATE = "cannot resume from {path}: not an active-learning state file"


@pytest.mark.parametrize("content, message", [
    ("{", "cannot resume from {path}: "),
    ("[]", NOT_STATE),
    ('{"experiment": "regression", "curves": {}}', NOT_STATE),
    ('{"experiment": "active_learning", "curves": []}', NOT_STATE),
    ('{"experiment": "active_learning"}', NOT_STATE),
])
def test_a_file_that_is_not_a_state_is_refused(tmp_path, content, message):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(ValueError) as err:
        al._load_state(path, _key())
    assert str(err.value).startswith(message.format(path=path)), err.value


def test_a_state_of_another_run_names_what_differs(tmp_path):
    path = tmp_path / "state.json"

    def state(dataset="tiny", **settings):
        key = {**_key(**settings), "dataset": dataset}
        path.write_text(json.dumps({"experiment": "active_learning", **key,
                                    "curves": {"bald": {}}}))

    state()
    assert al._load_state(path, _key()) == {"bald": {}}
    state(dataset="mnist")
    with pytest.raises(ValueError, match=r"it was written for another run \(dataset 'mnist' "
                                         r"there, 'tiny' here\); give the same settings or "
                                         r"a new --out$"):
        al._load_state(path, _key())
    state(samples=4, rounds=3)
    with pytest.raises(ValueError, match=r"another run \(rounds 3 there, 2 here; samples 4 "
                                         r"there, 2 here\)"):
        al._load_state(path, _key())
    state()
    saved = json.loads(path.read_text())
    saved["settings"]["extra"] = 1              # differs, though no field of ours does
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"another run \(other settings\)"):
        al._load_state(path, _key())
    saved["settings"] = "x"
    path.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"another run \(settings 'x' there, \{"):
        al._load_state(path, _key())


def test_saved_state_is_read_refused_or_left_to_replace(tmp_path):
    path = tmp_path / al.STATE_NAME
    key = _key()
    assert al._saved_state(tmp_path, path, key, resume=True, replace=False) == {}   # none yet
    assert al._saved_state(tmp_path, path, key, resume=False, replace=False) == {}
    path.write_text(json.dumps({"experiment": "active_learning", **key, "curves": {"x": 1}}))
    assert al._saved_state(tmp_path, path, key, resume=True, replace=False) == {"x": 1}
    assert al._saved_state(tmp_path, path, key, resume=False, replace=True) == {}
    with pytest.raises(ValueError) as refused:
        al._saved_state(tmp_path, path, key, resume=False, replace=False)
    assert str(refused.value) == (
        f"{tmp_path} holds an active-learning run ({path}): continue it with --resume, or "
        "start afresh with --replace (its saved rounds are then discarded)")
    path.unlink()
    path.symlink_to(tmp_path / "gone")            # a dangling link is still a state's name
    with pytest.raises(ValueError, match="continue it with --resume, or start afresh with "
                                         "--replace"):
        al._saved_state(tmp_path, path, key, resume=False, replace=False)


# -- the whole experiment: its files, figures, interruption and entry point --------------------
@pytest.fixture
def whole_run(monkeypatch):
    """Each curve replaced by one with known errors, picks and seconds; figures recorded."""
    seen = {"curves": [], "figures": []}

    def fake_curve(data, name, settings, seed=0, progress=False, state=None, on_round=None):
        seen["curves"].append((name, seed, state))
        record = {"labels": [3, 5, 7], "error": [0.5, 0.25 + 0.1 * seed, 0.125],
                  "picked": [[seed, 4], [5, 6]], "train_seconds": [1.0, 2.0, 3.0],
                  "test_seconds": [0.5, 0.5, 0.5], "score_seconds": [4.0, 8.0]}
        if on_round is not None:
            generator = np.random.default_rng(seed).bit_generator.state
            on_round({"next_round": 3, "done": True, "labelled": list(range(7)),
                      "pool_rng": generator, "score_rng": generator, "record": record})
        return record

    monkeypatch.setattr(al, "active_learning", fake_curve)
    monkeypatch.setattr(al, "load_dataset", lambda *a, **k: _data())
    monkeypatch.setattr(al.figures, "active_learning_curves",
                        lambda curves, path, title, thresholds:
                        seen["figures"].append((path.name, title, thresholds)))
    monkeypatch.setattr(al.figures, "active_learning_picks",
                        lambda picks, path: seen["figures"].append((path.name, picks)))
    return seen


def test_a_run_writes_its_results_details_and_figures(whole_run, tmp_path, capsys):
    out = tmp_path / "al"
    path = al.run_active_learning(out, dataset="embedded", seed=4, progress=True,
                                  **{**TINY, "acquisitions": ("bald", "random"), "seeds": 2,
                                     "thresholds": (0.3,)})
    assert path == out / "active_learning.json"
    assert [c[:2] for c in whole_run["curves"]] == [("bald", 4), ("bald", 5), ("random", 4),
                                                    ("random", 5)]
    result = json.loads(path.read_text())
    assert result["dataset"] == "embedded" and list(result["acquisitions"]) == ["bald", "random"]
    bald = result["acquisitions"]["bald"]
    # seed 4 reaches 0.3 at the last evaluation (0.65 then 0.125), seed 5 likewise
    assert bald["error"] == [[0.5, 0.65, 0.125], [0.5, 0.75, 0.125]]
    assert bald["labels"] == [3, 5, 7] and bald["labels_to_reach"] == {"0.3": [7, 7]}
    details = json.loads((out / "active_learning_details.json").read_text())
    assert details["experiment"] == "active_learning" and details["dataset"] == "embedded"
    assert details["seeds"] == [4, 5] and details["resumed"] is False
    assert details["settings"]["acquisitions"] == ["bald", "random"]
    assert details["per_acquisition"]["random"][1]["picked"] == [[5, 4], [5, 6]]
    assert "labels" not in details["per_acquisition"]["bald"][0]
    assert "error" not in details["per_acquisition"]["bald"][0]
    # a round's seconds: train + test + score (none after the last): 5.5, 10.5, 3.5
    assert details["mean_round_seconds"] == pytest.approx((5.5 + 10.5 + 3.5) / 3)
    assert details["table"] == al.report_table(result["acquisitions"], (0.3,))
    assert details["figures"] == ["active_learning_curves.png", "active_learning_picks.png"]
    assert 0 < details["wall_seconds"] < 600
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", details["started"])
    assert isinstance(details["machine"], dict) and details["machine"]
    assert details["table"] in capsys.readouterr().out        # progress: the table printed
    # the figures: the curves with a title naming the data and seeds, the first picks
    (curves_png, title, thresholds), (picks_png, picks) = whole_run["figures"]
    assert (curves_png, picks_png) == ("active_learning_curves.png", "active_learning_picks.png")
    assert title == "Active learning on embedded: mean of 2 seeds, band min–max"
    assert thresholds == (0.3,)
    data = _data()
    assert list(picks) == ["bald", "random"]
    np.testing.assert_array_equal(picks["bald"], data.x_train[[4, 4]])   # seed 4: [4, 4]
    # the state: every curve finished, under the run's key
    state = json.loads((out / al.STATE_NAME).read_text())
    assert state["experiment"] == "active_learning" and state["dataset"] == "embedded"
    assert set(state["curves"]["random"]) == {"4", "5"}
    assert state["settings"] == al._run_key("embedded", al.settings_for(**TINY))["settings"]


def test_one_seed_s_title_into_a_new_nested_folder(whole_run, tmp_path, capsys):
    out = tmp_path / "new" / "al"
    al.run_active_learning(out, progress=False, **TINY)
    assert whole_run["figures"][0][1] == "Active learning on embedded: mean of 1 seed"
    assert capsys.readouterr().out == ""                     # no progress: nothing printed
    assert (out / "active_learning.json").is_file()


def test_a_curve_with_no_rounds_has_no_first_picks(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(al, "train_model", lambda *a, **k: None)
    monkeypatch.setattr(al, "test_error", lambda *a, **k: 0.5)
    monkeypatch.setattr(al, "load_dataset", lambda *a, **k: _data())
    monkeypatch.setattr(al.figures, "active_learning_curves", lambda *a, **k: None)
    monkeypatch.setattr(al.figures, "active_learning_picks",
                        lambda picks, path: seen.append(picks))
    al.run_active_learning(tmp_path / "al", progress=False, **{**TINY, "rounds": 0})
    assert seen[0]["random"].shape == (0, 16, 16)


def test_an_interrupted_resume_keeps_the_saved_state(whole_run, monkeypatch, tmp_path):
    """Ctrl-C before a resumed run's first save must leave every saved round in place."""
    out = tmp_path / "al"
    al.run_active_learning(out, progress=False, **TINY)
    before = (out / al.STATE_NAME).read_text()

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(al, "active_learning", stop)
    with pytest.raises(KeyboardInterrupt):
        al.run_active_learning(out, progress=False, resume=True, **TINY)
    assert (out / al.STATE_NAME).read_text() == before


def test_a_resumed_run_says_so_and_continues_each_curve(whole_run, tmp_path):
    out = tmp_path / "al"
    al.run_active_learning(out, progress=False, **TINY)
    whole_run["curves"].clear()
    al.run_active_learning(out, progress=False, resume=True, **TINY)
    (name, seed, state), = whole_run["curves"]
    assert (name, seed, state["done"], state["next_round"]) == ("random", 0, True, 3)
    details = json.loads((out / "active_learning_details.json").read_text())
    assert details["resumed"] is True


def test_ctrl_c_names_the_state_once_a_round_is_saved(whole_run, monkeypatch, tmp_path):
    from tinybcnn.training.errors import TrainingInterrupted

    real = al.active_learning
    calls = []

    def stop_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(al, "active_learning", stop_second)
    out = tmp_path / "al"
    with pytest.raises(TrainingInterrupted) as err:
        al.run_active_learning(out, progress=False, **{**TINY, "seeds": 2})
    assert err.value.iteration == 1 and err.value.checkpoint_path == out / al.STATE_NAME
    calls.clear()
    calls.append(1)                                  # the first call now stops
    with pytest.raises(TrainingInterrupted) as err:
        al.run_active_learning(tmp_path / "b", progress=False, **TINY)
    assert err.value.iteration == 0 and err.value.checkpoint_path is None


def test_replace_discards_the_state_and_records_the_identity(whole_run, tmp_path):
    out = tmp_path / "al"
    al.run_active_learning(out, progress=False, **TINY)
    identity = out / "active_learning_identity.json"
    assert identity.is_file()
    state = out / al.STATE_NAME
    state.write_text(json.dumps({**json.loads(state.read_text()), "curves": {}}))
    whole_run["curves"].clear()
    seen = []
    monkey_state = al._saved_state

    def spy(*args):
        seen.append(args[1].exists())                 # the old state still there when read
        return monkey_state(*args)

    al._saved_state, real = spy, al._saved_state
    try:
        al.run_active_learning(out, progress=False, replace=True, **TINY)
    finally:
        al._saved_state = real
    assert seen == [True] and whole_run["curves"][0][2] is None
    assert json.loads(state.read_text())["curves"]["random"]["0"]["done"] is True
    with pytest.raises(ValueError, match="seed"):             # the folder is seed 0's
        al.run_active_learning(out, progress=False, resume=True, seed=1, **TINY)


def test_main_passes_the_request_on(monkeypatch, tmp_path):
    from tinybcnn.experiments.runner import Request

    got = {}
    monkeypatch.setattr(al, "run_active_learning",
                        lambda out, **kwargs: got.update(out=out, **kwargs) or "path")
    request = Request("active_learning", tmp_path, dataset="d", data_dir="dd", quick=True,
                      seeds=3, iterations=9, seed=5, progress=False, resume=True,
                      replace=False, overrides={"rounds": 2})
    assert al.main(request) == "path"
    assert got == {"out": tmp_path, "dataset": "d", "data_dir": "dd", "quick": True, "seed": 5,
                   "progress": False, "resume": True, "replace": False, "rounds": 2,
                   "iterations": 9, "seeds": 3}
    got.clear()
    al.main(Request("active_learning", tmp_path, replace=True, overrides={}))
    assert got["replace"] is True and "iterations" not in got and "seeds" not in got
    with pytest.raises(ValueError, match="run_dir does not apply to active_learning"):
        al.main(Request("active_learning", tmp_path, run_dir=tmp_path, overrides={}))


# -- found by mutmut's random sample of stop 7 -------------------------------------------------
@pytest.mark.parametrize("part", ["x_train", "y_train", "x_test", "y_test"])
def test_a_resume_on_other_images_or_labels_is_refused(part, whole_run, monkeypatch,
                                                       tmp_path):
    """The folder's identity covers every array of the data set: the saved indices pick
    images by position, and the errors were measured on that test set (the lowest bit of
    one image's pixels, or one label, is enough to differ)."""
    import dataclasses

    out = tmp_path / "al"
    al.run_active_learning(out, progress=False, **TINY)
    same = _data()
    changed = getattr(same, part).copy()
    changed[0] = (changed[0] + 1) % CLASSES if part.startswith("y") else changed[0] ^ 1
    other = dataclasses.replace(same, **{part: changed})
    monkeypatch.setattr(al, "load_dataset", lambda *a, **k: other)
    with pytest.raises(ValueError, match="data"):
        al.run_active_learning(out, progress=False, resume=True, **TINY)


def test_a_resume_under_another_data_set_name_is_refused(whole_run, tmp_path):
    out = tmp_path / "al"
    al.run_active_learning(out, dataset="embedded", progress=False, **TINY)
    (out / al.STATE_NAME).unlink()       # the identity record alone must tell the two apart
    with pytest.raises(ValueError, match="fashion-mnist"):   # the same arrays, another name
        al.run_active_learning(out, dataset="fashion-mnist", progress=False, resume=True,
                               **TINY)


def test_replace_starts_afresh_under_another_seed_and_records_it(whole_run, tmp_path):
    out = tmp_path / "al"
    al.run_active_learning(out, progress=False, seed=0, **TINY)
    al.run_active_learning(out, progress=False, seed=3, replace=True, **TINY)
    assert json.loads((out / "active_learning_identity.json").read_text())["seed"] == 3


def test_the_data_folder_and_progress_reach_the_loader_and_every_curve(whole_run, monkeypatch,
                                                                      tmp_path, capsys):
    loaded, curves = [], []
    monkeypatch.setattr(al, "load_dataset", lambda name, **kw: loaded.append(kw) or _data())
    curve = al.active_learning
    monkeypatch.setattr(al, "active_learning", lambda data, name, settings, seed, progress, **kw:
                        curves.append(progress) or curve(data, name, settings, seed, progress,
                                                         **kw))
    al.run_active_learning(tmp_path / "a", data_dir="/some/idx", **TINY)   # progress by default
    al.run_active_learning(tmp_path / "b", progress=False, **TINY)
    assert loaded == [{"data_dir": "/some/idx", "progress": True},
                      {"data_dir": None, "progress": False}]
    assert curves == [True, False]


def test_by_default_a_run_is_the_full_one(whole_run, tmp_path):
    """Not --quick unless asked: 3 seeds of 25 rounds of 10 labels from 20, scoring 1,000
    pool images with T = 20 (docs/results.md, "Active learning with BALD")."""
    out = tmp_path / "al"
    al.run_active_learning(out, progress=False)
    settings = json.loads((out / "active_learning_details.json").read_text())["settings"]
    assert {k: settings[k] for k in ("seeds", "rounds", "per_round", "initial", "pool_subset",
                                     "samples")} == dict(seeds=3, rounds=25, per_round=10,
                                                         initial=20, pool_subset=1000,
                                                         samples=20)


def test_a_saved_state_without_resume_is_refused_naming_the_folder(whole_run, tmp_path):
    out = tmp_path / "al"
    al.run_active_learning(out, progress=False, **TINY)
    with pytest.raises(ValueError, match=f"^{out} holds an active-learning run"):
        al.run_active_learning(out, progress=False, **TINY)
