"""Concrete dropout, ensembles and temperature scaling under CuPy's rules (the CuPy double
of ``tests/support/cupy_double.py``: no ``__array_namespace__``, no ``device=`` in bare creation
functions, no implicit conversion to NumPy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn.calibration import fit_temperature
from tinybcnn.concrete import ConcreteObjective, concrete_lenet
from tinybcnn.ensembles import ensemble_predict
from tinybcnn.functional.concrete_dropout import (
    concrete_dropout_backward,
    concrete_dropout_forward,
)
from tinybcnn.random import make_rng

pytest.importorskip("array_api_compat")


@pytest.fixture
def cupy(cupy_double_backend):
    """The double installed as ``cupy`` (tests/device/conftest.py)."""
    return cupy_double_backend


def _data(cp, n=24):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (n, 1, 16, 16)).astype(np.float32)
    return cp.asarray(x), cp.asarray(rng.integers(0, 10, n))


def test_concrete_forward_and_backward_with_a_device_generator(cupy):
    x = cupy.asarray(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    y, cache = concrete_dropout_forward(x, cupy.asarray(np.float32(-1.0)),
                                        rng=make_rng(0, like=x))
    dx, d_logit = concrete_dropout_backward(cupy.ones_like(y), cache)
    assert type(dx).__module__.startswith("cupy") and d_logit.shape == ()
    _, none = concrete_dropout_backward(cupy.ones_like(x), concrete_dropout_forward(x, 0.0)[1])
    assert float(none) == 0.0


def test_concrete_lenet_trains_and_predicts_on_the_double(cupy):
    model = concrete_lenet("all", p=0.1, in_shape=(1, 16, 16), seed=0)
    obj = ConcreteObjective.for_model(model, n_train=24, length_scale=1.0)
    trainer = tb.train.Trainer(model, obj, tb.optim.SGD(model, lr=0.05), seed=0)
    x, y = _data(cupy)
    loss = trainer.step(x, y)
    assert math.isfinite(float(loss))
    assert all(not math.isclose(p, 0.1, rel_tol=1e-7) for p in model.learnt_p().values())
    pred = tb.predict.mc_predict(model, x, samples=3, seed=0)
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(pred.mutual_info > 0)


def test_ensembles_and_temperature_scaling_on_the_double(cupy):
    members = [tb.models.lenet("all", in_shape=(1, 16, 16), seed=s) for s in range(2)]
    x, y = _data(cupy)
    deep = ensemble_predict(members, x)
    mc = ensemble_predict(members, x, samples=3, seed=1)
    assert deep.samples == 2 and mc.samples == 6
    logits = members[0].forward(x)
    assert fit_temperature(logits, y) > 0
