"""``docs/critique.md`` shows the critique run from ``docs/results/critique.json``
(``docs/_hooks/results_tables.py``, the ``shipped: critique`` blocks), made from the
experiment's record by :func:`tinybcnn.experiments.critique.docs_table` and shipped by
``scripts/ship_critique.py``.

A synthetic record of the experiment's layout (two sizes, two seeds, hand-picked numbers)
stands in for a run: the table cells and the quoted numbers are compared with means and
population standard deviations computed here with :mod:`statistics` from the record's runs.
The page is rendered with and without the JSON, so it builds before the run is shipped, and
refuses to build once it is shipped while a ``TODO-INTEGRATOR`` note is left in it.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest
from support.modules import load_file

from tinybcnn.experiments import critique

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "critique.md"
SIZES, SEEDS = [250, 4000], [0, 1]
#: run values per (method, size): (mi_in, mi_out, error) for seed 0 and for seed 1
VALUES = {("mc_dropout", 250): ((0.2104, 0.5012, 0.31), (0.1896, 0.4788, 0.29)),
          ("mc_dropout", 4000): ((0.2031, 0.6120, 0.17), (0.1969, 0.5880, 0.19)),
          ("concrete", 250): ((0.1500, 0.4000, 0.30), (0.1300, 0.3600, 0.32)),
          ("concrete", 4000): ((0.0600, 0.3000, 0.16), (0.0400, 0.2800, 0.18)),
          ("ensemble", 250): ((0.0300, 0.2000, 0.28), (0.0500, 0.2200, 0.26)),
          ("ensemble", 4000): ((0.0100, 0.1500, 0.15), (0.0140, 0.1700, 0.15))}
#: Concrete dropout's learnt p per (size, seed)
LEARNT = {(250, 0): {"drop1": 0.12, "drop2": 0.10, "drop3": 0.40},
          (250, 1): {"drop1": 0.10, "drop2": 0.08, "drop3": 0.36},
          (4000, 0): {"drop1": 0.05, "drop2": 0.04, "drop3": 0.20},
          (4000, 1): {"drop1": 0.07, "drop2": 0.04, "drop3": 0.24}}


def _hook():
    return load_file(ROOT / "docs" / "_hooks" / "results_tables.py", "results_tables_critique")


@pytest.fixture
def hook(tmp_path):
    """The hook, reading its results files from an empty folder of its own."""
    module = _hook()
    module.RESULTS = tmp_path / "results"
    module.RESULTS.mkdir()
    return module


def record() -> dict:
    """A critique record of the experiment's layout (``critique.json``)."""
    runs = []
    for n in SIZES:
        for i, seed in enumerate(SEEDS):
            run = {"train_size": n, "seed": seed, "learnt_p": LEARNT[(n, seed)]}
            for method in critique.METHODS:
                mi_in, mi_out, error = VALUES[(method, n)][i]
                run[method] = {"mi_in": mi_in, "mi_out": mi_out, "entropy_in": 1.0,
                               "error": error}
            runs.append(run)
    return {"experiment": "critique",
            "arguments": {"name": "critique", "out": "/runs/critique", "dataset": "embedded",
                          "data_dir": None, "quick": False, "seeds": None, "iterations": 1000,
                          "seed": 0, "progress": True, "resume": False, "run_dir": None,
                          "overrides": {"members": 3, "test_size": 500}},
            "settings": {"iterations": 1000, "batch_size": 64, "p": 0.5, "train_pool": None,
                         "test_size": 500, "eval_size": 200, "eval_points": 2,
                         "eval_samples": 0, "sizes": SIZES, "seeds": 2, "samples": 50,
                         "members": 3, "concrete_p": 0.1, "methods": list(critique.METHODS)},
            "dataset": {"name": "embedded", "split_sizes": {"train": 6000, "test": 2000}},
            "machine": {"cpu_model": "AMD EPYC", "cpu_count": 2,
                        "blas": [{"num_threads": 1}]},
            "started": "2026-12-07T17:00:00+00:00", "wall_seconds": 4980.0,
            "results": {"sizes": SIZES, "seeds": SEEDS, "samples": 50, "members": 3,
                        "n_test": 500, "runs": runs,
                        "curves": critique._curves(runs, SIZES, critique.METHODS)}}


def oracle(method: str, n: int, k: int, scale: float = 1.0) -> tuple[float, float]:
    """Mean and population std over the seeds of value ``k`` (0 MI in, 1 MI out, 2 error)."""
    v = [scale * seed[k] for seed in VALUES[(method, n)]]
    return statistics.fmean(v), statistics.pstdev(v)


def ship(hook, rec: dict | None = None) -> dict:
    table = critique.docs_table(rec or record(), provenance="a test")
    (hook.RESULTS / "critique.json").write_text(json.dumps(table), encoding="utf-8")
    return table


def without_notes(text: str) -> str:
    return re.sub(r"<!-- TODO-INTEGRATOR.*?-->", "", text, flags=re.S)


def rendered_rows(markdown: str, header: list[str]) -> list[list[str]]:
    """The body cells of the table whose header row is ``header``."""
    lines = markdown.splitlines()
    start = lines.index("| " + " | ".join(header) + " |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip()[1:-1].split("|")])
    return rows


def numbers(text: str) -> list[float]:
    text = text.replace("−", "-")
    return [float(t.replace(",", "")) for t in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)]


# ---------------------------------------------------------------------------------------
# The converter
# ---------------------------------------------------------------------------------------


def test_docs_table_holds_the_mean_and_std_over_seeds_per_method_and_size():
    table = critique.docs_table(record(), provenance="a test")
    rows = {(r["_method"], r["n_train"]): r for r in table["rows"]}
    assert list(rows) == [(m, n) for m in critique.METHODS for n in SIZES]
    for (method, n), row in rows.items():
        for k, key, scale, digits in ((0, "mi_in", 1, 3), (1, "mi_out", 1, 3),
                                      (2, "error", 100, 1)):
            mean, std = oracle(method, n, k, scale)
            assert row[key] == {"mean": round(mean, digits), "std": round(std, digits)}, key
    # the method's name on its first row only; the ensemble's K and MC dropout's p in it
    assert [r["method"] for r in table["rows"][:2]] == ["MC dropout (p = 0.5)", ""]
    assert table["rows"][4]["method"] == "deep ensemble (K = 3)"
    json.dumps(table)


def test_docs_table_shrink_and_learnt_p_and_settings():
    table = critique.docs_table(record(), provenance="a test")
    shrink = {r["_method"]: r for r in table["tables"]["shrink"]["rows"]}
    for method in critique.METHODS:
        for k, key in ((0, "in"), (1, "out")):
            expected = oracle(method, 4000, k)[0] / oracle(method, 250, k)[0]
            assert shrink[method][key] == round(expected, 2), (method, key)
    assert shrink["mc_dropout"]["in"] == 1.0 and shrink["concrete"]["in"] == 0.36
    p = table["tables"]["learnt_p"]["rows"]
    assert [r["n_train"] for r in p] == SIZES
    assert p[1]["drop3"] == {"mean": 0.22, "std": 0.02}
    assert p[0]["drop1"] == {"mean": round(statistics.fmean([0.12, 0.10]), 3),
                             "std": round(statistics.pstdev([0.12, 0.10]), 3)}
    s = table["settings"]
    assert (s["sizes"], s["seeds"], s["samples"], s["members"], s["iterations"],
            s["n_test"], s["test_split"], s["dataset"]) == (
        SIZES, SEEDS, 50, 3, 1000, 500, 2000, "embedded")
    assert table["wall_seconds"] == 4980.0 and table["machine"]["cpu_count"] == 2


def test_docs_table_without_concrete_has_no_learnt_p_table():
    rec = record()
    rec["results"]["curves"].pop("concrete")
    for run in rec["results"]["runs"]:
        run.pop("concrete"), run.pop("learnt_p")
    table = critique.docs_table(rec, provenance="a test")
    assert "learnt_p" not in table["tables"]
    assert {r["_method"] for r in table["rows"]} == {"mc_dropout", "ensemble"}


# ---------------------------------------------------------------------------------------
# The page, before and after the run is shipped
# ---------------------------------------------------------------------------------------


def test_page_builds_without_the_json_and_says_no_run_is_shipped(hook):
    page = hook.render(PAGE.read_text("utf-8"), "critique.md")
    assert "No full run is shipped yet" in page
    assert "What the run shows" not in page and "TODO-INTEGRATOR" not in page
    assert "<!--" not in page and "{{" not in page


def test_page_refuses_to_build_with_the_json_while_a_note_is_left(hook):
    note = ("<!-- shipped: critique -->\nprose <!-- TODO-INTEGRATOR: the prose -->\n"
            "<!-- /shipped -->\n")
    assert hook.render(note, "critique.md") == ""             # not shipped: dropped
    ship(hook)
    with pytest.raises(hook.ResultsError, match="TODO-INTEGRATOR"):
        hook.render(note, "critique.md")
    source = PAGE.read_text("utf-8")
    if "TODO-INTEGRATOR" in source:                          # the page as it stands
        with pytest.raises(hook.ResultsError, match="TODO-INTEGRATOR"):
            hook.render(source, "critique.md")


def test_shipped_page_shows_the_json_tables_cell_by_cell(hook):
    table = ship(hook)
    page = hook.render(without_notes(PAGE.read_text("utf-8")), "critique.md")
    assert "No full run is shipped yet" not in page and "{{" not in page
    assert "](figures/critique_mutual_info.png)" in page
    assert "(results/critique.json)" in page
    for data in (table, *table["tables"].values()):
        shown = rendered_rows(page, [c["label"] for c in data["columns"]])
        assert len(shown) == len(data["rows"])
        for cells, row in zip(shown, data["rows"], strict=True):
            for text, column in zip(cells, data["columns"], strict=True):
                value = row[column["key"]]
                if isinstance(value, str):
                    assert text == value
                else:
                    expected = list(value.values()) if isinstance(value, dict) else [value]
                    assert numbers(text) == pytest.approx(expected, abs=1e-9), (text, value)
    # the first row as a reader sees it, typed from the oracle: 0.2000 ± 0.0104 nats
    assert "| MC dropout (p = 0.5) | 250 | 0.200 ± 0.010 | 0.490 ± 0.011 | 30.0 ± 1.0 |" in page


def test_shipped_page_quotes_the_run_and_its_settings(hook):
    ship(hook)
    page = " ".join(hook.render(without_notes(PAGE.read_text("utf-8")), "critique.md").split())
    first, last = (f"{oracle('concrete', n, 0)[0]:.3f}" for n in SIZES)
    assert (first, last) == ("0.140", "0.050")
    assert f"MI on the test set from {first} to {last} (shrink 0.36)" in page
    assert "going from 0.38 to 0.22" in page                       # drop3's learnt p
    assert "250 and 4,000 training images of the embedded subset, seeds 0 and 1" in page
    assert "1,000 iterations of batch 64 for every network" in page
    assert "a stratified 500 of the 2,000 test images" in page
    assert "83 minutes of wall time on a 2-CPU AMD EPYC" in page
    assert ('tb.experiments.run("critique", "out", dataset="embedded", iterations=1000, '
            "members=3, test_size=500)") in page


def test_quotes_cover_every_method_and_size(hook):
    ship(hook)
    q = hook.critique_quotes()
    mean, std = oracle("ensemble", 4000, 1)
    assert q["critique.ensemble.out.4000"] == q["critique.ensemble.out.last"] == f"{mean:.3f}"
    assert q["critique.ensemble.out.4000.std"] == f"{std:.3f}"
    assert q["critique.mc_dropout.error.first"] == f"{oracle('mc_dropout', 250, 2, 100)[0]:.1f}"
    assert q["critique.mc_dropout.ratio.250"] == f"{0.490 / 0.200:.1f}"
    assert q["critique.ensemble.shrink_out"] == f"{(0.16 / 0.21):.2f}"
    assert q["critique.p.drop1.first"] == "0.11"


def test_training_length_that_follows_the_size_is_said_so(hook):
    rec = record()
    rec["settings"]["iterations"] = rec["arguments"]["iterations"] = None
    rec["results"]["n_test"] = rec["dataset"]["split_sizes"]["test"]
    ship(hook, rec)
    q = hook.critique_quotes()
    assert "training length grows with $N$" in q["critique.training"]
    assert q["critique.test_images"] == "all 2,000 test images"


def test_iterations_given_to_the_request_are_the_ones_trained(hook, tmp_path):
    # `--iterations` (or run(..., iterations=N)) reaches every network through the request,
    # not the settings, whose field then stays None: the page and the provenance say N
    rec = record()
    rec["settings"]["iterations"] = None
    ship(hook, rec)
    assert "1,000 iterations of batch 64 for every network" in \
        hook.critique_quotes()["critique.training"]
    assert critique.docs_table(rec, "x")["settings"]["iterations"] == 1000
    run = tmp_path / "run"
    run.mkdir()
    (run / "critique.json").write_text(json.dumps(rec), encoding="utf-8")
    _script().main([str(run), "--docs", str(tmp_path / "docs")])
    shipped = json.loads((tmp_path / "docs" / "results" / "critique.json").read_text("utf-8"))
    assert "1,000 iterations of batch 64 per network" in shipped["provenance"]


def test_block_markers_must_match(hook):
    with pytest.raises(hook.ResultsError, match="closed by"):
        hook.render("<!-- shipped: critique -->\nx\n<!-- /not shipped -->\n", "critique.md")
    with pytest.raises(hook.ResultsError, match="unmatched"):
        hook.render("<!-- shipped: critique -->\nx\n", "critique.md")
    assert hook.render("a\n<!-- not shipped: critique -->\nb\n<!-- /not shipped -->\nc\n",
                       "critique.md") == "a\nb\nc\n"


def test_the_shipped_state_is_whole():
    """As the repository stands: with ``docs/results/critique.json`` the figure is there and
    no note is left; without it, no figure of a run that is not shipped."""
    json_there = (ROOT / "docs" / "results" / "critique.json").is_file()
    figure_there = (ROOT / "docs" / "figures" / "critique_mutual_info.png").is_file()
    assert figure_there == json_there
    source = PAGE.read_text("utf-8")
    assert ("TODO-INTEGRATOR" in source) != json_there
    if json_there:
        data = json.loads((ROOT / "docs" / "results" / "critique.json").read_text("utf-8"))
        assert not data["command"]["quick"], "a --quick run is shipped as the result"


# ---------------------------------------------------------------------------------------
# The script that ships a run
# ---------------------------------------------------------------------------------------


def _script():
    return load_file(ROOT / "scripts" / "ship_critique.py", "ship_critique")


def test_ship_script_writes_the_docs_table_and_draws_the_figure(tmp_path):
    run, docs = tmp_path / "run", tmp_path / "docs"
    run.mkdir()
    rec = record()
    (run / "critique.json").write_text(json.dumps(rec), encoding="utf-8")
    script = _script()
    script.main([str(run), "--docs", str(docs), "--note", "at commit abc1234."])
    shipped = json.loads((docs / "results" / "critique.json").read_text("utf-8"))
    assert shipped["rows"] == critique.docs_table(rec, "x")["rows"]
    assert shipped["provenance"].endswith("at commit abc1234.")
    assert "1,000 iterations of batch 64 per network" in shipped["provenance"]
    assert "(overrides: members=3, test_size=500)" in shipped["provenance"]
    assert "Wall time 4,980 s (83 minutes) on a 2-CPU AMD EPYC" in shipped["provenance"]
    figure = (docs / "figures" / "critique_mutual_info.png").read_bytes()  # drawn, not copied
    assert figure.startswith(b"\x89PNG") and len(figure) > 10_000
    rec["arguments"]["quick"] = True
    (run / "critique.json").write_text(json.dumps(rec), encoding="utf-8")
    with pytest.raises(SystemExit, match="--quick"):
        script.main([str(run), "--docs", str(tmp_path / "other")])
    assert not (tmp_path / "other").exists()
