"""The functional core: pure forward/backward functions written by hand.

Every forward is ``f_forward(...) -> (y, cache)`` and every backward
``f_backward(dy, cache) -> grads``; the array namespace comes from the inputs, so the same
functions run on NumPy, CuPy and ``array_api_strict``.

The names exported here are the *textbook* functions, the ones the docs and tutorials show.
The layers of :mod:`tinybcnn.nn` run their fast twins in :mod:`tinybcnn.functional.fast`, which
compute the same in a memory order chosen for speed (``docs/architecture.md``), and
:mod:`tinybcnn.functional.reference` holds the direct loops both are tested against.
:mod:`tinybcnn.functional.checks` holds the argument checks (public, so the layers above check
counts and sizes the same way).
"""

from .activations import log_softmax, relu_backward, relu_forward, softmax
from .conv import conv2d_backward, conv2d_forward
from .dense import dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward, nchw_mask_to_patch, patch_mask_to_nchw
from .im2col import col2im, conv_output_shape, im2col
from .losses import (
    gaussian_nll_backward,
    gaussian_nll_forward,
    one_hot,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from .pool import avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward

__all__ = [
    "im2col", "col2im", "conv_output_shape",
    "conv2d_forward", "conv2d_backward",
    "maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward",
    "dense_forward", "dense_backward",
    "relu_forward", "relu_backward", "softmax", "log_softmax",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "gaussian_nll_forward", "gaussian_nll_backward", "one_hot",
    "dropout_forward", "dropout_backward", "patch_mask_to_nchw", "nchw_mask_to_patch",
]
