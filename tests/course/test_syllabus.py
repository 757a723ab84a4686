"""docs/syllabus.md: every week has what a lecturer needs, every tutorial has a week, and
every problem the page names exists on the problem pages."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYLLABUS = (ROOT / "docs" / "syllabus.md").read_text(encoding="utf-8")
TUTORIALS = sorted(p.stem for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py"))


def section(title: str) -> str:
    """The text of the ``## title`` section, up to the next ``## ``."""
    return SYLLABUS.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def weeks() -> list[str]:
    return [section(f"Week {n}") for n in (1, 2, 3, 4)]


def test_each_week_has_objectives_readings_tutorials_problems_lab_and_time():
    for n, text in enumerate(weeks(), start=1):
        for part in ("**After this week you can**", "**Readings.**", "**Tutorials.**",
                     "**Problem set.**", "**Lab.**", "**Time.**"):
            assert part in text, (n, part)
        assert f"(problems/week{n}.md)" in text, n


def test_every_tutorial_is_taught_in_a_week_and_listed_in_the_table():
    # tutorial 11 (the rivals) once had no week: the critique week linked only tutorial 10
    linked = {m for text in weeks() for m in re.findall(r"\(tutorials/(\d\d_\w+)\.md\)", text)}
    assert linked == set(TUTORIALS), sorted(set(TUTORIALS) ^ linked)
    table = re.findall(r"^\| (\d) \| [^|]+ \| ([^|]+) \|", SYLLABUS, flags=re.MULTILINE)
    listed = {f"{int(k):02d}" for _, cell in table[:4] for k in re.findall(r"\d\d", cell)}
    assert listed == {name[:2] for name in TUTORIALS}, sorted(listed)


def test_the_bayes_first_path_runs_every_tutorial_but_the_gpu_one():
    text = section('A "Bayes first" path')
    named = set(re.findall(r"\b(\d\d)\b", text))
    assert named >= {name[:2] for name in TUTORIALS} - {"08"}, sorted(named)


def test_every_problem_the_page_names_exists():
    problems = {m for week in (1, 2, 3, 4) for m in re.findall(
        r"^## (\d\.\d) ", (ROOT / "docs" / "problems" / f"week{week}.md").read_text("utf-8"),
        flags=re.MULTILINE)}
    named = set(re.findall(r"(?<![\d.])(\d\.\d)(?![\d.])", section('A "Bayes first" path')))
    named |= set(re.findall(r"problem (\d\.\d)\b", SYLLABUS))
    assert named and named <= problems, sorted(named - problems)
