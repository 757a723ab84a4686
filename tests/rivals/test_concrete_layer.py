"""The Concrete dropout layer, model and objective: p learnt with the package's optimisers.

Oracles: float64 central differences of the whole objective (every weight and every
p-logit), the fixed-p :class:`~tinybcnn.objective.Objective` on the same weights, the plain
LeNet's weights, a straight run against a saved-and-resumed one, and NumPy against
array_api_strict on the same counter-generator draws.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinybcnn.backend import to_numpy
from tinybcnn.concrete import (
    ConcreteDropout,
    ConcreteObjective,
    ConcreteSequential,
    concrete_lenet,
    learnt_p,
    with_concrete_dropout,
)
from tinybcnn.functional.concrete_dropout import bernoulli_entropy, logit
from tinybcnn.models import lenet
from tinybcnn.nn import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential
from tinybcnn.objective import Objective
from tinybcnn.optim import SGD, Adam
from tinybcnn.predict import mc_predict, standard_predict
from tinybcnn.random import CounterRNG
from tinybcnn.train import Trainer


def _small(dtype=np.float64, p=(0.2, 0.4)):
    """conv 1→2 3×3 → concrete → pool → flatten → dense 8→5 → ReLU → concrete → dense 5→3."""
    return ConcreteSequential([
        ("conv1", Conv2D(1, 2, 3, seed=0, dtype=dtype)),
        ("drop1", ConcreteDropout(p[0], dtype=dtype)),
        ("pool1", MaxPool2D(2)), ("flatten", Flatten()),
        ("ip1", Dense(8, 5, seed=1, dtype=dtype)), ("relu1", ReLU()),
        ("drop2", ConcreteDropout(p[1], dtype=dtype)), ("ip2", Dense(5, 3, seed=2, dtype=dtype))])


def _data(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 6, 6)), rng.integers(0, 3, size=n)


def test_concrete_lenet_has_lenets_weights_and_a_learnt_p_where_lenet_has_dropout():
    plain = lenet("all", seed=3)
    model = concrete_lenet("all", p=0.1, seed=3)
    assert list(model.layers) == list(plain.layers)
    assert set(model.concrete_layers()) == {"drop1", "drop2", "drop3"}
    for name, value in plain.params.items():
        np.testing.assert_array_equal(model.params[name], value)
    a = model.params["drop1.p_logit"]
    assert a.shape == () and a.dtype == np.float32
    for p in model.learnt_p().values():
        assert math.isclose(p, 0.1, rel_tol=1e-6)
    assert learnt_p(model) == model.learnt_p()
    assert model.variant == "concrete-all" and model.in_shape == (1, 28, 28)
    ip = concrete_lenet("ip", seed=3)
    assert list(ip.concrete_layers()) == ["drop3"]


def test_with_concrete_dropout_keeps_names_and_shares_the_other_layers():
    net = Sequential([("ip1", Dense(4, 6, seed=0)), ("relu", ReLU()), ("drop", Dropout(0.5)),
                      ("ip2", Dense(6, 2, seed=1))])
    out = with_concrete_dropout(net, p=0.3)
    assert out.layers["ip1"] is net.layers["ip1"]
    assert isinstance(out.layers["drop"], ConcreteDropout)
    assert math.isclose(out.learnt_p()["drop"], 0.3, rel_tol=1e-6)


def test_objective_gradient_matches_finite_differences_for_every_parameter():
    """Weights, biases and both p-logits, with the noise injected (a fixed relaxed mask)."""
    model = _small()
    x, y = _data()
    rng = np.random.default_rng(1)
    noise = {"drop1": rng.uniform(0.05, 0.95, (4, 2, 4, 4)),
             "drop2": rng.uniform(0.05, 0.95, (4, 5))}
    obj = ConcreteObjective.for_model(model, n_train=20, length_scale=1.5, tau=1.0)
    obj(model, x, y, noise=noise)
    analytic = {k: np.array(v, copy=True) for k, v in model.grads.items()}
    params = model.params
    for name, theta in params.items():
        flat = theta.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + 1e-6
            up = obj(model, x, y, noise=noise)
            flat[i] = old - 1e-6
            down = obj(model, x, y, noise=noise)
            flat[i] = old
            fd = (up - down) / 2e-6
            got = analytic[name].reshape(-1)[i]
            assert abs(got - fd) <= 1e-6 * max(1.0, abs(fd)), (name, i, got, fd)


def test_owners_and_units_follow_the_output_side_reading():
    obj = ConcreteObjective.for_model(concrete_lenet("all"), n_train=100, length_scale=1.0)
    assert obj.owners == {"drop1": "conv1", "drop2": "conv2", "drop3": "ip1"}
    assert obj.n_units == {"drop1": 20, "drop2": 50, "drop3": 500}


def test_n_units_can_be_given_per_layer():
    model = concrete_lenet("all")
    obj = ConcreteObjective.for_model(model, n_train=100, length_scale=1.0,
                                      n_units={"drop1": 25})
    assert obj.n_units == {"drop1": 25, "drop2": 50, "drop3": 500}
    with pytest.raises(ValueError, match="not a Concrete"):
        ConcreteObjective.for_model(model, n_train=100, length_scale=1.0, n_units={"ip1": 3})
    with pytest.raises(ValueError, match=r"n_units\[.drop1.\] must be an integer >= 1"):
        ConcreteObjective.for_model(model, n_train=100, length_scale=1.0, n_units={"drop1": 0})


def test_penalty_at_fixed_p_is_the_package_objective_plus_the_entropy_terms():
    """Same weights, p = 0.3 in every dropout: Objective's λ‖θ‖² (with λ = l²/(2Nτ keep) on
    the masked kernels) plus −K H(p)/(Nτ) per Concrete layer."""
    n, l, tau = 300, 2.0, 1.5
    plain = lenet("all", p=0.3, seed=0, dtype=np.float64)
    model = with_concrete_dropout(plain, p=0.3)
    fixed = Objective.for_model(plain, n_train=n, length_scale=l, tau=tau)
    concrete = ConcreteObjective.for_model(model, n_train=n, length_scale=l, tau=tau)
    penalty = concrete.penalty(model)
    entropy = sum(k * float(bernoulli_entropy(np.array(logit(0.3)))) / (n * tau)
                  for k in (20, 50, 500))
    assert math.isclose(penalty + entropy, fixed.penalty(plain.params), rel_tol=1e-12)


def test_a_concrete_layer_before_every_weight_layer_is_refused():
    model = ConcreteSequential([("d", ConcreteDropout()), ("ip", Dense(3, 2, seed=0))])
    with pytest.raises(ValueError, match="before every weight layer"):
        ConcreteObjective.for_model(model, n_train=10, length_scale=1.0)


def test_two_masks_on_the_same_units_are_refused():
    model = ConcreteSequential([("ip", Dense(3, 2, seed=0)), ("d0", Dropout(0.5)),
                                ("d", ConcreteDropout())])
    with pytest.raises(ValueError, match="already masks"):
        ConcreteObjective.for_model(model, n_train=10, length_scale=1.0)


def test_unknown_noise_names_are_refused():
    with pytest.raises(KeyError, match="not Concrete"):
        _small().forward(_data()[0], noise={"conv1": np.ones(3)})


def test_mc_prediction_starts_at_the_first_concrete_layer_and_has_spread():
    model = concrete_lenet("all", p=0.3, in_shape=(1, 16, 16), seed=0)
    assert model.first_stochastic() == 1
    x = np.random.default_rng(0).standard_normal((5, 1, 16, 16)).astype(np.float32)
    mc = mc_predict(model, x, samples=20, seed=0)
    assert np.all(mc.mutual_info > 0)
    std = standard_predict(model, x)
    logits = model.forward(x)          # deterministic: every Concrete layer is the identity
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(std.probs, e / e.sum(axis=1, keepdims=True), rtol=1e-5)


def test_training_learns_p_and_resumes_bit_for_bit(tmp_path):
    """Adam moves every p; 3 + (save, resume in a fresh trainer) + 3 steps equal 6 straight."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, size=24)

    def trainer():
        model = concrete_lenet("all", p=0.1, in_shape=(1, 16, 16), seed=0)
        obj = ConcreteObjective.for_model(model, n_train=24, length_scale=1.0)
        return Trainer(model, obj, Adam(model, lr=1e-2), seed=4)

    straight = trainer()
    straight.fit(x, y, iterations=6, batch_size=8, progress=False, mc_samples=0)
    first = trainer()
    first.fit(x, y, iterations=3, batch_size=8, progress=False, mc_samples=0)
    first.save(tmp_path / "ckpt.npz")
    second = trainer()
    second.resume(tmp_path / "ckpt.npz")
    second.fit(x, y, iterations=6, batch_size=8, progress=False, mc_samples=0)
    for name, value in straight.model.params.items():
        np.testing.assert_array_equal(second.model.params[name], value, err_msg=name)
    assert all(not math.isclose(p, 0.1, rel_tol=1e-4)
               for p in straight.model.learnt_p().values())


def test_sgd_updates_the_p_logit_with_its_gradient():
    model = _small(dtype=np.float64)
    x, y = _data()
    obj = ConcreteObjective.for_model(model, n_train=20, length_scale=1.0)
    opt = SGD(model, lr=0.1, momentum=0.0)
    before = float(model.params["drop2.p_logit"])
    obj(model, x, y, rng=np.random.default_rng(0))
    g = float(model.grads["drop2.p_logit"])
    opt.step()
    assert math.isclose(float(model.params["drop2.p_logit"]), before - 0.1 * g, rel_tol=1e-12)


def test_device_path_equals_numpy_on_the_same_draws():
    """loss_and_grads on array_api_strict (nothing read back) against __call__ on NumPy, the
    noise from counter generators with the same key on both namespaces."""
    aas = pytest.importorskip("array_api_strict")
    model = _small()
    x, y = _data()
    obj = ConcreteObjective.for_model(model, n_train=20, length_scale=1.5)
    value = obj(model, x, y, rng=CounterRNG(5, np))
    ref = {k: np.array(v, copy=True) for k, v in model.grads.items()}

    dev = _small()
    dev.load_params({k: aas.asarray(v) for k, v in dev.params.items()})
    dev_obj = ConcreteObjective.for_model(dev, n_train=20, length_scale=1.5)
    loss = dev_obj.loss_and_grads(dev, aas.asarray(x), aas.asarray(y), rng=CounterRNG(5, aas),
                                  check_labels=False)
    assert type(loss).__module__.startswith("array_api_strict")
    assert math.isclose(float(loss), value, rel_tol=1e-12)
    for name, g in dev.grads.items():
        np.testing.assert_allclose(to_numpy(g), ref[name], rtol=1e-10, atol=1e-14, err_msg=name)


def test_the_p_gradient_pulls_towards_one_half_without_data():
    """With no data term, the regulariser alone at tiny weights: the entropy pushes p up from
    0.1 (its gradient on the logit is negative) and down from 0.9."""
    for p, sign in ((0.1, -1), (0.9, 1)):
        model = _small(p=(p, p))
        for layer in (model.layers["conv1"], model.layers["ip1"]):
            layer.params["W"][...] = 0.0
        obj = ConcreteObjective.for_model(model, n_train=20, length_scale=1.0)
        for layer in model.concrete_layers().values():
            layer.grads["p_logit"] = np.zeros(())
        model.layers["conv1"].grads["W"] = np.zeros_like(model.params["conv1.W"])
        model.layers["ip1"].grads["W"] = np.zeros_like(model.params["ip1.W"])
        obj.regulariser(model)
        for name in model.concrete_layers():
            assert np.sign(model.grads[f"{name}.p_logit"]) == sign
            k = obj.n_units[name]
            expected = k / 20 * logit(p) * p * (1 - p)
            assert math.isclose(float(model.grads[f"{name}.p_logit"]), expected, rel_tol=1e-9)


def test_a_device_training_step_reads_nothing_back(monkeypatch):
    """On array_api_strict (the CuPy stand-in) a Trainer step of the Concrete LeNet, flat SGD
    update of the p-logits included, never reads an array back to the host."""
    aas = pytest.importorskip("array_api_strict")
    model = concrete_lenet("all", p=0.1, in_shape=(1, 16, 16), seed=0)
    model.load_params({k: aas.asarray(np.asarray(v)) for k, v in model.params.items()})
    obj = ConcreteObjective.for_model(model, n_train=64, length_scale=1.0)
    trainer = Trainer(model, obj, SGD(model, lr=0.05), seed=0)
    rng = np.random.default_rng(0)
    xb = aas.asarray(rng.standard_normal((8, 1, 16, 16)).astype(np.float32))
    yb = aas.asarray(rng.integers(0, 10, size=8))

    def refuse(self, *args):
        raise AssertionError("host synchronisation: an array was read back to the host")

    with monkeypatch.context() as patch:
        for name in ("__bool__", "__int__", "__float__", "__index__", "item", "tolist"):
            if hasattr(type(xb), name):
                patch.setattr(type(xb), name, refuse)
        for _ in range(2):
            loss = trainer.step(xb, yb)
    assert math.isfinite(float(loss))
    assert all(not math.isclose(p, 0.1, rel_tol=1e-7) for p in model.learnt_p().values())


def test_the_p_logit_lives_where_the_model_lives():
    aas = pytest.importorskip("array_api_strict")
    net = Sequential([("ip1", Dense(4, 6, seed=0)), ("drop", Dropout(0.5)),
                      ("ip2", Dense(6, 2, seed=1))])
    net.load_params({k: aas.asarray(np.asarray(v)) for k, v in net.params.items()})
    out = with_concrete_dropout(net, p=0.3)
    a = out.params["drop.p_logit"]
    assert type(a).__module__.startswith("array_api_strict") and a.dtype == aas.float32
    with pytest.raises(ValueError, match="temperature"):
        ConcreteDropout(0.1, temperature=0.0)
