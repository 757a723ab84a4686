"""LeNet variants and the MLP builder: layer names, dropout placement, Caffe's parameter
shapes, seeding, input shapes, and the Glorot initialisation bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinybcnn.models import LENET_VARIANTS, lenet, mlp
from tinybcnn.nn import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from tinybcnn.random import make_rng

LAYERS = {
    "all": ["conv1", "drop1", "pool1", "conv2", "drop2", "pool2", "flatten", "ip1", "relu1",
            "drop3", "ip2"],
    "ip": ["conv1", "pool1", "conv2", "pool2", "flatten", "ip1", "relu1", "drop3", "ip2"],
    "none": ["conv1", "pool1", "conv2", "pool2", "flatten", "ip1", "relu1", "ip2"],
}
KINDS = {"conv1": Conv2D, "conv2": Conv2D, "pool1": MaxPool2D, "pool2": MaxPool2D,
         "flatten": Flatten, "ip1": Dense, "relu1": ReLU, "ip2": Dense,
         "drop1": Dropout, "drop2": Dropout, "drop3": Dropout}
CAFFE_SHAPES = {"conv1.W": (20, 1, 5, 5), "conv1.b": (20,), "conv2.W": (50, 20, 5, 5),
                "conv2.b": (50,), "ip1.W": (800, 500), "ip1.b": (500,), "ip2.W": (500, 10),
                "ip2.b": (10,)}


def test_variants_constant():
    assert set(LENET_VARIANTS) == {"all", "ip", "none"}


@pytest.mark.parametrize("variant", ["all", "ip", "none"])
def test_layer_names_and_dropout_placement(variant):
    model = lenet(variant, p=0.3)
    names = [n for n, _ in model]
    assert names == LAYERS[variant]
    for name, layer in model:
        assert isinstance(layer, KINDS[name]), name
    drops = model.dropout_layers()
    assert list(drops) == [n for n in LAYERS[variant] if n.startswith("drop")]
    assert all(d.p == 0.3 and d.keep == pytest.approx(0.7) for d in drops.values())
    # dropout sits right after each conv (before pooling) and after ReLU(ip1)
    for d in drops:
        before = names[names.index(d) - 1]
        assert before in ("conv1", "conv2", "relu1")
    assert model.variant == variant
    assert tuple(model.in_shape) == (1, 28, 28)


@pytest.mark.parametrize("variant", ["all", "ip", "none"])
def test_caffe_lenet_parameter_shapes_and_dtype(variant):
    model = lenet(variant)
    assert {k: tuple(v.shape) for k, v in model.params.items()} == CAFFE_SHAPES
    assert all(v.dtype == np.float32 for v in model.params.values())
    model64 = lenet(variant, dtype=np.float64)
    assert all(v.dtype == np.float64 for v in model64.params.values())
    # biases start at zero
    assert all(not np.any(v) for k, v in model.params.items() if k.endswith(".b"))


def test_same_seed_same_weights_in_every_variant():
    models = [lenet(v, seed=5) for v in ("all", "ip", "none")]
    for k in CAFFE_SHAPES:
        assert np.array_equal(models[0].params[k], models[1].params[k])
        assert np.array_equal(models[0].params[k], models[2].params[k])
    again = lenet("all", seed=5)
    other = lenet("all", seed=6)
    assert all(np.array_equal(again.params[k], models[0].params[k]) for k in CAFFE_SHAPES)
    assert not np.array_equal(other.params["conv1.W"], models[0].params["conv1.W"])


@pytest.mark.parametrize("in_shape, flat", [((3, 32, 32), 1250), ((1, 16, 16), 50),
                                            ((2, 20, 24), 50 * 2 * 3)])
def test_other_input_shapes(in_shape, flat):
    model = lenet("all", in_shape=in_shape, n_classes=7)
    assert model.params["conv1.W"].shape == (20, in_shape[0], 5, 5)
    assert model.params["ip1.W"].shape == (flat, 500)
    assert model.params["ip2.W"].shape == (500, 7)
    x = np.random.default_rng(0).standard_normal((3, *in_shape)).astype(np.float32)
    out = model.forward(x)
    assert out.shape == (3, 7)
    assert out.dtype == np.float32
    assert model.forward(x, rng=make_rng(0)).shape == (3, 7)


@pytest.mark.parametrize("kwargs", [
    dict(variant="conv"), dict(variant="ALL"), dict(p=1.0), dict(p=-0.1), dict(p=1.5),
    dict(in_shape=(1, 15, 15)), dict(in_shape=(1, 16, 15)), dict(in_shape=(1, 8, 8)),
    dict(in_shape=(28, 28)), dict(n_classes=1)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        lenet(**kwargs)


def test_forward_deterministic_without_rng_and_stochastic_with():
    model = lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=4, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((5, 1, 16, 16))
    a, b = model.forward(x), model.forward(x)
    assert np.array_equal(a, b)
    assert all(d.mask is None for d in model.dropout_layers().values())
    s1 = model.forward(x, rng=make_rng(0))
    s2 = model.forward(x, rng=make_rng(1))
    s1_again = model.forward(x, rng=make_rng(0))
    assert not np.allclose(s1, s2)
    assert not np.allclose(s1, a)
    assert np.array_equal(s1, s1_again)
    # lenet-none ignores the rng entirely
    none = lenet("none", in_shape=(1, 16, 16), n_classes=4, dtype=np.float64)
    assert np.array_equal(none.forward(x, rng=make_rng(3)), none.forward(x))


@pytest.mark.parametrize("seed", [0, 1])
def test_glorot_bounds_and_variance(seed):
    model = lenet("all", seed=seed, dtype=np.float64)
    fans = {"conv1.W": (1 * 25, 20 * 25), "conv2.W": (20 * 25, 50 * 25),
            "ip1.W": (800, 500), "ip2.W": (500, 10)}
    for name, (fan_in, fan_out) in fans.items():
        w = model.params[name]
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        assert np.max(np.abs(w)) <= limit
        # U(-a, a) has variance a²/3; the sample variance has relative sd ~ sqrt(0.8 / n)
        rel_sd = math.sqrt(0.8 / w.size)
        assert np.var(w) == pytest.approx(limit**2 / 3, rel=max(6 * rel_sd, 1e-3)), name
        assert abs(np.mean(w)) < 6 * limit / math.sqrt(3 * w.size)
        # the bound is nearly reached (not a narrower distribution)
        assert np.max(np.abs(w)) > 0.95 * limit


def test_mlp_layout_and_shapes():
    model = mlp((4, 8, 6, 2), p=0.2, seed=0)
    assert [n for n, _ in model] == ["ip1", "relu1", "drop1", "ip2", "relu2", "drop2", "ip3"]
    assert {k: tuple(v.shape) for k, v in model.params.items()} == {
        "ip1.W": (4, 8), "ip1.b": (8,), "ip2.W": (8, 6), "ip2.b": (6,), "ip3.W": (6, 2),
        "ip3.b": (2,)}
    assert model.forward(np.zeros((3, 4), np.float32)).shape == (3, 2)
    with pytest.raises(ValueError):
        mlp((4,))
    with pytest.raises(ValueError):
        mlp((4, 2), p=1.0)


def test_lenet_layers_compute_what_the_textbook_functions_compute():
    # the layers run the fast twins (docs/architecture.md); a LeNet-all pass with a seeded
    # rng must equal the same chain of textbook functions with the same masks, forward and
    # backward (float64: only the GEMMs' summation order differs)
    import tinybcnn.functional as F

    model = lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=4, dtype=np.float64)
    x = np.random.default_rng(2).standard_normal((3, 1, 16, 16))
    logits = model.forward(x, rng=make_rng(9))
    dlogits = np.random.default_rng(3).standard_normal(logits.shape)
    model.backward(dlogits)

    P = model.params
    tb_rng = make_rng(9)
    h, c1 = F.conv2d_forward(x, P["conv1.W"], P["conv1.b"])
    h, d1 = F.dropout_forward(h, 0.5, rng=tb_rng)
    h, p1 = F.maxpool2d_forward(h, 2)
    h, c2 = F.conv2d_forward(h, P["conv2.W"], P["conv2.b"])
    h, d2 = F.dropout_forward(h, 0.5, rng=tb_rng)
    h, p2 = F.maxpool2d_forward(h, 2)
    shape = h.shape
    h, i1 = F.dense_forward(h.reshape(3, -1), P["ip1.W"], P["ip1.b"])
    h, r1 = F.relu_forward(h)
    h, d3 = F.dropout_forward(h, 0.5, rng=tb_rng)
    out, i2 = F.dense_forward(h, P["ip2.W"], P["ip2.b"])
    np.testing.assert_allclose(logits, out, rtol=1e-12, atol=1e-12)

    g, gW2, gb2 = F.dense_backward(dlogits, i2)
    g = F.relu_backward(F.dropout_backward(g, d3), r1)
    g, gW1, gb1 = F.dense_backward(g, i1)
    g = F.dropout_backward(F.maxpool2d_backward(g.reshape(shape), p2), d2)
    g, gWc2, gbc2 = F.conv2d_backward(g, c2)
    g = F.dropout_backward(F.maxpool2d_backward(g, p1), d1)
    _, gWc1, gbc1 = F.conv2d_backward(g, c1)
    want = {"ip2.W": gW2, "ip2.b": gb2, "ip1.W": gW1, "ip1.b": gb1, "conv2.W": gWc2,
            "conv2.b": gbc2, "conv1.W": gWc1, "conv1.b": gbc1}
    for name, grad in want.items():
        np.testing.assert_allclose(model.grads[name], grad, rtol=1e-10, atol=1e-12,
                                   err_msg=name)
