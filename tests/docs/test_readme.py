"""The README as a front page (issue 26): short, its test command the one CI runs, its links
alive, its figure present."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_is_under_150_lines():
    assert len(README.splitlines()) < 150


def test_readme_test_command_is_the_one_ci_runs():
    setup = re.search(r'pip install -e "\.\[dev\]"\s+# then: (\S.*?) \(', README)
    assert setup, "the README's set-up block lost its dev line"
    ci = [line.split("#")[0].strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert setup.group(1) in ci, f"README says {setup.group(1)!r}; .ci/run runs {ci}"


def test_readme_links_and_figures_exist():
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert any(t.endswith(".png") for t in local), "the README should show one figure"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing


def test_readme_times_name_the_cpu():
    for line in README.splitlines():
        if re.search(r"\b\d+:\d\d\b|\b\d+ s\b", line) and "EPYC" not in line:
            # a time on a line of its own sentence: the CPU is named in that sentence
            sentence = README[max(0, README.index(line) - 200):README.index(line) + 200]
            assert "EPYC" in sentence or "2-core" in sentence, line
