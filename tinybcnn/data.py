"""Data: the IDX file format, the embedded Fashion-MNIST subset, and finding or downloading
MNIST and Fashion-MNIST.

Four layers, each usable on its own:

1. :func:`read_idx` / :func:`write_idx` read and write one IDX file (LeCun's format for
   MNIST), raw or gzip-compressed. The reader trusts nothing in the file: every problem is
   a :class:`DataError` that names the file, and a header that *declares* a terabyte of
   data is rejected before a terabyte is allocated.
2. :func:`load_idx_pair` reads an images file and its labels file and checks they agree.
3. :class:`Dataset` holds a train/test split as ``uint8`` images ``(N, H, W)`` and ``int64``
   labels ``(N,)``; :func:`as_float` turns images into the ``float32`` NCHW batches the
   networks eat, scaled by 1/256 as in the paper's Caffe LeNet.
4. :func:`load_dataset` returns a :class:`Dataset` by name:

   ``"embedded"``
       a balanced real Fashion-MNIST subset (6,000 train / 2,000 test) shipped inside the
       package, so every example and test runs offline. It is the default everywhere.
   ``"fashion-mnist"``, ``"mnist"``
       the full sets (60,000 / 10,000), found on disk or downloaded once into the cache
       and checked against known SHA-256 sums.
   ``"idx:DIR"``
       any four IDX files ``DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.

:func:`stratified_subset` draws seeded, class-balanced subsets (the paper's small-data
experiments train on a few thousand images).

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
import hashlib
import http.client
import importlib.resources
import math
import os
import struct
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._atomic import atomic_write
from .random import make_rng

__all__ = [
    "DataError",
    "read_idx",
    "write_idx",
    "load_idx_pair",
    "Dataset",
    "as_float",
    "class_names",
    "PIXEL_SCALE",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "DATASET_NAMES",
    "load_dataset",
    "stratified_indices",
    "stratified_subset",
    "cache_dir",
    "IDX_FILES",
    "MIRRORS",
    "SHA256",
    "SYSTEM_DIRS",
]


class DataError(ValueError):
    """A data file or data set is missing, corrupt, or not what was asked for.

    The message names the file or the places searched, says what is wrong, and, where
    data is missing, how to get it. The command line prints it as one line (exit code 2).
    """


# ---------------------------------------------------------------------------------------
# 1. IDX files
# ---------------------------------------------------------------------------------------

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
    from .npyfile import NpyFileError, check_memory

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
        Destination; written atomically (``tinybcnn._atomic.atomic_write``). Gzip output has
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


# ---------------------------------------------------------------------------------------
# 2. The Dataset container
# ---------------------------------------------------------------------------------------

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

# The paper's Caffe LeNet scales pixels by 1/256 (Caffe's ``scale: 0.00390625``), not 1/255.
# A power of two: k/256 is exact in float32, and images land in [0, 255/256].
PIXEL_SCALE = 0.00390625


def as_float(x: np.ndarray) -> np.ndarray:
    """Images as the float32 NCHW batch a network takes, pixels scaled by 1/256.

    Parameters
    ----------
    x : ndarray, uint8, shape (N, H, W) or (N, C, H, W)

    Returns
    -------
    ndarray, float32, shape (N, 1, H, W) or (N, C, H, W)
        ``x * PIXEL_SCALE``, values in ``[0, 255/256]``.

    Notes
    -----
    Only ``uint8`` input is accepted, so already-scaled data is never scaled twice.
    """
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise DataError(
            f"as_float expects uint8 images of shape (N, H, W) or (N, C, H, W), "
            f"got {x.dtype} of shape {x.shape}"
        )
    if x.ndim == 3:
        x = x[:, None]
    return x.astype(np.float32) * np.float32(PIXEL_SCALE)


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is elementwise, not a bool
class Dataset:
    """A train/test split of labelled images.

    Attributes
    ----------
    x_train, x_test : ndarray, uint8, shape (N, H, W)
    y_train, y_test : ndarray, int64, shape (N,), values in [0, n_classes)
    name : str
        ``"embedded"``, ``"fashion-mnist"``, ``"mnist"`` or ``"idx:DIR"``.
    n_classes : int
    class_names : tuple of str, length n_classes
    source : str
        Where the arrays were read from (a folder, a URL cache, the package).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int = 10
    class_names: tuple[str, ...] = FASHION_MNIST_CLASSES
    source: str = ""

    # as a method too, so ``ds.as_float(ds.x_test)`` reads naturally
    as_float = staticmethod(as_float)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.uint8 or x.ndim != 3:
                raise DataError(f"{self.name}: x_{split} must be uint8 (N, H, W), "
                                f"got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise DataError(f"{self.name}: y_{split} must be int64 ({len(x)},), "
                                f"got {y.dtype} {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise DataError(f"{self.name}: y_{split} must lie in [0, {self.n_classes})")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"{self.name}: train images are {self.x_train.shape[1:]} "
                            f"but test images are {self.x_test.shape[1:]}")
        if len(self.class_names) != self.n_classes:
            raise DataError(f"{self.name}: {len(self.class_names)} class names "
                            f"for {self.n_classes} classes")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, H, W)``: the ``in_shape`` a model for this data takes."""
        return (1, *self.x_train.shape[1:])

    def subset(self, train_size: int | None = None, test_size: int | None = None,
               seed: int = 0) -> Dataset:
        """A stratified, seeded subset (see :func:`stratified_subset`); None keeps a split."""
        x_train, y_train, x_test, y_test = self.x_train, self.y_train, self.x_test, self.y_test
        if train_size is not None:
            x_train, y_train = stratified_subset(x_train, y_train, train_size, seed)
        if test_size is not None:
            x_test, y_test = stratified_subset(x_test, y_test, test_size, seed)
        return Dataset(x_train, y_train, x_test, y_test, self.name, self.n_classes,
                       self.class_names, self.source)

    def __repr__(self) -> str:  # the default would print four arrays
        h, w = self.x_train.shape[1:]
        return (f"Dataset({self.name!r}: {len(self.x_train):,} train / {len(self.x_test):,} "
                f"test images {h}x{w}, {self.n_classes} classes, from {self.source})")


# ---------------------------------------------------------------------------------------
# 3. Stratified subsets
# ---------------------------------------------------------------------------------------


def stratified_indices(y: np.ndarray, n: int, seed: int | None = 0) -> np.ndarray:
    """Indices of a seeded subset of size ``n`` that keeps the class proportions of ``y``.

    Parameters
    ----------
    y : ndarray, int, shape (N,)
        Non-negative labels.
    n : int, 0 <= n <= N
    seed : int or None

    Returns
    -------
    ndarray, int64, shape (n,)
        Distinct indices into ``y``, in random order.

    Notes
    -----
    Class ``c`` with ``N_c`` members gets ``floor(n N_c / N)`` places, and the places left
    over go to the classes with the largest remainders (ties broken at random): the
    largest-remainder rule. On balanced data the counts per class therefore differ by at
    most one. Within each class the members are drawn without replacement.
    """
    y = np.asarray(y)
    if y.ndim != 1 or (y.size and (y.dtype.kind not in "iu" or y.min() < 0)):
        raise DataError(f"labels must be non-negative integers of shape (N,), got {y.dtype} "
                        f"{y.shape}")
    if not 0 <= n <= len(y):
        raise DataError(f"cannot draw a subset of {n:,} from {len(y):,} examples")
    rng = make_rng(seed, backend="numpy")
    counts = np.bincount(y) if y.size else np.zeros(0, np.int64)
    # integer arithmetic: n * N_c / N exactly, as quotient and remainder
    quota, remainder = np.divmod(n * counts, max(len(y), 1))
    # lexsort sorts by the last key first: largest remainder, then a random tie-break
    order = np.lexsort((rng.permutation(len(counts)), -remainder))
    quota[order[: n - quota.sum()]] += 1
    picks = [rng.choice(np.flatnonzero(y == c), size=q, replace=False)
             for c, q in enumerate(quota) if q]
    chosen = np.concatenate(picks) if picks else np.zeros(0, np.int64)
    return rng.permutation(chosen).astype(np.int64)


def stratified_subset(x: np.ndarray, y: np.ndarray, n: int,
                      seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded subset of ``n`` examples with the class proportions of ``y``.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, int, shape (N,)
    n : int, 0 <= n <= N
    seed : int or None

    Returns
    -------
    x_sub : ndarray, shape (n, ...)
    y_sub : ndarray, shape (n,)

    Raises
    ------
    DataError
        If ``n`` is negative or larger than N, or ``x`` and ``y`` differ in length.

    See Also
    --------
    stratified_indices : how the subset is drawn.
    """
    if len(x) != len(y):
        raise DataError(f"x holds {len(x):,} examples but y holds {len(y):,}")
    idx = stratified_indices(y, n, seed)
    return x[idx], y[idx]


# ---------------------------------------------------------------------------------------
# 4. Finding, downloading and loading data sets by name
# ---------------------------------------------------------------------------------------

DATASET_NAMES = ("embedded", "fashion-mnist", "mnist", "idx:DIR")

# role -> file stem; a file may also carry ".gz"
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Where to download from, tried in order; each holds the four ``<stem>.gz`` files.
# ``TINYBCNN_MIRROR`` (comma-separated base URLs) replaces these lists when set.
MIRRORS: dict[str, list[str]] = {
    "fashion-mnist": [
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # tensorflow-datasets' mirror
    ],
}

# SHA-256 of the upstream .gz files, checked after every download.
#
# Fashion-MNIST: the files Zalando Research publishes (upstream MD5s in its README:
# 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...). SHA-256 from tensorflow/datasets,
# tensorflow_datasets/url_checksums/fashion_mnist.txt (the same values appear in
# FluxML/Flux.jl src/data/fashion-mnist.jl and Britefury/batchup). Debian's
# dataset-fashion-mnist ships the same data re-gzipped (its gzip headers lack the stored
# file name, which makes each file 23-24 bytes shorter), so its .gz files hash differently;
# they are read, not downloaded, and are validated by the IDX reader instead.
#
# MNIST: tensorflow/datasets, tensorflow_datasets/url_checksums/mnist.txt (files of
# 9,912,422 / 28,881 / 1,648,877 / 4,542 bytes); the same files are on torchvision's
# ossci-datasets mirror (torchvision itself lists their MD5s).
SHA256: dict[str, dict[str, str]] = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
}

# Folders a system package installs the data into (Debian/Ubuntu: dataset-fashion-mnist).
SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [],
}

_CLASS_NAMES = {"fashion-mnist": FASHION_MNIST_CLASSES, "mnist": MNIST_CLASSES}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashion": "fashion-mnist"}
_EMBEDDED_FILE = "fashion_mnist_small.npz"
_DOWNLOAD_TIMEOUT_S = 60


def cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/tinybcnn/<name>``, by default ``~/.cache/tinybcnn/<name>``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative path.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "tinybcnn" / name


def _find_idx_files(folder: Path) -> dict[str, Path] | str:
    """The four IDX files in ``folder`` (raw preferred, else .gz), or why they are not there."""
    if not folder.is_dir():
        return "no such folder"
    found, missing = {}, []
    for role, stem in IDX_FILES.items():
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(f"{stem}[.gz]")
    return found if not missing else "missing " + ", ".join(missing)


def _load_split_files(files: dict[str, Path], n_classes: int | None) -> tuple[np.ndarray, ...]:
    """Read the four files: (x_train, y_train, x_test, y_test)."""
    x_train, y_train = load_idx_pair(files["train_images"], files["train_labels"], n_classes)
    x_test, y_test = load_idx_pair(files["test_images"], files["test_labels"], n_classes)
    return x_train, y_train, x_test, y_test


def _candidate_dirs(
    name: str, data_dir: str | os.PathLike[str] | None
) -> list[tuple[Path | None, str]]:
    """Where to look for ``name``, in order, each with a note on why it is on the list.

    A ``None`` folder stands for ``$TINYBCNN_DATA`` when it is not set, so the "not found"
    message can still point at it.
    """
    places: list[tuple[Path | None, str]] = []
    if data_dir:
        # ROOT/<name> first, so one folder can hold mnist/ and fashion-mnist/ side by side
        places += [(Path(data_dir) / name, "data_dir"), (Path(data_dir), "data_dir")]
    env = os.environ.get("TINYBCNN_DATA")
    if env:
        places += [(Path(env) / name, "$TINYBCNN_DATA"), (Path(env), "$TINYBCNN_DATA")]
    else:
        places.append((None, "$TINYBCNN_DATA"))
    places += [(d, "system package") for d in SYSTEM_DIRS.get(name, [])]
    places.append((cache_dir(name), "cache"))
    return places


def _how_to_get(name: str, downloading: bool = False) -> str:
    """The advice that ends every "not found" message (``downloading``: after a failed
    download, which the advice then does not repeat)."""
    ways = []
    if name == "fashion-mnist":
        ways.append("run `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)")
    ways.append(f"put the four files {', '.join(s + '[.gz]' for s in IDX_FILES.values())} "
                f"in a folder and pass --data-dir DIR (or data_dir=DIR, or set $TINYBCNN_DATA)")
    if downloading:
        ways.append("try again when the network is back (or set $TINYBCNN_MIRROR to a "
                    "mirror's base URL)")
    else:
        ways.append(f"allow the download (download=True) from {_mirrors(name)[0]}")
    return "to get it: " + "; or ".join(ways)


def _reason(error: BaseException) -> str:
    """A download error in a few words: ``HTTP 404 Not Found``, ``timed out``, ``[Errno 111]
    Connection refused`` (urllib's ``<urlopen error [Errno None] ...>`` wrapping dropped)."""
    if isinstance(error, OSError) and error.errno is None and isinstance(
            error.__cause__, OSError):  # atomic_write's re-raise naming the file: the cause
        return _reason(error.__cause__)
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, OSError) and reason.strerror:
            return (f"[Errno {reason.errno}] {reason.strerror}" if reason.errno is not None
                    else str(reason.strerror))
        return str(reason)
    return str(error) or type(error).__name__


def _mirrors(name: str) -> list[str]:
    """Base URLs to download ``name`` from: $TINYBCNN_MIRROR if set, else :data:`MIRRORS`."""
    env = os.environ.get("TINYBCNN_MIRROR", "").strip()
    bases = [u.strip() for u in env.split(",") if u.strip()] if env else MIRRORS[name]
    return [b if b.endswith("/") else b + "/" for b in bases]


def _download_file(url: str, dest: Path, sha256: str, progress: bool) -> None:
    """Download ``url`` to ``dest`` atomically, and check its SHA-256 before it gets the name.

    Raises
    ------
    DataError
        If the checksum does not match (nothing is left under ``dest``).
    OSError
        ``urllib.error.URLError`` and friends, for the caller to try the next mirror.
    """
    from tqdm.auto import tqdm  # imported here: only downloads need it

    h = hashlib.sha256()
    with atomic_write(dest) as f:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      disable=not progress, leave=False) as bar:
                while chunk := response.read(1 << 16):
                    h.update(chunk)
                    f.write(chunk)
                    bar.update(len(chunk))
        if h.hexdigest() != sha256:
            # raised inside the atomic block, so the temporary file is deleted
            raise DataError(f"{url}: SHA-256 {h.hexdigest()} does not match the expected "
                            f"{sha256} (corrupt or tampered download)")


def _download(name: str, folder: Path, progress: bool) -> None:
    """Fetch the missing ``.gz`` files of ``name`` into ``folder``, trying each mirror.

    A failure leaves no empty folder behind: the folders this call created (the cache's
    ``tinybcnn/<name>``) are removed again if nothing was downloaded into them."""
    created = [d for d in (folder, folder.parent) if not d.exists()]
    try:
        _download_missing(name, folder, progress)
    except BaseException:
        for d in created:  # deepest first; rmdir refuses a folder that holds anything
            try:
                d.rmdir()
            except OSError:
                break
        raise


def _download_missing(name: str, folder: Path, progress: bool) -> None:
    for filename, sha256 in SHA256[name].items():
        dest = folder / filename
        if dest.is_file():  # written by an earlier, interrupted run: verified before renaming
            continue
        errors = []
        for base in _mirrors(name):
            try:
                _download_file(base + filename, dest, sha256, progress)
                break
            # URLError, HTTPError and timeouts are OSErrors; a connection cut mid-file is an
            # HTTPException; a malformed mirror URL a ValueError (so is DataError: bad SHA-256)
            except (ValueError, OSError, http.client.HTTPException) as e:
                errors.append(f"{base + filename}: {_reason(e)}")
        else:
            raise DataError(f"cannot download {name} into {folder} ("
                            + "; ".join(errors) + f"); {_how_to_get(name, downloading=True)}")


def _load_named(name: str, data_dir: str | os.PathLike[str] | None, download: bool,
                progress: bool) -> Dataset:
    """Load ``fashion-mnist`` or ``mnist`` from the first place that has it, else download."""
    looked = []
    for folder, why in _candidate_dirs(name, data_dir):
        if folder is None:
            looked.append(f"{why} (not set)")
            continue
        files = _find_idx_files(folder)
        if isinstance(files, str):
            looked.append(f"{folder} ({why}: {files})")
            continue
        return _dataset_from_files(name, files, folder)
    if not download:
        raise DataError(f"{name} not found; looked in " + "; ".join(looked)
                        + f"; {_how_to_get(name)}")
    folder = cache_dir(name)
    _download(name, folder, progress)
    files = _find_idx_files(folder)
    assert not isinstance(files, str), files  # _download fetched all four or raised
    return _dataset_from_files(name, files, folder)


def _dataset_from_files(name: str, files: dict[str, Path], folder: Path) -> Dataset:
    """Build the named Dataset from four located files, saying how to repair a corrupt one."""
    try:
        arrays = _load_split_files(files, n_classes=10)
    except DataError as e:
        raise DataError(f"{e}; {name} in {folder} looks corrupt: replace the file "
                        f"(a cached download can simply be deleted and fetched again)") from None
    return Dataset(*arrays, name=name, n_classes=10, class_names=_CLASS_NAMES[name],
                   source=str(folder))


def class_names(dataset: str, n_classes: int) -> tuple[str, ...]:
    """The class names of a data set by its name, without loading it.

    Fashion-MNIST's names for ``embedded`` and ``fashion-mnist``, digits for ``mnist``, and
    the class numbers for anything else (``idx:DIR`` files carry no names).
    """
    key = _ALIASES.get(dataset, dataset)
    known = FASHION_MNIST_CLASSES if key == "embedded" else _CLASS_NAMES.get(key)
    if known is not None and len(known) == n_classes:
        return known
    return tuple(str(k) for k in range(n_classes))


#: The most classes an ``idx:DIR`` data set may have (its labels must lie in [0, this)).
MAX_IDX_CLASSES = 1000


def _load_idx_dir(spec: str) -> Dataset:
    """``idx:DIR``: four IDX files in DIR; the number of classes is read off the labels."""
    folder = Path(spec[len("idx:"):]).expanduser()
    files = _find_idx_files(folder)
    if isinstance(files, str):
        raise DataError(f"{spec}: {folder}: {files} (expected "
                        f"{', '.join(s + '[.gz]' for s in IDX_FILES.values())})")
    x_train, y_train, x_test, y_test = _load_split_files(files, n_classes=None)
    n_classes = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    if n_classes > MAX_IDX_CLASSES:
        # a damaged label (e.g. 2**31 - 1) would otherwise build a 2**31-way classifier
        raise DataError(f"{spec}: labels run up to {n_classes - 1}, but idx: data sets may "
                        f"have at most {MAX_IDX_CLASSES} classes (labels 0 to "
                        f"{MAX_IDX_CLASSES - 1}); is a label file damaged?")
    return Dataset(x_train, y_train, x_test, y_test, name=spec, n_classes=n_classes,
                   class_names=tuple(str(c) for c in range(n_classes)), source=str(folder))


def _embedded_resource() -> Any:
    """The shipped ``.npz`` as an importlib.resources Traversable (a Path as a fallback).

    ``files("tinybcnn")`` also works from a zip or wheel; the fallback covers a source
    tree used as a namespace package (no ``__init__.py``), which ``files`` rejects.
    """
    try:
        return importlib.resources.files(__package__ or "tinybcnn") / "data" / _EMBEDDED_FILE
    except (TypeError, ValueError, OSError, ModuleNotFoundError):
        return Path(__file__).with_name("data") / _EMBEDDED_FILE


def _load_embedded() -> Dataset:
    """The balanced Fashion-MNIST subset shipped in ``tinybcnn/data/``."""
    resource = _embedded_resource()
    try:
        with resource.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"embedded data set {resource} is missing or corrupt ({e}); "
                        "reinstall tinybcnn or rebuild it with scripts/build_embedded.py") from None
    return Dataset(arrays["x_train"], arrays["y_train"].astype(np.int64),
                   arrays["x_test"], arrays["y_test"].astype(np.int64),
                   name="embedded", n_classes=10, class_names=FASHION_MNIST_CLASSES,
                   source=f"tinybcnn/data/{_EMBEDDED_FILE} (Fashion-MNIST subset)")


def load_dataset(name: str = "embedded", data_dir: str | os.PathLike[str] | None = None,
                 download: bool = True, *, progress: bool = True) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        ``"embedded"`` (default): 6,000 train / 2,000 test Fashion-MNIST images, balanced,
        shipped in the package. ``"fashion-mnist"`` or ``"mnist"``: the full 60,000 /
        10,000 sets. ``"idx:DIR"``: the four IDX files in DIR.
    data_dir : str or path-like, optional
        For fashion-mnist and mnist: a folder holding the four files, or holding them in a
        sub-folder named after the data set.
    download : bool
        Download fashion-mnist or mnist into the cache if no folder has them.
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown name; data missing everywhere (the message lists where it looked and how to
        get the data); a corrupt file; a failed or mismatching download.

    Notes
    -----
    fashion-mnist and mnist are looked for, in order, in ``data_dir``, ``$TINYBCNN_DATA``
    (each first as ``ROOT/<name>``, then ``ROOT`` itself), the system folder
    ``/usr/share/datasets/fashion-mnist`` (Fashion-MNIST only; Debian's
    ``dataset-fashion-mnist``), and the cache ``$XDG_CACHE_HOME/tinybcnn/<name>``
    (``~/.cache/tinybcnn/<name>``). Downloads go to the cache, come from :data:`MIRRORS`
    (or ``$TINYBCNN_MIRROR``), are checked against :data:`SHA256`, and appear under their
    final names only once complete and verified.
    """
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "embedded":
        return _load_embedded()
    if key in ("fashion-mnist", "mnist"):
        return _load_named(key, data_dir, download, progress)
    if name.startswith("idx:") and len(name) > len("idx:"):
        return _load_idx_dir(name)
    raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")
