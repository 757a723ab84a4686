"""``docs/results.md`` renders its tables, and the differences its prose quotes, from the JSON
files in ``docs/results/`` (``docs/_hooks/results_tables.py``).

The rendered tables are read back here with a parser of their own (numbers out of the cell
text) and compared with the JSON values, cell by cell; the quoted differences are recomputed
here from the JSON and searched for in the rendered prose.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.modules import load_file

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
PAGE = ROOT / "docs" / "results.md"


@pytest.fixture(scope="module")
def hook():
    return load_file(ROOT / "docs" / "_hooks" / "results_tables.py", "results_tables")


@pytest.fixture(scope="module")
def rendered(hook) -> str:
    return hook.render(PAGE.read_text(encoding="utf-8"))


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def table_names(page: Path = PAGE) -> list[str]:
    return re.findall(r"^\{\{ table (\w+) \}\}$", page.read_text("utf-8"), flags=re.M)


def numbers(text: str) -> list[float]:
    """The numbers a cell shows, in order (true minus signs, thousands commas)."""
    text = text.replace("−", "-").replace("*", "")
    return [float(t.replace(",", "")) for t in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)]


def rendered_table(markdown: str, header: list[str]) -> list[list[str]]:
    """The body rows of the table whose header row is ``header``."""
    lines = markdown.splitlines()
    head = "| " + " | ".join(header) + " |"
    start = lines.index(head)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows


def test_results_page_types_no_table_by_hand():
    source = PAGE.read_text("utf-8")
    source = re.sub(r"^```.*?^```", "", source, flags=re.M | re.S)
    typed = [line for line in source.splitlines() if line.startswith("|")]
    assert not typed, f"results.md: tables typed by hand, put them in docs/results/: {typed[:2]}"


def test_every_results_file_is_shown_and_says_where_it_comes_from():
    """Every file is a table of results.md, or of critique.md (whose run is shown once its
    file is shipped: tests/docs/test_critique_results.py)."""
    names = table_names()
    critique = ROOT / "docs" / "critique.md"
    shipped = sorted(p.stem for p in RESULTS.glob("*.json"))
    assert sorted(names) == [n for n in shipped if n not in table_names(critique)]
    for name in shipped:
        data = load(name)
        page = PAGE if name in names else critique
        assert data["provenance"] and data["columns"] and data["rows"], name
        assert f"(results/{name}.json)" in page.read_text("utf-8"), f"{name}: no link to it"


@pytest.mark.parametrize("name", table_names())
def test_rendered_table_equals_the_json(rendered, name):
    data = load(name)
    header = [c["label"] for c in data["columns"]]
    rows = rendered_table(rendered, header)
    assert len(rows) == len(data["rows"]), name
    bold = {(r, k) for r, k in data.get("bold", [])}
    for i, (shown, row) in enumerate(zip(rows, data["rows"], strict=True)):
        assert len(shown) == len(header), (name, i, shown)
        for text, column in zip(shown, data["columns"], strict=True):
            value = row.get(column["key"])
            where = f"{name}.json row {i} {column['key']}: shown {text!r}, JSON {value!r}"
            assert text.startswith("**") == ((i, column["key"]) in bold), where
            if value is None or isinstance(value, str):
                plain = text.strip("*")
                assert plain == (value if value is not None else column.get("null", "—")), where
                continue
            if isinstance(value, dict) and "median" in value:          # labels to reach
                m = re.fullmatch(r"(> )?(\d+)(?: \((\d+)(?:–(\d+))?\))?, (\d+)/(\d+)", text)
                assert m, where
                over, median, lo, hi, reached, seeds = m.groups()
                if value["median"] is None:
                    assert over and int(median) == value["limit"], where
                else:
                    assert not over and int(median) == value["median"], where
                if value["min"] is not None:
                    assert int(lo) == value["min"] and int(hi or lo) == value["max"], where
                assert (int(reached), int(seeds)) == (value["reached"], value["seeds"]), where
                continue
            expected = (value if isinstance(value, list) else
                        list(value.values()) if isinstance(value, dict) else [value])
            assert numbers(text) == pytest.approx(expected, abs=1e-9), where


def test_quoted_differences_are_the_tables(rendered):
    """The prose's differences, recomputed from the JSON (the numbers once typed by hand
    disagreed with the table: results.md said BALD was 0.9, 1.4 and 4.6 points below random
    where the table's own values give 1.0, 1.5 and 4.6)."""
    al = {r["name"]: r for r in load("active_learning")["rows"]}
    gaps = [round(r - b, 1) for r, b in zip(al["random"]["last_half"], al["bald"]["last_half"],
                                              strict=True)]
    assert gaps == [1.0, 1.5, 4.6]
    text = " ".join(rendered.split())
    assert ("1.0 lower on seed 0, 1.5 lower on seed 1 and 4.6 lower on seed 2") in text
    ms = [round(r - b, 1) for r, b in zip(al["random"]["last_half"], al["mean_std"]["last_half"],
                                           strict=True)]
    assert ms[1] == 0.0 and "0.6 lower on seed 0, equal on seed 1 and 4.7 lower on seed 2" in text
    fm = {(r["model"], r["seed"]): r for r in load("small_data_fmnist")["rows"]}
    seed2 = min(fm[("lenet-ip", 2)]["std_error"], fm[("lenet-ip", 2)]["mc_error"]) - fm[
        ("lenet-all", 2)]["mc_error"]
    assert f"On seed 2 the margin, {seed2:.2f} points, is 4 of the 5,000 test images" in text
    assert "clear on every seed" not in text                       # E3
    reg = {r["points"]: r for r in load("regression")["rows"]}
    noise = 1 / load("regression")["tau"]
    band = ((noise + reg["in the gap"]["epistemic_std"] ** 2)
            / (noise + reg["in the data"]["epistemic_std"] ** 2)) ** 0.5
    assert 1.3 < band < 1.5                                        # E5: not "twice as wide"
    assert f"is {band:.1f} times as wide in the gap" in text
    assert not re.search(r"\{\{ [\w. ]+ \}\}", rendered)


def test_unknown_placeholder_fails(hook):
    with pytest.raises(hook.ResultsError, match="unknown quote"):
        hook.render("text {{ no.such.quote }}")
    with pytest.raises(hook.ResultsError, match="no results file"):
        hook.render("{{ table no_such_table }}")
