"""Max and average pooling against direct loops; backward against finite differences and,
on inputs with ties, against the first-maximum rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinybcnn.backend import to_numpy
from tinybcnn.functional import (
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from tinybcnn.functional.reference import (
    avgpool2d_backward_direct,
    avgpool2d_direct,
    maxpool2d_backward_direct,
    maxpool2d_direct,
)
from tinybcnn.gradcheck import assert_vjp


@st.composite
def geometry(draw):
    """(N, C, H, W, size, stride): stride None (= size), smaller (overlap) or larger (gaps);
    H and W need not be multiples of the stride (non-tiling windows)."""
    size = draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.integers(1, 5)))
    h = draw(st.integers(size, size + 6))
    w = draw(st.integers(size, size + 6))
    return draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w, size, stride


def distinct_values(shape, rng):
    """A permutation of 0.1, 0.2, ...: no ties, gaps far above the finite-difference step."""
    n = int(np.prod(shape))
    return (rng.permutation(n).astype(np.float64) * 0.1 - 0.05 * n).reshape(shape)


EXAMPLES = [
    (1, 1, 5, 5, 2, None),  # non-tiling: last row and column in no window
    (2, 2, 5, 4, 3, 1),     # overlapping windows
    (1, 1, 7, 7, 2, 3),     # gaps between windows
    (1, 1, 3, 3, 3, None),  # one window covering everything
]


def _with_examples(test):
    for geom in EXAMPLES:
        test = example(geom, 0)(test)
    return test


@given(geometry(), st.integers(0, 2**32 - 1))
@_with_examples
def test_maxpool_forward_matches_direct(geom, seed):
    n, c, h, w, size, stride = geom
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    y, _ = maxpool2d_forward(x, size, stride)
    y_ref, _ = maxpool2d_direct(x, size, stride)
    np.testing.assert_array_equal(y, y_ref)
    y32, _ = maxpool2d_forward(x.astype(np.float32), size, stride)
    assert y32.dtype == np.float32


@given(geometry(), st.integers(0, 2**32 - 1))
@_with_examples
def test_avgpool_forward_matches_direct(geom, seed):
    n, c, h, w, size, stride = geom
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    y, _ = avgpool2d_forward(x, size, stride)
    np.testing.assert_allclose(y, avgpool2d_direct(x, size, stride), rtol=1e-12, atol=1e-14)
    y32, _ = avgpool2d_forward(x.astype(np.float32), size, stride)
    assert y32.dtype == np.float32


@given(geometry(), st.integers(0, 2**32 - 1))
@_with_examples
def test_maxpool_backward_matches_finite_differences(geom, seed):
    n, c, h, w, size, stride = geom
    rng = np.random.default_rng(seed)
    x = distinct_values((n, c, h, w), rng)
    y, _ = maxpool2d_forward(x, size, stride)
    dy = rng.standard_normal(y.shape)
    assert_vjp(lambda x_: maxpool2d_forward(x_, size, stride)[0],
               lambda x_, d: maxpool2d_backward(d, maxpool2d_forward(x_, size, stride)[1]),
               x, dy, name="maxpool dx")


@given(geometry(), st.integers(0, 2**32 - 1))
@_with_examples
def test_avgpool_backward_matches_finite_differences_and_direct(geom, seed):
    n, c, h, w, size, stride = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    y, cache = avgpool2d_forward(x, size, stride)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(avgpool2d_backward(dy, cache),
                               avgpool2d_backward_direct(dy, x.shape, size, stride),
                               rtol=1e-12, atol=1e-14)
    assert_vjp(lambda x_: avgpool2d_forward(x_, size, stride)[0],
               lambda x_, d: avgpool2d_backward(d, avgpool2d_forward(x_, size, stride)[1]),
               x, dy, name="avgpool dx")


@given(geometry(), st.integers(0, 2**32 - 1))
@_with_examples
def test_maxpool_backward_with_ties_follows_first_max_rule(geom, seed):
    n, c, h, w, size, stride = geom
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, size=(n, c, h, w)).astype(np.float64)  # many ties
    y, cache = maxpool2d_forward(x, size, stride)
    # integer-valued upstream gradient: sums are exact whatever the accumulation order
    dy = rng.integers(1, 100, size=y.shape).astype(np.float64)
    dx = maxpool2d_backward(dy, cache)
    np.testing.assert_array_equal(dx, maxpool2d_backward_direct(dy, x, size, stride))
    # window by window: exactly one input gets the gradient, the first maximum in row-major order
    s = size if stride is None else stride
    for a in range(y.shape[2]):
        for b in range(y.shape[3]):
            one = np.zeros_like(dy)
            one[:, :, a, b] = 1.0
            g = maxpool2d_backward(one, cache)
            win_x = x[:, :, a * s:a * s + size, b * s:b * s + size].reshape(n, c, -1)
            win_g = g[:, :, a * s:a * s + size, b * s:b * s + size].reshape(n, c, -1)
            assert np.count_nonzero(g) == n * c
            first = np.argmax(win_x, axis=-1)  # NumPy's argmax returns the first maximum
            np.testing.assert_array_equal(np.argmax(win_g, axis=-1), first)
            np.testing.assert_array_equal(np.max(win_g, axis=-1), 1.0)


def test_maxpool_constant_input_gradient_goes_to_top_left():
    # stride 1, size 2 on a constant 4x5 image: every window's first element is its top-left
    x = np.full((1, 1, 4, 5), 3.0)
    y, cache = maxpool2d_forward(x, 2, 1)
    dy = np.arange(1.0, 1.0 + y.size).reshape(y.shape)
    dx = maxpool2d_backward(dy, cache)
    expected = np.zeros_like(x)
    expected[:, :, :3, :4] = dy
    np.testing.assert_array_equal(dx, expected)


def test_maxpool_non_tiling_leftovers_get_zero_gradient():
    x = distinct_values((1, 2, 5, 7), np.random.default_rng(0))
    y, cache = maxpool2d_forward(x, 2)
    assert y.shape == (1, 2, 2, 3)
    dx = maxpool2d_backward(np.ones_like(y), cache)
    assert np.all(dx[:, :, 4, :] == 0) and np.all(dx[:, :, :, 6] == 0)
    assert dx.sum() == y.size


def test_maxpool_overlapping_windows_accumulate():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0  # the centre is the maximum of all four 2x2 windows
    y, cache = maxpool2d_forward(x, 2, 1)
    dx = maxpool2d_backward(np.ones_like(y), cache)
    assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


def test_maxpool_large_window_many_offsets():
    # size 12: 144 window offsets, more than fit in an int8 argmax
    rng = np.random.default_rng(3)
    x = distinct_values((1, 1, 13, 12), rng)
    y, cache = maxpool2d_forward(x, 12, 1)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(y, maxpool2d_direct(x, 12, 1)[0])
    np.testing.assert_array_equal(maxpool2d_backward(dy, cache),
                                  maxpool2d_backward_direct(dy, x, 12, 1))


@pytest.mark.parametrize("fwd", [maxpool2d_forward, avgpool2d_forward])
@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.ones((4, 4)), {}, r"x must be 4-D.*\(N, C, H, W\)"),
        (np.ones((1, 1, 4, 4)), {"size": 0}, r"size"),
        (np.ones((1, 1, 4, 4)), {"size": 2, "stride": 0}, r"stride"),
        (np.ones((1, 1, 4, 4)), {"size": 5}, r"larger than the padded input"),
    ],
)
def test_pool_bad_input(fwd, x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fwd(x, **kwargs)


@pytest.mark.parametrize(("fwd", "bwd"), [(maxpool2d_forward, maxpool2d_backward),
                                          (avgpool2d_forward, avgpool2d_backward)])
def test_pool_backward_bad_dy(fwd, bwd):
    _, cache = fwd(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"dy must have shape"):
        bwd(np.ones((1, 1, 3, 3)), cache)


@pytest.mark.parametrize("geom", EXAMPLES)
def test_pooling_on_every_namespace_with_ties(xp, geom):
    # the oracles on NumPy; the core on NumPy, array_api_strict or CuPy
    n, c, h, w, size, stride = geom
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, size=(n, c, h, w)).astype(np.float64)
    y, cache = maxpool2d_forward(xp.asarray(x), size, stride)
    dy = rng.integers(1, 100, size=tuple(y.shape)).astype(np.float64)
    np.testing.assert_array_equal(to_numpy(y), maxpool2d_direct(x, size, stride)[0])
    np.testing.assert_array_equal(to_numpy(maxpool2d_backward(xp.asarray(dy), cache)),
                                  maxpool2d_backward_direct(dy, x, size, stride))
    y, cache = avgpool2d_forward(xp.asarray(x), size, stride)
    np.testing.assert_allclose(to_numpy(y), avgpool2d_direct(x, size, stride), rtol=1e-14)
    np.testing.assert_allclose(to_numpy(avgpool2d_backward(xp.asarray(dy), cache)),
                               avgpool2d_backward_direct(dy, x.shape, size, stride), rtol=1e-14)


def test_maxpool_nan_propagates_in_the_oracle_and_the_core():
    # the direct loops and the core agree: a NaN window has maximum NaN, its gradient goes
    # to the window's first NaN, and windows without NaN are untouched
    x = np.array([[[[1.0, 7.0, 2.0, 3.0],
                    [np.nan, 4.0, 9.0, 0.0],
                    [5.0, np.nan, 1.0, 1.0],
                    [np.nan, 2.0, 1.0, 8.0]]]])
    y_ref, argmax = maxpool2d_direct(x, 2)
    np.testing.assert_array_equal(y_ref, [[[[np.nan, 9.0], [np.nan, 8.0]]]])
    np.testing.assert_array_equal(argmax[0, 0, :, :], [[[1, 0], [1, 2]], [[2, 1], [3, 3]]])
    y, cache = maxpool2d_forward(x, 2)
    np.testing.assert_array_equal(y, y_ref)
    dy = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    want = np.zeros_like(x)
    want[0, 0, 1, 0], want[0, 0, 1, 2], want[0, 0, 2, 1], want[0, 0, 3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(maxpool2d_backward_direct(dy, x, 2), want)
    np.testing.assert_array_equal(maxpool2d_backward(dy, cache), want)
    # overlapping windows too (the general path)
    y3, cache3 = maxpool2d_forward(x, 3, 1)
    np.testing.assert_array_equal(y3, maxpool2d_direct(x, 3, 1)[0])
    d3 = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(maxpool2d_backward(d3, cache3),
                                  maxpool2d_backward_direct(d3, x, 3, 1))


@given(geometry(), st.integers(0, 2**32 - 1))
@_with_examples
def test_avgpool_layer_matches_direct_loops(geom, seed):
    from tinybcnn.nn import AvgPool2D

    n, c, h, w, size, stride = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    layer = AvgPool2D(size, stride)
    y = layer.forward(x)
    np.testing.assert_allclose(y, avgpool2d_direct(x, size, stride), rtol=1e-12, atol=1e-14)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(layer.backward(dy),
                               avgpool2d_backward_direct(dy, x.shape, size, stride),
                               rtol=1e-12, atol=1e-14)
