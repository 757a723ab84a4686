"""IDX files: LeCun's format for MNIST, read and written without trusting the file.

:func:`read_idx` / :func:`write_idx` read and write one IDX file, raw or gzip-compressed;
:func:`load_idx_pair` reads an images file and its labels file and checks they agree. The
reader trusts nothing in the file: every problem is a :class:`DataError` that names the
file, and a header that *declares* a terabyte of data is rejected before a terabyte is
allocated.

The IDX format
--------------
A big-endian header, then the array in C order, big-endian::

    byte 0, 1   0x00 0x00
    byte 2      type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte 3      ndim
    4 * ndim    the dimensions, unsigned 32-bit big-endian each
    payload     prod(dims) * itemsize bytes

MNIST images are ``0x00000803`` (uint8, 3 dims: N, 28, 28) and labels ``0x00000801``.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..files.atomic import atomic_write

__all__ = ["DataError", "read_idx", "write_idx", "load_idx_pair"]


class DataError(ValueError):
    """A data file or data set is missing, corrupt, or not what was asked for.

    The message names the file or the places searched, says what is wrong, and, where
    data is missing, how to get it. The command line prints it as one line (exit code 2).
    """


# IDX type code -> element type. IDX is big-endian; arrays are returned in native order.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# (kind, itemsize) -> type code, for the writer: any byte order of a supported type will do
_IDX_CODES: dict[tuple[str, int], int] = {
    (dt.kind, dt.itemsize): code for code, dt in _IDX_DTYPES.items()
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # read payloads 1 MiB at a time, so memory follows the data actually there


def _is_gzip(path: Path) -> bool:
    """True if the file starts with the gzip magic bytes (whatever its name says)."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _read_exactly(stream: IO[bytes], n: int, path: Path, what: str) -> bytes:
    """Read ``n`` header bytes or raise :class:`DataError` saying the file is truncated."""
    data = stream.read(n)
    if len(data) != n:
        raise DataError(f"{path}: truncated IDX file: {what} needs {n} bytes, found {len(data)}")
    return data


def _read_header(stream: IO[bytes], path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """Parse and validate an IDX header; return (big-endian dtype, dims)."""
    zero0, zero1, code, ndim = _read_exactly(stream, 4, path, "the magic number")
    if zero0 != 0 or zero1 != 0:
        magic = (zero0 << 24) | (zero1 << 16) | (code << 8) | ndim
        raise DataError(
            f"{path}: not an IDX file: magic number 0x{magic:08X} does not start with 0x0000"
        )
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX data type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    dims = struct.unpack(f">{ndim}I", _read_exactly(stream, 4 * ndim, path, f"{ndim} dimensions"))
    return _IDX_DTYPES[code], dims


def _read_payload(stream: IO[bytes], nbytes: int,
                  on_grow: Any = None) -> bytearray:
    """Read at most ``nbytes + 1`` bytes, in chunks.

    Asking for one byte more than declared is how a compressed stream reveals that it holds
    too much. Chunks (not one ``read(nbytes)``) matter: a single large read allocates its
    full buffer up front, which is exactly what a lying header must not make us do.
    ``on_grow(size)`` is called each time the buffer passes another 64 MiB, with the size it
    may reach next (a gzip bomb is stopped by it before memory runs out).
    """
    buf = bytearray()
    check_at = 0
    while len(buf) <= nbytes:
        chunk = stream.read(min(_CHUNK, nbytes + 1 - len(buf)))
        if not chunk:
            break
        if on_grow is not None and len(buf) >= check_at:
            check_at = len(buf) + (64 << 20)
            on_grow(min(nbytes + 1, 2 * (len(buf) + len(chunk))))  # a bytearray may double
        buf += chunk
    return buf


def _describe(dtype: np.dtype, dims: Sequence[int]) -> str:
    """Human-readable "shape of dtype (bytes)" for error messages."""
    nbytes = math.prod(dims) * dtype.itemsize
    # a hostile header can declare a number with hundreds of digits: print its magnitude
    size = f"{nbytes:,} bytes" if nbytes < 10**15 else f"~10^{len(str(nbytes)) - 1} bytes"
    shape = str(tuple(dims)) if len(dims) <= 8 else f"{len(dims)} dimensions"
    return f"shape {shape} of {dtype.newbyteorder('=').name} ({size})"


def _check_idx_size(path: Path, dtype: np.dtype, dims: Sequence[int], nbytes: int,
                    decompressed: int | None) -> None:
    """Refuse, naming the file, dimensions no array can have (their product past NumPy's
    index range even where one is 0: "array is too big" with no file named) and data that
    would not fit in the memory available: a raw file's declared size (its length on disk is
    checked too, but a sparse file is long and empty), or what a compressed file has
    ``decompressed`` to so far (a gzip bomb expands a small file to gigabytes; a header that
    only lies about the size is answered by the data actually there)."""
    from ..files.npyfile import NpyFileError, check_memory

    if math.prod(d for d in dims if d) * dtype.itemsize > np.iinfo(np.intp).max:
        raise DataError(f"{path}: IDX header declares dimensions {tuple(dims)}, more elements "
                        "than any array can hold: damaged or not an IDX file")
    if decompressed is None:
        return
    what = (f"its IDX header declares {_describe(dtype, dims)}, which" if decompressed == nbytes
            else f"decompressing it (its IDX header declares {_describe(dtype, dims)})")
    try:
        check_memory(decompressed, path, what)
    except NpyFileError as exc:
        raise DataError(str(exc)) from None


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file, raw or gzip-compressed.

    Parameters
    ----------
    path : str or path-like
        The file. Compression is detected from the gzip magic bytes ``1f 8b``, not from the
        name, so a mis-named file still reads.

    Returns
    -------
    ndarray, shape ``dims`` from the header
        A writable array in native byte order (``uint8`` for MNIST images and labels).

    Raises
    ------
    DataError
        For a missing or unreadable file, a wrong magic number, an unknown type code,
        0 dimensions, a truncated header, or a payload whose length is not
        ``prod(dims) * itemsize``. The declared size is never allocated before the data
        has been seen to be there: for a raw file the file length is checked first; a
        compressed file is decompressed in chunks up to one byte past the declared size.
    """
    path = Path(path)
    try:
        gz = _is_gzip(path)
        opener = gzip.open if gz else open
        with opener(path, "rb") as stream:
            dtype, dims = _read_header(stream, path)
            nbytes = math.prod(dims) * dtype.itemsize
            _check_idx_size(path, dtype, dims, nbytes, decompressed=None)
            if not gz:
                # Cheap and decisive for raw files: compare with the length on disk.
                found = os.fstat(stream.fileno()).st_size - (4 + 4 * len(dims))
                if found != nbytes:
                    raise DataError(
                        f"{path}: IDX header declares {_describe(dtype, dims)} "
                        f"but the file holds {max(found, 0):,} bytes of data"
                    )
                _check_idx_size(path, dtype, dims, nbytes, decompressed=nbytes)  # sparse?
            payload = _read_payload(stream, nbytes, on_grow=(
                (lambda size: _check_idx_size(path, dtype, dims, nbytes, size)) if gz else None))
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as e:
        # OSError covers unreadable files and gzip.BadGzipFile (bad header, CRC, length);
        # EOFError and zlib.error a compressed stream cut short or garbled.
        raise DataError(f"{path}: cannot read IDX file: {e}") from None
    if len(payload) != nbytes:
        holds = ("more data than that" if len(payload) > nbytes
                 else f"only {len(payload):,} bytes of data")
        raise DataError(
            f"{path}: IDX header declares {_describe(dtype, dims)} but the file holds {holds}"
        )
    # frombuffer on a bytearray shares its memory and stays writable; astype converts
    # big-endian to native order, copying only where the byte order really differs
    # (never for uint8, so MNIST images are not copied twice).
    array = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | os.PathLike[str], array: Any) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    Parameters
    ----------
    path : str or path-like
        Destination; written atomically (``tinybcnn.files.atomic.atomic_write``). Gzip output has
        a zero timestamp, so equal arrays give equal bytes.
    array : array_like, ndim >= 1
        dtype uint8, int8, int16, int32, float32 or float64 (any byte order); every
        dimension below 2**32.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        If the dtype or shape cannot be stored in IDX.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _IDX_CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise DataError(
            f"{path}: IDX cannot store dtype {array.dtype} "
            "(use uint8, int8, int16, int32, float32 or float64, e.g. labels.astype(np.uint8))"
        )
    if array.ndim == 0 or array.ndim > 255 or any(d >= 2**32 for d in array.shape):
        raise DataError(f"{path}: IDX cannot store an array of shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    with atomic_write(path) as f:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(header + payload)
        else:
            f.write(header + payload)
    return path


def load_idx_pair(
    images_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    n_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images IDX file and its labels IDX file, and check that they belong together.

    Parameters
    ----------
    images_path, labels_path : str or path-like
        IDX files, raw or gzip-compressed.
    n_classes : int, optional
        If given, every label must lie in ``[0, n_classes)``; otherwise labels need only
        be non-negative.

    Returns
    -------
    images : ndarray, uint8, shape (N, H, W)
    labels : ndarray, int64, shape (N,)

    Raises
    ------
    DataError
        Wrong dtype or ndim, different counts, or a label out of range.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(
            f"{images_path}: expected uint8 images of shape (N, H, W), "
            f"got {images.dtype} of shape {images.shape}"
        )
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected integer labels of shape (N,), "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images):,} images but "
            f"{labels_path} holds {len(labels):,} labels"
        )
    labels = labels.astype(np.int64)
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or (n_classes is not None and high >= n_classes):
            want = f"[0, {n_classes})" if n_classes is not None else ">= 0"
            raise DataError(f"{labels_path}: labels must be {want}, found {low}..{high}")
    return images, labels
