"""The fast twins (tinybcnn.functional.fast) against the direct loops and their textbook twins.

Each fast function is tested directly, on hypothesis-drawn shapes, against
:mod:`tinybcnn.functional.reference` (independent loops) and against the textbook function it stands
beside; the layout contract they rely on is in docs/architecture.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn.backend import to_numpy
from tinybcnn.functional import (
    col2im,
    conv2d_backward,
    conv2d_forward,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    im2col,
    maxpool2d_backward,
    maxpool2d_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from tinybcnn.functional.fast import (
    col2im_ijc,
    conv2d_backward_fast,
    conv2d_forward_fast,
    dense_backward_fast,
    dense_forward_fast,
    dropout_backward_fast,
    dropout_forward_fast,
    im2col_ijc,
    maxpool2d_backward_fast,
    maxpool2d_forward_fast,
    softmax_cross_entropy_fast,
)
from tinybcnn.functional.fast.conv import PER_OFFSET_MIN_CHANNELS
from tinybcnn.functional.reference import (
    conv2d_direct,
    conv2d_patch_masked_reference,
    im2col_direct,
    maxpool2d_backward_direct,
    maxpool2d_direct,
)
from tinybcnn.random import make_rng

SEEDS = st.integers(0, 2**32 - 1)


def channels_last(x: np.ndarray) -> np.ndarray:
    """The same NCHW array, stored channels-last (what a conv returns)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def cij_from_ijc(cols: np.ndarray, c: int, kh: int, kw: int) -> np.ndarray:
    """Permute the columns of an ``(i, j, c)``-ordered x* to the textbook ``(c, i, j)`` order."""
    rows = cols.shape[0]
    return np.asarray(cols).reshape(rows, kh, kw, c).transpose(0, 3, 1, 2).reshape(rows, -1)


@st.composite
def conv_geometry(draw):
    """(N, C_in, C_out, H, W, kh, kw, stride, pad) with the kernel fitting the padded input.

    C_in covers 1 (conv1), a few, and at least ``PER_OFFSET_MIN_CHANNELS`` (the other
    input-gradient path of the fast conv).
    """
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pad, stride = draw(st.integers(0, 2)), draw(st.integers(1, 4))
    h = draw(st.integers(max(1, kh - 2 * pad), max(1, kh - 2 * pad) + 5))
    w = draw(st.integers(max(1, kw - 2 * pad), max(1, kw - 2 * pad) + 5))
    c_in = draw(st.sampled_from([1, 2, 3, PER_OFFSET_MIN_CHANNELS, PER_OFFSET_MIN_CHANNELS + 1]))
    return draw(st.integers(1, 2)), c_in, draw(st.integers(1, 3)), h, w, kh, kw, stride, pad


# -- im2col_ijc / col2im_ijc -----------------------------------------------------------------

@given(conv_geometry(), SEEDS, st.booleans())
def test_im2col_ijc_is_im2col_with_permuted_columns(geom, seed, last):
    n, c, _, h, w, kh, kw, stride, pad = geom
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    x = channels_last(x) if last else x   # a pooled conv output is channels-last
    cols = im2col_ijc(x, kh, kw, stride, pad)
    np.testing.assert_array_equal(cij_from_ijc(cols, c, kh, kw), im2col_direct(x, kh, kw,
                                                                               stride, pad))
    np.testing.assert_array_equal(cij_from_ijc(cols, c, kh, kw), im2col(x, kh, kw, stride, pad))


@given(conv_geometry(), SEEDS)
def test_col2im_ijc_is_col2im_of_permuted_columns_and_the_adjoint(geom, seed):
    n, c, _, h, w, kh, kw, stride, pad = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    cols = rng.standard_normal(im2col_ijc(x, kh, kw, stride, pad).shape)
    folded = col2im_ijc(cols, x.shape, kh, kw, stride, pad)
    np.testing.assert_allclose(folded, col2im(cij_from_ijc(cols, c, kh, kw), x.shape, kh, kw,
                                              stride, pad), rtol=1e-12, atol=1e-12)
    # adjoint against the loop-built x*: <x*(x), cols> = <x, col2im(cols)>
    lhs = np.sum(im2col_direct(x, kh, kw, stride, pad) * cij_from_ijc(cols, c, kh, kw))
    np.testing.assert_allclose(lhs, np.sum(x * folded), rtol=1e-10)


@pytest.mark.parametrize("c, last", [(1, False), (3, False), (3, True)])
@pytest.mark.parametrize("other_layout", [False, True])
def test_im2col_ijc_writes_over_a_fitting_earlier_result_and_only_that(c, last, other_layout):
    # reuse= takes an earlier result of the same shape, dtype and memory order (row-major
    # from a channels-last input with several channels, else column-major); anything else
    # is left alone and a new matrix is returned
    rng = np.random.default_rng(c + 2 * last)
    x, earlier = rng.standard_normal((2, 2, c, 7, 6))
    x, earlier = (channels_last(x), channels_last(earlier)) if last else (x, earlier)
    spare = im2col_ijc(earlier, 3, 2, 2, 1)
    assert spare.flags.c_contiguous == (last and c > 1)
    if other_layout:
        spare = np.asfortranarray(spare) if spare.flags.c_contiguous else spare.copy()
    before = spare.copy()
    cols = im2col_ijc(x, 3, 2, 2, 1, reuse=spare)
    np.testing.assert_array_equal(cij_from_ijc(cols, c, 3, 2), im2col_direct(x, 3, 2, 2, 1))
    if other_layout:
        assert not np.shares_memory(cols, spare)
        np.testing.assert_array_equal(spare, before)
    else:
        assert cols is spare
    for wrong in (spare[:-1], spare.astype(np.float32), None):   # shape, dtype, none
        assert not np.shares_memory(im2col_ijc(x, 3, 2, 2, 1, reuse=wrong), spare)


def test_conv_layer_reuses_its_patch_matrix_across_passes():
    # a conv layer writes each pass's x* over the last one's; the gradients stay those of
    # its own pass (against the direct loops, in float64)
    from tinybcnn.nn import Conv2D

    rng = np.random.default_rng(3)
    layer = Conv2D(3, 4, 3, pad=1, seed=0, dtype=np.float64)
    W, b = layer.params["W"], layer.params["b"]
    earlier = None
    for k in range(3):
        x = rng.standard_normal((2, 3, 5, 6))
        x = channels_last(x) if k == 2 else x  # the other im2col path: a new x*
        y = layer.forward(x)
        assert (layer._cache["cols"] is earlier) == (k == 1)
        earlier = layer._cache["cols"]
        np.testing.assert_allclose(y, conv2d_direct(x, W, b, 1, 1), rtol=1e-12, atol=1e-12)
        dy = rng.standard_normal(y.shape)
        dx = layer.backward(dy)
        dx_ref, dW_ref, db_ref = conv2d_backward(dy, conv2d_forward(x, W, b, 1, 1)[1])
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.grads["W"], dW_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.grads["b"], db_ref, rtol=1e-12, atol=1e-12)


def test_im2col_ijc_on_every_namespace(xp):
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5))
    cols = im2col_ijc(xp.asarray(x), 3, 2, 2, 1)
    np.testing.assert_array_equal(cij_from_ijc(to_numpy(cols), 3, 3, 2),
                                  im2col_direct(x, 3, 2, 2, 1))
    back = col2im_ijc(cols, x.shape, 3, 2, 2, 1)
    np.testing.assert_allclose(to_numpy(back), col2im(im2col(x, 3, 2, 2, 1), x.shape, 3, 2, 2, 1),
                               rtol=1e-12)


def test_col2im_ijc_bad_shape():
    with pytest.raises(ValueError, match=r"cols must have shape"):
        col2im_ijc(np.zeros((4, 5)), (1, 1, 3, 3), 2, 2)


# -- conv ------------------------------------------------------------------------------------

@given(conv_geometry(), SEEDS, st.booleans(), st.booleans())
def test_conv_fast_matches_direct_loops_and_textbook(geom, seed, masked, last):
    n, c_in, c_out, h, w, kh, kw, stride, pad = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w))
    x = channels_last(x) if last else x
    W = rng.standard_normal((c_out, c_in, kh, kw))
    b = rng.standard_normal(c_out)
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    mask = (rng.integers(0, 2, (n * oh * ow, c_out)) * 2.0) if masked else None
    y, cache = conv2d_forward_fast(x, W, b, stride, pad, mask=mask)
    y_tb, cache_tb = conv2d_forward(x, W, b, stride, pad, mask=mask)
    oracle = (conv2d_patch_masked_reference(x, W, b, mask, stride, pad) if masked
              else conv2d_direct(x, W, b, stride, pad))
    np.testing.assert_allclose(y, oracle, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, y_tb, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    for got, want in zip(conv2d_backward_fast(dy, cache), conv2d_backward(dy, cache_tb),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
    dx, dW, db = conv2d_backward_fast(dy, cache, input_grad=False)
    assert dx is None


def test_conv_fast_backward_by_direct_loops():
    # dW and dx of the fast conv from the direct conv alone: <dy, conv(x + e·d)> is linear
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), np.zeros(4)
    y, cache = conv2d_forward_fast(x, W, b, 2, 1)
    dy = rng.standard_normal(y.shape)
    dx, dW, db = conv2d_backward_fast(dy, cache)
    dx_dir, dW_dir = rng.standard_normal(x.shape), rng.standard_normal(W.shape)
    # the conv is bilinear (b = 0): <dy, conv(d, W)> = <dx, d> and <dy, conv(x, D)> = <dW, D>
    np.testing.assert_allclose(np.sum(dy * conv2d_direct(dx_dir, W, b, 2, 1)),
                               np.sum(dx * dx_dir), rtol=1e-10)
    np.testing.assert_allclose(np.sum(dy * conv2d_direct(x, dW_dir, b, 2, 1)),
                               np.sum(dW * dW_dir), rtol=1e-10)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_conv_caches_are_not_interchangeable():
    x, W, b = np.ones((1, 1, 4, 4)), np.ones((2, 1, 2, 2)), np.zeros(2)
    y, cache = conv2d_forward_fast(x, W, b)
    with pytest.raises(ValueError, match=r"'cij' columns"):
        conv2d_backward(np.ones(y.shape), cache)
    y, cache = conv2d_forward(x, W, b)
    with pytest.raises(ValueError, match=r"'ijc' columns"):
        conv2d_backward_fast(np.ones(y.shape), cache)


@pytest.mark.parametrize("c_in", [2, PER_OFFSET_MIN_CHANNELS])
def test_conv_fast_on_every_namespace(xp, c_in):
    rng = np.random.default_rng(4)
    x, W, b = rng.standard_normal((2, c_in, 6, 5)), rng.standard_normal((3, c_in, 3, 3)), \
        rng.standard_normal(3)
    y, cache = conv2d_forward_fast(xp.asarray(x), xp.asarray(W), xp.asarray(b), 1, 1)
    np.testing.assert_allclose(to_numpy(y), conv2d_direct(x, W, b, 1, 1), rtol=1e-12,
                               atol=1e-12)
    dy = rng.standard_normal(tuple(y.shape))
    want = conv2d_backward(dy, conv2d_forward(x, W, b, 1, 1)[1])
    for got, ref in zip(conv2d_backward_fast(xp.asarray(dy), cache), want, strict=True):
        np.testing.assert_allclose(to_numpy(got), ref, rtol=1e-11, atol=1e-11)


# -- max pooling -----------------------------------------------------------------------------

@st.composite
def pool_geometry(draw):
    """(N, C, H, W, size, stride), tiling (stride = size dividing H and W) half of the time."""
    size = draw(st.integers(1, 3))
    if draw(st.booleans()):
        return (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
                size * draw(st.integers(1, 3)), size * draw(st.integers(1, 3)), size, None)
    stride = draw(st.one_of(st.none(), st.integers(1, 4)))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(size, size + 5)),
            draw(st.integers(size, size + 5)), size, stride)


@given(pool_geometry(), SEEDS, st.booleans(), st.booleans())
def test_maxpool_fast_matches_direct_and_textbook_with_ties_and_nan(geom, seed, last, nan):
    n, c, h, w, size, stride = geom
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(n, c, h, w)).astype(np.float64)   # many ties
    if nan:
        x[rng.random(x.shape) < 0.15] = np.nan
    x = channels_last(x) if last else x
    y, cache = maxpool2d_forward_fast(x, size, stride)
    y_ref, _ = maxpool2d_direct(x, size, stride)
    np.testing.assert_array_equal(y, y_ref)                  # NaN in the same places too
    np.testing.assert_array_equal(y, maxpool2d_forward(x, size, stride)[0])
    dy = rng.integers(1, 100, size=y.shape).astype(np.float64)  # exact sums in any order
    dx = maxpool2d_backward_fast(dy, cache)
    np.testing.assert_array_equal(dx, maxpool2d_backward_direct(dy, x, size, stride))
    np.testing.assert_array_equal(dx, maxpool2d_backward(dy, maxpool2d_forward(x, size,
                                                                               stride)[1]))


@given(pool_geometry(), SEEDS, st.booleans(), st.booleans())
def test_maxpool_fast_leaves_its_input_alone_and_takes_either_cache(geom, seed, last, nan):
    """The running maximum works in place on a copy, never on x (with N = C = 1 the windows'
    reordering can be a view of x); the backward takes the textbook forward's cache too."""
    n, c, h, w, size, stride = geom
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(n, c, h, w)).astype(np.float64)
    if nan:
        x[rng.random(x.shape) < 0.15] = np.nan
    x = channels_last(x) if last else x
    before = x.copy()
    y, cache = maxpool2d_forward_fast(x, size, stride)
    dy = rng.integers(1, 100, size=y.shape).astype(np.float64)
    dx = maxpool2d_backward_fast(dy, cache)
    np.testing.assert_array_equal(x, before)
    _, cache_tb = maxpool2d_forward(x, size, stride)
    np.testing.assert_array_equal(maxpool2d_backward_fast(dy, cache_tb), dx)
    np.testing.assert_array_equal(x, before)


def test_maxpool_fast_nan_window_sends_its_gradient_to_its_first_nan(xp):
    # (on CuPy a window of several NaNs may send it to another of them: see the module)
    x = np.array([[[[1.0, np.nan], [np.nan, 5.0]]]])
    y, cache = maxpool2d_forward_fast(channels_last(x) if xp is np else xp.asarray(x), 2)
    assert np.isnan(to_numpy(y)[0, 0, 0, 0])
    dx = maxpool2d_backward_fast(xp.asarray(np.array([[[[3.0]]]])), cache)
    np.testing.assert_array_equal(to_numpy(dx), [[[[0.0, 3.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("nan", [False, True])
def test_maxpool_fast_windows_of_more_than_256_offsets(nan):
    # 17×17 windows: offsets up to 288 need a wider code than a byte
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, size=(1, 2, 34, 17)).astype(np.float64)   # many ties
    x[0, 1, 20, 16] = 9.0       # a late offset (3 · 17 + 16 = 67) ...
    x[0, 0, 16, 16] = 9.0       # ... and the last one, 288, in the other window row
    if nan:
        x[0, 1, 30, 5] = np.nan
    y, cache = maxpool2d_forward_fast(channels_last(x), 17)
    np.testing.assert_array_equal(y, maxpool2d_direct(x, 17, 17)[0])
    dy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(maxpool2d_backward_fast(dy, cache),
                                  maxpool2d_backward_direct(dy, x, 17, 17))
    assert cache["first"].max() == 288


def test_maxpool_fast_on_every_namespace(xp):
    rng = np.random.default_rng(6)
    x = rng.integers(0, 2, size=(2, 3, 4, 6)).astype(np.float64)
    x[0, 0, 1, 1] = np.nan
    y, cache = maxpool2d_forward_fast(xp.asarray(x), 2)
    dy = rng.integers(1, 9, size=tuple(y.shape)).astype(np.float64)
    np.testing.assert_array_equal(to_numpy(y), maxpool2d_direct(x, 2)[0])
    np.testing.assert_array_equal(to_numpy(maxpool2d_backward_fast(xp.asarray(dy), cache)),
                                  maxpool2d_backward_direct(dy, x, 2))


# -- dropout ---------------------------------------------------------------------------------

@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), SEEDS,
       st.sampled_from([0.0, 0.25, 0.5, 0.9]), st.booleans())
def test_dropout_fast_draws_the_textbook_mask_whatever_the_strides(shape, seed, p, permuted):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    if permuted:  # the same logical array in reversed memory order
        x = np.ascontiguousarray(x.T).T
    y, cache = dropout_forward_fast(x, p, rng=make_rng(seed))
    y_tb, cache_tb = dropout_forward(np.ascontiguousarray(x), p, rng=make_rng(seed))
    if p == 0:
        assert cache["mask"] is None and cache_tb["mask"] is None
        return
    np.testing.assert_array_equal(cache["mask"], cache_tb["mask"])
    np.testing.assert_array_equal(y, y_tb)
    np.testing.assert_array_equal(y, x * cache_tb["mask"])
    dy = np.random.default_rng(seed + 1).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(dropout_backward_fast(dy, cache),
                                  dropout_backward(dy, cache_tb))


def test_dropout_fast_mask_streams_like_a_conv_output():
    y_conv, _ = conv2d_forward_fast(np.ones((2, 1, 6, 6), np.float32),
                                    np.ones((4, 1, 3, 3), np.float32), np.zeros(4, np.float32))
    _, cache = dropout_forward_fast(y_conv, 0.5, rng=make_rng(0))
    # channels-last memory like the conv output, the same numbers as the textbook's C order
    assert cache["mask"].transpose(0, 2, 3, 1).flags.c_contiguous
    _, cache_tb = dropout_forward(np.ascontiguousarray(y_conv), 0.5, rng=make_rng(0))
    np.testing.assert_array_equal(cache["mask"], cache_tb["mask"])


def test_dropout_fast_injected_mask_used_as_is(xp):
    x = xp.asarray(np.arange(6.0).reshape(2, 3))
    mask = xp.asarray(np.array([[0.0, 2.0, 2.0], [2.0, 0.0, 0.0]]))
    y, cache = dropout_forward_fast(x, 0.5, mask=mask)
    np.testing.assert_array_equal(to_numpy(y), [[0.0, 2.0, 4.0], [6.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"drop probability"):
        dropout_forward_fast(x, 1.0, rng=make_rng(0))


# -- softmax cross-entropy -------------------------------------------------------------------

def _cross_entropy_loops(logits, labels, scale):
    """``scale ·`` mean NLL and its gradient, row by row in float64 (the oracle)."""
    z = np.asarray(logits, dtype=np.float64)
    n = z.shape[0]
    loss, grad = 0.0, np.zeros_like(z)
    for i in range(n):
        m = max(z[i])
        total = sum(np.exp(v - m) for v in z[i])
        loss -= (z[i, labels[i]] - m - np.log(total)) * scale / n
        for j in range(z.shape[1]):
            grad[i, j] = (np.exp(z[i, j] - m) / total - (j == labels[i])) * scale / n
    return loss, grad


@given(st.integers(1, 6), st.integers(2, 7), SEEDS, st.sampled_from([1.0, 0.5, 3.0]),
       st.sampled_from([1.0, 1e3]))
def test_softmax_cross_entropy_fast_is_the_textbook_pair_and_the_loops(n, k, seed, scale, big):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * big).astype(np.float32)
    labels = rng.integers(0, k, n)
    loss, grad = softmax_cross_entropy_fast(logits, labels, scale)
    loss_tb, cache = softmax_cross_entropy_forward(logits, labels)
    np.testing.assert_array_equal(grad, softmax_cross_entropy_backward(scale, cache))
    np.testing.assert_allclose(loss, scale * loss_tb, rtol=1e-6)
    want_loss, want_grad = _cross_entropy_loops(logits, labels, scale)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-7)


def test_softmax_cross_entropy_fast_on_every_namespace(xp):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2])
    want_loss, want_grad = _cross_entropy_loops(logits, labels, 0.5)
    # host labels, device labels with the NaN guard, and device labels the caller checked
    # (one-hot rows gathered from the identity)
    for given_labels, check in ((labels, True), (xp.asarray(labels), True),
                                (xp.asarray(labels), False)):
        loss, grad = softmax_cross_entropy_fast(xp.asarray(logits), given_labels, 0.5,
                                                check_range=check)
        np.testing.assert_allclose(float(loss), want_loss, rtol=1e-6)
        np.testing.assert_allclose(to_numpy(grad), want_grad, rtol=1e-5, atol=1e-8)
    bad = np.array([0, 3, 4, 1, 2])
    if xp is not np:    # a device label out of range: NaN, no host read
        for device_bad in (xp.asarray(bad), xp.asarray(-bad)):
            loss, _ = softmax_cross_entropy_fast(xp.asarray(logits), device_bad)
            assert np.isnan(float(loss))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        softmax_cross_entropy_fast(xp.asarray(logits), bad)


@pytest.mark.parametrize("n, scale", [(64, 1.0), (16, 0.5), (6, 0.3), (50, 1.0)])
def test_device_cross_entropy_is_numpys_when_the_scale_is_a_power_of_two(other_xp, n, scale):
    """On a device the one-hot rows carry ``-scale/N``: with ``scale/N`` a power of two
    (batch 64) loss and gradient are NumPy's bit for bit, otherwise within a rounding;
    both against the float64 loops."""
    rng = np.random.default_rng(n)
    logits = (rng.standard_normal((n, 10)) * 4).astype(np.float32)
    labels = rng.integers(0, 10, n)
    host_loss, host_grad = softmax_cross_entropy_fast(logits, labels, scale)
    want_loss, want_grad = _cross_entropy_loops(logits, labels, scale)
    exact = math.frexp(scale / n)[0] == 0.5
    for check in (True, False):      # with and without the NaN guard of device labels
        loss, grad = softmax_cross_entropy_fast(other_xp.asarray(logits),
                                                other_xp.asarray(labels), scale, check)
        if exact:
            assert float(loss) == float(host_loss)
            np.testing.assert_array_equal(to_numpy(grad), host_grad)
        np.testing.assert_allclose(float(loss), want_loss, rtol=1e-6)
        np.testing.assert_allclose(to_numpy(grad), want_grad, rtol=1e-5, atol=1e-9)


# -- dense -----------------------------------------------------------------------------------

def _dense_loops(x, W, b, dy):
    """``x W + b`` and its three gradients, entry by entry in float64 (the oracle)."""
    n, d_in = x.shape
    d_out = W.shape[1]
    y = np.array([[b[j] + sum(x[r, i] * W[i, j] for i in range(d_in)) for j in range(d_out)]
                  for r in range(n)])
    dx = np.array([[sum(dy[r, j] * W[i, j] for j in range(d_out)) for i in range(d_in)]
                   for r in range(n)])
    dW = np.array([[sum(x[r, i] * dy[r, j] for r in range(n)) for j in range(d_out)]
                   for i in range(d_in)])
    return y, dx, dW, dy.sum(axis=0)


@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 4), SEEDS, st.booleans())
def test_dense_fast_is_the_textbook_pair_and_the_loops(xp, n, d_in, d_out, seed, flat):
    """On NumPy the textbook functions themselves; on a device the bias as the last row of
    ``[W; b]``, given as a view of one flat vector (``flat``, as the flat parameters hold
    it) or stacked by the function: the same bits either way, the textbook's up to rounding."""
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out))
    b, dy = rng.standard_normal(d_out), rng.standard_normal((n, d_out))
    theta = xp.asarray(np.concatenate([W.ravel(), b]))
    Wd, bd = xp.reshape(theta[:d_in * d_out], (d_in, d_out)), theta[d_in * d_out:]
    joined = xp.reshape(theta, (d_in + 1, d_out)) if flat and xp is not np else None
    y, cache = dense_forward_fast(xp.asarray(x), Wd, bd, joined=joined)
    got = [to_numpy(a) for a in (y, *dense_backward_fast(xp.asarray(dy), cache))]
    y_tb, cache_tb = dense_forward(x, W, b)
    for a, want in zip(got, (y_tb, *dense_backward(dy, cache_tb)), strict=True):
        if xp is np:
            np.testing.assert_array_equal(a, want)
        np.testing.assert_allclose(a, want, rtol=1e-12, atol=1e-12)
    for a, want in zip(got, _dense_loops(x, W, b, dy), strict=True):
        np.testing.assert_allclose(a, want, rtol=1e-10, atol=1e-10)
    if xp is not np:   # stacked by the function or a view: one computation, the same bits
        y2, _ = dense_forward_fast(xp.asarray(x), Wd, bd, joined=None if flat else
                                   xp.reshape(theta, (d_in + 1, d_out)))
        np.testing.assert_array_equal(to_numpy(y2), got[0])
    assert dense_backward_fast(xp.asarray(dy), cache, input_grad=False)[0] is None
