"""im2col / col2im against index arithmetic, and the adjoint identity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinybcnn.backend import to_numpy
from tinybcnn.functional import col2im, im2col
from tinybcnn.functional.reference import im2col_direct


@st.composite
def geometry(draw):
    """(N, C, H, W, kh, kw, stride, pad), with the kernel fitting the padded input."""
    kh = draw(st.integers(1, 4))
    kw = draw(st.integers(1, 4))
    pad = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 5))  # up to larger than the kernel
    # smallest sizes first: the kernel is then as large as the padded input
    h = draw(st.integers(max(1, kh - 2 * pad), max(1, kh - 2 * pad) + 5))
    w = draw(st.integers(max(1, kw - 2 * pad), max(1, kw - 2 * pad) + 5))
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    return n, c, h, w, kh, kw, stride, pad


def test_im2col_small_example_by_hand():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    cols = im2col(x, 2, 2)
    expected = np.array([[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]], dtype=float)
    np.testing.assert_array_equal(cols, expected)
    # padding 1, stride 2: windows start at -1 and 1, padding reads as 0
    cols = im2col(x, 2, 2, stride=2, pad=1)
    expected = np.array([[0, 0, 0, 0], [0, 0, 1, 2], [0, 3, 0, 6], [4, 5, 7, 8]], dtype=float)
    np.testing.assert_array_equal(cols, expected)


@given(geometry(), st.integers(0, 2**32 - 1))
@example((1, 1, 1, 1, 1, 1, 1, 0), 0)
@example((1, 2, 1, 2, 3, 4, 1, 1), 0)  # kernel exactly the padded input (3 = 1 + 2, 4 = 2 + 2)
@example((2, 1, 7, 7, 1, 3, 5, 0), 0)  # 1x3 kernel, stride larger than the kernel
def test_im2col_matches_index_arithmetic(geom, seed):
    n, c, h, w, kh, kw, stride, pad = geom
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    cols = im2col(x, kh, kw, stride, pad)
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    assert cols.shape == (n * oh * ow, c * kh * kw)
    np.testing.assert_array_equal(cols, im2col_direct(x, kh, kw, stride, pad))


@given(geometry(), st.integers(0, 2**32 - 1))
@example((1, 2, 1, 2, 3, 4, 1, 1), 1)
@example((1, 1, 6, 6, 2, 2, 4, 1), 1)
def test_col2im_is_adjoint_of_im2col(geom, seed):
    n, c, h, w, kh, kw, stride, pad = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    cols = im2col(x, kh, kw, stride, pad)
    c_mat = rng.standard_normal(cols.shape)
    back = col2im(c_mat, x.shape, kh, kw, stride, pad)
    assert back.shape == x.shape
    lhs = float(np.sum(cols * c_mat))
    rhs = float(np.sum(x * back))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs), abs(rhs))


@given(geometry())
def test_col2im_of_ones_counts_covering_patches(geom):
    n, c, h, w, kh, kw, stride, pad = geom
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    counts = to_numpy(col2im(np.ones((n * oh * ow, c * kh * kw)), (n, c, h, w), kh, kw,
                             stride, pad))
    expected = np.zeros((n, c, h, w))
    for a in range(oh):
        for b in range(ow):
            for i in range(kh):
                for j in range(kw):
                    hh, ww = a * stride + i - pad, b * stride + j - pad
                    if 0 <= hh < h and 0 <= ww < w:
                        expected[:, :, hh, ww] += 1
    np.testing.assert_array_equal(counts, expected)


def test_im2col_keeps_dtype():
    x = np.ones((1, 2, 4, 4), dtype=np.float32)
    assert im2col(x, 3, 3, pad=1).dtype == np.float32
    assert col2im(np.ones((16, 18), dtype=np.float32), x.shape, 3, 3, pad=1).dtype == np.float32


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.ones((2, 4, 4)), 2, 2), r"x must be 4-D.*\(N, C, H, W\)"),
        ((np.ones((1, 1, 4, 4)), 5, 2), r"larger than the padded input"),
        ((np.ones((1, 1, 4, 4)), 2, 7, 1, 1), r"larger than the padded input"),
        ((np.ones((1, 1, 4, 4)), 2, 2, 0), r"stride"),
        ((np.ones((1, 1, 4, 4)), 2, 2, 1, -1), r"pad"),
        ((np.ones((1, 1, 4, 4)), 0, 2), r"kh"),
    ],
)
def test_im2col_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        im2col(*args)


def test_col2im_bad_shape():
    with pytest.raises(ValueError, match=r"cols must have shape"):
        col2im(np.ones((8, 4)), (1, 1, 4, 4), 2, 2)
    with pytest.raises(ValueError, match=r"cols must be 2-D"):
        col2im(np.ones((9, 4, 1)), (1, 1, 4, 4), 2, 2)
