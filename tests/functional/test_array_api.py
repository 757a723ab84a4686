"""The functional core on array_api_strict (and CuPy where present) against NumPy.

array_api_strict implements the array API standard and nothing else: no ``np.add.at``, no
fancy-index assignment, no mixing with NumPy arrays, no implicit dtype promotion between
kinds, no ``__array_function__`` fallbacks. So the functions below running at all on it
proves that no NumPy-only call sneaked into the core; agreeing with NumPy on the same inputs
and the same injected masks proves they compute the same thing.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinybcnn.functional as F
from tinybcnn.backend import to_numpy
from tinybcnn.random import bernoulli_mask, make_rng


def _run(case, xp, inputs):
    """Run ``case`` on ``inputs`` moved to ``xp``; return its outputs as NumPy arrays."""
    moved = {k: (xp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in inputs.items()}
    outs = case(xp, **moved)
    for o in outs:
        assert type(o).__module__.split(".")[0] == xp.__name__.split(".")[0], (
            f"output of type {type(o)} is not a {xp.__name__} array"
        )
    return [to_numpy(o) for o in outs]


def _compare(case, xp, inputs, rtol=1e-12, atol=1e-12):
    ref = _run(case, np, inputs)
    got = _run(case, xp, inputs)
    assert len(ref) == len(got)
    for i, (r, g) in enumerate(zip(ref, got, strict=True)):
        assert g.shape == r.shape, f"output {i}: shape {g.shape} vs {r.shape}"
        assert g.dtype == r.dtype, f"output {i}: dtype {g.dtype} vs {r.dtype}"
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol, err_msg=f"output {i}")


RNG = np.random.default_rng(0)


def _normal(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


# --- im2col / conv -------------------------------------------------------------------------

CONV_GEOMS = [
    # (N, C_in, C_out, H, W, kh, kw, stride, pad)
    (2, 3, 4, 6, 5, 3, 3, 1, 1),
    (1, 2, 3, 7, 7, 2, 3, 2, 0),
    (2, 1, 2, 5, 4, 1, 4, 3, 2),
]


@pytest.mark.parametrize("geom", CONV_GEOMS)
def test_im2col_col2im(other_xp, geom):
    n, c_in, _, h, w, kh, kw, stride, pad = geom
    oh, ow = F.conv_output_shape(h, w, kh, kw, stride, pad)

    def case(xp, x, cols):
        return [F.im2col(x, kh, kw, stride, pad), F.col2im(cols, x.shape, kh, kw, stride, pad)]

    _compare(case, other_xp, {"x": _normal(n, c_in, h, w),
                              "cols": _normal(n * oh * ow, c_in * kh * kw)})


@pytest.mark.parametrize("geom", CONV_GEOMS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d(other_xp, geom, masked, dtype):
    n, c_in, c_out, h, w, kh, kw, stride, pad = geom
    oh, ow = F.conv_output_shape(h, w, kh, kw, stride, pad)
    mask = bernoulli_mask(make_rng(1, backend="numpy"), (n * oh * ow, c_out), 0.5, dtype=dtype)

    def case(xp, x, W, b, dy, mask):
        y, cache = F.conv2d_forward(x, W, b, stride, pad, mask=mask if masked else None)
        return [y, *F.conv2d_backward(dy, cache)]

    tol = 1e-12 if dtype == np.float64 else 1e-5
    _compare(case, other_xp, {
        "x": _normal(n, c_in, h, w, dtype=dtype), "W": _normal(c_out, c_in, kh, kw, dtype=dtype),
        "b": _normal(c_out, dtype=dtype), "dy": _normal(n, c_out, oh, ow, dtype=dtype),
        "mask": mask}, rtol=tol, atol=tol)


# --- pooling -------------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "stride"), [(2, None), (3, 1), (2, 3), (3, 2)])
@pytest.mark.parametrize("ties", [False, True])
def test_pooling(other_xp, size, stride, ties):
    x = (RNG.integers(0, 3, (2, 3, 7, 8)).astype(np.float64) if ties else _normal(2, 3, 7, 8))
    oh, ow = F.conv_output_shape(7, 8, size, size, stride or size, 0)

    def case(xp, x, dy):
        y_max, c_max = F.maxpool2d_forward(x, size, stride)
        y_avg, c_avg = F.avgpool2d_forward(x, size, stride)
        return [y_max, F.maxpool2d_backward(dy, c_max), y_avg, F.avgpool2d_backward(dy, c_avg)]

    _compare(case, other_xp, {"x": x, "dy": _normal(2, 3, oh, ow)})


# --- dense, relu, losses -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_and_relu(other_xp, dtype):
    def case(xp, x, W, b, dy):
        h, c_dense = F.dense_forward(x, W, b)
        a, c_relu = F.relu_forward(h)
        da = F.relu_backward(dy, c_relu)
        return [h, a, da, *F.dense_backward(da, c_dense)]

    tol = 1e-12 if dtype == np.float64 else 1e-5
    _compare(case, other_xp, {"x": _normal(5, 7, dtype=dtype), "W": _normal(7, 4, dtype=dtype),
                              "b": _normal(4, dtype=dtype), "dy": _normal(5, 4, dtype=dtype)},
             rtol=tol, atol=tol)


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_softmax_cross_entropy(other_xp, scale):
    def case(xp, z, labels):
        loss, cache = F.softmax_cross_entropy_forward(z, labels)
        return [F.softmax(z), F.log_softmax(z), loss,
                F.softmax_cross_entropy_backward(1.0, cache)]

    _compare(case, other_xp, {"z": _normal(6, 5) * scale,
                              "labels": RNG.integers(0, 5, 6)})


def test_gaussian_nll(other_xp):
    def case(xp, pred, target):
        loss, cache = F.gaussian_nll_forward(pred, target, 2.5)
        return [loss, F.gaussian_nll_backward(1.0, cache)]

    _compare(case, other_xp, {"pred": _normal(8, 2), "target": _normal(8, 2)})


# --- dropout -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_injected_mask_and_patch_layout(other_xp, dtype):
    mask = bernoulli_mask(make_rng(3, backend="numpy"), (2 * 3 * 4, 5), 0.3, dtype=dtype)

    def case(xp, x, mask, dy):
        nchw = F.patch_mask_to_nchw(mask, 2, 3, 4)
        y, cache = F.dropout_forward(x, 0.3, mask=nchw)
        return [nchw, F.nchw_mask_to_patch(nchw), y, F.dropout_backward(dy, cache)]

    _compare(case, other_xp, {"x": _normal(2, 5, 3, 4, dtype=dtype), "mask": mask,
                              "dy": _normal(2, 5, 3, 4, dtype=dtype)})


def test_dropout_with_rng_on_array_api_strict_draws_on_the_device():
    # on array_api_strict (CuPy's stand-in) the mask comes from the counter generator running
    # in array_api_strict itself: an array of that namespace, the same for the same seed, and
    # equal to the SplitMix64 words computed on the host with Python integers
    xps = pytest.importorskip("array_api_strict")
    from tinybcnn.random import CounterRNG, splitmix64

    x = _normal(4, 6).astype(np.float32)
    y1, c1 = F.dropout_forward(xps.asarray(x), 0.5, rng=make_rng(11, like=xps.asarray(x)))
    y2, c2 = F.dropout_forward(xps.asarray(x), 0.5, rng=make_rng(11, like=xps.asarray(x)))
    assert type(y1).__module__.startswith("array_api_strict")
    assert type(c1["mask"]).__module__.startswith("array_api_strict")
    np.testing.assert_array_equal(to_numpy(c1["mask"]), to_numpy(c2["mask"]))
    key = CounterRNG(11, xps).key
    words = [splitmix64(key + i * 0x9E3779B97F4A7C15) >> 32 for i in range(x.size)]
    expected = (np.array(words, dtype=np.uint64) < 2**31).reshape(x.shape) * 2.0
    np.testing.assert_array_equal(to_numpy(c1["mask"]), expected.astype(np.float32))
    np.testing.assert_array_equal(to_numpy(y1), x * expected.astype(np.float32))


def test_numpy_generator_is_refused_for_device_arrays():
    # drawing on the host and copying every mask is the slow path the GPU run showed: refused
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="NumPy generator cannot draw masks for array_api_strict"):
        F.dropout_forward(xps.ones((2, 3)), 0.5, rng=make_rng(11, backend="numpy"))
