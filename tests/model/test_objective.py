"""The deep-GP objective: per-layer decay against the hand formulas of docs/objective.md, the whole
objective's gradient against float64 finite differences with fixed dropout masks, the
Caffe-style weight decay against the equivalent (l, tau) form step for step, and the
Gaussian likelihood against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn.gradcheck import directional_check, numerical_gradient, relative_error
from tinybcnn.models import lenet, mlp
from tinybcnn.nn import Dropout, Sequential
from tinybcnn.objective import (
    Objective,
    dropout_keep_per_layer,
    length_scale_from_weight_decay,
    weight_decay_from_prior,
)
from tinybcnn.optim import SGD
from tinybcnn.random import make_rng

F64 = np.float64


# --- independent oracles ---------------------------------------------------------------------

def hand_softmax_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """mean_n [logsumexp(z_n) - z_n[y_n]], written out."""
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return float(np.mean(lse - logits[np.arange(len(labels)), labels]))


def hand_gaussian_nll(pred: np.ndarray, target: np.ndarray, tau: float) -> float:
    """mean over points n of Σ_d −log N(y_nd; ŷ_nd, 1/tau), written out with loops."""
    pred2, target2 = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    total = 0.0
    for row_p, row_t in zip(pred2, target2, strict=True):
        for yhat, y in zip(row_p, row_t, strict=True):
            total += tau / 2 * (yhat - y) ** 2 - 0.5 * math.log(tau) + 0.5 * math.log(2 * math.pi)
    return total / len(pred2)


def hand_decay(names, keep: dict[str, float], l: float, n: int, tau: float) -> dict[str, float]:
    """λ = l²/(2 N tau keep_i) on kernels, l²/(2 N tau) on biases."""
    out = {}
    for name in names:
        layer, kind = name.split(".")
        k = keep.get(layer, 1.0) if kind == "W" else 1.0
        out[name] = l * l / (2.0 * n * tau * k)
    return out


def hand_penalty(params: dict, lam: dict[str, float]) -> float:
    return sum(lam[k] * float(np.sum(v * v)) for k, v in params.items())


def flat_params(model) -> np.ndarray:
    return np.concatenate([v.ravel() for v in model.params.values()])


def set_flat_params(model, vec: np.ndarray) -> None:
    i = 0
    for v in model.params.values():
        v[...] = vec[i:i + v.size].reshape(v.shape)
        i += v.size


def flat_grads(model) -> np.ndarray:
    grads = model.grads
    return np.concatenate([grads[k].ravel() for k in model.params])


def read_masks(model) -> dict:
    return {n: layer.mask.copy() for n, layer in model.dropout_layers().items()
            if layer.mask is not None}


# --- gradient of the whole objective ---------------------------------------------------------

def _gradcheck_setup(model, obj, x, y, lam, likelihood, tau, seed=7):
    """Analytic gradient via obj(...) with a seeded rng; an FD loss with the masks it drew."""
    value = obj(model, x, y, rng=make_rng(seed))
    masks = read_masks(model)
    assert masks, "the check needs dropout masks to be drawn"
    grad = flat_grads(model)
    theta0 = flat_params(model)

    def loss(vec: np.ndarray) -> float:
        set_flat_params(model, vec)
        out = model.forward(x, masks=masks)
        if likelihood == "softmax":
            data = hand_softmax_nll(out, y) / tau
        else:
            data = hand_gaussian_nll(out, y, tau) / tau
        return data + hand_penalty(model.params, lam)

    # the returned value is the objective of the masks that were used
    assert value == pytest.approx(loss(theta0.copy()), rel=1e-12)
    set_flat_params(model, theta0)
    return loss, grad, theta0


@pytest.mark.parametrize("variant", ["all", "ip"])
def test_lenet_objective_gradient_random_directions(variant):
    p, l, n, tau = 0.5, 0.7, 50, 2.0
    model = lenet(variant, p=p, in_shape=(1, 16, 16), n_classes=3, seed=1, dtype=F64)
    rng = np.random.default_rng(0)
    # non-zero biases so their decay term is exercised
    for k, v in model.params.items():
        if k.endswith(".b"):
            v[...] = 0.1 * rng.standard_normal(v.shape)
    x = rng.standard_normal((4, 1, 16, 16))
    y = rng.integers(0, 3, size=4)
    obj = Objective.for_model(model, n_train=n, length_scale=l, tau=tau)
    keep = {"conv1": 1 - p if variant == "all" else 1.0,
            "conv2": 1 - p if variant == "all" else 1.0, "ip1": 1 - p, "ip2": 1.0}
    lam = hand_decay(model.params, keep, l, n, tau)
    loss, grad, theta0 = _gradcheck_setup(model, obj, x, y, lam, "softmax", tau)

    err = directional_check(loss, lambda th, dy: dy * grad, theta0,
                            rng=np.random.default_rng(1), n_dirs=8, eps=1e-5)
    assert err < 1e-6
    # and a few single coordinates of every parameter (per-layer bookkeeping errors)
    offsets = np.cumsum([0] + [v.size for v in model.params.values()])
    for (name, v), off in zip(model.params.items(), offsets[:-1], strict=True):
        for j in rng.choice(v.size, size=min(3, v.size), replace=False):
            e = np.zeros_like(theta0)
            e[off + j] = 1e-5
            f0, f_plus, f_minus = loss(theta0), loss(theta0 + e), loss(theta0 - e)
            # The loss is piecewise smooth (max-pooling and ReLU kinks; dropped units make
            # exact zeros that a kept unit near 0 can cross). Where a kink lies within the
            # step, the gradient must still equal the derivative on one side of it.
            one_sided = [(f_plus - f_minus) / 2e-5, (f_plus - f0) / 1e-5, (f0 - f_minus) / 1e-5]
            assert any(fd == pytest.approx(grad[off + j], rel=1e-4, abs=1e-8)
                       for fd in one_sided), (name, one_sided, grad[off + j])
    set_flat_params(model, theta0)


@pytest.mark.parametrize("likelihood", ["softmax", "gaussian"])
def test_mlp_objective_gradient_every_coordinate(likelihood):
    p, l, n, tau = 0.3, 1.3, 20, 0.5
    out_dim = 3 if likelihood == "softmax" else 2
    model = mlp((4, 6, 5, out_dim), p=p, seed=2, dtype=F64)
    rng = np.random.default_rng(3)
    for k, v in model.params.items():
        if k.endswith(".b"):
            v[...] = 0.2 * rng.standard_normal(v.shape)
    x = rng.standard_normal((5, 4))
    y = (rng.integers(0, 3, size=5) if likelihood == "softmax"
         else rng.standard_normal((5, out_dim)))
    obj = Objective.for_model(model, n_train=n, length_scale=l, tau=tau, likelihood=likelihood)
    # in mlp the dropout after relu_i belongs to ip_i; the output layer has none
    lam = hand_decay(model.params, {"ip1": 1 - p, "ip2": 1 - p, "ip3": 1.0}, l, n, tau)
    loss, grad, theta0 = _gradcheck_setup(model, obj, x, y, lam, likelihood, tau)
    num = numerical_gradient(loss, theta0, eps=1e-6)
    assert relative_error(grad, num) < 1e-7


def test_objective_gradient_with_weight_decay_dict():
    model = mlp((3, 4, 2), p=0.5, seed=4, dtype=F64)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, size=6)
    wd = {"ip1.W": 0.3, "ip1.b": 0.05, "ip2.W": 0.7}  # ip2.b not named: no decay
    obj = Objective.for_model(model, n_train=10, weight_decay=wd)
    lam = {k: wd.get(k, 0.0) / 2 for k in model.params}
    loss, grad, theta0 = _gradcheck_setup(model, obj, x, y, lam, "softmax", 1.0)
    assert relative_error(grad, numerical_gradient(loss, theta0)) < 1e-7


# --- per-layer decay values ------------------------------------------------------------------

@pytest.mark.parametrize("variant, dropped", [
    ("all", {"conv1", "conv2", "ip1"}), ("ip", {"ip1"}), ("none", set())])
@pytest.mark.parametrize("p", [0.5, 0.25])
def test_decay_values_follow_hand_formula(variant, dropped, p):
    l, n, tau = 0.5, 1234, 3.0
    model = lenet(variant, p=p, in_shape=(1, 16, 16), n_classes=4)
    obj = Objective.for_model(model, n_train=n, length_scale=l, tau=tau)
    assert set(obj.decay) == {f"{layer}.{k}" for layer in ("conv1", "conv2", "ip1", "ip2")
                              for k in ("W", "b")}
    for layer in ("conv1", "conv2", "ip1", "ip2"):
        keep = 1 - p if layer in dropped else 1.0
        assert obj.decay[f"{layer}.W"] == pytest.approx(l**2 / (2 * n * tau * keep), rel=1e-14)
        assert obj.decay[f"{layer}.b"] == pytest.approx(l**2 / (2 * n * tau), rel=1e-14)
    assert dropout_keep_per_layer(model) == {
        layer: (1 - p if layer in dropped else 1.0) for layer in ("conv1", "conv2", "ip1", "ip2")}
    # the Caffe export is 2λ, and the length-scale it implies is l again for every layer
    assert obj.weight_decays() == {k: 2 * v for k, v in obj.decay.items()}
    for value in obj.implied_length_scales().values():
        assert value == pytest.approx(l, rel=1e-12)


def test_penalty_value_is_sum_of_lambda_norms():
    model = lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, dtype=F64)
    obj = Objective.for_model(model, n_train=100, length_scale=2.0, tau=1.0)
    keep = {"conv1": 0.5, "conv2": 0.5, "ip1": 0.5, "ip2": 1.0}
    expected = hand_penalty(model.params, hand_decay(model.params, keep, 2.0, 100, 1.0))
    assert obj.penalty(model.params) == pytest.approx(expected, rel=1e-12)


# --- Caffe-style decay equals the (l, tau) form ----------------------------------------------

@pytest.mark.parametrize("variant", ["all", "ip"])
def test_caffe_decay_run_equals_prior_run(variant):
    p, l, n, tau = 0.5, 0.8, 300, 1.5
    models = [lenet(variant, p=p, in_shape=(1, 16, 16), n_classes=3, seed=9, dtype=F64)
              for _ in range(2)]
    keep = {"conv1": 1 - p if variant == "all" else 1.0,
            "conv2": 1 - p if variant == "all" else 1.0, "ip1": 1 - p, "ip2": 1.0}
    wd = {}
    for name in models[1].params:
        layer, kind = name.split(".")
        k = keep[layer] if kind == "W" else 1.0
        wd[name] = l**2 / (n * tau * k)
    obj_a = Objective.for_model(models[0], n_train=n, length_scale=l, tau=tau)
    obj_b = Objective.for_model(models[1], n_train=n, weight_decay=wd, tau=tau)
    opts = [SGD(m, lr=0.05, momentum=0.9) for m in models]
    data = np.random.default_rng(11)
    for step in range(5):
        x = data.standard_normal((6, 1, 16, 16))
        y = data.integers(0, 3, size=6)
        losses = [obj(m, x, y, rng=make_rng(100 + step))
                  for obj, m in zip((obj_a, obj_b), models, strict=True)]
        assert losses[0] == pytest.approx(losses[1], rel=1e-13)
        for opt in opts:
            opt.step()
        pa, pb = models[0].params, models[1].params
        for k in pa:
            np.testing.assert_allclose(pa[k], pb[k], rtol=0, atol=0, err_msg=f"{k} step {step}")


def test_uniform_weight_decay_adds_wd_theta():
    wd = 5e-3
    models = [mlp((5, 7, 3), p=0.5, seed=3, dtype=F64) for _ in range(2)]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 3, size=8)
    obj = Objective.for_model(models[0], n_train=100, weight_decay=wd)
    obj0 = Objective.for_model(models[1], n_train=100, weight_decay=0.0)
    assert obj.weight_decay == wd
    va = obj(models[0], x, y, rng=make_rng(1))
    vb = obj0(models[1], x, y, rng=make_rng(1))
    norms = sum(float(np.sum(v * v)) for v in models[1].params.values())
    assert va == pytest.approx(vb + wd / 2 * norms, rel=1e-13)
    ga, gb = models[0].grads, models[1].grads
    for k, theta in models[1].params.items():
        np.testing.assert_allclose(ga[k], gb[k] + wd * theta, rtol=1e-14, atol=1e-16)
    # the length-scale a uniform wd implies differs per layer by keep
    ls = obj.implied_length_scales()
    assert ls["ip1"] == pytest.approx(math.sqrt(wd * 100 * 0.5))
    assert ls["ip2"] == pytest.approx(math.sqrt(wd * 100 * 1.0))


# --- conversions -----------------------------------------------------------------------------

@given(l=st.floats(1e-3, 1e3), p=st.floats(0.0, 0.95), n=st.integers(1, 10**7),
       tau=st.floats(1e-3, 1e3))
def test_conversions_invert_each_other(l, p, n, tau):
    wd = weight_decay_from_prior(l, p, n, tau)
    assert wd == pytest.approx(l**2 / (n * tau * (1 - p)), rel=1e-12)
    assert length_scale_from_weight_decay(wd, p, n, tau) == pytest.approx(l, rel=1e-12)


def test_conversion_hand_values():
    # l = 0.5, N = 1000, p = 0.5: wd = 0.25 / (1000 · 0.5) = 5e-4 (Caffe's LeNet default)
    assert weight_decay_from_prior(0.5, 0.5, 1000) == pytest.approx(5e-4, rel=1e-14)
    assert length_scale_from_weight_decay(5e-4, 0.5, 1000) == pytest.approx(0.5, rel=1e-14)
    # biases (p = 0), tau = 4: 1 / (10 · 4) = 0.025
    assert weight_decay_from_prior(1.0, 0.0, 10, tau=4.0) == pytest.approx(0.025, rel=1e-14)
    assert length_scale_from_weight_decay(0.025, 0.0, 10, tau=4.0) == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [
    dict(length_scale=0.0, p=0.5, n_train=10), dict(length_scale=1.0, p=0.5, n_train=0),
    dict(length_scale=1.0, p=0.5, n_train=10, tau=0.0)])
def test_conversion_bad_input(kwargs):
    with pytest.raises(ValueError):
        weight_decay_from_prior(**kwargs)


# --- Gaussian likelihood ---------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(7,), (5, 3)])
@pytest.mark.parametrize("tau", [0.3, 1.0, 12.0])
def test_gaussian_data_term_formula_and_gradient(shape, tau):
    rng = np.random.default_rng(int(tau * 10) + len(shape))
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    obj = Objective(decay={}, likelihood="gaussian", tau=tau)
    value, grad = obj.data_term(pred, target)
    # docs/architecture.md (Conventions): the data term is −log p / tau for every likelihood
    assert value == pytest.approx(hand_gaussian_nll(pred, target, tau) / tau, rel=1e-13)
    num = numerical_gradient(lambda z: hand_gaussian_nll(z, target, tau) / tau, pred)
    assert grad.shape == pred.shape
    assert relative_error(grad, num) < 1e-8


def test_softmax_data_term_is_divided_by_tau():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((6, 4)), rng.integers(0, 4, size=6)
    obj = Objective(decay={}, likelihood="softmax", tau=2.5)
    value, grad = obj.data_term(logits, y)
    assert value == pytest.approx(hand_softmax_nll(logits, y) / 2.5, rel=1e-13)
    num = numerical_gradient(lambda z: hand_softmax_nll(z, y) / 2.5, logits)
    assert relative_error(grad, num) < 1e-8


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(n_train=10),                                           # neither
    dict(n_train=10, length_scale=1.0, weight_decay=5e-4),      # both
    dict(n_train=0, length_scale=1.0),
    dict(n_train=-3, length_scale=1.0),
    dict(n_train=2.5, length_scale=1.0),
    dict(n_train=10, length_scale=1.0, tau=0.0),
    dict(n_train=10, length_scale=1.0, tau=-1.0),
    dict(n_train=10, weight_decay=5e-4, tau=0.0),
    dict(n_train=10, length_scale=0.0),
    dict(n_train=10, length_scale=1.0, likelihood="poisson"),
    dict(n_train=10, weight_decay=-1e-4),
    dict(n_train=10, weight_decay={"nope.W": 1e-4}),
])
def test_for_model_bad_input(kwargs):
    model = mlp((3, 4, 2))
    with pytest.raises(ValueError):
        Objective.for_model(model, **kwargs)


def test_objective_bad_likelihood_and_tau_direct():
    with pytest.raises(ValueError):
        Objective(decay={}, likelihood="laplace")
    with pytest.raises(ValueError):
        Objective(decay={}, tau=0.0)


# --- regressions of bugs found while writing these tests ------------------------------

@pytest.mark.parametrize("convert, p", [
    (weight_decay_from_prior, 1.0), (weight_decay_from_prior, 1.5),
    (weight_decay_from_prior, -0.5), (length_scale_from_weight_decay, 1.0),
    (length_scale_from_weight_decay, -0.5)])
def test_conversions_reject_bad_drop_probability(convert, p):
    with pytest.raises(ValueError):
        convert(0.5, p, 100)


def test_for_model_rejects_nan_weight_decay():
    with pytest.raises(ValueError):
        Objective.for_model(mlp((3, 4, 2)), n_train=10, weight_decay=math.nan)


# --- which weight layer a dropout belongs to: the two readings --------------------------------

# Hand derivations (docs/objective.md, "Which dropout belongs to which weight layer"), for
# lenet-all = conv1 drop1 pool1 conv2 drop2 pool2 flatten ip1 relu1 drop3 ip2:
#   output side: drop1 masks conv1's outputs, drop2 conv2's, drop3 ip1's; ip2 has none.
#   input side:  drop3 masks ip2's inputs; drop1 and drop2 sit before a max pooling, which does
#                not commute with a mask, so they mask no layer's inputs; conv1 has no input mask.
LENET_ALL_KEEP = {
    "output": {"conv1": "k", "conv2": "k", "ip1": "k", "ip2": 1.0},
    "input": {"conv1": 1.0, "conv2": 1.0, "ip1": 1.0, "ip2": "k"},
}
# mlp((5, 6, 4, 2)) = ip1 relu1 drop1 ip2 relu2 drop2 ip3, with an input dropout in front:
#   output side: drop1 -> ip1, drop2 -> ip2; the input dropout belongs to no layer.
#   input side: input dropout -> ip1, drop1 -> ip2, drop2 -> ip3.
MLP_KEEP = {
    "output": {"ip1": "h", "ip2": "h", "ip3": 1.0},
    "input": {"ip1": "in", "ip2": "h", "ip3": "h"},
}


def _mlp_with_input_dropout(p_in: float, p: float):
    net = mlp((5, 6, 4, 2), p=p, seed=0, dtype=F64)
    return Sequential([("drop0", Dropout(p_in))] + list(net))


@pytest.mark.parametrize("side", ["output", "input"])
@pytest.mark.parametrize("p", [0.5, 0.2])
def test_lenet_all_decay_per_reading(side, p):
    l, n, tau = 1.5, 500, 2.0
    model = lenet("all", p=p, in_shape=(1, 16, 16), n_classes=4)
    obj = Objective.for_model(model, n_train=n, length_scale=l, tau=tau, mask_side=side)
    keep = {k: (1 - p if v == "k" else v) for k, v in LENET_ALL_KEEP[side].items()}
    assert obj.keep == keep and obj.mask_side == side
    for layer, k in keep.items():
        assert obj.decay[f"{layer}.W"] == pytest.approx(l**2 / (2 * n * tau * k), rel=1e-14)
        assert obj.decay[f"{layer}.b"] == pytest.approx(l**2 / (2 * n * tau), rel=1e-14)


@pytest.mark.parametrize("side", ["output", "input"])
def test_mlp_decay_per_reading(side):
    p_in, p = 0.2, 0.4
    net = _mlp_with_input_dropout(p_in, p)
    obj = Objective.for_model(net, n_train=80, length_scale=1.0, mask_side=side)
    named = {"in": 1 - p_in, "h": 1 - p}
    keep = {k: named.get(v, v) for k, v in MLP_KEEP[side].items()}
    assert obj.keep == pytest.approx(keep, rel=1e-15)
    for layer, k in keep.items():
        assert obj.decay[f"{layer}.W"] == pytest.approx(1.0 / (2 * 80 * k), rel=1e-14)


def _masked_mlp_by_hand(x, params, masks, side):
    """The MLP of ``_mlp_with_input_dropout(0.2, 0.4)`` written with non-inverted weights.

    Input side: layer i computes ``h_r · (diag(z_r) M_i) + b_i`` per example r, a row mask on
    ``M_i = W_i / keep`` (ICML 2016's ``W_i = M_i diag(z_i)`` in our (in, out) layout).
    Output side: layer i computes ``h_r · (M_i diag(z_r)) + (b_i / keep) ⊙ z_r``, a column mask;
    the bias is masked with its column. The input dropout is then plain input noise.
    """
    keep = {"drop0": 0.8, "drop1": 0.6, "drop2": 0.6}
    credit = ({"ip1": "drop0", "ip2": "drop1", "ip3": "drop2"} if side == "input"
              else {"ip1": "drop1", "ip2": "drop2"})
    h = x if side == "input" else x * masks["drop0"]
    for i in (1, 2, 3):
        w, b = params[f"ip{i}.W"], params[f"ip{i}.b"]
        drop = credit.get(f"ip{i}")
        if drop is None:
            h = h @ w + b
        else:
            k = keep[drop]
            z = masks[drop] * k                       # the Bernoulli variables, 0 or 1
            m = w / k
            if side == "input":
                h = np.stack([hr @ (np.diag(zr) @ m) for hr, zr in zip(h, z, strict=True)]) + b
            else:
                h = np.stack([hr @ (m @ np.diag(zr)) + (b / k) * zr
                              for hr, zr in zip(h, z, strict=True)])
        if i < 3:
            h = np.maximum(h, 0.0)
    return h


@pytest.mark.parametrize("side", ["output", "input"])
def test_each_reading_is_a_bernoulli_family_over_the_credited_weights(side):
    # The derivation behind each reading, on fixed masks: the network with inverted masks
    # computes the function whose credited layers have weights M diag(z) (rows or columns),
    # M = W / keep, and the paper's KL term keep·l²/(2N)·‖M‖² is the code's λ‖W‖².
    net = _mlp_with_input_dropout(0.2, 0.4)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5))
    out = net.forward(x, rng=rng)
    masks = {name: layer.mask for name, layer in net if isinstance(layer, Dropout)}
    hand = _masked_mlp_by_hand(x, net.params, masks, side)
    np.testing.assert_allclose(hand, out, rtol=1e-12, atol=1e-12)
    obj = Objective.for_model(net, n_train=80, length_scale=1.3, mask_side=side)
    for name, lam in obj.decay.items():
        if name.endswith(".W"):
            keep = obj.keep[name.split(".")[0]]
            m = net.params[name] / keep
            paper = keep * 1.3**2 / (2 * 80) * np.sum(m * m)
            assert lam * np.sum(net.params[name] ** 2) == pytest.approx(paper, rel=1e-12)


def test_mask_side_rejects_unknown():
    with pytest.raises(ValueError, match="mask_side"):
        Objective.for_model(lenet("all"), n_train=10, length_scale=1.0, mask_side="both")


@pytest.mark.parametrize("mask_side", ["output", "input"])
def test_two_dropouts_on_the_same_units_multiply_their_keeps(mask_side):
    """dropout_keep_per_layer's docstring: two inverted masks on the same units are one
    Bernoulli(keep1 * keep2) mask (tests/docs/test_docs_claims.py draws them); a p = 0 dropout is
    none. Failed before the fix, which credited only the first mask ((0.5, 0.2) gave 0.5)."""
    from tinybcnn.nn import Dense, ReLU

    def net(*ps):
        drops = [(f"drop{k}", Dropout(p)) for k, p in enumerate(ps)]
        return Sequential([("ip1", Dense(4, 8, seed=0)), ("relu1", ReLU()), *drops,
                           ("ip2", Dense(8, 3, seed=1))])

    credited = "ip1" if mask_side == "output" else "ip2"
    for ps, keep in [((0.5, 0.2), 0.5 * 0.8), ((0.0, 0.3), 0.7), ((0.3, 0.0), 0.7),
                     ((0.3, 0.6), 0.7 * 0.4)]:
        got = dropout_keep_per_layer(net(*ps), mask_side=mask_side)
        other = "ip2" if credited == "ip1" else "ip1"
        assert got[credited] == pytest.approx(keep), ps
        assert got[other] == 1.0, ps
