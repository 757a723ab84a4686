"""The objective as the training step calls it (``loss_and_grads``, ``data_pass``) against
written-out formulas and float64 finite differences, its device path (array_api_strict standing
in for CuPy: the decay on one flat vector) against the NumPy path, and the exact lines of its
refusals (found by mutation testing: scripts/mutation.py; no test executed these methods, and a
refusal could lose its message unnoticed)."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

from tinybcnn import backend
from tinybcnn.backend import to_backend, to_numpy, xp_of
from tinybcnn.gradcheck import numerical_gradient, relative_error
from tinybcnn.models import mlp
from tinybcnn.nn import Dense, Dropout, Layer, Sequential
from tinybcnn.objective import (
    Objective,
    dropout_keep_per_layer,
    length_scale_from_weight_decay,
    squared_norm,
)

F64 = np.float64
SIZES, P, N_TRAIN = (4, 6, 5, 3), 0.3, 20


def _softmax_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """mean_n [logsumexp(z_n) - z_n[y_n]], written out."""
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return float(np.mean(lse - logits[np.arange(len(labels)), labels]))


def _gaussian_nll(pred: np.ndarray, target: np.ndarray, tau: float) -> float:
    """mean over rows of Σ_d (tau/2)(ŷ - y)² - ½ log tau + ½ log 2π."""
    per = tau / 2 * (pred - target) ** 2 - 0.5 * math.log(tau) + 0.5 * math.log(2 * math.pi)
    return float(per.sum(axis=1).mean())


def _setup(likelihood: str = "softmax", tau: float = 0.5):
    model = mlp(SIZES, p=P, seed=2, dtype=F64)
    rng = np.random.default_rng(3)
    for v in model.params.values():
        v[...] = 0.5 * rng.standard_normal(v.shape)
    x = rng.standard_normal((5, SIZES[0]))
    y = (rng.integers(0, SIZES[-1], size=5) if likelihood == "softmax"
         else rng.standard_normal((5, SIZES[-1])))
    masks = {name: (rng.random((5, size)) < 1 - P) / (1 - P)
             for name, size in zip(["drop1", "drop2"], SIZES[1:3], strict=True)}
    obj = Objective.for_model(model, n_train=N_TRAIN, length_scale=1.3, tau=tau,
                              likelihood=likelihood)
    return model, obj, x, y, masks


def _flat(values: dict, names) -> np.ndarray:
    return np.concatenate([to_numpy(values[k]).ravel() for k in names])


def _data_term(model, obj, x, y, masks, theta: np.ndarray) -> float:
    """The likelihood term at the flat parameters ``theta``, written out."""
    i = 0
    for v in model.params.values():
        v[...] = theta[i:i + v.size].reshape(v.shape)
        i += v.size
    out = model.forward(x, masks=masks)
    if obj.likelihood == "softmax":
        return _softmax_nll(out, y) / obj.tau
    return _gaussian_nll(out, y, obj.tau) / obj.tau


def _decay(obj, theta: np.ndarray, model) -> float:
    i, total = 0, 0.0
    for name, v in model.params.items():
        total += obj.decay[name] * float(np.sum(theta[i:i + v.size] ** 2))
        i += v.size
    return total


@pytest.mark.parametrize("likelihood", ["softmax", "gaussian"])
@pytest.mark.parametrize("weight", [1.0, 0.25])
def test_data_pass_is_the_weighted_data_term_and_its_gradient(likelihood, weight):
    model, obj, x, y, masks = _setup(likelihood)
    value = obj.data_pass(model, x, y, masks=masks, weight=weight)
    grad = _flat(model.grads, model.params)
    theta0 = _flat(model.params, model.params)
    expected = weight * _data_term(model, obj, x, y, masks, theta0.copy())
    assert float(value) == pytest.approx(expected, rel=1e-12)
    num = numerical_gradient(
        lambda t: weight * _data_term(model, obj, x, y, masks, t), theta0.copy(), eps=1e-6)
    assert relative_error(grad, num) < 1e-7


@pytest.mark.parametrize("likelihood", ["softmax", "gaussian"])
def test_loss_and_grads_is_the_whole_objective_and_its_gradient(likelihood):
    model, obj, x, y, masks = _setup(likelihood)
    value = obj.loss_and_grads(model, x, y, masks=masks)
    grad = _flat(model.grads, model.params)
    theta0 = _flat(model.params, model.params)

    def whole(t):
        return _data_term(model, obj, x, y, masks, t) + _decay(obj, t, model)

    assert float(value) == pytest.approx(whole(theta0.copy()), rel=1e-12)
    assert relative_error(grad, numerical_gradient(whole, theta0.copy(), eps=1e-6)) < 1e-7


def test_call_uses_the_injected_masks():
    model, obj, x, y, masks = _setup()
    theta0 = _flat(model.params, model.params)
    value = obj(model, x, y, masks=masks)
    expected = _data_term(model, obj, x, y, masks, theta0.copy()) + _decay(obj, theta0, model)
    assert value == pytest.approx(expected, rel=1e-12)


def test_labels_are_checked_unless_told_not_to():
    model, obj, x, y, masks = _setup()
    y[0] = SIZES[-1]  # one past the last class
    for step in (obj.loss_and_grads, obj.data_pass):
        with pytest.raises(ValueError):
            step(model, x, y, masks=masks)


@pytest.fixture
def strict_backend():
    """Switch the backend to array_api_strict for the block it is called for (restored after)."""
    pytest.importorskip("array_api_strict")
    before = backend.get_backend()

    class _Switch:
        def __enter__(self):
            backend.set_backend("array_api_strict")

        def __exit__(self, *exc):
            backend.set_backend(before)

    yield _Switch()
    backend.set_backend(before)


def _on_the_device_path(model, x, y, masks):
    """A copy of ``model`` with ``model``'s weights, and the data and masks, on the backend in
    force (array_api_strict in the callers)."""
    strict = mlp(SIZES, p=P, seed=2, dtype=F64)
    for name, v in model.params.items():
        layer, _, key = name.partition(".")
        strict.layers[layer].params[key] = to_backend(v)
    return (strict, to_backend(x), to_backend(y),
            {k: to_backend(m) for k, m in masks.items()})


@pytest.mark.parametrize("likelihood", ["softmax", "gaussian"])
def test_the_flat_decay_of_the_device_path_equals_the_numpy_path(strict_backend, likelihood):
    """The device path (the decay as operations on one flat vector) gives the value and the
    gradient of the NumPy path, which the tests above check against finite differences; the
    layers then hold the gradient (twice: the second step reuses the vector)."""
    model, obj, x, y, masks = _setup(likelihood)
    want_value = float(obj.loss_and_grads(model, x, y, masks=masks))
    want_grad = _flat(model.grads, model.params)
    with strict_backend:
        strict, xs, ys, ms = _on_the_device_path(model, x, y, masks)
    assert xp_of(next(iter(strict.params.values()))) is not np
    for _ in range(2):
        value = obj.loss_and_grads(strict, xs, ys, masks=ms)
        assert float(value) == pytest.approx(want_value, rel=1e-12)
        got = _flat(strict.grads, model.params)
        np.testing.assert_allclose(got, want_grad, rtol=1e-12, atol=1e-15)


def test_squared_norm_stays_in_the_arrays_namespace(strict_backend):
    with strict_backend:
        a = to_backend(np.arange(6.0).reshape(2, 3))
    got = squared_norm(a)
    assert xp_of(got) is xp_of(a) and xp_of(a) is not np
    assert float(got) == 55.0


# -- the refusals, word for word --------------------------------------------------------------
def test_conversion_refusals_name_the_argument():
    for kwargs, line in [
            (dict(weight_decay=0.0, p=0.5, n_train=10), "weight_decay must be > 0, got 0.0"),
            (dict(weight_decay=math.inf, p=0.5, n_train=10), "weight_decay must be > 0, got inf"),
            (dict(weight_decay=1e-4, p=0.5, n_train=0), "n_train must be > 0, got 0"),
            (dict(weight_decay=1e-4, p=0.5, n_train=10, tau=0.0), "tau must be > 0, got 0.0")]:
        with pytest.raises(ValueError) as info:
            length_scale_from_weight_decay(**kwargs)
        assert str(info.value) == line


def test_for_model_refusals_word_for_word():
    model = mlp((3, 4, 2))
    cases = [
        (dict(n_train=10), "give exactly one of length_scale and weight_decay"),
        (dict(n_train=0, length_scale=1.0), "n_train must be an integer >= 1, got 0"),
        (dict(n_train=10, weight_decay={"nope.W": 1e-4}),
         "weight_decay names unknown parameters: ['nope.W']"),
        (dict(n_train=10, weight_decay=math.inf), "weight_decay must be >= 0, got inf"),
        (dict(n_train=10, weight_decay=-1.0), "weight_decay must be >= 0, got -1.0"),
        (dict(n_train=10, length_scale=1.0, likelihood="poisson"),
         "likelihood must be one of ('softmax', 'gaussian'), got 'poisson'"),
    ]
    for kwargs, line in cases:
        with pytest.raises(ValueError) as info:
            Objective.for_model(model, **kwargs)
        assert str(info.value) == line, kwargs
    with pytest.raises(ValueError) as info:
        Objective(decay={}).implied_length_scales()
    assert str(info.value) == ("n_train is unknown; build the objective with "
                               "Objective.for_model")


def test_for_model_records_the_form_it_was_built_from():
    model = mlp((3, 4, 2), p=0.5)
    obj = Objective.for_model(model, n_train=10, length_scale=0.7)
    assert (obj.length_scale, obj.weight_decay, obj.n_train) == (0.7, None, 10)
    obj = Objective.for_model(model, n_train=10, weight_decay={"ip1.W": 0.3})
    assert (obj.length_scale, obj.weight_decay) == (None, None)   # a dict is no single decay
    assert obj.decay == {"ip1.W": 0.15, "ip1.b": 0.0, "ip2.W": 0.0, "ip2.b": 0.0}


def test_implied_length_scales_of_a_layer_with_no_credited_dropout():
    """keep 1 for a kernel whose layer the objective credits no dropout to:
    l = sqrt(2 λ N tau)."""
    obj = Objective(decay={"a.W": 0.5, "a.b": 9.0}, tau=2.0, n_train=10, keep={})
    assert obj.implied_length_scales() == {"a": pytest.approx(math.sqrt(2 * 0.5 * 10 * 2.0))}


def test_keep_reading_sees_through_dropouts_with_p_zero():
    model = mlp((3, 4, 4, 2), p=0.0)
    assert dropout_keep_per_layer(model, "input") == {"ip1": 1.0, "ip2": 1.0, "ip3": 1.0}


def test_the_rng_draws_the_masks_of_the_step():
    """With an ``rng`` and no masks each step draws fresh masks: the value is the objective of
    the masks the dropout layers then hold (a step without them would be deterministic)."""
    model, obj, x, y, _ = _setup()
    theta0 = _flat(model.params, model.params)
    for step, with_decay in ((obj.loss_and_grads, True), (obj.data_pass, False)):
        value = step(model, x, y, rng=np.random.default_rng(5))
        drawn = {n: layer.mask for n, layer in model.dropout_layers().items()}
        assert all(m is not None for m in drawn.values())
        assert any(np.any(m == 0) for m in drawn.values())
        expected = _data_term(model, obj, x, y, drawn, theta0.copy())
        expected += _decay(obj, theta0, model) if with_decay else 0.0
        assert float(value) == pytest.approx(expected, rel=1e-12)


def test_check_labels_false_leaves_the_range_to_the_caller():
    """``check_labels=False`` (the trainer checked the labels once, up front) skips the range
    check of every step: a label one past the last class is not refused here (no ValueError
    naming the labels). What such a label then does is the caller's affair: the fast loss
    gathers one-hot rows by label, and NumPy's gather raises IndexError by itself."""
    model, obj, x, y, masks = _setup()
    y[0] = SIZES[-1]
    for step in (obj.loss_and_grads, obj.data_pass):
        with contextlib.suppress(IndexError):
            step(model, x, y, masks=masks, check_labels=False)


def test_two_objectives_on_one_device_model_each_use_their_own_decay(strict_backend):
    """The device path keeps its per-element decay vectors per model, keyed by the decay: a
    second objective (another length-scale) on the same model must not reuse the first's."""
    model, _, x, y, masks = _setup()
    with strict_backend:
        strict, xs, ys, ms = _on_the_device_path(model, x, y, masks)
    for length_scale in (1.3, 40.0):
        obj = Objective.for_model(model, n_train=N_TRAIN, length_scale=length_scale)
        want = float(obj.loss_and_grads(model, x, y, masks=masks))
        want_grad = _flat(model.grads, model.params)
        assert float(obj.loss_and_grads(strict, xs, ys, masks=ms)) == pytest.approx(want,
                                                                                   rel=1e-12)
        np.testing.assert_allclose(_flat(strict.grads, model.params), want_grad, rtol=1e-12)


def test_a_kernel_of_a_layer_of_the_users_own_gets_keep_one():
    """A layer class of the user's own with a ``W`` (no Conv2D, no Dense) is credited no
    dropout: its kernel decay is the bias decay l²/(2 N tau), and its implied length-scale l."""

    class Scale(Layer):
        def __init__(self):
            super().__init__()
            self.params = {"W": np.ones(3)}

    model = Sequential([("scale", Scale()), ("drop", Dropout(0.5)), ("ip", Dense(3, 2, seed=0))])
    obj = Objective.for_model(model, n_train=10, length_scale=2.0)
    assert obj.decay["scale.W"] == pytest.approx(4.0 / 20)
    assert obj.implied_length_scales()["scale"] == pytest.approx(2.0)
