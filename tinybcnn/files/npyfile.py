"""Reading ``.npy`` files and ``.npz`` archives from outside without trusting them.

``np.load`` believes a file's header: a 100-byte ``.npy`` that declares ``(10**9, 28, 28)``
makes it allocate 730 GiB before reading a byte, an empty file raises ``EOFError``, an
``.npz`` renamed to ``.npy`` comes back as an archive, and random bytes are reported as
"pickled data". The functions here read the header first (NumPy's own
``np.lib.format.read_magic`` / ``read_array_header_1_0`` / ``read_array_header_2_0``), compare
the size it declares with the bytes that are really there, and only then load, never with
pickle. Every problem is a :class:`NpyFileError` (a ``ValueError``) with one line that names
the file.
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["NpyFileError", "NPY_MAGIC", "ZIP_MAGIC", "sniff", "read_npy_header",
           "available_memory", "check_memory",
           "load_npy", "check_npz_sizes"]

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
#: deflate never expands data more than about 1032:1, so a compressed member that claims
#: more is lying about its size
_DEFLATE_MAX_RATIO = 1032


class NpyFileError(ValueError):
    """A ``.npy``/``.npz`` file is empty, of another kind, damaged, or larger than it claims."""


def sniff(path: str | os.PathLike[str]) -> str:
    """What the first bytes of ``path`` say it is: ``"npy"``, ``"npz"``, ``"pickle"``,
    ``"empty"`` or ``"unknown"``."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        return "empty"
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:  # pickle protocols 2 to 5
        return "pickle"
    return "unknown"


def read_npy_header(f: IO[bytes], name: str | os.PathLike[str],
                    available: int) -> tuple[tuple[int, ...], np.dtype, int]:
    """Read a ``.npy`` header from ``f`` and check it against ``available`` bytes.

    Parameters
    ----------
    f : binary file positioned at the magic string
    name : the file's name, for messages
    available : int
        Bytes of the file (or archive member), header included.

    Returns
    -------
    shape : tuple of int
    dtype : numpy.dtype
    nbytes : int
        The payload size the header declares (at most ``available`` minus the header).

    Raises
    ------
    NpyFileError
        On a missing or unknown magic string, a damaged header, an object dtype (that would
        need pickle) or a declared size larger than the bytes present.
    """
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise NpyFileError(f"{name}: .npy format version {version} is not supported")
    except NpyFileError:
        raise
    # TokenError: NumPy's fallback parser of old headers, on unbalanced brackets
    except (ValueError, EOFError, OSError, SyntaxError, TypeError, tokenize.TokenError) as exc:
        raise NpyFileError(f"{name}: not a readable .npy file ({exc})") from None
    if dtype.hasobject:
        raise NpyFileError(f"{name}: holds Python objects, which would need pickle; only "
                           "numeric arrays are read")
    header_size = f.tell()
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > available - header_size:
        raise NpyFileError(f"{name}: the header declares a {dtype} array of shape {shape} "
                           f"({nbytes:,} bytes) but the file holds "
                           f"{max(available - header_size, 0):,}: truncated or damaged")
    return tuple(shape), dtype, nbytes


def available_memory() -> int | None:
    """Bytes this process may still allocate, or None if unknown: the kernel's MemAvailable
    (Linux), lowered to what an address-space limit (``ulimit -v``, a container's) leaves.

    A header can declare an array the file really holds (a sparse 64 GB ``.npy``) or that a
    small compressed file expands to (a gzip bomb); the size is checked against this before
    anything is allocated, so the answer is one line naming the file, not a MemoryError.
    """
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/status") as f:
                used = next(int(line.split()[1]) * 1024 for line in f
                            if line.startswith("VmSize:"))
            avail = soft - used if avail is None else min(avail, soft - used)
    except (ImportError, OSError, ValueError, IndexError, StopIteration):
        pass
    return avail


def check_memory(nbytes: int, name: str | os.PathLike[str], what: str) -> None:
    """Raise :class:`NpyFileError` naming ``name`` if ``nbytes`` exceed
    :func:`available_memory` (``what``: what would take them, for the message)."""
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise NpyFileError(f"{name}: {what} would take {nbytes:,} bytes of memory, more than "
                           f"the {max(avail, 0):,} available; use a smaller file or a machine "
                           "with more memory")


def load_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """Load one ``.npy`` array from ``path`` after checking its kind and declared size.

    Raises
    ------
    NpyFileError
        If the file is empty, an ``.npz`` archive, a pickle, not a ``.npy`` file, damaged,
        shorter than its header declares, or holds objects.
    """
    path = Path(path)
    kind = sniff(path)
    if kind == "empty":
        raise NpyFileError(f"{path}: empty file (0 bytes)")
    if kind == "npz":
        raise NpyFileError(f"{path}: an .npz archive, not a .npy array: save one array with "
                           "np.save, or extract it from the archive")
    if kind == "pickle":
        raise NpyFileError(f"{path}: a Python pickle, not a .npy array; pickles are never "
                           "loaded")
    if kind != "npy":
        raise NpyFileError(f"{path}: not a .npy file (it does not start with the NumPy "
                           "magic string)")
    with open(path, "rb") as f:
        shape, dtype, nbytes = read_npy_header(f, path, os.fstat(f.fileno()).st_size)
        check_memory(nbytes, path, f"its {dtype} array of shape {shape}")
        f.seek(0)
        try:
            return np.load(f, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise NpyFileError(f"{path}: damaged .npy file ({exc})") from None


def check_npz_sizes(path: str | os.PathLike[str]) -> None:
    """Check every ``.npy`` member of the archive ``path`` against the bytes it really holds.

    Call before ``np.load``: NumPy allocates what a member's header declares before reading,
    so a damaged member declaring 10^11 elements would be a ``MemoryError``, not an error
    message.

    Raises
    ------
    NpyFileError
        If a member's header is damaged or declares more than the member holds, or a
        compressed member claims more than deflate can produce.
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise NpyFileError(f"{path}: not a readable .npz archive ({exc})") from None
    archive_size = path.stat().st_size
    with archive:
        for info in archive.infolist():
            member = f"{path}:{info.filename}"
            if info.compress_size > archive_size:
                raise NpyFileError(f"{member}: claims {info.compress_size:,} bytes in a "
                                   f"{archive_size:,}-byte file: damaged archive")
            if info.compress_type != zipfile.ZIP_STORED and \
                    info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
                raise NpyFileError(f"{member}: claims {info.file_size:,} bytes from "
                                   f"{info.compress_size:,} compressed: damaged archive")
            try:
                with archive.open(info) as f:
                    read_npy_header(f, member, info.file_size)
            except NpyFileError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
                    RuntimeError, zlib.error) as exc:  # RuntimeError: an encrypted member;
                # zlib.error: deflated bytes that do not inflate
                raise NpyFileError(f"{member}: damaged archive member ({exc})") from None
