"""scripts/draw_diagrams.py draws the derivation pages' diagrams from the package's own
im2col; it runs, writes readable PNGs, and the pages show the committed copies."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    script = ROOT / "scripts" / "draw_diagrams.py"
    spec = importlib.util.spec_from_file_location("draw_diagrams", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_diagram_script_writes_pngs(tmp_path):
    import matplotlib.image as mpimg

    paths = load_script().main(tmp_path)
    assert [p.name for p in paths] == ["im2col_patch_matrix.png", "patch_vs_input_masking.png"]
    for path in paths:
        image = mpimg.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 500
        assert image.std() > 0.05                         # not a blank canvas


def test_drawn_patch_matrix_is_the_paper_x_star():
    # the numbers in the im2col diagram: 2x2 patches of a 3x4 image numbered 1..12, row by row
    x, cols = load_script().patch_matrix_example()
    by_hand = [[1, 2, 5, 6], [2, 3, 6, 7], [3, 4, 7, 8],
               [5, 6, 9, 10], [6, 7, 10, 11], [7, 8, 11, 12]]
    assert np.array_equal(cols, by_hand)


def test_pages_show_the_committed_diagrams():
    for page, figure in (("im2col.md", "im2col_patch_matrix.png"),
                         ("patch-masking.md", "patch_vs_input_masking.png")):
        assert (ROOT / "docs" / "figures" / figure).exists()
        assert f"figures/{figure}" in (ROOT / "docs" / page).read_text(encoding="utf-8")
