"""Grading the tutorials' exercises: each check on its own, a wrong answer explained in words.

Every tutorial ends with exercises and a check cell that calls :func:`grade` with one check
function per exercise. A check raises ``NotImplementedError`` while its stub is untouched
and ``AssertionError`` (with a message saying why) for a wrong answer. Grading every check
before failing means one wrong answer never hides whether the others are right.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

__all__ = ["grade"]


def grade(*checks: Callable[[], None]) -> None:
    """Run ``checks`` (exercise 1, 2, ...) each on its own and print a verdict per exercise.

    Raises
    ------
    AssertionError
        After all have run, if any answer is wrong: one message listing each with its reason.
    """
    not_yet: dict[int, str] = {}
    for number, check in enumerate(checks, start=1):
        try:
            check()
        except NotImplementedError:
            print(f"exercise {number}: not attempted yet")
        except Exception as error:                    # a wrong answer, or one that raised
            # a bare assert has no message: show its source line instead
            line = (traceback.extract_tb(error.__traceback__)[-1].line or "").strip()
            kind = "" if isinstance(error, AssertionError) else f"{type(error).__name__}: "
            not_yet[number] = kind + str(error) if str(error) else f"this check failed: {line}"
            print(f"exercise {number}: not yet right. {not_yet[number]}")
        else:
            print(f"exercise {number}: correct")
    assert not not_yet, "not yet right: " + "; ".join(
        f"exercise {n}: {why}" for n, why in not_yet.items())
