"""Data: the IDX file format, the embedded Fashion-MNIST subset, and finding or downloading
MNIST and Fashion-MNIST.

Three modules, each usable on its own; every name is also here, as ``tinybcnn.data.NAME``:

1. :mod:`~tinybcnn.data.idx`: :func:`read_idx` / :func:`write_idx` read and write one IDX
   file (LeCun's format for MNIST), raw or gzip-compressed. The reader trusts nothing in
   the file: every problem is a :class:`DataError` that names the file, and a header that
   *declares* a terabyte of data is rejected before a terabyte is allocated.
   :func:`load_idx_pair` reads an images file and its labels file and checks they agree.
2. :mod:`~tinybcnn.data.dataset`: :class:`Dataset` holds a train/test split as ``uint8``
   images ``(N, H, W)`` and ``int64`` labels ``(N,)``; :func:`as_float` turns images into
   the ``float32`` NCHW batches the networks eat, scaled by 1/256 as in the paper's Caffe
   LeNet. :func:`stratified_subset` draws seeded, class-balanced subsets (the paper's
   small-data experiments train on a few thousand images).
3. :mod:`~tinybcnn.data.sources`: :func:`load_dataset` returns a :class:`Dataset` by name:

   ``"embedded"``
       a balanced real Fashion-MNIST subset (6,000 train / 2,000 test) shipped inside the
       package (this folder), so every example and test runs offline. It is the default
       everywhere.
   ``"fashion-mnist"``, ``"mnist"``
       the full sets (60,000 / 10,000), found on disk or downloaded once into the cache
       and checked against known SHA-256 sums.
   ``"idx:DIR"``
       any four IDX files ``DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.

Settings such as :data:`SYSTEM_DIRS` or :data:`MIRRORS` are read by
:mod:`tinybcnn.data.sources`: to change one for a test, patch it there (a dict may be changed
in place through either name).
"""

from .dataset import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    PIXEL_SCALE,
    Dataset,
    as_float,
    stratified_indices,
    stratified_subset,
)
from .idx import DataError, load_idx_pair, read_idx, write_idx
from .sources import (
    DATASET_NAMES,
    IDX_FILES,
    MAX_IDX_CLASSES,  # noqa: F401 (public, though not in __all__, as before the split)
    MIRRORS,
    SHA256,
    SYSTEM_DIRS,
    cache_dir,
    class_names,
    load_dataset,
)

__all__ = [
    "DataError",
    "read_idx",
    "write_idx",
    "load_idx_pair",
    "Dataset",
    "as_float",
    "class_names",
    "PIXEL_SCALE",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "DATASET_NAMES",
    "load_dataset",
    "stratified_indices",
    "stratified_subset",
    "cache_dir",
    "IDX_FILES",
    "MIRRORS",
    "SHA256",
    "SYSTEM_DIRS",
]
