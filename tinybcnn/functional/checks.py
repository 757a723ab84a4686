"""Input validation shared by the functional core: one clear ValueError per mistake.

Public, so that the layers above check their arguments the same way: :func:`positive_int` is
the package's one check of a count, a size or a seed.
"""

from __future__ import annotations

import operator
from typing import Any

__all__ = ["positive_int", "check_ndim", "check_shape", "check_same_dtype", "output_size"]


def check_ndim(a: Any, ndim: int, name: str, layout: str) -> None:
    """Raise ValueError unless ``a`` has ``ndim`` dimensions (``layout`` names them).

    Anything that is not an array (a nested list, say) is a TypeError that says so.
    """
    if not hasattr(a, "ndim") or not hasattr(a, "shape"):
        raise TypeError(f"{name} must be an array with shape {layout}, got {type(a).__name__}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D with shape {layout}, got shape {tuple(a.shape)}")


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer ``>= minimum``, else raise ValueError.

    An integer is a Python or NumPy integer (anything with ``__index__``), not a bool and not
    a float: ``2.0`` is refused, since a count that arrives as a float was computed wrongly.
    """
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number


def check_shape(a: Any, shape: tuple[int, ...], name: str, layout: str) -> None:
    """Raise ValueError unless ``a.shape == shape`` (``layout`` names the axes)."""
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {layout} = {tuple(shape)}, got {tuple(a.shape)}")


def output_size(size: int, k: int, stride: int, pad: int, what: str) -> int:
    """Number of window positions along one axis: ``(size + 2 pad - k) // stride + 1``."""
    if k > size + 2 * pad:
        raise ValueError(
            f"kernel {what} {k} is larger than the padded input {what} {size} + 2*{pad}"
        )
    return (size + 2 * pad - k) // stride + 1


def check_same_dtype(**arrays: Any) -> None:
    """Raise ValueError if the arrays differ in dtype (no silent float64 upcasts)."""
    named = [(k, a) for k, a in arrays.items() if a is not None]
    first_name, first = named[0]
    for name, a in named[1:]:
        if a.dtype != first.dtype:
            raise ValueError(
                f"{name} has dtype {a.dtype} but {first_name} has dtype {first.dtype}; "
                "cast them to one floating dtype"
            )
