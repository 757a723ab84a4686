"""The Dataset container: a train/test split of labelled images, the float batches networks
take, and seeded class-balanced subsets.

:class:`Dataset` holds a train/test split as ``uint8`` images ``(N, H, W)`` and ``int64``
labels ``(N,)``; :func:`as_float` turns images into the ``float32`` NCHW batches the networks
eat, scaled by 1/256 as in the paper's Caffe LeNet. :func:`stratified_subset` draws seeded,
class-balanced subsets (the paper's small-data experiments train on a few thousand images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..random import stream
from .idx import DataError

__all__ = ["Dataset", "as_float", "PIXEL_SCALE", "FASHION_MNIST_CLASSES", "MNIST_CLASSES",
           "stratified_indices", "stratified_subset"]


# ---------------------------------------------------------------------------------------
# 1. The Dataset container
# ---------------------------------------------------------------------------------------

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

# The paper's Caffe LeNet scales pixels by 1/256 (Caffe's ``scale: 0.00390625``), not 1/255.
# A power of two: k/256 is exact in float32, and images land in [0, 255/256].
PIXEL_SCALE = 0.00390625


def as_float(x: np.ndarray) -> np.ndarray:
    """Images as the float32 NCHW batch a network takes, pixels scaled by 1/256.

    Parameters
    ----------
    x : ndarray, uint8, shape (N, H, W) or (N, C, H, W)

    Returns
    -------
    ndarray, float32, shape (N, 1, H, W) or (N, C, H, W)
        ``x * PIXEL_SCALE``, values in ``[0, 255/256]``.

    Notes
    -----
    Only ``uint8`` input is accepted, so already-scaled data is never scaled twice.
    """
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise DataError(
            f"as_float expects uint8 images of shape (N, H, W) or (N, C, H, W), "
            f"got {x.dtype} of shape {x.shape}"
        )
    if x.ndim == 3:
        x = x[:, None]
    return x.astype(np.float32) * np.float32(PIXEL_SCALE)


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is elementwise, not a bool
class Dataset:
    """A train/test split of labelled images.

    Attributes
    ----------
    x_train, x_test : ndarray, uint8, shape (N, H, W)
    y_train, y_test : ndarray, int64, shape (N,), values in [0, n_classes)
    name : str
        ``"embedded"``, ``"fashion-mnist"``, ``"mnist"`` or ``"idx:DIR"``.
    n_classes : int
    class_names : tuple of str, length n_classes
    source : str
        Where the arrays were read from (a folder, a URL cache, the package).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int = 10
    class_names: tuple[str, ...] = FASHION_MNIST_CLASSES
    source: str = ""

    # as a method too, so ``ds.as_float(ds.x_test)`` reads naturally
    as_float = staticmethod(as_float)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.uint8 or x.ndim != 3:
                raise DataError(f"{self.name}: x_{split} must be uint8 (N, H, W), "
                                f"got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise DataError(f"{self.name}: y_{split} must be int64 ({len(x)},), "
                                f"got {y.dtype} {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise DataError(f"{self.name}: y_{split} must lie in [0, {self.n_classes})")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"{self.name}: train images are {self.x_train.shape[1:]} "
                            f"but test images are {self.x_test.shape[1:]}")
        if len(self.class_names) != self.n_classes:
            raise DataError(f"{self.name}: {len(self.class_names)} class names "
                            f"for {self.n_classes} classes")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, H, W)``: the ``in_shape`` a model for this data takes."""
        return (1, *self.x_train.shape[1:])

    def subset(self, train_size: int | None = None, test_size: int | None = None,
               seed: int = 0) -> Dataset:
        """A stratified, seeded subset (see :func:`stratified_subset`); None keeps a split."""
        x_train, y_train, x_test, y_test = self.x_train, self.y_train, self.x_test, self.y_test
        if train_size is not None:
            x_train, y_train = stratified_subset(x_train, y_train, train_size, seed)
        if test_size is not None:
            x_test, y_test = stratified_subset(x_test, y_test, test_size, seed)
        return Dataset(x_train, y_train, x_test, y_test, self.name, self.n_classes,
                       self.class_names, self.source)

    def __repr__(self) -> str:  # the default would print four arrays
        h, w = self.x_train.shape[1:]
        return (f"Dataset({self.name!r}: {len(self.x_train):,} train / {len(self.x_test):,} "
                f"test images {h}x{w}, {self.n_classes} classes, from {self.source})")


# ---------------------------------------------------------------------------------------
# 2. Stratified subsets
# ---------------------------------------------------------------------------------------


def stratified_indices(y: np.ndarray, n: int, seed: int | None = 0) -> np.ndarray:
    """Indices of a seeded subset of size ``n`` that keeps the class proportions of ``y``.

    Parameters
    ----------
    y : ndarray, int, shape (N,)
        Non-negative labels.
    n : int, 0 <= n <= N
    seed : int or None

    Returns
    -------
    ndarray, int64, shape (n,)
        Distinct indices into ``y``, in random order.

    Notes
    -----
    Class ``c`` with ``N_c`` members gets ``floor(n N_c / N)`` places, and the places left
    over go to the classes with the largest remainders (ties broken at random): the
    largest-remainder rule. On balanced data the counts per class therefore differ by at
    most one. Within each class the members are drawn without replacement.
    """
    y = np.asarray(y)
    if y.ndim != 1 or (y.size and (y.dtype.kind not in "iu" or y.min() < 0)):
        raise DataError(f"labels must be non-negative integers of shape (N,), got {y.dtype} "
                        f"{y.shape}")
    if not 0 <= n <= len(y):
        raise DataError(f"cannot draw a subset of {n:,} from {len(y):,} examples")
    rng = stream(seed, "subset")
    counts = np.bincount(y) if y.size else np.zeros(0, np.int64)
    # integer arithmetic: n * N_c / N exactly, as quotient and remainder
    quota, remainder = np.divmod(n * counts, max(len(y), 1))
    # lexsort sorts by the last key first: largest remainder, then a random tie-break
    order = np.lexsort((rng.permutation(len(counts)), -remainder))
    quota[order[: n - quota.sum()]] += 1
    picks = [rng.choice(np.flatnonzero(y == c), size=q, replace=False)
             for c, q in enumerate(quota) if q]
    chosen = np.concatenate(picks) if picks else np.zeros(0, np.int64)
    return rng.permutation(chosen).astype(np.int64)


def stratified_subset(x: np.ndarray, y: np.ndarray, n: int,
                      seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded subset of ``n`` examples with the class proportions of ``y``.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, int, shape (N,)
    n : int, 0 <= n <= N
    seed : int or None

    Returns
    -------
    x_sub : ndarray, shape (n, ...)
    y_sub : ndarray, shape (n,)

    Raises
    ------
    DataError
        If ``n`` is negative or larger than N, or ``x`` and ``y`` differ in length.

    See Also
    --------
    stratified_indices : how the subset is drawn.
    """
    if len(x) != len(y):
        raise DataError(f"x holds {len(x):,} examples but y holds {len(y):,}")
    idx = stratified_indices(y, n, seed)
    return x[idx], y[idx]
