"""``scripts/time_tutorials.py`` and the time paragraph at the top of every tutorial: one per
tutorial, in its first cell, within the line length, rewritten in place (the rest of the file
unchanged), and a measured time within the 3-minute budget."""

from __future__ import annotations

import datetime
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "time_tutorials.py"


def _script_module():
    """The script as a module (a script, not a package; as test_plant_bugs does)."""
    spec = importlib.util.spec_from_file_location("time_tutorials", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tt = _script_module()
TUTORIAL = """\
# %% [markdown]
# # 06 · A title
#
# The first paragraph.

# %%
x = 1
"""


def test_durations_read_as_a_person_writes_them():
    assert tt.duration(42.4) == "42 s"
    assert tt.duration(59.6) == "1 min 0 s"
    assert tt.duration(125) == "2 min 5 s"


def test_the_paragraph_goes_under_the_title_then_is_replaced_in_place():
    day = datetime.date(2026, 12, 7)
    first = tt.rewrite(TUTORIAL, tt.time_line(95, "an AMD EPYC 9R45 (2 CPUs)", day))
    assert first.splitlines()[:4] == ["# %% [markdown]", "# # 06 · A title", "#",
                                      "# *Full mode (no options): 1 min 35 s on an AMD EPYC 9R45 "
                                      "(2 CPUs), measured 2026-12-07 by"]
    assert first.endswith("#\n# The first paragraph.\n\n# %%\nx = 1\n")
    second = tt.rewrite(first, tt.time_line(170.2, "a Xeon (2 CPUs)", day, "a note"))
    assert "1 min 35 s" not in second and "2 min 50 s on a Xeon (2 CPUs), a note" in \
        second.replace("\n# ", " ")
    # only the paragraph changed
    assert second.split("# The first")[1] == first.split("# The first")[1]
    assert second.count("*Full mode") == 1
    assert all(len(line) <= 100 for line in second.splitlines())


def test_every_tutorial_says_its_full_mode_time_at_the_top_within_budget():
    for script in tt.tutorials():
        text = script.read_text(encoding="utf-8")
        first_cell = text.split("# %%\n", 1)[0]
        paragraphs = tt.TIME_LINE.findall(text)
        assert len(paragraphs) == 1 and paragraphs[0] in first_cell, script.name
        measured = re.search(r"(?:(\d+) min )?(\d+) s on .*measured", paragraphs[0].replace(
            "\n# ", " "))
        if measured:      # an estimate until scripts/time_tutorials.py has run
            minutes, seconds = int(measured[1] or 0), int(measured[2])
            assert 60 * minutes + seconds <= tt.LIMIT_S, f"{script.name}: over 3 minutes"


def test_a_quick_dry_run_times_a_tutorial_and_changes_nothing(capsys):
    script = ROOT / "tutorials" / "01_im2col.py"
    before = script.read_text(encoding="utf-8")
    assert tt.main(["--quick", "--dry-run", "--only", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"01_im2col\.py: \d+ s \(quick mode\)", out)
    assert "# *Full mode (no options): " in out
    assert script.read_text(encoding="utf-8") == before


NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen "
                "fourteen fifteen").split()


def test_where_the_tutorials_are_counted_in_words_the_count_is_right():
    # "runs all ten" stayed in two places after tutorial 11 was added
    count = len(tt.tutorials())
    for path in (SCRIPT, ROOT / "docs" / "tutorials.md", ROOT / "README.md"):
        said = re.findall(rf"\ball ({'|'.join(NUMBER_WORDS)})\b", path.read_text("utf-8"), re.I)
        wrong = [w for w in said if NUMBER_WORDS.index(w.lower()) + 1 != count]
        assert not wrong, f"{path.name} says 'all {wrong[0]}', there are {count} tutorials"
