"""Fused elementwise operations: one CUDA kernel on CuPy, a plain-array twin everywhere else.

On a GPU a small network is launch-bound (``docs/backend.md``, "Launches per step"): an
elementwise formula written as array operations costs one kernel launch per operation. An
:class:`Elementwise` holds the same formula twice:

* ``body``, a few lines of CUDA C++ for :class:`cupy.ElementwiseKernel` (built once per
  operation, compiled once per device and dtype by CuPy), run on real CuPy as ONE launch;
* ``twin``, the plain array-API code of the same formula, run on NumPy, ``array_api_strict``
  (the CI stand-in for CuPy) and the CuPy-rules test double, so every CPU number stays what
  it was, bit for bit.

The two are checked against each other on the CPU by compiling ``body`` with the system C++
compiler (``tests/device/test_fused_mask_kernel.py``) and on a GPU by running both
(``tests/device/test_fused_on_gpu.py``). ``benchmarks/count_launches.py`` counts a call as
one operation whichever runs, since it is one launch on CuPy.

The textbook path never uses this: it is the fast path's tool (the dropout masks of
:class:`tinybcnn.random.CounterRNG`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Elementwise", "cupy_kernel_class"]


def cupy_kernel_class(xp: Any) -> Any:
    """``cupy.ElementwiseKernel`` when ``xp`` is CuPy's namespace and CuPy has it, else None
    (NumPy, ``array_api_strict``, and the CuPy-rules test double, which models no kernels).

    CuPy's namespace is ``cupy`` or ``array_api_compat.cupy``, as
    :func:`tinybcnn.backend.namespace_name` says (not imported: this module stands on the
    backend's floor, below the generators that use it)."""
    if "cupy" not in getattr(xp, "__name__", ""):
        return None
    import cupy

    return getattr(cupy, "ElementwiseKernel", None)


class Elementwise:
    """An elementwise operation with one output: a CuPy kernel and its CPU twin.

    Parameters
    ----------
    name : str
        The kernel's name (a C identifier; profilers show it).
    in_params : str
        ``cupy.ElementwiseKernel``'s input list, e.g. ``"uint64 key, T scale"``: a fixed
        type (``uint64``, ``bool``, ``float32``, ...) or ``T``, bound to the output's dtype.
    out_params : str
        The one output, e.g. ``"T mask"``.
    body : str
        CUDA C++ run for each element index ``i`` (a ``ptrdiff_t``), reading the inputs by
        name and assigning the output.
    twin : callable
        ``twin(xp, device, shape, dtype, *args)``: the same values as array operations on
        ``xp``, for the same ``args``.

    Notes
    -----
    ``op(xp, device, shape, dtype, *args)`` returns an array of ``shape`` and ``dtype``. On
    CuPy the output is allocated (``empty``: no kernel) and passed last, so ``T`` is bound
    by it and the launch size is its size; ``args`` may be Python scalars (CuPy casts each
    to its parameter's type, as NumPy's assignment casting does) or arrays broadcastable
    to ``shape``.
    """

    def __init__(self, name: str, in_params: str, out_params: str, body: str,
                 twin: Callable[..., Any]) -> None:
        self.name, self.in_params, self.out_params = name, in_params, out_params
        self.body, self.twin = body, twin
        self._kernels: dict[Any, Any] = {}    # by kernel class: built once each

    def __call__(self, xp: Any, device: Any, shape: tuple[int, ...], dtype: Any,
                 *args: Any) -> Any:
        kernel_class = cupy_kernel_class(xp)
        if kernel_class is None:
            return self.twin(xp, device, shape, dtype, *args)
        kernel = self._kernels.get(kernel_class)
        if kernel is None:
            kernel = self._kernels[kernel_class] = kernel_class(
                self.in_params, self.out_params, self.body, name=self.name)
        out = xp.empty(shape, dtype=dtype, device=device)
        return kernel(*args, out)

    def __repr__(self) -> str:
        return f"Elementwise({self.name!r}: {self.in_params} -> {self.out_params})"
