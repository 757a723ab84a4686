"""Prediction refuses inputs that would silently give wrong probabilities, as training does.

Raw ``uint8`` images (0-255 instead of the training scale 0-255/256) and NaN inputs would
return confident nonsense or NaN probabilities; an empty batch, ``batch_size=0`` and a Python
list get a message that says what is wrong instead of an internal error.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinybcnn.functional import conv2d_forward
from tinybcnn.models import lenet
from tinybcnn.predict import mc_predict, mc_predict_regression, standard_predict


@pytest.fixture(scope="module")
def model():
    return lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, seed=0)


def good_input(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).random((n, 1, 16, 16), dtype=np.float32)


PREDICTORS = {
    "standard": lambda m, x, **kw: standard_predict(m, x, **kw),
    "mc": lambda m, x, **kw: mc_predict(m, x, samples=2, **kw),
    "mc_regression": lambda m, x, **kw: mc_predict_regression(m, x, tau=1.0, samples=2, **kw),
}


@pytest.mark.parametrize("predict", PREDICTORS.values(), ids=PREDICTORS.keys())
def test_raw_uint8_images_are_refused(model, predict):
    x = (good_input() * 256).astype(np.uint8)
    with pytest.raises(ValueError, match="floating point.*as_float.*uint8"):
        predict(model, x)


@pytest.mark.parametrize("predict", PREDICTORS.values(), ids=PREDICTORS.keys())
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_infinite_inputs_are_refused(model, predict, bad):
    x = good_input()
    x[2, 0, 5, 7] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        predict(model, x)


@pytest.mark.parametrize("predict", PREDICTORS.values(), ids=PREDICTORS.keys())
def test_an_empty_batch_is_refused(model, predict):
    with pytest.raises(ValueError, match="at least one input"):
        predict(model, good_input()[:0])


@pytest.mark.parametrize("predict", PREDICTORS.values(), ids=PREDICTORS.keys())
@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_a_bad_batch_size_is_refused(model, predict, batch_size):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        predict(model, good_input(), batch_size=batch_size)


@pytest.mark.parametrize("predict", PREDICTORS.values(), ids=PREDICTORS.keys())
def test_a_list_is_a_type_error(model, predict):
    with pytest.raises(TypeError, match="x must be an array.*list"):
        predict(model, good_input().tolist())


def test_good_inputs_still_predict(model):
    x = good_input()
    probs = mc_predict(model, x, samples=3, seed=0, batch_size=3).probs
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1)
    assert np.allclose(standard_predict(model, x, batch_size=1).probs.sum(axis=1), 1)


def test_conv_of_a_python_list_is_a_type_error():
    W, b = np.ones((2, 1, 3, 3), np.float32), np.zeros(2, np.float32)
    with pytest.raises(TypeError, match="x must be an array.*list"):
        conv2d_forward(np.zeros((1, 1, 5, 5), np.float32).tolist(), W, b)
