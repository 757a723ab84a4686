"""A test-only double of CuPy 14.2's rules, over NumPy: what array_api_strict cannot show.

array_api_strict stands in for CuPy in CI, but it is not CuPy: it has ``__array_namespace__``,
takes ``device=`` everywhere and has no cuBLAS. This module is a fake ``cupy`` package (with
``cupy.cuda``, ``cupy.linalg``, ``cupy.fft``) whose arrays hold NumPy arrays and follow the
CuPy rules that tinybcnn's code meets. Each rule names the line of CuPy v14.2.0 it copies:

1. ``cupy.ndarray`` has no ``__array_namespace__`` (no such name anywhere in ``cupy/`` at
   v14.2.0); array_api_compat supplies the namespace.
2. Creation functions take no ``device=`` (``cupy/_creation/basic.py``: ``empty``, ``zeros``,
   ``ones``, ``full``, ``*_like``; ``cupy/_creation/ranges.py``: ``arange``;
   ``cupy/_creation/from_data.py``: ``asarray``).
3. No implicit conversion to NumPy: ``cupy/_core/core.pyx``, ``_ndarray_base.__array__``
   raises ``TypeError('Implicit conversion to a NumPy array is not allowed. ...')``;
   ``.get()`` is the explicit copy.
4. A NumPy array met in a kernel is refused: ``cupy/_core/_kernel.pyx``, ``_preprocess_arg``
   wraps non-CuPy arguments in ``_scalar.CScalar``, whose ``cupy/_core/_scalar.pyx`` raises
   ``TypeError(f'Unsupported type {type(value)}')``.
5. Ufunc results are freshly allocated C-contiguous arrays: ``cupy/_core/_kernel.pyx``,
   ``_get_out_args_from_optionals`` calls ``_ndarray_init(subtype, out_shape, ...)``.
6. No cuBLAS call during stream capture: ``cupy_backends/cuda/libs/cublas.pyx``,
   ``setStream`` raises ``NotImplementedError('calling cuBLAS API during stream capture is
   currently unsupported')`` when ``runtime.streamIsCapturing(stream)`` (CuPy issue #6290).
   Every GEMM here (``@``, ``matmul``, ``dot``, ``tensordot``) checks the fake stream.

7. No ``__index__`` (none in ``cupy/_core/core.pyx``): a device array is not a Python
   index. ``__int__``, ``__float__``, ``__complex__``, ``__repr__``, ``__str__`` and
   ``__format__`` all call ``self.get()`` (``core.pyx``, "Conversion" and "String
   representations"): each is a device-to-host read, counted (:func:`counting`).
8. ``__array_ufunc__`` and ``__array_function__`` hand NumPy's functions to CuPy's of the same
   name (``core.pyx``); a NumPy array operand is then refused by rule 4.
9. NumPy (or list) indices are copied to the device (``_routines_indexing.pyx``,
   ``_prepare_slice_list``: ``core.array(s)``), counted as host-to-device copies; assigning a
   NumPy array to a basic slice raises ``ValueError`` (``_scatter_op``: a non-CuPy value goes
   to ``fill``, "Refuse assignment from CPU arrays, see gh-2079").
10. ``asarray``/``array`` of host data is a host-to-device copy (counted) into a C-contiguous
    array.

Reductions return 0-d arrays, as CuPy's do. A GPU adds in another order than NumPy (cuBLAS
tiles and split-K, CUB's tree reductions); :func:`summation` makes the double's GEMMs and
``sum``/``mean`` do the same: terms in reverse, in a random order, or split in two halves.
Use :func:`installed` (a context manager) to
put the double in ``sys.modules`` as ``cupy``; ``array_api_compat.cupy`` is then imported
afresh over it and wraps it the way it wraps real CuPy (``from cupy import *`` plus
``device=``-taking aliases). Everything is removed again on exit.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

CAPTURE_ERROR = "calling cuBLAS API during stream capture is currently unsupported"


# ---------------------------------------------------------------------------------------
# cupy.cuda: one device, streams that can pretend to capture
# ---------------------------------------------------------------------------------------

class Device:
    """``cupy.cuda.Device``: device 0, a context manager, ``mem_info``."""

    mem_info = (8 * 2**30, 16 * 2**30)

    def __init__(self, device: Any = None) -> None:
        self.id = 0

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Device)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<CUDA Device 0>"


class Stream:
    """``cupy.cuda.Stream`` with ``begin_capture``/``end_capture`` that only set a flag."""

    _current: Stream | None = None

    def __init__(self, non_blocking: bool = False) -> None:
        self.capturing = False
        self.ptr = id(self)

    def begin_capture(self, mode: Any = None) -> None:
        self.capturing = True

    def end_capture(self) -> object:
        self.capturing = False
        return object()

    def is_capturing(self) -> bool:
        return self.capturing

    def __enter__(self) -> Stream:
        self._previous, Stream._current = Stream._current, self
        return self

    def __exit__(self, *exc: Any) -> None:
        Stream._current = self._previous


_NULL_STREAM = Stream()


def get_current_stream() -> Stream:
    return Stream._current or _NULL_STREAM


# ---------------------------------------------------------------------------------------
# counted transfers: every device-to-host read and host-to-device copy
# ---------------------------------------------------------------------------------------

_READS: list[str] = []        # what read the device (get, __float__, __repr__, ...)
_COPIES: list[int] = []       # bytes of each host-to-device copy
_DEVICE_COPIES: list[str] = []   # "what bytes" of each device-to-device copy (a kernel)


class Counts:
    """Reads and copies since this object was made (:func:`counting`)."""

    def __init__(self) -> None:
        self._reads, self._copies = len(_READS), len(_COPIES)
        self._device_copies = len(_DEVICE_COPIES)

    @property
    def reads(self) -> int:
        """Device-to-host reads (each one waits for the device)."""
        return len(_READS) - self._reads

    @property
    def read_by(self) -> list[str]:
        return _READS[self._reads:]

    @property
    def copies(self) -> list[int]:
        """Bytes of each host-to-device copy."""
        return _COPIES[self._copies:]

    @property
    def device_copies(self) -> list[str]:
        """Each device-to-device copy: a ``reshape`` that cannot be a view (CuPy's
        ``_reshape`` then calls ``copy()``, ``cupy/_core/_routines_manipulation.pyx``),
        ``copy``, ``ascontiguousarray`` and array-valued ``__setitem__`` (an elementwise
        copy kernel), as ``"what nbytes"``."""
        return _DEVICE_COPIES[self._device_copies:]

    def __repr__(self) -> str:
        return (f"Counts(reads={self.read_by}, copies={self.copies}, "
                f"device_copies={self.device_copies})")


def counting() -> Counts:
    """Start counting reads and copies: ``c = counting(); ...; c.reads, c.copies``."""
    return Counts()


def _read(what: str) -> None:
    _READS.append(what)


def _device_copy(what: str, a: np.ndarray) -> None:
    _DEVICE_COPIES.append(f"{what} {a.nbytes}")


def _reshape(a: np.ndarray, *shape: Any, **kwargs: Any) -> np.ndarray:
    """NumPy's reshape, counting the copy it makes when the result cannot be a view."""
    out = np.reshape(a, shape[0] if len(shape) == 1 else shape, **kwargs)
    if out.size and not np.shares_memory(out, a):
        _device_copy("reshape", out)
    return out


def _copied(what: str, f: Any) -> Any:
    def call(a: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        out = f(a, *args, **kwargs)
        if out.size and not (isinstance(a, np.ndarray) and out is a):
            _device_copy(what, out)
        return out
    return call


def _copy_in(data: Any) -> np.ndarray:
    """Host data (NumPy array, list, scalar) as a new C-contiguous array: a counted copy."""
    a = np.array(data, order="C")      # (ascontiguousarray would make a 0-d array 1-d)
    _COPIES.append(int(a.nbytes))
    return a


# ---------------------------------------------------------------------------------------
# summation order: how a GPU may add the same terms
# ---------------------------------------------------------------------------------------

SUMMATION_ORDERS = ("default", "reverse", "random", "split")
_ORDER: dict[str, Any] = {"order": "default", "rng": None}


@contextlib.contextmanager
def summation(order: str, seed: int = 0) -> Iterator[None]:
    """GEMMs (``matmul``, ``@``, ``dot``) and ``sum``/``mean`` add their terms in ``order``:
    ``"reverse"``, ``"random"`` (a fresh permutation from ``seed``'s stream at each call) or
    ``"split"`` (two halves summed apart, then added, as split-K does); ``"default"``: NumPy's."""
    if order not in SUMMATION_ORDERS:
        raise ValueError(f"summation order must be one of {SUMMATION_ORDERS}, got {order!r}")
    saved = dict(_ORDER)
    _ORDER.update(order=order, rng=np.random.default_rng(seed))
    try:
        yield
    finally:
        _ORDER.update(saved)


def _permutation(n: int) -> np.ndarray:
    order = _ORDER["order"]
    if order == "reverse":
        return np.arange(n)[::-1]
    return _ORDER["rng"].permutation(n)


def _reordered_matmul(a: np.ndarray, b: np.ndarray, f: Any = np.matmul) -> np.ndarray:
    """``f(a, b)`` (``matmul`` or ``dot``) with the contracted axis summed in the current
    order. That axis is ``a``'s last and ``b``'s first (1-d) or second to last."""
    order = _ORDER["order"]
    if order == "default" or np.ndim(a) == 0 or np.ndim(b) == 0:
        return f(a, b)
    k, axis = a.shape[-1], 0 if b.ndim == 1 else b.ndim - 2
    if order == "split":
        h = k // 2
        return (f(a[..., :h], np.take(b, np.arange(h), axis=axis))
                + f(a[..., h:], np.take(b, np.arange(h, k), axis=axis)))
    perm = _permutation(k)
    return f(a[..., perm], np.take(b, perm, axis=axis))


def _reordered_reduction(f: Any) -> Any:
    """``np.sum``/``np.mean`` with the reduced axes' terms taken in the current order."""
    def call(a: Any, axis: Any = None, *args: Any, **kwargs: Any) -> Any:
        order = _ORDER["order"]
        if order != "default" and isinstance(a, np.ndarray) and a.ndim > 0:
            axes = range(a.ndim) if axis is None else np.atleast_1d(axis)
            for ax in axes:
                n = a.shape[ax]
                if order == "split" and n > 1:  # halves interleaved: pairwise sums regroup
                    perm = np.concatenate([np.arange(0, n, 2), np.arange(1, n, 2)])
                else:
                    perm = _permutation(n)
                a = np.take(a, perm, axis=int(ax))
        return f(a, axis, *args, **kwargs)
    call.__name__ = f.__name__
    return call


_REDUCTIONS = {"sum": _reordered_reduction(np.sum), "mean": _reordered_reduction(np.mean)}


def _check_not_capturing() -> None:
    """cublas.pyx ``setStream``: every cuBLAS call binds the handle to the current stream first."""
    if get_current_stream().is_capturing():
        raise NotImplementedError(CAPTURE_ERROR)


# ---------------------------------------------------------------------------------------
# cupy.ndarray
# ---------------------------------------------------------------------------------------

def _unwrap(v: Any) -> Any:
    """CuPy arrays to their NumPy data; NumPy arrays refused (rule 4)."""
    if isinstance(v, ndarray):
        return v._a
    if isinstance(v, np.ndarray):
        raise TypeError(f"Unsupported type {type(v)}")
    if isinstance(v, (list, tuple)):
        return type(v)(_unwrap(u) for u in v)
    return v


def _wrap(v: Any, contiguous: bool = False) -> Any:
    if isinstance(v, np.ndarray):
        return ndarray(np.ascontiguousarray(v) if contiguous else v)
    if isinstance(v, np.generic):       # CuPy reductions return 0-d arrays, not scalars
        return ndarray(np.asarray(v))
    if isinstance(v, tuple):
        return tuple(_wrap(u, contiguous) for u in v)
    if isinstance(v, list):
        return [_wrap(u, contiguous) for u in v]
    return v


def _ufunc(f: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        result = f(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
        return out if out is not None else _wrap(result, contiguous=True)   # rule 5
    call.__name__ = getattr(f, "__name__", "ufunc")
    return call


def _function(f: Any, gemm: bool = False) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        if gemm:
            _check_not_capturing()   # rule 6
        return _wrap(f(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
    call.__name__ = getattr(f, "__name__", "function")
    return call


class ndarray:
    """``cupy.ndarray`` over a NumPy array: CuPy's attributes, none of NumPy's protocols."""

    __slots__ = ("_a",)
    __array_priority__ = 100

    def __init__(self, a: np.ndarray) -> None:
        object.__setattr__(self, "_a", a)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:   # rule 3
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self, stream: Any = None, order: str = "C", out: Any = None,
            blocking: bool = True) -> np.ndarray:
        _read("get")
        return np.array(self._a, order=order)

    def tolist(self) -> Any:
        _read("tolist")
        return self._a.tolist()

    def item(self) -> Any:
        _read("item")
        return self._a.item()

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``core.pyx``: NumPy's ufunc handed to CuPy's of the same name (rule 8)."""
        func = _NAMESPACE.get(ufunc.__name__)
        if func is None or method != "__call__":
            return NotImplemented
        if "out" in kwargs:
            kwargs["out"] = kwargs["out"][0]
        if ufunc.__name__ in ("greater", "greater_equal", "less", "less_equal", "equal",
                              "not_equal"):   # core.pyx: the numpy/numpy#12142 workaround
            inputs = tuple(x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x
                           for x in inputs)
        return func(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """``core.pyx``: CuPy's function of the same name, for CuPy and NumPy arrays only."""
        mine = _NAMESPACE.get(func.__name__)
        if mine is None or mine is func:
            return NotImplemented
        if not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
            return NotImplemented
        return mine(*args, **kwargs)

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    itemsize = property(lambda self: self._a.itemsize)
    T = property(lambda self: ndarray(self._a.T))
    mT = property(lambda self: ndarray(self._a.mT))
    device = property(lambda self: Device())

    def astype(self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None,
               copy: bool = True) -> ndarray:
        return ndarray(self._a.astype(dtype, copy=copy))

    def __getattr__(self, name: str) -> Any:
        # methods such as reshape, copy, sum, max; never NumPy's protocols (rule 1)
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _REDUCTIONS:
            return _function(lambda *args, **kwargs: _REDUCTIONS[name](self._a, *args, **kwargs))
        if name == "take":
            return lambda indices, axis=None, out=None: take(self, indices, axis, out)
        if name == "reshape":
            return _function(lambda *shape, **kwargs: _reshape(self._a, *shape, **kwargs))
        if name == "copy":
            return _function(lambda *args, **kwargs: _copied("copy", np.copy)(self._a))
        return _function(getattr(self._a, name))

    def __getitem__(self, key: Any) -> ndarray:
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        key = _index(key)
        if isinstance(value, np.ndarray):
            if _is_basic(key):   # _scatter_op: a CPU array goes to fill(), which refuses it
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = _copy_in(value)
        elif isinstance(value, ndarray):
            _device_copy("setitem", self._a[key])
        self._a[key] = _unwrap(value)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Iterator[ndarray]:
        return (self[i] for i in range(len(self)))

    # rule 7: every conversion reads the device; there is no __index__
    def __bool__(self) -> bool:
        _read("__bool__")
        return bool(self._a)

    def __float__(self) -> float:
        _read("__float__")
        return float(self._a)

    def __int__(self) -> int:
        _read("__int__")
        return int(self._a)

    def __complex__(self) -> complex:
        _read("__complex__")
        return complex(self._a)

    def __repr__(self) -> str:
        _read("__repr__")
        return f"array({self._a!r}) [cupy double]"

    def __str__(self) -> str:
        _read("__str__")
        return str(self._a)

    def __format__(self, spec: str) -> str:
        _read("__format__")
        return format(self._a, spec)

    def __matmul__(self, other: Any) -> ndarray:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> ndarray:
        return matmul(other, self)


def _index(key: Any) -> Any:
    """An index for the NumPy data: device arrays unwrapped, NumPy arrays and lists of
    indices copied to the device first (rule 9), as ``_prepare_slice_list`` does."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, (np.ndarray, list)):
        return _copy_in(key)
    return key


def _is_basic(key: Any) -> bool:
    """Basic indexing: ints, slices, None and Ellipsis only."""
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice))
               for k in keys)


def _add_operators() -> None:
    binary = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
              "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
              "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
              "lshift": np.left_shift, "rshift": np.right_shift}
    for name, f in binary.items():
        def op(self: ndarray, other: Any, f: Any = f) -> ndarray:
            return _ufunc(f)(self, other)

        def rop(self: ndarray, other: Any, f: Any = f) -> ndarray:
            return _ufunc(f)(other, self)

        def iop(self: ndarray, other: Any, f: Any = f) -> ndarray:
            f(self._a, _unwrap(other), out=self._a)
            return self

        setattr(ndarray, f"__{name}__", op)
        setattr(ndarray, f"__r{name}__", rop)
        setattr(ndarray, f"__i{name}__", iop)
    compare = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
               "eq": np.equal, "ne": np.not_equal}
    for name, f in compare.items():
        setattr(ndarray, f"__{name}__", lambda self, other, f=f: _ufunc(f)(self, other))
    for name, f in {"neg": np.negative, "pos": np.positive, "abs": np.absolute,
                    "invert": np.invert}.items():
        setattr(ndarray, f"__{name}__", lambda self, f=f: _ufunc(f)(self))
    ndarray.__hash__ = None  # type: ignore[assignment]


_add_operators()
ndarray.__module__ = "cupy._core.core"   # tinybcnn.backend recognises CuPy arrays by module


# ---------------------------------------------------------------------------------------
# creation functions with CuPy's signatures: no device= (rule 2)
# ---------------------------------------------------------------------------------------

def empty(shape: Any, dtype: Any = float, order: str = "C") -> ndarray:
    return ndarray(np.empty(shape, dtype, order=order))


def zeros(shape: Any, dtype: Any = float, order: str = "C") -> ndarray:
    return ndarray(np.zeros(shape, dtype, order=order))


def ones(shape: Any, dtype: Any = float, order: str = "C") -> ndarray:
    return ndarray(np.ones(shape, dtype, order=order))


def full(shape: Any, fill_value: Any, dtype: Any = None, order: str = "C") -> ndarray:
    return ndarray(np.full(shape, _unwrap(fill_value), dtype, order=order))


def empty_like(prototype: Any, dtype: Any = None, order: str = "K", subok: Any = None,
               shape: Any = None) -> ndarray:
    return ndarray(np.empty_like(_unwrap(prototype), dtype, order, shape=shape))


def zeros_like(a: Any, dtype: Any = None, order: str = "K", subok: Any = None,
               shape: Any = None) -> ndarray:
    return ndarray(np.zeros_like(_unwrap(a), dtype, order, shape=shape))


def ones_like(a: Any, dtype: Any = None, order: str = "K", subok: Any = None,
              shape: Any = None) -> ndarray:
    return ndarray(np.ones_like(_unwrap(a), dtype, order, shape=shape))


def full_like(a: Any, fill_value: Any, dtype: Any = None, order: str = "K", subok: Any = None,
              shape: Any = None) -> ndarray:
    return ndarray(np.full_like(_unwrap(a), fill_value, dtype, order, shape=shape))


def eye(N: int, M: Any = None, k: int = 0, dtype: Any = float, order: str = "C") -> ndarray:
    return ndarray(np.eye(N, M, k, dtype, order=order))


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> ndarray:
    return ndarray(np.arange(start, stop, step, dtype=dtype))


def array(obj: Any, dtype: Any = None, copy: bool = True, order: str = "K", subok: bool = False,
          ndmin: int = 0, *, blocking: bool = False) -> ndarray:
    """Host data (NumPy arrays, lists) is copied in explicitly; that is allowed."""
    if isinstance(obj, ndarray):
        return ndarray(np.array(obj._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin))
    return ndarray(_copy_in(np.array(obj, dtype=dtype, ndmin=ndmin)))      # rule 10


def asarray(a: Any, dtype: Any = None, order: Any = None, *, copy: Any = None,
            blocking: bool = False) -> ndarray:
    if isinstance(a, ndarray):
        if (dtype is None or a.dtype == dtype) and not copy:
            return a
        return ndarray(np.array(a._a, dtype=dtype, order=order or "K", copy=True))
    return ndarray(_copy_in(np.asarray(a, dtype=dtype)))                   # rule 10


def take(a: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Any:
    """``cupy.take``: NumPy (or list) indices are copied to the device (rule 9)."""
    if isinstance(indices, (np.ndarray, list)):
        indices = ndarray(_copy_in(indices))
    return _wrap(np.take(_unwrap(a), _unwrap(indices), axis=axis))


def astype(x: Any, dtype: Any, /, *, copy: bool = True) -> ndarray:
    """``cupy/_creation/basic.py``: ``astype``."""
    return x.astype(dtype, copy=copy)


_GEMMS = {"matmul", "dot", "tensordot", "inner", "vdot", "einsum"}
_EXPLICIT = {name: f for name, f in list(globals().items())
             if name in {"empty", "zeros", "ones", "full", "empty_like", "zeros_like",
                         "ones_like", "full_like", "eye", "arange", "array", "asarray",
                         "astype", "take"}}


def _module_namespace(source: Any) -> dict[str, Any]:
    """NumPy's public names, wrapped: types and constants as they are (CuPy uses NumPy's
    dtypes), ufuncs and functions taking and returning double arrays."""
    names: dict[str, Any] = {}
    for name in dir(source):
        if name.startswith("_") or name in {"testing", "random", "ctypeslib", "lib", "ma",
                                            "polynomial", "rec", "char", "strings", "f2py",
                                            "typing", "core", "emath", "ndarray"}:
            continue
        value = getattr(source, name)
        if isinstance(value, types.ModuleType):
            continue
        if source is np and name == "reshape":
            names[name] = _function(_reshape)
        elif source is np and name in ("copy", "ascontiguousarray"):
            names[name] = _function(_copied(name, value))
        elif isinstance(value, np.ufunc):
            names[name] = _ufunc(value)
        elif source is np and name in _REDUCTIONS:
            names[name] = _function(_REDUCTIONS[name])
        elif source is np and name in ("matmul", "dot"):
            names[name] = _function(lambda a, b, *args, f=value, **kwargs:
                                    _reordered_matmul(a, b, f) if not args and not kwargs
                                    else f(a, b, *args, **kwargs), gemm=True)
        elif isinstance(value, type) or not callable(value) or name in {"isdtype", "finfo",
                                                                         "iinfo", "dtype"}:
            names[name] = value   # dtypes, constants; cupy/__init__.py: from numpy import isdtype
        else:
            names[name] = _function(value, gemm=name in _GEMMS)
    return names


matmul = _function(lambda a, b, /: _reordered_matmul(a, b), gemm=True)


_NAMESPACE: dict[str, Any] = {}   # the fake cupy's names (for __array_ufunc__/_function__)


def _build() -> dict[str, types.ModuleType]:
    cupy = types.ModuleType("cupy", __doc__)
    namespace = _module_namespace(np)
    namespace.update(_EXPLICIT)
    _NAMESPACE.clear()
    _NAMESPACE.update(namespace)
    namespace.update(ndarray=ndarray, matmul=matmul, bool_=np.bool_,
                     get_default_memory_pool=lambda: types.SimpleNamespace(free_bytes=lambda: 0),
                     __version__="14.2.0")
    vars(cupy).update(namespace)
    cupy.__all__ = sorted(k for k in namespace if not k.startswith("_"))

    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1, runtimeGetVersion=lambda: 12080,
        getDeviceProperties=lambda i: {"name": b"cupy double (NumPy)"},
        streamIsCapturing=lambda ptr: get_current_stream().is_capturing())
    cuda = types.ModuleType("cupy.cuda")
    device = types.ModuleType("cupy.cuda.device")
    device.Device = Device
    vars(cuda).update(Device=Device, Stream=Stream, ExternalStream=Stream, runtime=runtime,
                      device=device, get_current_stream=get_current_stream)
    linalg = types.ModuleType("cupy.linalg")
    vars(linalg).update(_module_namespace(np.linalg))
    linalg.__all__ = sorted(k for k in vars(linalg) if not k.startswith("_"))
    fft = types.ModuleType("cupy.fft")
    vars(fft).update(_module_namespace(np.fft))
    fft.__all__ = sorted(k for k in vars(fft) if not k.startswith("_"))
    vars(cupy).update(cuda=cuda, linalg=linalg, fft=fft)
    return {"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.device": device,
            "cupy.linalg": linalg, "cupy.fft": fft}


@contextlib.contextmanager
def installed(compat: bool = True) -> Iterator[types.ModuleType]:
    """Put the double in ``sys.modules`` as ``cupy`` (and, with ``compat``, let
    ``array_api_compat.cupy`` wrap it; without, make that import fail as where the package is
    missing). Yields the fake ``cupy`` module."""
    prefixes = ("cupy", "array_api_compat.cupy")
    saved = {k: v for k, v in sys.modules.items()
             if k == "cupy" or k.startswith(("cupy.", "array_api_compat.cupy"))}
    for k in saved:
        del sys.modules[k]
    modules = _build()
    sys.modules.update(modules)
    if not compat:
        sys.modules["array_api_compat.cupy"] = None  # type: ignore[assignment]
    try:
        yield modules["cupy"]
    finally:
        for k in [k for k in sys.modules if k.startswith(prefixes)]:
            del sys.modules[k]
        sys.modules.update(saved)
        compat_pkg = sys.modules.get("array_api_compat")
        if compat_pkg is not None and "cupy" in vars(compat_pkg):
            delattr(compat_pkg, "cupy")
