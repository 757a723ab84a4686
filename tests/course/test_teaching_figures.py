"""The tutorials' figures are readable: what the issue on teaching (round 3) found unreadable.

* error against T: the ± std band has its own legend entry;
* the active-learning curves count images: whole-number ticks only (no "22.5 labelled images");
* the reliability diagram's per-bin counts are large enough to read at page width;
* a tutorial page built by the docs hook prints ``$TINYBCNN_TUTORIAL_OUT``, not the build's
  temporary folder.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tinybcnn import plots
from tinybcnn.experiments import figures as experiment_figures

ROOT = Path(__file__).resolve().parents[2]


def test_error_vs_samples_band_is_in_the_legend():
    fig = plots.error_vs_samples([1, 2, 5, 10], np.array([0.3, 0.25, 0.2, 0.19]),
                                 np.array([0.02, 0.01, 0.01, 0.005]), 0.22)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("std" in label for label in labels), labels
    assert len(labels) == 3


def test_active_learning_ticks_are_whole_numbers():
    curves = {"random": {"labels": [20, 30, 40], "error": [[0.5, 0.45, 0.4]]},
              "bald": {"labels": [20, 30, 40], "error": [[0.5, 0.4, 0.35]]}}
    fig = experiment_figures.active_learning_curves(curves)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert len(ticks) >= 2
    assert all(float(t).is_integer() for t in ticks), ticks


def test_reliability_bin_counts_are_readable():
    edges = np.linspace(0, 1, 16)
    rel = SimpleNamespace(bin_edges=edges, bin_confidence=np.linspace(0.05, 0.95, 15),
                          bin_accuracy=np.linspace(0.0, 0.9, 15),
                          bin_counts=np.arange(1, 16) * 10, ece=0.05)
    fig = plots.reliability_diagram({"MC": rel})
    counts = [t for t in fig.axes[0].texts if t.get_text().isdigit()]
    assert len(counts) == 15
    assert min(t.get_fontsize() for t in counts) >= 7


def test_tutorial_pages_do_not_print_the_build_folder(tmp_path):
    pytest.importorskip("mkdocs")
    sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
    try:
        import tutorial_pages
    finally:
        sys.path.pop(0)
    script = tmp_path / "99_paths.py"
    script.write_text('# %% [markdown]\n# # 99 paths\n\n# %%\nimport os\n'
                      'out = os.environ["TINYBCNN_TUTORIAL_OUT"]\n'
                      'print("saved", os.path.join(out, "a.png"))\n', encoding="utf-8")
    out = tutorial_pages.execute([script])["99_paths.py"]
    printed = "".join(cell["stdout"] for cell in out)
    assert "saved $TINYBCNN_TUTORIAL_OUT/a.png" in printed, printed
    assert "tinybcnn-docs-" not in printed
