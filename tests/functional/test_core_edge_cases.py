"""Edge cases of the functional core: NaN propagation and clear errors on bad input."""

import math

import numpy as np
import pytest

import tinybcnn.functional as F


@pytest.mark.parametrize("where", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_maxpool_propagates_nan_from_any_window_position(where):
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, where[0], where[1]] = np.nan
    y, cache = F.maxpool2d_forward(x)
    assert np.isnan(y[0, 0, 0, 0])
    dx = F.maxpool2d_backward(np.ones_like(y), cache)
    assert dx[0, 0, where[0], where[1]] == 1.0 and dx.sum() == 1.0


@pytest.mark.parametrize("call, match", [
    (lambda: F.col2im(np.ones((9, 4)), (1, 4, 4), 2, 2), "x_shape"),
    (lambda: F.dropout_forward(np.ones(4, int), 0.3, rng=np.random.default_rng(0)), "floating"),
    (lambda: F.softmax_cross_entropy_forward(np.zeros((0, 3)), np.zeros(0, int)), "one row"),
    (lambda: F.softmax_cross_entropy_forward(np.zeros((2, 3)), np.array([0.0, 1.0])), "integers"),
    (lambda: F.gaussian_nll_forward(np.ones(3), np.ones(3), math.inf), "tau"),
    (lambda: F.relu_backward(np.ones(3), F.relu_forward(np.ones(4))[1]), "dy"),
])
def test_bad_input_gets_a_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_relu_propagates_nan():
    y, cache = F.relu_forward(np.array([np.nan, -1.0, 2.0], np.float32))
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == 2
    assert F.relu_backward(np.ones(3, np.float32), cache).tolist() == [0.0, 0.0, 1.0]


def test_skipping_the_input_gradient_leaves_the_weight_gradients_unchanged():
    rng = np.random.default_rng(0)
    x, W, b = rng.random((2, 3, 7, 7)), rng.random((4, 3, 3, 3)), rng.random(4)
    y, cache = F.conv2d_forward(x, W, b, stride=2, pad=1)
    dy = rng.random(y.shape)
    full, skipped = F.conv2d_backward(dy, cache), F.conv2d_backward(dy, cache, input_grad=False)
    assert skipped[0] is None
    assert np.array_equal(full[1], skipped[1]) and np.array_equal(full[2], skipped[2])
    yd, cd = F.dense_forward(rng.random((5, 3)), rng.random((3, 2)), rng.random(2))
    assert F.dense_backward(np.ones_like(yd), cd, input_grad=False)[0] is None
