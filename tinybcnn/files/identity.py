"""A folder's identity record: which data set and which seed the work in it was made with.

A run's ``config.json`` says how a network is trained, but not on *which images*: two
experiment runs with the same settings trained on two different subsets (``--seed 0`` and
``--seed 1`` pick different pools) or on two versions of an ``idx:DIR`` data set have equal
configs. So a demo or experiment folder also records, once, when it is first written:

``experiment``
    what made it (``"demo"``, ``"small_data"``, ...);
``dataset``
    the data set's name (``embedded``, ``idx:DIR``, ...);
``seed``
    the base seed (it also picks the subsets: compared before the data);
``data_shape``
    the shapes of the arrays actually used (the capped pool, not the whole split);
``data_sha256``
    a SHA-256 of those arrays' bytes, shapes and dtypes (hashed once: a fraction of a second
    for the whole Fashion-MNIST).

Every later command that reuses or continues the folder's work calls :func:`check_identity`
holding the folder's lock and before anything is written or removed: the same identity goes
on; another one is refused in one line naming the first field that differs, unless
``replace`` (``--replace``), which records the new identity. The data set's *location*
(``--data-dir``) is not part of the identity: the same images moved elsewhere are the same
data. A folder written before these records existed gets one on its first use (its runs'
configs are still checked, its data cannot be). The record is written just before the work's
first file (:func:`record_identity`), so a refusal never leaves one behind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from .jsonfile import JSONFileError, read_json, write_json

__all__ = ["IDENTITY_FIELDS", "data_fingerprint", "identity", "check_identity",
           "record_identity", "IdentityError"]

#: The fields of an identity record, in the order they are compared (the first that differs
#: is the one named: the seed before the data, since the seed picks the data subset).
IDENTITY_FIELDS = ("experiment", "dataset", "seed", "data_shape", "data_sha256")


class IdentityError(ValueError):
    """A folder's work was made with another data set or seed (one line: which field)."""


def data_fingerprint(*arrays: np.ndarray) -> tuple[list[list[int]], str]:
    """The shapes of ``arrays`` and one SHA-256 of their dtypes, shapes and bytes.

    Parameters
    ----------
    *arrays : ndarray
        The arrays a run actually uses, e.g. ``x_train (N, C, H, W)``, ``y_train (N,)``,
        ``x_test``, ``y_test``, in a fixed order.

    Returns
    -------
    shapes : list of list of int
    sha256 : str
        Hex digest; equal exactly when every array has the same dtype, shape and values.
    """
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(memoryview(a).cast("B"))
    return [list(map(int, a.shape)) for a in arrays], digest.hexdigest()


def identity(experiment: str, dataset: str, seed: int, *arrays: np.ndarray) -> dict[str, Any]:
    """The identity record of work made by ``experiment`` on ``arrays`` of ``dataset``."""
    shapes, sha = data_fingerprint(*arrays)
    return {"experiment": experiment, "dataset": dataset, "data_shape": shapes,
            "data_sha256": sha, "seed": int(seed)}


def _show(field: str, value: Any) -> str:
    if field == "data_sha256" and isinstance(value, str):
        return value[:12]   # enough to tell two apart in one line
    return repr(value)


def _hint(field: str, saved: Any) -> str:
    if field == "seed":
        return f"give --seed {saved} to continue it"
    if field in ("data_shape", "data_sha256"):
        return "give the data set it was made with to continue it"
    return "give the same data set to continue it"


def record_identity(path: str | os.PathLike[str], wanted: dict[str, Any]) -> None:
    """Write the identity record ``path`` (atomically): call it, holding the folder's lock,
    just before the first file of the work is written."""
    write_json(path, wanted)


def check_identity(path: str | os.PathLike[str], wanted: dict[str, Any],
                   replace: bool = False) -> bool:
    """Check the identity record ``path`` against ``wanted``; writes nothing.

    Call it holding the folder's lock, after the folder rule's checks and before anything is
    written or removed: a refusal leaves the folder as it was. When it returns True, call
    :func:`record_identity` before the work writes its first file.

    Parameters
    ----------
    path : path
        The record (``<folder>/<experiment>_identity.json``, the demo's ``identity.json``).
    wanted : dict
        :func:`identity` of the work asked for.
    replace : bool
        ``--replace``: the folder's work is being made afresh; record ``wanted``.

    Returns
    -------
    bool
        Whether ``wanted`` is to be recorded (there is no record, or ``replace``).

    Raises
    ------
    IdentityError
        The record names another data set or seed (the field, both values and what to do),
        or is not an identity record (damaged or edited; ``--replace`` starts afresh).
    """
    path = Path(path)
    if replace or not os.path.lexists(path):
        return True
    try:
        saved = read_json(path, max_bytes=1 << 16)
    except JSONFileError as exc:
        raise IdentityError(f"{exc}; start afresh with --replace") from None
    if not isinstance(saved, dict) or set(saved) != set(IDENTITY_FIELDS):
        raise IdentityError(f"{path} is not a tinybcnn identity record (damaged or edited); "
                            "start afresh with --replace")
    for field in IDENTITY_FIELDS:
        if saved[field] != wanted[field]:
            raise IdentityError(
                f"{path.parent} was made with another {field} ({_show(field, saved[field])} "
                f"there, {_show(field, wanted[field])} here): {_hint(field, saved[field])}, or "
                "start afresh with --replace (or another --out)")
    return False
