"""Deep ensembles and MC-dropout ensembles: prediction against a direct NumPy computation from
the members' softmax outputs, and training from seeds, resumable member by member."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from tinybcnn.ensemble_training import lenet_trainer, member_path, train_ensemble
from tinybcnn.ensembles import ensemble_predict, member_seeds
from tinybcnn.models import lenet
from tinybcnn.predict import mc_predict
from tinybcnn.train import Trainer

SHAPE = (1, 16, 16)


def _members(k=3, dtype=np.float64):
    return [lenet("all", p=0.5, in_shape=SHAPE, n_classes=4, seed=s, dtype=dtype)
            for s in range(k)]


def _x(n=7, dtype=np.float64):
    return np.random.default_rng(0).standard_normal((n, *SHAPE)).astype(dtype)


def _by_hand(p_s):
    """p̄, H[p̄], MI and the vote variation ratio of samples p_s (S, N, C), one input at a
    time with Python loops."""
    s, n, c = p_s.shape
    pbar = p_s.mean(axis=0)
    h = np.array([-sum(q * np.log(q) for q in pbar[i] if q > 0) for i in range(n)])
    h_each = np.array([[-sum(q * np.log(q) for q in p_s[t, i] if q > 0) for i in range(n)]
                       for t in range(s)])
    vr = []
    for i in range(n):
        votes = [0] * c
        for t in range(s):
            votes[int(np.argmax(p_s[t, i]))] += 1
        vr.append(1 - max(votes) / s)
    return pbar, h, h - h_each.mean(axis=0), np.array(vr)


def test_deep_ensemble_against_the_members_softmax_outputs():
    models, x = _members(), _x()
    pred = ensemble_predict(models, x)
    p_s = np.stack([special.softmax(m.forward(x), axis=1) for m in models])
    pbar, h, mi, vr = _by_hand(p_s)
    np.testing.assert_allclose(pred.probs, pbar, rtol=1e-12)
    np.testing.assert_allclose(pred.entropy, h, rtol=1e-12)
    np.testing.assert_allclose(pred.mutual_info, mi, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(pred.variation_ratio, vr)
    assert pred.samples == 3 and pred.sample_probs is None
    assert np.all(pred.mutual_info > 0)        # different initial weights disagree


def test_mc_dropout_ensemble_pools_every_pass_of_every_member():
    models, x = _members(), _x()
    pred = ensemble_predict(models, x, samples=6, seed=5, return_samples=True)
    seeds = member_seeds(5, 3)
    p_s = np.concatenate([mc_predict(m, x, samples=6, seed=s, return_samples=True).sample_probs
                          for m, s in zip(models, seeds, strict=True)])
    assert pred.sample_probs.shape == (18, 7, 4) and pred.samples == 18
    np.testing.assert_array_equal(pred.sample_probs, p_s)
    pbar, h, mi, vr = _by_hand(p_s)
    np.testing.assert_allclose(pred.probs, pbar, rtol=1e-12)
    np.testing.assert_allclose(pred.entropy, h, rtol=1e-12)
    np.testing.assert_allclose(pred.mutual_info, mi, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(pred.variation_ratio, vr)


def test_one_member_is_mc_dropout():
    model, x = _members(1)[0], _x()
    pred = ensemble_predict([model], x, samples=5, seed=2)
    mc = mc_predict(model, x, samples=5, seed=member_seeds(2, 1)[0])
    for field in ("probs", "entropy", "mutual_info", "variation_ratio"):
        np.testing.assert_allclose(getattr(pred, field), getattr(mc, field), rtol=1e-12,
                                   atol=1e-15, err_msg=field)


def test_member_seeds_are_distinct_and_a_prefix_of_a_larger_ensemble():
    five, ten = member_seeds(0, 5), member_seeds(0, 10)
    assert len(set(ten)) == 10 and ten[:5] == five
    assert member_seeds(1, 5) != five and all(0 <= s < 2**63 for s in ten)


def test_bad_ensembles_are_refused():
    with pytest.raises(ValueError, match="at least one member"):
        ensemble_predict([], _x())
    odd = lenet("all", in_shape=SHAPE, n_classes=3, seed=0, dtype=np.float64)
    with pytest.raises(ValueError, match="disagree"):
        ensemble_predict([*_members(1), odd], _x())
    with pytest.raises(ValueError, match="samples"):
        ensemble_predict(_members(1), _x(), samples=0)


def _train(tmp, iterations):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, *SHAPE)).astype(np.float32)
    y = rng.integers(0, 10, size=16)
    return train_ensemble(x, y, members=2, seed=3, checkpoint_dir=tmp, iterations=iterations,
                          batch_size=8, mc_samples=0,
                          make_trainer=lambda s: lenet_trainer(s, n_train=16, in_shape=SHAPE))


def test_members_differ_and_an_ensemble_resumes_member_by_member(tmp_path, monkeypatch):
    straight = _train(tmp_path / "a", 4)
    a, b = (t.model.params["conv1.W"] for t in straight)
    assert not np.array_equal(a, b)
    assert [t.seed for t in straight] == member_seeds(3, 2)
    _train(tmp_path / "b", 2)                       # stopped half way
    assert member_path(tmp_path / "b", 1).exists()
    steps = []
    original = Trainer.step
    monkeypatch.setattr(Trainer, "step", lambda self, *a: steps.append(1) or original(self, *a))
    resumed = _train(tmp_path / "b", 4)             # the same call again, with the full count
    assert len(steps) == 2 * 2                      # each member continued, none restarted
    for s, r in zip(straight, resumed, strict=True):
        assert r.iteration == 4
        for name, value in s.model.params.items():
            np.testing.assert_array_equal(r.model.params[name], value, err_msg=name)


def test_default_trainer_is_the_papers_lenet():
    t = lenet_trainer(7, n_train=100)
    assert t.model.variant == "all" and t.seed == 7
    np.testing.assert_array_equal(t.model.params["conv1.W"], lenet("all", seed=7).params["conv1.W"])
