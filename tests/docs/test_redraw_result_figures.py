"""``scripts/redraw_result_figures.py`` turns the results page's JSON into the figure functions'
inputs: the numbers it hands over are the table's (typed here from docs/results.md), the score
names are the experiment's, and the rerun commands it names are the page's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tinybcnn.experiments import OOD_SCORES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "redraw_result_figures.py"


def _script_module():
    """The script as a module (a script, not a package; as test_plant_bugs does)."""
    spec = importlib.util.spec_from_file_location("redraw_result_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


redraw = _script_module()


def test_small_data_summary_is_the_table_as_fractions():
    summary = redraw.small_data_summary(redraw.load("small_data_embedded"))
    # lenet-none has no dropout: one predictor, as the experiment records it
    assert set(summary) == {"lenet-none", "lenet-ip", "lenet-all"}
    assert set(summary["lenet-none"]) == {"standard"}
    all_mc = summary["lenet-all"]["mc"]
    assert all_mc["train_size"] == [188, 750, 1500, 6000]
    # the table's "20.32 ± 0.22%" at 750 images and "20.40 ± 1.85%" at 1,500 (standard)
    assert all_mc["mean"][1] == pytest.approx(0.2032)
    assert all_mc["std"][1] == pytest.approx(0.0022)
    assert summary["lenet-all"]["standard"]["std"][2] == pytest.approx(0.0185)


def test_ood_summary_marks_the_constant_scores():
    summary, constant = redraw.ood_summary(redraw.load("ood"))
    assert list(summary["mc"]) == list(OOD_SCORES)          # the experiment's names, in order
    # standard dropout's MI and vote count are 0 for every image: no AUROC in the table
    assert constant == [("standard", "mutual_info"), ("standard", "variation_ratio")]
    # the table's "0.905" (MC, mutual information) and "0.813" (standard, entropy)
    assert summary["mc"]["mutual_info"]["auroc"]["mean"] == pytest.approx(0.905)
    assert summary["standard"]["entropy"]["auroc"]["mean"] == pytest.approx(0.813)


def test_the_rerun_commands_are_the_results_pages():
    page = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    for name, (_, command) in redraw.NEED_A_RERUN.items():
        assert command in page, name
        assert (ROOT / "docs" / "figures" / name).is_file()


def test_redraw_writes_both_figures(tmp_path):
    paths = redraw.redraw(tmp_path)
    assert [p.name for p in paths] == ["small_data_final.png", "ood_auroc.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
