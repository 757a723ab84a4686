"""Inverted Bernoulli dropout, its masks, and Bernoulli patch masking of convolutions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinybcnn.random as tbrandom
from tinybcnn.backend import to_numpy
from tinybcnn.functional import (
    conv2d_backward,
    conv2d_forward,
    dropout_backward,
    dropout_forward,
    patch_mask_to_nchw,
)
from tinybcnn.functional.reference import conv2d_patch_masked_reference
from tinybcnn.gradcheck import assert_vjp
from tinybcnn.random import bernoulli_mask, keep_threshold, make_rng

seeds = st.integers(0, 2**32 - 1)


# --- dropout_forward / dropout_backward ----------------------------------------------------

@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.sampled_from([0.2, 0.5, 0.9]),
       seeds)
def test_dropout_backward_matches_finite_differences(shape, p, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    mask = bernoulli_mask(make_rng(seed), tuple(shape), p, dtype=np.float64)
    y, cache = dropout_forward(x, p, mask=mask)
    np.testing.assert_array_equal(y, x * mask)
    assert cache["mask"] is mask
    dy = rng.standard_normal(shape)
    assert_vjp(lambda x_: dropout_forward(x_, p, mask=mask)[0],
               lambda x_, d: dropout_backward(d, dropout_forward(x_, p, mask=mask)[1]),
               x, dy, name="dropout dx")


def test_dropout_is_identity_without_rng_or_at_p_zero():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    dy = np.ones_like(x)
    for kwargs in ({"p": 0.5}, {"p": 0.0, "rng": make_rng(0)}, {"p": 0.0}):
        y, cache = dropout_forward(x, **kwargs)
        np.testing.assert_array_equal(y, x)
        assert y.dtype == np.float32
        assert cache["mask"] is None
        np.testing.assert_array_equal(dropout_backward(dy, cache), dy)


def test_dropout_with_rng_reads_back_its_mask():
    x = np.random.default_rng(1).standard_normal((50, 40)).astype(np.float32)
    y, cache = dropout_forward(x, 0.3, rng=make_rng(7))
    mask = cache["mask"]
    assert mask.shape == x.shape and mask.dtype == np.float32
    np.testing.assert_array_equal(y, x * mask)
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), cache), mask)
    # the same seed draws the same mask through dropout_forward as through bernoulli_mask
    np.testing.assert_array_equal(mask, bernoulli_mask(make_rng(7), x.shape, 0.3))


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_bad_probability(p):
    with pytest.raises(ValueError, match=r"p .*\[0, 1\)"):
        dropout_forward(np.ones(3), p, rng=make_rng(0))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        bernoulli_mask(make_rng(0), (3,), p)


def test_dropout_bad_mask_shape():
    with pytest.raises(ValueError, match=r"mask must have shape"):
        dropout_forward(np.ones((2, 3)), 0.5, mask=np.ones((3, 2)))


# --- Bernoulli masks -------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.05, 0.1, 0.25, 0.5, 0.7, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_mask_statistics(p, dtype):
    n = 200_000
    keep = 1.0 - p
    mask = bernoulli_mask(make_rng(12345), (n,), p, dtype=dtype)
    assert mask.dtype == dtype and mask.shape == (n,)
    scale = dtype(1.0) / dtype(keep)  # 1/keep as the dtype computes it
    kept = mask != 0
    # values: exactly 0 or 1/keep
    assert np.all((mask == 0) | (mask == scale))
    # keep rate within 5 binomial standard deviations
    sigma = np.sqrt(n * keep * (1 - keep))
    assert abs(int(kept.sum()) - n * keep) < 5 * sigma
    # inverted: E[mask] = 1, Var[mask] = p / keep per element
    assert abs(float(mask.astype(np.float64).mean()) - 1.0) < 5 * np.sqrt(p / keep / n)


@pytest.mark.parametrize("keep, int_type, threshold", [
    (0.5, np.uint8, 128), (0.75, np.uint8, 192), (0.25, np.uint8, 64),
    (1 - 2**-12, np.uint16, 2**16 - 2**4), (0.9, np.uint32, round(0.9 * 2**32)),
])
def test_keep_threshold_is_exact(keep, int_type, threshold):
    assert keep_threshold(keep) == (np.dtype(int_type), threshold)


@pytest.mark.parametrize("p", [0.5, 0.25, 0.1])
def test_bernoulli_keep_rule_is_u_below_threshold_exactly(monkeypatch, p):
    # feed the mask known integers instead of random ones: every value around the threshold
    # (and the ends of the range), so u < t and u <= t give different masks, deterministically
    int_type, t = keep_threshold(1.0 - p)
    top = np.iinfo(int_type).max
    u = np.array(sorted({0, 1, t - 2, t - 1, t, t + 1, t + 2, top - 1, top}), dtype=int_type)

    def known_uints(rng, size, dtype):
        assert size == u.size and np.dtype(dtype) == int_type
        return u

    monkeypatch.setattr(tbrandom, "_random_uints", known_uints)
    mask = bernoulli_mask(make_rng(0), (u.size,), p, dtype=np.float64)
    np.testing.assert_array_equal(mask, np.where(u.astype(np.int64) < t, 1.0 / (1.0 - p), 0.0))


@pytest.mark.parametrize("fast", [False, True])
def test_mask_is_the_same_for_a_strided_view_and_a_contiguous_copy(xp, fast):
    # masks are drawn in logical (C) order: which unit gets which random number does not
    # depend on the memory layout, on any namespace (each with its own generator)
    from tinybcnn.functional.fast import dropout_forward_fast

    forward = dropout_forward_fast if fast else dropout_forward
    base = np.random.default_rng(0).standard_normal((3, 5, 4, 2)).astype(np.float32)
    view = np.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # like a conv
    assert not view.flags.c_contiguous
    x_view, x_copy = xp.asarray(view), xp.asarray(np.ascontiguousarray(view))
    y_view, c_view = forward(x_view, 0.5, rng=make_rng(7, like=x_view))
    y_copy, c_copy = dropout_forward(x_copy, 0.5, rng=make_rng(7, like=x_copy))
    np.testing.assert_array_equal(to_numpy(c_view["mask"]), to_numpy(c_copy["mask"]))
    np.testing.assert_array_equal(to_numpy(y_view), to_numpy(y_copy))
    # and the mask is the one bernoulli_mask draws for that shape, element for element
    drawn = bernoulli_mask(make_rng(7, like=x_copy), view.shape, 0.5, dtype=x_copy.dtype)
    np.testing.assert_array_equal(to_numpy(c_copy["mask"]), to_numpy(drawn))


def test_bernoulli_mask_p_zero_keeps_everything():
    mask = bernoulli_mask(make_rng(0), (1000,), 0.0)
    np.testing.assert_array_equal(mask, np.ones(1000, dtype=np.float32))


def test_bernoulli_mask_is_reproducible_bit_for_bit():
    a = bernoulli_mask(make_rng(2024), (64, 33), 0.37, dtype=np.float32)
    b = bernoulli_mask(make_rng(2024), (64, 33), 0.37, dtype=np.float32)
    assert a.tobytes() == b.tobytes()
    c = bernoulli_mask(make_rng(2025), (64, 33), 0.37, dtype=np.float32)
    assert a.tobytes() != c.tobytes()
    # a generator advances: two draws from one generator differ
    rng = make_rng(2024)
    assert bernoulli_mask(rng, (64, 33), 0.37).tobytes() != \
        bernoulli_mask(rng, (64, 33), 0.37).tobytes()


# --- Bernoulli patch masking of convolutions ---------------------------------------------

@st.composite
def conv_geometry(draw, max_extra: int = 4):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad, stride = draw(st.integers(0, 2)), draw(st.integers(1, 4))
    h = draw(st.integers(max(1, kh - 2 * pad), max(1, kh - 2 * pad) + max_extra))
    w = draw(st.integers(max(1, kw - 2 * pad), max(1, kw - 2 * pad) + max_extra))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return n, c_in, c_out, h, w, kh, kw, stride, pad


def _integer_conv_data(geom, seed):
    """Small integers in float64 and a p = 0.5 mask (values 0 and 2): all arithmetic exact."""
    n, c_in, c_out, h, w, kh, kw, stride, pad = geom
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 6, (n, c_in, h, w)).astype(np.float64)
    W = rng.integers(-5, 6, (c_out, c_in, kh, kw)).astype(np.float64)
    b = rng.integers(-5, 6, c_out).astype(np.float64)
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    mask = bernoulli_mask(make_rng(seed), (n * oh * ow, c_out), 0.5, dtype=np.float64)
    return x, W, b, mask, oh, ow


@given(conv_geometry(), seeds)
@example((1, 1, 1, 1, 1, 1, 1, 1, 0), 0)
@example((2, 2, 3, 1, 2, 3, 4, 1, 1), 3)
@example((1, 3, 2, 6, 5, 2, 1, 4, 2), 5)
def test_patch_masking_equals_per_patch_weights_equals_output_dropout(geom, seed):
    *_, stride, pad = geom
    x, W, b, mask, oh, ow = _integer_conv_data(geom, seed)
    assert set(np.unique(mask)) <= {0.0, 2.0}
    y_patch, _ = conv2d_forward(x, W, b, stride, pad, mask=mask)
    # 1. the paper's literal form: patch n times W_aug · diag(z_n)
    np.testing.assert_array_equal(y_patch, conv2d_patch_masked_reference(x, W, b, mask, stride,
                                                                         pad))
    # 2. elementwise dropout on the unmasked conv output, with the same mask in NCHW
    y, _ = conv2d_forward(x, W, b, stride, pad)
    y_drop, _ = dropout_forward(y, 0.5, mask=patch_mask_to_nchw(mask, x.shape[0], oh, ow))
    np.testing.assert_array_equal(y_patch, y_drop)


def test_patch_mask_to_nchw_layout():
    n, c, oh, ow = 2, 3, 2, 4
    mask = np.arange(n * oh * ow * c, dtype=np.float64).reshape(n * oh * ow, c)
    nchw = patch_mask_to_nchw(mask, n, oh, ow)
    assert nchw.shape == (n, c, oh, ow)
    for i, j, a, b in itertools.product(range(n), range(c), range(oh), range(ow)):
        assert nchw[i, j, a, b] == mask[(i * oh + a) * ow + b, j]
    with pytest.raises(ValueError, match=r"mask"):
        patch_mask_to_nchw(mask, n, oh, ow + 1)


@settings(max_examples=15)
@given(conv_geometry(max_extra=3), seeds)
@example((2, 2, 3, 1, 2, 3, 4, 1, 1), 3)
def test_patch_masked_conv_backward_matches_finite_differences(geom, seed):
    *_, stride, pad = geom
    rng = np.random.default_rng(seed)
    _, _, _, mask, _, _ = _integer_conv_data(geom, seed)
    n, c_in, c_out, h, w, kh, kw, _, _ = geom
    x = rng.standard_normal((n, c_in, h, w))
    W = rng.standard_normal((c_out, c_in, kh, kw))
    b = rng.standard_normal(c_out)
    y, _ = conv2d_forward(x, W, b, stride, pad, mask=mask)
    dy = rng.standard_normal(y.shape)

    def fwd(x_, W_, b_):
        return conv2d_forward(x_, W_, b_, stride, pad, mask=mask)

    def grads(x_, W_, b_):
        return conv2d_backward(dy, fwd(x_, W_, b_)[1])

    assert_vjp(lambda x_: fwd(x_, W, b)[0], lambda x_, d: grads(x_, W, b)[0], x, dy,
               name="masked conv dx")
    assert_vjp(lambda W_: fwd(x, W_, b)[0], lambda W_, d: grads(x, W_, b)[1], W, dy,
               name="masked conv dW")
    assert_vjp(lambda b_: fwd(x, W, b_)[0], lambda b_, d: grads(x, W, b_)[2], b, dy,
               name="masked conv db")


# --- dropout on the conv *input* is a different distribution -------------------------------
#
# Patch masking draws one z per (patch, kernel): the output values are masked independently.
# Dropout on the conv input instead draws one z per input pixel, and a pixel is seen by every
# patch that covers it, so patches that overlap share mask values: their outputs are
# correlated, and some output-dropout patterns cannot be produced by any input mask. The two
# tests below show both on a 1x3 image and a 1x2 all-ones kernel (two overlapping patches
# that share the middle pixel).

_X = np.ones((1, 1, 1, 3))
_W = np.ones((1, 1, 1, 2))
_B = np.zeros(1)


def test_output_dropout_pattern_unreachable_by_any_input_mask():
    keep_scale = 2.0  # p = 0.5
    # every output-dropout result: each of the two outputs (value 2) kept (x2) or dropped
    y_plain, _ = conv2d_forward(_X, _W, _B)
    np.testing.assert_array_equal(y_plain.ravel(), [2.0, 2.0])
    output_patterns = {
        tuple(conv2d_forward(_X, _W, _B, mask=np.array([[z0], [z1]]))[0].ravel())
        for z0, z1 in itertools.product([0.0, keep_scale], repeat=2)
    }
    # every input-dropout result: the 2**3 masks of the three input pixels
    input_patterns = set()
    for m in itertools.product([0.0, keep_scale], repeat=3):
        x_drop, _ = dropout_forward(_X, 0.5, mask=np.array(m).reshape(_X.shape))
        input_patterns.add(tuple(conv2d_forward(x_drop, _W, _B)[0].ravel()))
    # keeping patch 0 in full while dropping patch 1 entirely needs the shared middle pixel
    # both kept and dropped
    assert (4.0, 0.0) in output_patterns and (4.0, 0.0) not in input_patterns
    assert (0.0, 4.0) in output_patterns and (0.0, 4.0) not in input_patterns
    # and input dropout produces half-kept outputs that output dropout never does
    assert (2.0, 2.0) in input_patterns and (2.0, 2.0) not in output_patterns


def test_input_dropout_correlates_overlapping_patches_output_dropout_does_not():
    n = 40_000
    rng = make_rng(99)
    x = np.ones((n, 1, 1, 3))
    # input dropout: one mask per pixel
    x_drop, _ = dropout_forward(x, 0.5, rng=rng)
    y_in, _ = conv2d_forward(x_drop, _W.astype(x.dtype), _B)
    # output (patch) dropout: one mask per (patch, kernel)
    mask = bernoulli_mask(rng, (n * 2, 1), 0.5, dtype=np.float64)
    y_out, _ = conv2d_forward(x, _W, _B, mask=mask)

    def corr_of_zero_events(y):
        e0, e1 = (y[:, 0, 0, 0] == 0).astype(float), (y[:, 0, 0, 1] == 0).astype(float)
        return float(np.corrcoef(e0, e1)[0, 1])

    # input dropout: P(y0 = 0) = P(y1 = 0) = 1/4, P(both) = P(all 3 pixels dropped) = 1/8,
    # so corr = (1/8 - 1/16) / (1/4 * 3/4) = 1/3; output dropout: independent, corr = 0
    bound = 5 / np.sqrt(n)
    assert abs(corr_of_zero_events(y_in) - 1 / 3) < bound
    assert abs(corr_of_zero_events(y_out)) < bound


@pytest.mark.parametrize("geom", [(2, 2, 3, 1, 2, 3, 4, 1, 1), (1, 3, 2, 6, 5, 2, 1, 4, 2),
                                  (2, 3, 4, 5, 5, 3, 3, 1, 1)])
def test_patch_masking_exact_on_every_namespace(xp, geom):
    *_, stride, pad = geom
    x, W, b, mask, oh, ow = _integer_conv_data(geom, 0)
    y_patch, _ = conv2d_forward(xp.asarray(x), xp.asarray(W), xp.asarray(b), stride, pad,
                                mask=xp.asarray(mask))
    np.testing.assert_array_equal(to_numpy(y_patch),
                                  conv2d_patch_masked_reference(x, W, b, mask, stride, pad))
    y, _ = conv2d_forward(xp.asarray(x), xp.asarray(W), xp.asarray(b), stride, pad)
    nchw = patch_mask_to_nchw(xp.asarray(mask), x.shape[0], oh, ow)
    y_drop, _ = dropout_forward(y, 0.5, mask=nchw)
    np.testing.assert_array_equal(to_numpy(y_drop), to_numpy(y_patch))
