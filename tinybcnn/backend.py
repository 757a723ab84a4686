"""The array backend: NumPy on the CPU (default), CuPy on a GPU, or array_api_strict.

Every numerical function in tinybcnn takes its array namespace from its inputs
(``xp = xp_of(x)``, as Chainer does), so the same code runs on NumPy, on CuPy and on
``array_api_strict`` (the CI stand-in for CuPy). The *current backend* only decides where
new arrays are created: model parameters, data moved with :func:`to_backend`, and the
random generators of :mod:`tinybcnn.random`.

The backend is chosen, in order of precedence, by :func:`set_backend`, by the environment
variable ``TINYBCNN_BACKEND`` (``numpy``, ``cupy`` or ``array_api_strict``), or defaults to
``numpy``. Importing tinybcnn never imports CuPy; asking for ``cupy`` where CuPy or a GPU is
missing raises :class:`BackendError` with the fix in its message.

``array_api_strict`` is the CPU stand-in for CuPy: a namespace that is *not* NumPy, refuses
NumPy arrays and NumPy-only functions, and whose host conversions (``bool()``, ``float()``,
``np.asarray``) can be counted. Training and prediction run on it in CI exactly as they run on
CuPy (same code path, same random generator), so the bugs a GPU would show are caught there.

A model lives in one namespace (that of its parameters). Arrays of another namespace are
refused with a clear error (:func:`check_namespace`); NumPy data is moved explicitly, once,
with :func:`to_namespace` or :func:`to_backend`.
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
    "namespace_name",
    "to_namespace",
    "check_namespace",
    "NamespaceMismatch",
    "device_memory",
    "describe_cupy",
    "array_namespace",
    "numpy_dtype",
]

BACKENDS = ("numpy", "cupy", "array_api_strict")
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
            "backend 'cupy' needs CuPy, which is not installed: pip install "
            "'tinybcnn[gpu-cuda12]' or 'tinybcnn[gpu-cuda13]' (the CUDA version nvidia-smi "
            "shows), or use --backend numpy"
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


def _import_strict() -> ModuleType:
    try:
        import array_api_strict
    except ImportError as exc:
        raise BackendError("backend 'array_api_strict' needs the array-api-strict package: "
                           "pip install 'tinybcnn[dev]', or use --backend numpy") from exc
    return array_api_strict


def set_backend(name: str) -> None:
    """Choose where new arrays live: ``"numpy"`` (CPU), ``"cupy"`` (GPU) or
    ``"array_api_strict"`` (CPU, the CI stand-in for CuPy).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`BACKENDS`.
    BackendError
        If ``name == "cupy"`` and CuPy or a GPU is missing (or array_api_strict is missing).
    """
    global _current
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "cupy":
        _cupy_namespace(_import_cupy())   # both now, not at the first convolution
    elif name == "array_api_strict":
        _import_strict()
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
    """The array module of the current backend (``numpy``, ``cupy`` or ``array_api_strict``)."""
    name = get_backend()
    if name == "cupy":
        return _import_cupy()
    if name == "array_api_strict":
        return _import_strict()
    return np


def array_namespace(name: str | None = None) -> Any:
    """The array-API namespace of backend ``name`` (the current one by default).

    Unlike :func:`get_xp`, CuPy comes wrapped by ``array_api_compat`` (``device=`` keywords,
    ``astype`` as a function), the namespace :func:`xp_of` gives for CuPy arrays.
    """
    name = name or get_backend()
    if name == "numpy":
        return np
    if name == "cupy":
        return _cupy_namespace(_import_cupy())
    if name == "array_api_strict":
        return _import_strict()
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")


def _cupy_namespace(cupy: ModuleType) -> Any:
    """CuPy as an array-API namespace: ``array_api_compat.cupy`` (the ``gpu`` extras install it).

    Required, not optional: bare CuPy is no array-API namespace for tinybcnn's code. Its
    arrays have no ``__array_namespace__`` (none in ``cupy/`` at v14.2.0), and its creation
    functions take no ``device=`` (``cupy/_creation/basic.py``: ``empty``, ``zeros``,
    ``full``; ``cupy/_creation/ranges.py``: ``arange``), so the first convolution would die
    with ``TypeError: empty() got an unexpected keyword argument 'device'``.
    ``tests/device/test_cupy_double.py`` pins both on a CuPy-rules double.
    """
    try:
        import array_api_compat.cupy as compat_cupy
    except ImportError as exc:
        raise BackendError(
            "backend 'cupy' needs array-api-compat (CuPy alone is not an array-API "
            "namespace): pip install array-api-compat") from exc
    return compat_cupy


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
            import cupy

            return _cupy_namespace(cupy)
        if hasattr(a, "__array_namespace__"):
            return a.__array_namespace__()
    return np


def is_numpy(xp: Any) -> bool:
    """True if ``xp`` is the NumPy module (fast paths may use NumPy-only calls)."""
    return xp is np


def namespace_name(xp: Any) -> str:
    """``"numpy"``, ``"cupy"`` or ``"array_api_strict"`` for a namespace (else its module name).

    CuPy's namespace may be CuPy itself or ``array_api_compat.cupy``; both give ``"cupy"``.
    """
    if xp is np:
        return "numpy"
    name = getattr(xp, "__name__", type(xp).__name__)
    if "cupy" in name:
        return "cupy"
    return name.split(".")[0]


def to_numpy(a: Any) -> np.ndarray:
    """``a`` in host memory as a NumPy array (NumPy arrays are returned as they are, not copied).

    On a device this is a device-to-host copy, which waits for the device: keep it out of
    training steps and inner loops.
    """
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def _dtype_in(xp: Any, dtype: Any) -> Any:
    """``dtype`` (a NumPy dtype, a name, or already one of ``xp``'s) as a dtype of ``xp``."""
    if dtype is None or xp is np or namespace_name(xp) == "cupy":
        return dtype if dtype is None else np.dtype(dtype)
    if isinstance(dtype, (str, type, np.dtype)):
        return getattr(xp, np.dtype(dtype).name)
    return dtype  # already a dtype object of xp


def numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of any namespace's dtype (``array_api_strict.float32`` -> float32)."""
    try:
        return np.dtype(dtype)
    except TypeError:  # array_api_strict dtypes print as "array_api_strict.float32"
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def to_namespace(a: Any, xp: Any, dtype: Any = None) -> Any:
    """``a`` as an array of the namespace ``xp`` (and of ``dtype`` if given).

    An array already in ``xp`` is returned as it is (or cast); anything else goes through the
    host: a NumPy array or list is copied to ``xp``'s device, a device array of another
    namespace is first brought to the host. This is the explicit move; computations never
    mix namespaces silently (see :func:`check_namespace`).
    """
    dtype = _dtype_in(xp, dtype)
    source = xp_of(a)
    if isinstance(a, (list, tuple, int, float)) or namespace_name(source) != namespace_name(xp):
        host = to_numpy(a) if source is not np else np.asarray(a)
        a = xp.asarray(host)
    if dtype is not None and a.dtype != dtype:
        a = xp.astype(a, dtype) if hasattr(xp, "astype") else a.astype(dtype)
    return a


def to_backend(a: Any, dtype: Any = None) -> Any:
    """Move ``a`` to the current backend (and optionally cast it to ``dtype``)."""
    return to_namespace(a, get_xp(), dtype)


class NamespaceMismatch(TypeError):
    """An array of one namespace met a model or array of another (e.g. NumPy vs CuPy)."""


def check_namespace(a: Any, like: Any, what: str = "x", owner: str = "the model") -> None:
    """Raise :class:`NamespaceMismatch` unless ``a`` lives in the namespace of ``like``.

    Mixing namespaces either fails deep inside an operation (CuPy: "expected cupy ndarray,
    got numpy.ndarray") or, worse, copies silently between host and device on every call;
    this says which array is where and how to move it.
    """
    have, need = namespace_name(xp_of(a)), namespace_name(xp_of(like))
    if have != need:
        raise NamespaceMismatch(
            f"{what} is a {have} array but {owner} lives on {need}: move it there once "
            f"(tinybcnn.backend.to_backend or to_namespace) instead of mixing namespaces")


def device_memory() -> tuple[int, int] | None:
    """``(free, total)`` bytes of the current GPU, counting CuPy's pooled free blocks as free.

    ``None`` without CuPy or a GPU. CuPy keeps freed blocks in a memory pool instead of giving
    them back to the driver, so the driver's "free" alone understates what tinybcnn can use.
    """
    try:
        cupy = _import_cupy()
    except BackendError:
        return None
    free, total = cupy.cuda.Device().mem_info
    return int(free) + int(cupy.get_default_memory_pool().free_bytes()), int(total)


def describe_cupy() -> dict[str, Any]:
    """CuPy's version, the GPU's name and the CUDA runtime version, as ``tinybcnn info`` shows them.

    Never raises: without CuPy or a GPU, ``{"cupy": "not installed"}`` or
    ``{"cupy": "unavailable (<why>)"}``. :func:`tinybcnn.info.describe_gpu` adds the memory and
    MC prediction's budget.
    """
    out: dict[str, Any] = {}
    try:
        cupy = _import_cupy()
        out["cupy"] = cupy.__version__
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props.get("name", b"?")
        out["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        out["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    except Exception as exc:  # no CuPy, no driver, no GPU: info must still work
        out["cupy"] = ("not installed" if isinstance(exc.__cause__, ImportError)
                       else f"unavailable ({exc})")
    return out
