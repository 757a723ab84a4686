"""The functional core reads nothing back to the host (docs/architecture.md, layout contract).

On a GPU a ``bool()``, ``int()``, ``float()`` or ``.item()`` of an array waits for the device.
array_api_strict stands in for CuPy: its arrays are patched to fail on any such read, and every
forward and backward of the core, textbook and fast, runs under the patch.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinybcnn.functional as F
from tinybcnn.functional import fast
from tinybcnn.random import make_rng

xps = pytest.importorskip("array_api_strict")


@pytest.fixture
def no_host_reads(monkeypatch):
    def refuse(self, *args):
        raise AssertionError("host synchronisation: an array was read back to the host")

    array_type = type(xps.asarray(0.0))
    for name in ("__bool__", "__int__", "__float__", "__index__", "__complex__", "item",
                 "tolist"):
        if hasattr(array_type, name):
            monkeypatch.setattr(array_type, name, refuse)


def _a(*shape, seed=0):
    return xps.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("conv_fwd, conv_bwd, pool_fwd, pool_bwd, drop_fwd, drop_bwd", [
    (F.conv2d_forward, F.conv2d_backward, F.maxpool2d_forward, F.maxpool2d_backward,
     F.dropout_forward, F.dropout_backward),
    (fast.conv2d_forward_fast, fast.conv2d_backward_fast, fast.maxpool2d_forward_fast,
     fast.maxpool2d_backward_fast, fast.dropout_forward_fast, fast.dropout_backward_fast),
], ids=["textbook", "fast"])
def test_a_lenet_like_forward_and_backward_reads_nothing_back(
        no_host_reads, conv_fwd, conv_bwd, pool_fwd, pool_bwd, drop_fwd, drop_bwd):
    x = _a(2, 3, 12, 12)
    W, b = _a(8, 3, 5, 5, seed=1), _a(8, seed=2)
    y, c_conv = conv_fwd(x, W, b)                                   # (2, 8, 8, 8)
    y, c_drop = drop_fwd(y, 0.5, rng=make_rng(0, like=y))
    y, c_pool = pool_fwd(y, 2)                                      # (2, 8, 4, 4)
    y2, c_pool3 = pool_fwd(y, 3, 1)                                 # overlapping windows
    h = xps.reshape(y, (2, -1))
    h, c_dense = F.dense_forward(h, _a(128, 10, seed=3), _a(10, seed=4))
    h, c_relu = F.relu_forward(h)
    loss, c_loss = F.softmax_cross_entropy_forward(h, xps.asarray(np.array([1, 7])))
    dh = F.relu_backward(F.softmax_cross_entropy_backward(1.0, c_loss), c_relu)
    dflat, dW_dense, _ = F.dense_backward(dh, c_dense)
    pool_bwd(xps.ones_like(y2), c_pool3)
    dy = pool_bwd(xps.reshape(dflat, (2, 8, 4, 4)), c_pool)
    dx, dW, db = conv_bwd(drop_bwd(dy, c_drop), c_conv)
    assert dx.shape == x.shape and dW.shape == W.shape and db.shape == b.shape


def test_device_labels_are_checked_without_a_host_read(no_host_reads):
    # an out-of-range device label must not be read back to raise (its NaN is checked below)
    loss, _ = F.softmax_cross_entropy_forward(_a(3, 4), xps.asarray(np.array([0, 4, 1])))
    assert loss.shape == ()


def test_device_labels_out_of_range_give_nan_and_host_labels_raise():
    logits = _a(3, 4)
    loss, _ = F.softmax_cross_entropy_forward(logits, xps.asarray(np.array([0, 4, 1])))
    assert np.isnan(float(loss))
    loss, _ = F.softmax_cross_entropy_forward(logits, xps.asarray(np.array([0, 3, 1])))
    assert np.isfinite(float(loss))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        F.softmax_cross_entropy_forward(logits, np.array([0, -1, 1]))
