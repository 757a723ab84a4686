"""Test helpers: edit a checkpoint file and store it with a valid checksum.

A checkpoint whose checksum no longer matches is refused as damaged before anything else is
looked at; these helpers make the other kind of bad file, one that is consistent but holds
wrong content (NaN weights, a header field missing or of the wrong type), the kind a buggy
tool or a careful hand edit leaves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tinybcnn.checkpoint import _checksum


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, by name (the header included, as its uint8 bytes)."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: np.array(npz[k]) for k in npz.files}


def write_arrays(path: Path, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` as an ``.npz`` file under exactly ``path`` (``np.savez`` would add
    ``.npz`` to a name without it); no checksum is made."""
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def rewrite_checkpoint(path: Path, params: Callable[[dict[str, np.ndarray]], None] | None = None,
                       header: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Let ``params(arrays)`` change the ``param/<name>`` arrays (keys without the prefix) and
    ``header(h)`` the JSON header in place, then write the file back with a fresh checksum."""
    arrays = read_arrays(path)
    head = json.loads(arrays.pop("header").tobytes().decode())
    head.pop("sha256")
    if params is not None:
        named = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        params(named)
        arrays.update({f"param/{k}": v for k, v in named.items()})
    if header is not None:
        header(head)
    head["sha256"] = _checksum(arrays, head)
    arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    write_arrays(path, **arrays)
