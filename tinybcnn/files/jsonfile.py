"""JSON on disk: plain values from NumPy ones, written all or nothing, read within bounds.

Every JSON file the package writes (``config.json``, ``metrics.json``, the demo's
``results.json``, the experiments' results) goes through :func:`write_json`, so none is ever
left half-written by a crash or a full disk.

Every JSON file it reads back (a run's ``config.json``, an experiment's results, a
checkpoint's header) goes through :func:`read_json` or :func:`parse_json`: a file that is not
a regular file (a FIFO, a folder, a device, a symlink) is refused before it is opened, and its
size and nesting depth are bounded, so ``'[' * 100000`` or a FIFO named ``config.json`` is one
clear error (:class:`JSONFileError`, a ``ValueError``), never a ``RecursionError`` or a hang.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_text

__all__ = ["jsonable", "write_json", "read_json", "parse_json", "JSONFileError",
           "MAX_JSON_BYTES", "MAX_JSON_DEPTH"]

#: The largest JSON file read back (a config is a few hundred bytes, results some megabytes).
MAX_JSON_BYTES = 64 << 20
#: The deepest nesting read back (the package writes at most about 6 levels).
MAX_JSON_DEPTH = 64


class JSONFileError(ValueError):
    """A JSON file that cannot be read: not a regular file, too large, too deep, or invalid."""


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON values: arrays to lists, NumPy scalars to Python, NaN/inf to None.

    Dicts keep their structure (keys become strings), tuples become lists, paths strings.
    Python integers of any size stay exact (NumPy's PCG64 state holds 128-bit integers).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        # strict JSON has no NaN or infinity; None ("null") says "no value"
        return float(value) if math.isfinite(value) else None
    return value


def write_json(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """Write ``jsonable(obj)`` as strict JSON (and a final newline) to ``path``, atomically."""
    text = json.dumps(jsonable(obj), indent=indent, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def _depth(value: Any, limit: int) -> int:
    """The nesting depth of a parsed JSON value, counted without recursion (stops past
    ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def parse_json(text: str | bytes, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse ``text`` as JSON; :class:`JSONFileError` naming ``what`` for anything bad.

    Nesting deeper than ``max_depth`` is refused; a nesting so deep that the parser itself
    gives up (``RecursionError``) is the same one-line error.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONFileError(f"{what}: JSON nested too deeply (more than {max_depth} "
                            "levels)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JSONFileError(f"{what}: not valid JSON ({exc})") from None
    if _depth(value, max_depth) > max_depth:
        raise JSONFileError(f"{what}: JSON nested too deeply (more than {max_depth} levels)")
    return value


def read_json(path: str | os.PathLike[str], max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Read the JSON file ``path``: a regular file (not followed through a symlink) of at most
    ``max_bytes`` bytes, nested at most ``max_depth`` deep.

    The kind of file is checked before it is opened (``lstat``) and again on the open file
    (``fstat``: something swapped in between is caught), and it is opened non-blocking, so a
    FIFO never hangs the reader.

    Raises
    ------
    JSONFileError
        If the file is missing, not a regular file, too large, too deep, or not JSON.
    """
    path = Path(path)
    try:
        _check_regular(path, os.lstat(path))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise JSONFileError(f"{path} does not exist") from None
    except OSError as exc:
        raise JSONFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        _check_regular(path, st)
        if st.st_size > max_bytes:
            raise JSONFileError(f"{path} is {st.st_size:,} bytes, more than the "
                                f"{max_bytes:,} a tinybcnn JSON file may have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise JSONFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while being read
        raise JSONFileError(f"{path} is more than the {max_bytes:,} bytes a tinybcnn JSON "
                            "file may have")
    return parse_json(data, str(path), max_depth=max_depth)


def _check_regular(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise JSONFileError(f"{path} is a symbolic link, not a file this package wrote: "
                            "refusing to read it")
    if stat.S_ISDIR(st.st_mode):
        raise JSONFileError(f"{path} is a directory, not a JSON file")
    if not stat.S_ISREG(st.st_mode):
        raise JSONFileError(f"{path} is not a regular file (a FIFO, socket or device): "
                            "refusing to read it")
