"""Build ``tinybcnn/data/fashion_mnist_small.npz``, the Fashion-MNIST subset shipped in tinybcnn.

It draws a seeded, class-balanced subset of the real Fashion-MNIST train and test sets
(by default 6,000 and 2,000 images: 600 and 200 per class) and stores it with
``np.savez_compressed`` under the keys ``x_train`` (uint8, N x 28 x 28), ``y_train``
(uint8, N), ``x_test`` and ``y_test``. ``load_dataset("embedded")`` reads it back.

Usage::

    apt-get install dataset-fashion-mnist          # the source: Debian's copy of upstream
    python scripts/build_embedded.py               # writes tinybcnn/data/fashion_mnist_small.npz

The source folder may be any folder holding the four upstream IDX files (``--source``).
The output must stay under 4 MB; the script refuses to write a larger file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

from tinybcnn.data import IDX_FILES, load_idx_pair, stratified_subset

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = ROOT / "tinybcnn" / "data" / "fashion_mnist_small.npz"
MAX_BYTES = 4_000_000


def find(folder: Path, stem: str) -> Path:
    """``folder/stem`` or ``folder/stem.gz``, whichever exists."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    sys.exit(f"error: {folder} has no {stem}[.gz] (apt-get install dataset-fashion-mnist?)")


def content_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and bytes.

    The ``.npz`` bytes carry zip timestamps and so change from build to build; this digest
    does not, so it is what the licence note records to identify the subset.
    """
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def build(source: Path, n_train: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Read the full set from ``source`` and draw the balanced subsets."""
    x_train, y_train = load_idx_pair(find(source, IDX_FILES["train_images"]),
                                     find(source, IDX_FILES["train_labels"]), n_classes=10)
    x_test, y_test = load_idx_pair(find(source, IDX_FILES["test_images"]),
                                   find(source, IDX_FILES["test_labels"]), n_classes=10)
    # different seeds for the two splits, so the draws are not correlated by construction
    x_tr, y_tr = stratified_subset(x_train, y_train, n_train, seed)
    x_te, y_te = stratified_subset(x_test, y_test, n_test, seed + 1)
    # labels as uint8, as in IDX: 8x smaller; load_dataset casts them to int64
    return {"x_train": x_tr, "y_train": y_tr.astype(np.uint8),
            "x_test": x_te, "y_test": y_te.astype(np.uint8)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train", type=int, default=6000, help="training images")
    parser.add_argument("--test", type=int, default=2000, help="test images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    arrays = build(args.source, args.train, args.test, args.seed)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    size = buf.getbuffer().nbytes
    if size > MAX_BYTES:
        sys.exit(f"error: {size:,} bytes is over the {MAX_BYTES:,}-byte limit; "
                 "use fewer images (--train/--test)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buf.getvalue())

    for split in ("train", "test"):
        counts = np.bincount(arrays[f"y_{split}"], minlength=10)
        print(f"{split:5s}: {len(arrays[f'x_{split}']):5,} images {arrays[f'x_{split}'].shape[1:]}"
              f", per class {counts.min()}..{counts.max()}")
    raw = sum(a.nbytes for a in arrays.values())
    print(f"wrote {args.out}: {size:,} bytes ({raw:,} bytes uncompressed)")
    print(f"source {args.source}, seed {args.seed}")
    print(f"content SHA-256 {content_digest(arrays)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
