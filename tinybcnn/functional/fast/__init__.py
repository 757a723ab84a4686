"""The fast twins of the textbook functions: what the layers in :mod:`tinybcnn.nn` run.

Every function here computes what its textbook twin in :mod:`tinybcnn.functional` computes
(its docstring says how, in those terms), in a memory order chosen for speed. Read the
textbook functions to learn the method; read these to learn where the time goes. Each is
tested directly against its twin and against the loops of :mod:`tinybcnn.functional.reference`
(``tests/functional/test_fast.py``). ``docs/architecture.md`` states the layout contract between
them.

=====================================  ============================================
fast                                   textbook
=====================================  ============================================
:func:`im2col_ijc`, :func:`col2im_ijc`   ``im2col``, ``col2im`` (columns permuted)
:func:`conv2d_forward_fast`            ``conv2d_forward``
:func:`conv2d_backward_fast`           ``conv2d_backward``
:func:`maxpool2d_forward_fast`         ``maxpool2d_forward``
:func:`maxpool2d_backward_fast`        ``maxpool2d_backward``
:func:`dropout_forward_fast`           ``dropout_forward``
:func:`dropout_backward_fast`          ``dropout_backward``
:func:`softmax_cross_entropy_fast`     ``softmax_cross_entropy_forward`` and ``_backward``
:func:`dense_forward_fast`             ``dense_forward``
:func:`dense_backward_fast`            ``dense_backward``
=====================================  ============================================
"""

from .conv import conv2d_backward_fast, conv2d_forward_fast
from .dense import dense_backward_fast, dense_forward_fast, join_weights, joined_weights
from .dropout import dropout_backward_fast, dropout_forward_fast
from .im2col import col2im_ijc, im2col_ijc
from .losses import softmax_cross_entropy_fast
from .pool import maxpool2d_backward_fast, maxpool2d_forward_fast

__all__ = [
    "im2col_ijc", "col2im_ijc", "conv2d_forward_fast", "conv2d_backward_fast",
    "maxpool2d_forward_fast", "maxpool2d_backward_fast",
    "dropout_forward_fast", "dropout_backward_fast", "softmax_cross_entropy_fast",
    "dense_forward_fast", "dense_backward_fast", "join_weights", "joined_weights",
]
