"""A tiny random image data set of a given class layout, for protocol tests."""

from __future__ import annotations

import numpy as np

from tinybcnn.data import Dataset


def random_dataset(classes: int, per_class_train: int, per_class_test: int, name: str,
                   sorted_by_class: bool = False) -> Dataset:
    """Uniform uint8 16x16 images, ``per_class`` of each class in each split; labels
    interleaved (0, 1, 2, 0, 1, ...) or, with ``sorted_by_class``, class 0 first."""
    rng = np.random.default_rng(0)
    layout = np.repeat if sorted_by_class else np.tile

    def split(per):
        y = layout(np.arange(classes), per).astype(np.int64)
        return rng.integers(0, 256, (len(y), 16, 16), dtype=np.uint8), y

    (x_train, y_train), (x_test, y_test) = split(per_class_train), split(per_class_test)
    return Dataset(x_train, y_train, x_test, y_test, name, classes,
                   tuple(str(c) for c in range(classes)), "test")
