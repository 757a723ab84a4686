"""tinybcnn.exercises: grade runs every check and its verdicts say which and why; the shared
mutual-information check passes a right answer (checked against direct loops) and names each
common wrong answer, in the words of the tutorial that asks it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.mutual_information import WRONG_MI

from tinybcnn.exercises import check_mutual_information, grade


def test_every_check_runs_and_the_error_lists_each_wrong_answer(capsys, tmp_path):
    ran = []

    def wrong_with_reason():
        ran.append(1)
        raise AssertionError("off by the keep factor")

    def not_attempted():
        ran.append(2)
        raise NotImplementedError

    # from a file of its own, as in a tutorial: pytest would give a bare assert here a message
    source = tmp_path / "answer.py"
    source.write_text("def bare_assert(ran):\n    ran.append(3)\n    assert 1 == 2\n")
    space: dict = {}
    exec(compile(source.read_text(), str(source), "exec"), space)

    def bare_assert():
        space["bare_assert"](ran)

    def right():
        ran.append(4)

    with pytest.raises(AssertionError) as info:
        grade(wrong_with_reason, not_attempted, bare_assert, right)
    assert ran == [1, 2, 3, 4]
    out = capsys.readouterr().out.splitlines()
    assert out == ["exercise 1: not yet right. off by the keep factor",
                   "exercise 2: not attempted yet",
                   "exercise 3: not yet right. this check failed: assert 1 == 2",
                   "exercise 4: correct"]
    assert str(info.value) == ("not yet right: exercise 1: off by the keep factor; "
                               "exercise 3: this check failed: assert 1 == 2")


def test_an_answer_that_raises_is_named_by_its_exception(capsys):
    def raises():
        raise ValueError("shapes (2, 3) and (4,)")

    with pytest.raises(AssertionError, match="ValueError: shapes"):
        grade(raises)


def test_all_right_or_not_attempted_passes(capsys):
    def stub():
        raise NotImplementedError

    grade(lambda: None, stub)
    assert capsys.readouterr().out.splitlines() == ["exercise 1: correct",
                                                    "exercise 2: not attempted yet"]


# the two tutorials that share the mutual-information check, as their check cells call it
MI_CALLS = {
    "07": dict(draw="pass", draws="passes", index="t"),
    "11": dict(draw="member", draws="members", index="k", n_draws=4, n_classes=5, seed=11),
}


def mutual_information_loops(P):
    """H[mean_t p_t] − mean_t H[p_t] by direct loops in float64, 0 log 0 = 0 (the oracle)."""
    T, N, K = P.shape
    out = []
    for n in range(N):
        mean = [sum(float(P[t, n, k]) for t in range(T)) / T for k in range(K)]
        h_mean = -sum(q * math.log(q) for q in mean if q > 0)
        h_each = [-sum(float(q) * math.log(q) for q in P[t, n] if q > 0) for t in range(T)]
        out.append(h_mean - sum(h_each) / T)
    return out


@pytest.mark.parametrize("tutorial", sorted(MI_CALLS))
def test_check_mutual_information_passes_the_right_answer(tutorial):
    check_mutual_information(mutual_information_loops, **MI_CALLS[tutorial])


@pytest.mark.parametrize("tutorial", sorted(MI_CALLS))
@pytest.mark.parametrize("case", sorted(WRONG_MI))
def test_check_mutual_information_names_each_common_wrong_answer(case, tutorial):
    source, phrase = WRONG_MI[case]
    space = {"np": np}
    exec(source.format(name="answer"), space)
    with pytest.raises(AssertionError) as info:
        check_mutual_information(space["answer"], **MI_CALLS[tutorial])
    assert phrase in str(info.value), str(info.value)
    # the feedback speaks of the tutorial's own draws: passes in 07, members in 11
    other = "member" if tutorial == "07" else "pass"
    assert other not in str(info.value), str(info.value)
