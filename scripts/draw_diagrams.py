"""Draw the diagrams of the derivation pages into docs/figures/.

    python scripts/draw_diagrams.py [OUT_DIR]        # default: docs/figures

* ``im2col_patch_matrix.png`` (docs/im2col.md): a 3×4 one-channel image, its 2×2 patches at
  stride 1 and the patch matrix ``x*`` that :func:`tinybcnn.functional.im2col` builds from
  it, each row coloured like its patch.
* ``patch_vs_input_masking.png`` (docs/patch-masking.md): patch masking draws one
  independent Bernoulli value per (patch, kernel); input dropout draws one per pixel, and
  im2col copies it into every patch that holds the pixel, so rows share their noise.

The numbers drawn are computed by the package (``im2col`` on real arrays), so the diagram
cannot drift from the code. The figures are committed; tests/docs/test_diagrams.py runs this.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from tinybcnn.functional import conv_output_shape, im2col  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
H, W, K = 3, 4, 2                     # image height, width, kernel size (stride 1, no pad)


def patch_matrix_example() -> tuple[np.ndarray, np.ndarray]:
    """The example image (pixels numbered 1..H·W) and its patch matrix x*."""
    x = np.arange(1, H * W + 1, dtype=float).reshape(1, 1, H, W)
    return x, im2col(x, K, K)


def _grid(ax, values, colors=None, fmt="{:.0f}", title="") -> None:
    """Draw a matrix as a grid of numbered cells (row 0 on top)."""
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            face = "white" if colors is None else colors[r][c]
            ax.add_patch(Rectangle((c, rows - 1 - r), 1, 1, facecolor=face, edgecolor="black"))
            ax.text(c + 0.5, rows - 0.5 - r, fmt.format(values[r, c]), ha="center",
                    va="center", fontsize=9)
    ax.set(xlim=(-0.1, cols + 0.1), ylim=(-0.1, rows + 0.1), aspect="equal", title=title)
    ax.title.set_fontsize(9)
    ax.axis("off")


def draw_im2col(path: Path) -> None:
    x, cols = patch_matrix_example()
    oh, ow = conv_output_shape(H, W, K, K)
    palette = plt.get_cmap("tab10").colors
    fig, (ax_img, ax_cols) = plt.subplots(1, 2, figsize=(8, 3.6),
                                          gridspec_kw={"width_ratios": [W, cols.shape[1] + 1]})
    _grid(ax_img, x[0, 0], title=f"image x ({H}×{W}), pixels numbered\n"
                                 f"{K}×{K} patches, stride 1: {oh}×{ow} positions")
    for n in range(oh * ow):                     # outline each patch, slightly inset
        a, b = divmod(n, ow)
        inset = 0.06 + 0.03 * n
        ax_img.add_patch(Rectangle((b + inset, H - a - K + inset), K - 2 * inset, K - 2 * inset,
                                   fill=False, edgecolor=palette[n], linewidth=2))
    row_colors = [[(*palette[n], 0.35)] * cols.shape[1] for n in range(cols.shape[0])]
    _grid(ax_cols, cols, colors=row_colors,
          title="patch matrix x* = im2col(x, 2, 2)\none row per position (n, oh, ow), "
                "columns (c, i, j)")
    for n in range(cols.shape[0]):
        a, b = divmod(n, ow)
        ax_cols.text(-0.15, cols.shape[0] - 0.5 - n, f"({a},{b})", ha="right", va="center",
                     fontsize=8, color=palette[n])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_masking(path: Path, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    c_out = 2
    oh, ow = conv_output_shape(H, W, K, K)
    m = (rng.random((1, 1, H, W)) < 0.5).astype(float)               # input dropout: per pixel
    m_cols = im2col(m, K, K)                                         # what each patch sees
    pixel_ids = im2col(np.arange(1, H * W + 1, dtype=float).reshape(1, 1, H, W), K, K)
    z = (rng.random((oh * ow, c_out)) < 0.5).astype(float)   # patch mask: per (patch, kernel)
    on, off = (0.55, 0.8, 0.55), (0.95, 0.6, 0.6)
    ids = np.arange(1, H * W + 1, dtype=float).reshape(H, W)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), gridspec_kw={"width_ratios": [4, 4, 2.4]})
    _grid(axes[0], ids, colors=[[on if v else off for v in row] for row in m[0, 0]],
          title="input dropout: one value per pixel\n(green kept, red dropped; pixels numbered)")
    _grid(axes[1], pixel_ids, colors=[[on if v else off for v in row] for row in m_cols],
          title="im2col of that mask: a pixel's value repeats\nin every patch (row) that holds it")
    _grid(axes[2], z, colors=[[on if v else off for v in row] for row in z],
          title="patch masking Z: one value per\n(patch, kernel), all independent")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(out_dir: Path) -> list[Path]:
    """Draw every diagram into ``out_dir``; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "im2col_patch_matrix.png", out_dir / "patch_vs_input_masking.png"]
    draw_im2col(paths[0])
    draw_masking(paths[1])
    return paths


if __name__ == "__main__":
    for written in main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "figures"):
        print("wrote", written)
