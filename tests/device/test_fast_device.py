"""The fast twins' device path (one gather per im2col/col2im, whole-array pooling) against the
direct loops of tinybcnn.functional.reference, on every geometry, on array_api_strict and the
CuPy double.

On NumPy the fast twins keep their strided copies (tests/functional/test_fast.py); on other
namespaces they take another route, written for few kernel launches (issue 23): ``take``
through cached indices, ``max``/``argmax`` over a window axis, one ``where`` for the pooling
gradient.
Those routes are drawn here over the same geometries as the NumPy tests (stride, padding,
odd sizes, ties, several NaN in one window).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import cupy_double

from tinybcnn.backend import to_numpy
from tinybcnn.functional import conv2d_backward, conv2d_forward, dropout_forward
from tinybcnn.functional.fast import (
    col2im_ijc,
    conv2d_backward_fast,
    conv2d_forward_fast,
    dropout_backward_fast,
    dropout_forward_fast,
    im2col_ijc,
    maxpool2d_backward_fast,
    maxpool2d_forward_fast,
)
from tinybcnn.functional.fast.im2col import gradient_patch_index, patch_index, scatter_index
from tinybcnn.functional.reference import (
    conv2d_direct,
    im2col_direct,
    maxpool2d_backward_direct,
    maxpool2d_direct,
)
from tinybcnn.random import make_rng

SEEDS = st.integers(0, 2**32 - 1)
strict = pytest.importorskip("array_api_strict")


@contextlib.contextmanager
def namespace(name):
    if name == "array_api_strict":
        yield strict
        return
    pytest.importorskip("array_api_compat")
    with cupy_double.installed():
        import array_api_compat.cupy as xp

        yield xp


NAMESPACES = pytest.mark.parametrize("name", ["array_api_strict", "cupy_double"])


def cij_from_ijc(cols, c, kh, kw):
    rows = cols.shape[0]
    return np.asarray(cols).reshape(rows, kh, kw, c).transpose(0, 3, 1, 2).reshape(rows, -1)


@st.composite
def conv_geometry(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pad, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, kh - 2 * pad), max(1, kh - 2 * pad) + 5))
    w = draw(st.integers(max(1, kw - 2 * pad), max(1, kw - 2 * pad) + 5))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 3)),
            h, w, kh, kw, stride, pad)


def test_patch_and_scatter_indices_by_hand():
    # a 2×3 image of 1 channel, 2×2 kernel, stride 1, no padding: OH = 1, OW = 2
    np.testing.assert_array_equal(patch_index(2, 3, 1, 2, 2, 1, 0),
                                  [0, 1, 3, 4, 1, 2, 4, 5])
    # value (0, 1) was copied by offset (0, 1) of patch 0 (entry 1) and offset (0, 0) of
    # patch 1 (entry 4); every other offset made no copy of it (the zero slot, 8)
    np.testing.assert_array_equal(scatter_index(2, 3, 1, 2, 2, 1, 0)[4:8], [4, 1, 8, 8])
    # a 1×1 image, 3×1 kernel, padding 1: OH = 1, OW = 3; padding reads the zero slot 1
    np.testing.assert_array_equal(patch_index(1, 1, 1, 3, 1, 1, 1),
                                  [1, 1, 1, 1, 0, 1, 1, 1, 1])
    # the input gradient's patches of that 2×3 image: value (y, x) reads output (y-i, x-j)
    # for kernel offset (i, j), or the zero slot 2 where that lies outside the 1×2 output
    g = gradient_patch_index(2, 3, 1, 2, 2, 1, 0).reshape(2, 3, 4)
    np.testing.assert_array_equal(g[0, 0], [0, 2, 2, 2])
    np.testing.assert_array_equal(g[0, 1], [1, 0, 2, 2])
    np.testing.assert_array_equal(g[1, 2], [2, 2, 2, 1])
    # stride 2 (3×3 image, 1×1 kernel, OH = OW = 2): odd rows and columns read nothing
    np.testing.assert_array_equal(gradient_patch_index(3, 3, 1, 1, 1, 2, 0),
                                  [0, 4, 1, 4, 4, 4, 2, 4, 3])


@NAMESPACES
@given(geom=conv_geometry(), seed=SEEDS, last=st.booleans())
def test_device_im2col_and_col2im_match_the_loops(name, geom, seed, last):
    n, c, _, h, w, kh, kw, stride, pad = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    if last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    with namespace(name) as xp:
        cols = im2col_ijc(xp.asarray(x), kh, kw, stride, pad)
        np.testing.assert_array_equal(cij_from_ijc(to_numpy(cols), c, kh, kw),
                                      im2col_direct(x, kh, kw, stride, pad))
        # col2im is the adjoint: <im2col(x), d> == <x, col2im(d)> for any d
        d = rng.standard_normal(tuple(cols.shape))
        folded = to_numpy(col2im_ijc(xp.asarray(d), x.shape, kh, kw, stride, pad))
    assert folded.shape == x.shape
    lhs = np.sum(im2col_direct(x, kh, kw, stride, pad) * cij_from_ijc(d, c, kh, kw))
    np.testing.assert_allclose(lhs, np.sum(x * folded), rtol=1e-10, atol=1e-10)


@NAMESPACES
@given(geom=conv_geometry(), seed=SEEDS)
def test_device_conv_matches_the_loops_and_textbook(name, geom, seed):
    n, c_in, c_out, h, w, kh, kw, stride, pad = geom
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in, kh, kw))
    b = rng.standard_normal(c_out)
    y_ref = conv2d_direct(x, W, b, stride, pad)
    dy = rng.standard_normal(y_ref.shape)
    # gradients: the textbook functions on NumPy (slice loops, no gather), checked against
    # the loops in tests/functional/test_conv.py
    dx_ref, dW_ref, db_ref = conv2d_backward(dy, conv2d_forward(x, W, b, stride, pad)[1])
    with namespace(name) as xp:
        y, cache = conv2d_forward_fast(xp.asarray(x), xp.asarray(W), xp.asarray(b), stride, pad)
        got = conv2d_backward_fast(xp.asarray(dy), cache)
        got = [to_numpy(a) for a in (y, *got)]
    for a, ref in zip(got, (y_ref, dx_ref, dW_ref, db_ref), strict=True):
        np.testing.assert_allclose(a, ref, rtol=1e-10, atol=1e-10)


@NAMESPACES
@given(n=st.integers(1, 2), c=st.integers(1, 3), oh=st.integers(1, 3), ow=st.integers(1, 3),
       size=st.integers(1, 3), seed=SEEDS, nan=st.booleans(), last=st.booleans())
def test_device_maxpool_matches_the_loops_with_ties_and_nans(name, n, c, oh, ow, size, seed,
                                                             nan, last):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(n, c, oh * size, ow * size)).astype(np.float64)  # ties
    if nan:
        x[rng.random(x.shape) < 0.3] = np.nan          # often several NaN in a window
    if last:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y_ref, _ = maxpool2d_direct(x, size, size)
    dy = rng.integers(1, 100, size=y_ref.shape).astype(np.float64)
    with namespace(name) as xp:
        y, cache = maxpool2d_forward_fast(xp.asarray(x), size)
        dx = to_numpy(maxpool2d_backward_fast(xp.asarray(dy), cache))
        y = to_numpy(y)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, maxpool2d_backward_direct(dy, x, size, size))


def test_device_maxpool_many_nans_in_one_window_go_to_the_first():
    x = np.array([[[[2.0, np.nan], [np.nan, np.nan]]]])
    with namespace("array_api_strict") as xp:
        _, cache = maxpool2d_forward_fast(xp.asarray(x), 2)
        dx = to_numpy(maxpool2d_backward_fast(xp.asarray(np.array([[[[3.0]]]])), cache))
    np.testing.assert_array_equal(dx, [[[[0.0, 3.0], [0.0, 0.0]]]])


@NAMESPACES
def test_device_dropout_products_are_the_textbook_ones_in_the_inputs_memory_order(name):
    """On CuPy the fast dropout multiplies channels-last views (no mask copy): the same
    numbers as ``x * mask``, and on the double (which has strides) channels-last memory, so
    that the conv backward reads ``dy`` as a view of its patch layout."""
    rng = np.random.default_rng(4)
    x_nhwc = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    dy_nhwc = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    x, dy = x_nhwc.transpose(0, 3, 1, 2), dy_nhwc.transpose(0, 3, 1, 2)
    with namespace(name) as xp:
        x_dev = xp.permute_dims(xp.asarray(x_nhwc), (0, 3, 1, 2))   # what a conv returns
        dy_dev = xp.permute_dims(xp.asarray(dy_nhwc), (0, 3, 1, 2))  # what a pooling returns
        y, cache = dropout_forward_fast(x_dev, 0.5, rng=make_rng(3, like=x_dev))
        _, cache_tb = dropout_forward(xp.asarray(np.ascontiguousarray(x)), 0.5,
                                      rng=make_rng(3, like=x_dev))
        mask = to_numpy(cache_tb["mask"])
        np.testing.assert_array_equal(to_numpy(cache["mask"]), mask)
        np.testing.assert_array_equal(to_numpy(y), x * mask)
        dx = dropout_backward_fast(dy_dev, cache)
        np.testing.assert_array_equal(to_numpy(dx), dy * mask)
        if name == "cupy_double":
            assert xp.permute_dims(y, (0, 2, 3, 1)).flags.c_contiguous
            assert xp.permute_dims(dx, (0, 2, 3, 1)).flags.c_contiguous
