"""A tiny IDX data set for the experiment tests: Fashion-MNIST shrunk to 16×16."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinybcnn.data import IDX_FILES, load_dataset, stratified_subset, write_idx


def write_tiny_idx(folder: Path) -> str:
    """``idx:DIR``: 160 train / 100 test Fashion-MNIST images shrunk to 16×16 (LeNet's minimum),
    written into ``folder``."""
    from scipy import ndimage

    data = load_dataset("embedded", progress=False)
    for split, n in (("train", 160), ("t10k", 100)):
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        x, y = stratified_subset(x, y, n, seed=0)
        small = ndimage.zoom(x.astype(np.float32), (1, 16 / 28, 16 / 28), order=1)
        write_idx(folder / f"{split}-images-idx3-ubyte", np.clip(small, 0, 255).astype(np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", y.astype(np.uint8))
    assert sorted(p.name for p in folder.iterdir()) == sorted(IDX_FILES.values())
    return f"idx:{folder}"
