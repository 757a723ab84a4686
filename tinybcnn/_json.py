"""JSON on disk: plain values from NumPy ones, written all or nothing.

Every JSON file the package writes (``config.json``, ``metrics.json``, the demo's
``results.json``, the experiments' results) goes through :func:`write_json`, so none is ever
left half-written by a crash or a full disk.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_write_text

__all__ = ["jsonable", "write_json"]


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
