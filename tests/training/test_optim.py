"""Optimisers against hand-written update loops: Caffe's inv schedule, SGD with Caffe-form
momentum, Adam with bias correction, and the state round trip used by checkpoints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinybcnn.models import mlp
from tinybcnn.optim import SGD, Adam, fixed, inv

F64 = np.float64


def toy_model(seed=0):
    return mlp((3, 4, 2), p=0.5, seed=seed, dtype=F64)


def grad_sequence(model, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(v.shape) for k, v in model.params.items()}
            for _ in range(steps)]


def set_grads(model, grads):
    """Put fixed gradients where an optimiser reads them (each layer's ``grads``)."""
    for name, layer in model:
        if layer.params:
            layer.grads = {k: grads[f"{name}.{k}"].copy() for k in layer.params}


def snapshot(model):
    return {k: v.copy() for k, v in model.params.items()}


# --- schedules -------------------------------------------------------------------------------

@pytest.mark.parametrize("gamma, power", [(1e-4, 0.75), (1e-2, 0.5), (0.0, 0.75)])
def test_inv_schedule_formula(gamma, power):
    sched = inv(gamma=gamma, power=power)
    for it in (0, 1, 10, 1000, 10_000, 123_457):
        assert sched(0.01, it) == pytest.approx(0.01 * (1 + gamma * it) ** (-power), rel=1e-14)
    # Caffe LeNet numbers: base 0.01, gamma 1e-4, power 0.75 at iter 10000 -> 0.01 · 2^-0.75
    if (gamma, power) == (1e-4, 0.75):
        assert sched(0.01, 10_000) == pytest.approx(0.01 * 2 ** -0.75, rel=1e-14)


def test_fixed_schedule_and_optimizer_lr_follows_schedule():
    assert fixed()(0.3, 999) == 0.3
    model = toy_model()
    opt = SGD(model, lr=0.1, momentum=0.0, schedule=inv(gamma=0.1, power=0.5))
    grads = grad_sequence(model, 4)
    for it in range(4):
        assert opt.lr == pytest.approx(0.1 * (1 + 0.1 * it) ** -0.5, rel=1e-14)
        set_grads(model, grads[it])
        opt.step()
    assert opt.iteration == 4


def test_inv_bad_arguments():
    with pytest.raises(ValueError):
        inv(gamma=-1.0)
    with pytest.raises(ValueError):
        inv(power=-0.5)


# --- SGD -------------------------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_hand_written_caffe_update(momentum):
    model = toy_model()
    base_lr, gamma, power, steps = 0.05, 0.3, 0.75, 6
    opt = SGD(model, lr=base_lr, momentum=momentum, schedule=inv(gamma, power))
    theta = snapshot(model)
    v = {k: np.zeros_like(t) for k, t in theta.items()}
    arrays_before = {k: id(a) for k, a in model.params.items()}
    for it, g in enumerate(grad_sequence(model, steps)):
        set_grads(model, g)
        opt.step()
        lr = base_lr * (1 + gamma * it) ** (-power)
        for k in theta:
            v[k] = momentum * v[k] + lr * g[k]
            theta[k] = theta[k] - v[k]
            np.testing.assert_allclose(model.params[k], theta[k], rtol=1e-13, atol=1e-15)
    # updates are in place: the layers keep their arrays
    assert {k: id(a) for k, a in model.params.items()} == arrays_before


def test_sgd_default_hyperparameters_are_the_papers():
    opt = SGD(toy_model())
    assert opt.base_lr == 0.01
    assert opt.momentum == 0.9


# --- Adam ------------------------------------------------------------------------------------

def test_adam_matches_hand_written_loop():
    model = toy_model()
    lr, b1, b2, eps, steps = 1e-2, 0.8, 0.95, 1e-7, 7
    opt = Adam(model, lr=lr, betas=(b1, b2), eps=eps)
    theta = snapshot(model)
    m = {k: np.zeros_like(t) for k, t in theta.items()}
    s = {k: np.zeros_like(t) for k, t in theta.items()}
    for t, g in enumerate(grad_sequence(model, steps), start=1):
        set_grads(model, g)
        opt.step()
        for k in theta:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            s[k] = b2 * s[k] + (1 - b2) * g[k] ** 2
            m_hat = m[k] / (1 - b1**t)
            s_hat = s[k] / (1 - b2**t)
            theta[k] = theta[k] - lr * m_hat / (np.sqrt(s_hat) + eps)
            np.testing.assert_allclose(model.params[k], theta[k], rtol=1e-12, atol=1e-14)
    assert opt.iteration == steps


def test_adam_first_step_moves_each_coordinate_by_about_lr():
    # with bias correction the first step is lr · g / (|g| + eps) ≈ lr · sign(g)
    model = toy_model()
    before = snapshot(model)
    g = grad_sequence(model, 1)[0]
    set_grads(model, g)
    Adam(model, lr=1e-3).step()
    for k, v in model.params.items():
        np.testing.assert_allclose(before[k] - v, 1e-3 * g[k] / (np.abs(g[k]) + 1e-8),
                                   rtol=1e-12)
        np.testing.assert_allclose(before[k] - v, 1e-3 * np.sign(g[k]), rtol=1e-4)


# --- state round trip ------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda m: SGD(m, lr=0.05, momentum=0.9, schedule=inv(0.1, 0.75)),
    lambda m: Adam(m, lr=1e-2, schedule=inv(0.1, 0.75))], ids=["sgd", "adam"])
def test_state_dict_round_trip_continues_identically(make):
    grads = grad_sequence(toy_model(), 6)
    model_a = toy_model()
    opt_a = make(model_a)
    for g in grads[:3]:
        set_grads(model_a, g)
        opt_a.step()
    # what a checkpoint holds: parameters and optimiser state, copied to the host
    state = opt_a.state_dict()
    state = {"iteration": state["iteration"],
             "buffers": {k: np.array(v, copy=True) for k, v in state["buffers"].items()}}
    params = snapshot(model_a)
    assert state["iteration"] == 3

    model_b = toy_model(seed=99)  # different initial weights, overwritten below
    model_b.load_params({k: v.copy() for k, v in params.items()})
    opt_b = make(model_b)
    opt_b.load_state_dict(state)
    assert opt_b.iteration == 3 and opt_b.lr == opt_a.lr
    for g in grads[3:]:
        set_grads(model_a, g)
        set_grads(model_b, g)
        opt_a.step()
        opt_b.step()
        for k in params:
            assert np.array_equal(model_a.params[k], model_b.params[k]), k


def test_load_state_dict_rejects_wrong_buffer_shape():
    model = toy_model()
    opt = SGD(model)
    set_grads(model, grad_sequence(model, 1)[0])
    opt.step()
    state = opt.state_dict()
    key = next(iter(state["buffers"]))
    bad = {"iteration": 1, "buffers": {key: np.zeros((7, 7))}}
    with pytest.raises(ValueError):
        SGD(toy_model()).load_state_dict(bad)


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(lr=0.0), dict(lr=-0.1), dict(lr=math.nan),
                                    dict(momentum=1.0), dict(momentum=-0.1),
                                    dict(momentum=1.5)])
def test_sgd_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SGD(toy_model(), **kwargs)


@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_adam_bad_lr(lr):
    with pytest.raises(ValueError):
        Adam(toy_model(), lr=lr)


# --- regressions of bugs found while writing these tests ------------------------------

def test_state_dict_is_a_snapshot():
    model = toy_model()
    opt = SGD(model, lr=0.1)
    g = grad_sequence(model, 2)
    set_grads(model, g[0])
    opt.step()
    state = opt.state_dict()
    saved = {k: v.copy() for k, v in state["buffers"].items()}
    set_grads(model, g[1])
    opt.step()
    for k, v in state["buffers"].items():
        assert np.array_equal(v, saved[k]), k


def test_load_state_dict_does_not_alias_the_given_state():
    model = toy_model()
    state = {"iteration": 1,
             "buffers": {f"velocity:{k}": np.ones_like(v) for k, v in model.params.items()}}
    saved = {k: v.copy() for k, v in state["buffers"].items()}
    opt = SGD(model, lr=0.1)
    opt.load_state_dict(state)
    set_grads(model, grad_sequence(model, 1)[0])
    opt.step()
    for k, v in state["buffers"].items():
        assert np.array_equal(v, saved[k]), k


@pytest.mark.parametrize("kwargs", [dict(betas=(1.0, 0.999)), dict(betas=(0.9, 1.0)),
                                    dict(betas=(-0.1, 0.999)), dict(eps=-1e-8)])
def test_adam_bad_betas_and_eps(kwargs):
    with pytest.raises(ValueError):
        Adam(toy_model(), **kwargs)


def test_adam_on_a_device_is_one_flat_update_with_numpys_numbers():
    """On a device Adam updates the flat parameter vector (as SGD does): the same numbers as
    the per-parameter loop NumPy runs, bit for bit, and a state that round-trips."""
    xps = pytest.importorskip("array_api_strict")
    from tinybcnn import backend, flatparams

    grads = grad_sequence(toy_model(), 5)
    host = toy_model()
    opt_host = Adam(host, lr=1e-2, betas=(0.8, 0.95), schedule=inv(0.1, 0.75))
    before = backend.get_backend()
    backend.set_backend("array_api_strict")
    try:
        dev = toy_model()
        opt_dev = Adam(dev, lr=1e-2, betas=(0.8, 0.95), schedule=inv(0.1, 0.75))
        for g in grads:
            set_grads(host, g)
            opt_host.step()
            for name, layer in dev:
                if layer.params:
                    layer.grads = {k: xps.asarray(g[f"{name}.{k}"]) for k in layer.params}
            opt_dev.step()
        flat = flatparams.flat_params(dev)
        assert flat is not None and all(dev.params[k] is flat.views[k] for k in flat.names)
        for k, v in host.params.items():
            np.testing.assert_array_equal(backend.to_numpy(dev.params[k]), v, err_msg=k)
        state = opt_dev.state_dict()
        for k, v in opt_host.state_dict()["buffers"].items():
            np.testing.assert_array_equal(state["buffers"][k], v, err_msg=k)
        name = flat.names[0]                # the buffers are views of the moment vectors
        assert opt_dev._flat_moments["m"][1][name] is opt_dev.buffers[f"m:{name}"]
        assert opt_dev._flat_moments["s"][1][name] is opt_dev.buffers[f"s:{name}"]
    finally:
        backend.set_backend(before)
