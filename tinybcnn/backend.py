"""The array backend: NumPy on the CPU (default) or CuPy on a GPU.

Every numerical function in tinybcnn takes its array namespace from its inputs
(``xp = xp_of(x)``, as Chainer does), so the same code runs on NumPy, on CuPy and on
``array_api_strict`` (the CI stand-in for CuPy). The *current backend* only decides where
new arrays are created: model parameters, data moved with :func:`to_backend`, and the
random generators of :mod:`tinybcnn.random`.

The backend is chosen, in order of precedence, by :func:`set_backend`, by the environment
variable ``TINYBCNN_BACKEND`` (``numpy`` or ``cupy``), or defaults to ``numpy``. Importing
tinybcnn never imports CuPy; asking for ``cupy`` where CuPy or a GPU is missing raises
:class:`BackendError` with the fix in its message.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "BackendError",
    "BACKENDS",
    "set_backend",
    "get_backend",
    "get_xp",
    "xp_of",
    "to_numpy",
    "to_backend",
    "is_numpy",
]

BACKENDS = ("numpy", "cupy")
_ENV_VAR = "TINYBCNN_BACKEND"
_current: str | None = None  # None: not chosen yet, read the environment on first use


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


def _import_cupy() -> ModuleType:
    """Import CuPy and check that it sees a GPU, or raise one clear error naming the fix."""
    try:
        import cupy
    except ImportError as exc:
        raise BackendError(
            "backend 'cupy' needs CuPy, which is not installed: "
            "pip install 'tinybcnn[gpu]' (CUDA 12) or the cupy-cudaXXx wheel for your CUDA, "
            "or use --backend numpy"
        ) from exc
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own types
        raise BackendError(
            f"backend 'cupy' found CuPy but no usable GPU ({exc}); "
            "check the NVIDIA driver (nvidia-smi) or use --backend numpy"
        ) from exc
    if n_gpus < 1:
        raise BackendError("backend 'cupy' found CuPy but no GPU; use --backend numpy")
    return cupy


def set_backend(name: str) -> None:
    """Choose where new arrays live: ``"numpy"`` (CPU) or ``"cupy"`` (GPU).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`BACKENDS`.
    BackendError
        If ``name == "cupy"`` and CuPy or a GPU is missing.
    """
    global _current
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "cupy":
        _import_cupy()
    _current = name


def get_backend() -> str:
    """Name of the current backend, reading ``TINYBCNN_BACKEND`` the first time."""
    global _current
    if _current is None:
        name = os.environ.get(_ENV_VAR, "numpy").strip().lower() or "numpy"
        if name not in BACKENDS:
            raise ValueError(f"{_ENV_VAR} must be one of {BACKENDS}, got {name!r}")
        set_backend(name)
    assert _current is not None
    return _current


def get_xp() -> ModuleType:
    """The array module of the current backend (``numpy`` or ``cupy``)."""
    return _import_cupy() if get_backend() == "cupy" else np


def xp_of(*arrays: Any) -> Any:
    """The array namespace of ``arrays`` (NumPy unless one of them says otherwise).

    NumPy arrays give the ``numpy`` module itself (fast, and array-API compatible since
    NumPy 2); other arrays give their own ``__array_namespace__()``, through
    ``array_api_compat`` for CuPy. Python scalars and ``None`` are ignored.
    """
    for a in arrays:
        if a is None or isinstance(a, (np.ndarray, np.generic, int, float, bool)):
            continue
        if type(a).__module__.startswith("cupy"):
            import array_api_compat

            return array_api_compat.array_namespace(a)
        if hasattr(a, "__array_namespace__"):
            return a.__array_namespace__()
    return np


def is_numpy(xp: Any) -> bool:
    """True if ``xp`` is the NumPy module (fast paths may use NumPy-only calls)."""
    return xp is np


def to_numpy(a: Any) -> np.ndarray:
    """``a`` in host memory as a NumPy array (NumPy arrays are returned as they are, not copied)."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def to_backend(a: Any, dtype: Any = None) -> Any:
    """Move ``a`` to the current backend (and optionally cast it to ``dtype``)."""
    xp = get_xp()
    out = xp.asarray(to_numpy(a) if xp is np else a)
    if dtype is not None and out.dtype != dtype:
        out = out.astype(dtype)
    return out
