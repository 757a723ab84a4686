"""Fast twin of dropout: the same mask, multiplied in the input's memory order.

:func:`dropout_forward_fast` draws exactly the mask :func:`~tinybcnn.functional.dropout_forward`
draws (same seed, same numbers: :func:`tinybcnn.random.bernoulli_mask` in logical C order of
``x.shape``) and returns the same ``y`` bit for bit. Only the memory order differs: a conv
output is an NCHW view of channels-last memory (``docs/architecture.md``), and the product
should come out in that memory order too, so that the pooling after it and the conv backward
before it read it as a view. How depends on the namespace:

* NumPy's ufuncs write their result in their inputs' memory order, and multiplying by a
  C-ordered mask would stride across memory in the forward *and* the backward pass; so the
  mask is copied once into ``x``'s memory order (on LeNet's conv1 output, batch 64, 2 cores,
  the copy costs about 0.3 ms and saves about 0.5 ms per product).
* CuPy's elementwise kernels always write a C-contiguous result in the *logical* order of
  their operands (``cupy/_core/_kernel.pyx``), so that copy would buy nothing (it was two
  pure-waste copies per LeNet step); instead the product is taken between channels-last
  views of both operands (``permute_dims``, no copy), which makes the result channels-last
  memory. The backward's product then reaches the conv backward as a view of its patch
  layout, not as an NCHW array it must copy.
"""

from __future__ import annotations

from typing import Any

from ...backend import is_numpy, xp_of
from ...random import bernoulli_mask
from ..checks import check_same_dtype, check_shape
from ..dropout import check_dropout_input, dropout_backward, dropout_forward

__all__ = ["dropout_forward_fast", "dropout_backward_fast"]


def dropout_forward_fast(x: Any, p: float, rng: Any = None, mask: Any = None) -> tuple[Any, dict]:
    """:func:`~tinybcnn.functional.dropout_forward`, the product in ``x``'s memory order.

    Returns ``y = x ⊙ mask`` (shape of ``x``) and ``cache["mask"]``, equal elementwise to the
    textbook function's for the same ``rng`` state or injected mask.
    """
    p = check_dropout_input(x, p)
    xp = xp_of(x)
    if mask is None and rng is not None and p > 0:
        # the textbook draw, in logical C order
        mask = bernoulli_mask(rng, tuple(x.shape), p, dtype=x.dtype, xp=xp)
        order = memory_order(x)
        if is_numpy(xp) and order != tuple(range(x.ndim)):
            mask = like_memory_order(mask, order)      # NumPy: see the module's docstring
    if is_numpy(xp) or mask is None:
        return dropout_forward(x, p, mask=mask)
    check_shape(mask, tuple(x.shape), "mask", "the shape of x")      # the textbook's checks
    check_same_dtype(x=x, mask=mask)
    return in_memory_order_of(x, lambda a, m: a * m, x, mask), {"mask": mask}


def dropout_backward_fast(dy: Any, cache: dict) -> Any:
    """:func:`~tinybcnn.functional.dropout_backward` (``dy ⊙ mask``), in ``dy``'s memory order."""
    mask = cache["mask"]
    if mask is None or is_numpy(xp_of(dy)):
        return dropout_backward(dy, cache)        # NumPy: the mask is laid out like dy
    return in_memory_order_of(dy, lambda a, m: a * m, dy, mask)


def in_memory_order_of(like: Any, f: Any, *arrays: Any) -> Any:
    """``f(*arrays)`` computed on views of the arrays in ``like``'s memory order, returned in
    the logical order: a namespace whose results are C-ordered in their operands' logical
    order (CuPy) then writes the result in ``like``'s memory order."""
    order = memory_order(like)
    if order == tuple(range(like.ndim)):
        return f(*arrays)
    xp = xp_of(like)
    inverse = tuple(order.index(k) for k in range(like.ndim))
    return xp.permute_dims(f(*(xp.permute_dims(a, order) for a in arrays)), inverse)


def memory_order(x: Any) -> tuple[int, ...]:
    """Axes of ``x`` from the slowest- to the fastest-varying in memory (NumPy/CuPy strides).

    Arrays without strides (``array_api_strict``) are taken to be C-contiguous.
    """
    strides = getattr(x, "strides", None)
    if strides is None:
        return tuple(range(x.ndim))
    return tuple(sorted(range(x.ndim), key=lambda k: -abs(strides[k])))


def like_memory_order(a: Any, order: tuple[int, ...]) -> Any:
    """A copy of ``a`` (same shape and values) whose memory runs through the axes in ``order``."""
    xp = xp_of(a)
    out = xp.empty(tuple(a.shape[k] for k in order), dtype=a.dtype, device=a.device)
    out[...] = xp.permute_dims(a, order)
    inverse = tuple(order.index(k) for k in range(a.ndim))
    return xp.permute_dims(out, inverse)
