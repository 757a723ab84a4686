"""Grading the tutorials' exercises: each check on its own, a wrong answer explained in words.

Every tutorial ends with exercises and a check cell that calls :func:`grade` with one check
function per exercise. A check raises ``NotImplementedError`` while its stub is untouched
and ``AssertionError`` (with a message saying why) for a wrong answer. Grading every check
before failing means one wrong answer never hides whether the others are right.

A check that more than one tutorial asks for lives here once, so its feedback cannot differ
between them: :func:`check_mutual_information` (the mutual information of MC-dropout passes
in tutorial 07, of an ensemble's members in tutorial 11).
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable

import numpy as np

from .random import make_rng

__all__ = ["check_mutual_information", "grade"]


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


def check_mutual_information(answer: Callable, *, draw: str = "pass", draws: str = "passes",
                             index: str = "t", n_draws: int = 12, n_classes: int = 4,
                             seed: int = 9) -> None:
    """Check ``answer(P)``, the mutual information ``H[mean_t p_t] − mean_t H[p_t]`` in nats.

    ``P`` has shape ``(T, N, K)``: ``T`` probability vectors (MC-dropout passes, or an
    ensemble's members) over ``K`` classes for each of ``N = 6`` inputs; input 0 has ``T``
    identical draws and input 1 one-hot ones. Each common wrong answer gets its own reason:
    a wrong shape (averaged over the inputs, or not over the draws), NaN from ``0 log 0``,
    the sign, bits instead of nats, the predictive entropy alone, the expected entropy alone,
    and a non-zero value where the draws agree.

    Parameters
    ----------
    answer : callable
        The student's function, ``(T, N, K) -> (N,)``.
    draw, draws, index : str
        How the feedback names one draw, several, and their index (``"pass"``, ``"passes"``,
        ``"t"`` for tutorial 07; ``"member"``, ``"members"``, ``"k"`` for tutorial 11).
    n_draws, n_classes, seed : int
        ``T``, ``K`` and the seed of the Dirichlet draws.

    Raises
    ------
    AssertionError
        For a wrong answer, with a message that says why.
    """
    # −p log p with 0 log 0 = 0, from SciPy: an oracle independent of tinybcnn.predict
    from scipy.special import entr

    g = make_rng(seed, backend="numpy")                     # NumPy's default_rng(seed)
    P = g.dirichlet(np.full(n_classes, 0.3), size=(n_draws, 6))            # (T, N, K)
    P[:, 0] = P[0, 0]                                                        # the draws agree
    P[:, 1] = np.eye(n_classes)[g.integers(0, n_classes, n_draws)]          # one-hot draws
    predictive = entr(P.mean(0)).sum(-1)                                     # H[p̄], (N,)
    expected_entropy = entr(P).sum(-1).mean(0)                               # mean_t H[p_t]
    expected = predictive - expected_entropy
    t = index
    with np.errstate(divide="ignore", invalid="ignore"):                   # NaN is judged below
        mine = np.asarray(answer(P.copy()), dtype=float)
    if mine.shape != (6,):
        if mine.shape == ():
            why = ("one number for all inputs: average over the " + draws + " (axis 0) only, "
                   "and keep one value per input")
        elif mine.shape == (n_draws, 6):
            why = (f"one value per {draw} and input: average the {draws}' entropies over "
                   f"axis 0 ({t}) to get mean_{t} H[p_{t}]")
        else:
            why = "wrong shape"
        raise AssertionError(f"{why}: expected shape (6,), one value per input, "
                             f"got {mine.shape}")
    assert not np.any(np.isnan(mine)), (
        f"NaN: a one-hot {draw} has p = 0 entries, and 0 · log 0 is 0 · (−inf) = NaN in "
        "floating point. Entropy takes 0 log 0 = 0: "
        "np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)")
    assert not np.allclose(mine, -expected), f"the sign: MI = H[p̄] − mean_{t} H[p_{t}] ≥ 0"
    assert not np.allclose(mine, expected / math.log(2)), (
        "in bits (log base 2): use the natural log, np.log, so the value is in nats")
    assert not np.allclose(mine, predictive), (
        f"that is the predictive entropy H[p̄], which also counts the noise every {draw} "
        f"sees; subtract the {draws}' mean entropy mean_{t} H[p_{t}] to keep their "
        "disagreement")
    assert not np.allclose(mine, expected_entropy), (
        f"that is the expected entropy mean_{t} H[p_{t}] (the noise every {draw} sees, "
        f"aleatoric); the mutual information is what the {draws}' disagreement adds: "
        f"H[p̄] − mean_{t} H[p_{t}]")
    assert abs(mine[0]) < 1e-9, (
        f"{draws} that agree exactly have no mutual information: input 0 must give 0, "
        f"got {mine[0]:.3g}")
    assert np.allclose(mine, expected), f"expected H[mean_{t} p_{t}] − mean_{t} H[p_{t}], in nats"
