"""conv2d forward against direct loops and scipy.signal.correlate; backward against finite
differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import signal

from tinybcnn.backend import to_numpy
from tinybcnn.functional import conv2d_backward, conv2d_forward
from tinybcnn.functional.reference import conv2d_direct
from tinybcnn.gradcheck import assert_vjp


@st.composite
def geometry(draw, max_extra: int = 5):
    """(N, C_in, C_out, H, W, kh, kw, stride, pad) with the kernel fitting the padded input."""
    kh = draw(st.integers(1, 4))
    kw = draw(st.integers(1, 4))
    pad = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 5))
    h = draw(st.integers(max(1, kh - 2 * pad), max(1, kh - 2 * pad) + max_extra))
    w = draw(st.integers(max(1, kw - 2 * pad), max(1, kw - 2 * pad) + max_extra))
    n = draw(st.integers(1, 2))
    c_in = draw(st.integers(1, 3))
    c_out = draw(st.integers(1, 3))
    return n, c_in, c_out, h, w, kh, kw, stride, pad


def _data(geom, seed, dtype):
    n, c_in, c_out, h, w, kh, kw, _, _ = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    W = rng.standard_normal((c_out, c_in, kh, kw)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return x, W, b


def scipy_conv(x, W, b, stride, pad):
    """Sum over input channels of scipy's 'valid' correlation on the zero-padded input,
    subsampled by the stride: an oracle that shares nothing with im2col."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c_in = x.shape[:2]
    c_out = W.shape[0]
    out = []
    for i in range(n):
        maps = []
        for k in range(c_out):
            acc = sum(signal.correlate(x[i, c], W[k, c].astype(np.float64), mode="valid")
                      for c in range(c_in))
            maps.append(acc[::stride, ::stride] + float(b[k]))
        out.append(np.stack(maps))
    return np.stack(out)


EXAMPLES = [
    (1, 1, 1, 1, 1, 1, 1, 1, 0),   # 1x1 everything
    (2, 2, 3, 1, 5, 1, 5, 1, 0),   # 1x5 kernel as wide as the input, one row
    (1, 3, 2, 1, 2, 3, 4, 1, 1),   # kernel exactly the padded input
    (2, 1, 2, 7, 6, 2, 1, 5, 2),   # stride larger than the kernel, 2x1 kernel
]


def _with_examples(test):
    for geom in EXAMPLES:
        test = example(geom, 0)(test)
    return test


@given(geometry(), st.integers(0, 2**32 - 1))
@_with_examples
def test_forward_float64_matches_direct_loops_and_scipy(geom, seed):
    *_, stride, pad = geom
    x, W, b = _data(geom, seed, np.float64)
    y, _ = conv2d_forward(x, W, b, stride, pad)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, conv2d_direct(x, W, b, stride, pad), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, scipy_conv(x, W, b, stride, pad), rtol=1e-12, atol=1e-12)


@given(geometry(), st.integers(0, 2**32 - 1))
@_with_examples
def test_forward_float32_stays_float32(geom, seed):
    *_, stride, pad = geom
    x, W, b = _data(geom, seed, np.float32)
    y, cache = conv2d_forward(x, W, b, stride, pad)
    assert y.dtype == np.float32, "no silent float64 upcast"
    expected = scipy_conv(x, W, b, stride, pad)
    # float32 sums of at most C_in*kh*kw + 1 = 49 terms of size ~1: errors of ~1e-6 * |terms|
    scale = np.sqrt(x.shape[1] * W.shape[2] * W.shape[3] + 1)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5 * scale)
    dx, dW, db = conv2d_backward(np.ones_like(y), cache)
    assert dx.dtype == dW.dtype == db.dtype == np.float32


@settings(max_examples=15)
@given(geometry(max_extra=3), st.integers(0, 2**32 - 1))
@_with_examples
def test_backward_matches_finite_differences(geom, seed):
    *_, stride, pad = geom
    x, W, b = _data(geom, seed, np.float64)
    y, _ = conv2d_forward(x, W, b, stride, pad)
    dy = np.random.default_rng(seed + 1).standard_normal(y.shape)

    def grads(x_, W_, b_):
        return conv2d_backward(dy, conv2d_forward(x_, W_, b_, stride, pad)[1])

    assert_vjp(lambda x_: conv2d_forward(x_, W, b, stride, pad)[0],
               lambda x_, d: grads(x_, W, b)[0], x, dy, name="dx")
    assert_vjp(lambda W_: conv2d_forward(x, W_, b, stride, pad)[0],
               lambda W_, d: grads(x, W_, b)[1], W, dy, name="dW")
    assert_vjp(lambda b_: conv2d_forward(x, W, b_, stride, pad)[0],
               lambda b_, d: grads(x, W, b_)[2], b, dy, name="db")


def test_backward_shapes():
    x, W, b = _data((2, 3, 4, 7, 6, 3, 2, 2, 1), 0, np.float64)
    y, cache = conv2d_forward(x, W, b, stride=2, pad=1)
    assert y.shape == (2, 4, 4, 4)
    dx, dW, db = conv2d_backward(np.ones_like(y), cache)
    assert dx.shape == x.shape and dW.shape == W.shape and db.shape == b.shape
    # d(sum y)/db_k is the number of output positions of channel k
    np.testing.assert_allclose(db, np.full(4, 2 * 4 * 4.0))


def _good():
    return (np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.ones(4))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"x": np.ones((3, 5, 5))}, r"x must be 4-D.*\(N, C_in, H, W\)"),
        ({"W": np.ones((4, 3, 3))}, r"W must be 4-D.*\(C_out, C_in, kh, kw\)"),
        ({"x": np.ones((2, 2, 5, 5))}, r"C_in = 3"),
        ({"b": np.ones(3)}, r"b must have shape \(C_out,\)"),
        ({"b": np.ones((4, 1))}, r"b must have shape \(C_out,\)"),
        ({"W": np.ones((4, 3, 6, 3))}, r"larger than the padded input"),
        ({"stride": 0}, r"stride"),
        ({"pad": -1}, r"pad"),
        ({"mask": np.ones((2 * 9, 4))}, r"mask must have shape \(N\*OH\*OW, C_out\)"),
        ({"mask": np.ones((2 * 3 * 3, 4, 1))}, r"mask"),
    ],
)
def test_conv_bad_input(change, match):
    x, W, b = _good()
    kwargs = {"x": x, "W": W, "b": b, "stride": 2, "pad": 0, "mask": None}
    kwargs.update(change)
    with pytest.raises(ValueError, match=match):
        conv2d_forward(**kwargs)


def test_conv_backward_bad_dy():
    x, W, b = _good()
    _, cache = conv2d_forward(x, W, b)
    with pytest.raises(ValueError, match=r"dy must have shape"):
        conv2d_backward(np.ones((2, 4, 2, 2)), cache)


@pytest.mark.parametrize("geom", EXAMPLES + [(2, 3, 4, 6, 5, 3, 3, 2, 1)])
def test_forward_and_backward_on_every_namespace(xp, geom):
    # the oracles on NumPy; the core on NumPy, array_api_strict or CuPy
    *_, stride, pad = geom
    x, W, b = _data(geom, 0, np.float64)
    y, cache = conv2d_forward(xp.asarray(x), xp.asarray(W), xp.asarray(b), stride, pad)
    np.testing.assert_allclose(to_numpy(y), conv2d_direct(x, W, b, stride, pad), rtol=1e-12,
                               atol=1e-12)
    # sum(y ⊙ dy) is linear in W, so its gradient is exactly the conv of x with dy
    dy = np.random.default_rng(1).standard_normal(y.shape)
    dx, dW, db = (to_numpy(g) for g in conv2d_backward(xp.asarray(dy), cache))
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-12)
    for k in range(W.shape[0]):  # dW[k] = Σ_n Σ_positions dy[n, k, oh, ow] · patch
        for c, i, j in np.ndindex(*W.shape[1:]):
            e = np.zeros_like(W)
            e[k, c, i, j] = 1.0
            dir_deriv = np.sum(conv2d_direct(x, e, np.zeros_like(b), stride, pad) * dy)
            assert abs(dW[k, c, i, j] - dir_deriv) <= 1e-10 * max(1.0, abs(dir_deriv))
    for n, c, h, w in np.ndindex(*x.shape):  # dx by the same linearity in x
        e = np.zeros_like(x)
        e[n, c, h, w] = 1.0
        dir_deriv = np.sum(conv2d_direct(e, W, np.zeros_like(b), stride, pad) * dy)
        assert abs(dx[n, c, h, w] - dir_deriv) <= 1e-10 * max(1.0, abs(dir_deriv))
