"""Yes/no environment variables, read one way everywhere (``TINYBCNN_QUICK`` of the tutorials).

``1``, ``true``, ``yes`` and ``on`` mean yes; ``0``, ``false``, ``no``, ``off`` and an empty or
unset variable mean no (any case, surrounding spaces ignored). Anything else is refused with
one line rather than silently read as "no": ``TINYBCNN_QUICK=yes`` once ran the full-size
tutorials, ``TINYBCNN_QUICK=2`` still would have.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

__all__ = ["env_flag", "quick_mode", "EnvFlagError", "QUICK_VAR"]

QUICK_VAR = "TINYBCNN_QUICK"
_YES = ("1", "true", "yes", "on")
_NO = ("", "0", "false", "no", "off")


class EnvFlagError(ValueError):
    """An environment variable that should say yes or no says something else."""


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the yes/no variable ``name`` says yes (unset: no).

    Raises
    ------
    EnvFlagError
        If it is set to anything but the spellings of the module's docstring.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(name, "")
    word = value.strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise EnvFlagError(f"{name} must be 1, true, yes or on (or 0, false, no, off, unset), "
                       f"got {value!r}")


def quick_mode(environ: Mapping[str, str] | None = None) -> bool:
    """``TINYBCNN_QUICK`` for scripts and tutorials: a bad value ends the program with one line
    on stderr and exit code 2, as the command line ends on bad input (no traceback)."""
    try:
        return env_flag(QUICK_VAR, environ)
    except EnvFlagError as exc:
        print(f"tinybcnn: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
