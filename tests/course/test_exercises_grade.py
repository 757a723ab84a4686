"""tinybcnn.exercises.grade: every check runs, and the verdicts say which and why."""

from __future__ import annotations

import pytest

from tinybcnn.exercises import grade


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
