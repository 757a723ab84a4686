"""Data sets by name: the embedded Fashion-MNIST subset, MNIST and Fashion-MNIST found on disk
or downloaded once, and any four IDX files.

:func:`load_dataset` returns a :class:`~tinybcnn.data.dataset.Dataset` by name:

``"embedded"``
    a balanced real Fashion-MNIST subset (6,000 train / 2,000 test) shipped inside the
    package (``tinybcnn/data/fashion_mnist_small.npz``), so every example and test runs
    offline. It is the default everywhere.
``"fashion-mnist"``, ``"mnist"``
    the full sets (60,000 / 10,000), found on disk or downloaded once into the cache and
    checked against known SHA-256 sums.
``"idx:DIR"``
    any four IDX files ``DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.resources
import os
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..files.atomic import atomic_write
from .dataset import FASHION_MNIST_CLASSES, MNIST_CLASSES, Dataset
from .idx import DataError, load_idx_pair

__all__ = ["DATASET_NAMES", "IDX_FILES", "MIRRORS", "SHA256", "SYSTEM_DIRS", "MAX_IDX_CLASSES",
           "cache_dir", "class_names", "load_dataset"]


DATASET_NAMES = ("embedded", "fashion-mnist", "mnist", "idx:DIR")

# role -> file stem; a file may also carry ".gz"
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Where to download from, tried in order; each holds the four ``<stem>.gz`` files.
# ``TINYBCNN_MIRROR`` (comma-separated base URLs) replaces these lists when set.
MIRRORS: dict[str, list[str]] = {
    "fashion-mnist": [
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # tensorflow-datasets' mirror
    ],
}

# SHA-256 of the upstream .gz files, checked after every download.
#
# Fashion-MNIST: the files Zalando Research publishes (upstream MD5s in its README:
# 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...). SHA-256 from tensorflow/datasets,
# tensorflow_datasets/url_checksums/fashion_mnist.txt (the same values appear in
# FluxML/Flux.jl src/data/fashion-mnist.jl and Britefury/batchup). Debian's
# dataset-fashion-mnist ships the same data re-gzipped (its gzip headers lack the stored
# file name, which makes each file 23-24 bytes shorter), so its .gz files hash differently;
# they are read, not downloaded, and are validated by the IDX reader instead.
#
# MNIST: tensorflow/datasets, tensorflow_datasets/url_checksums/mnist.txt (files of
# 9,912,422 / 28,881 / 1,648,877 / 4,542 bytes); the same files are on torchvision's
# ossci-datasets mirror (torchvision itself lists their MD5s).
SHA256: dict[str, dict[str, str]] = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
}

# Folders a system package installs the data into (Debian/Ubuntu: dataset-fashion-mnist).
SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [],
}

_CLASS_NAMES = {"fashion-mnist": FASHION_MNIST_CLASSES, "mnist": MNIST_CLASSES}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashion": "fashion-mnist"}
_EMBEDDED_FILE = "fashion_mnist_small.npz"
_DOWNLOAD_TIMEOUT_S = 60


def cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/tinybcnn/<name>``, by default ``~/.cache/tinybcnn/<name>``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative path.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "tinybcnn" / name


def _find_idx_files(folder: Path) -> dict[str, Path] | str:
    """The four IDX files in ``folder`` (raw preferred, else .gz), or why they are not there."""
    if not folder.is_dir():
        return "no such folder"
    found, missing = {}, []
    for role, stem in IDX_FILES.items():
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(f"{stem}[.gz]")
    return found if not missing else "missing " + ", ".join(missing)


def _load_split_files(files: dict[str, Path], n_classes: int | None) -> tuple[np.ndarray, ...]:
    """Read the four files: (x_train, y_train, x_test, y_test)."""
    x_train, y_train = load_idx_pair(files["train_images"], files["train_labels"], n_classes)
    x_test, y_test = load_idx_pair(files["test_images"], files["test_labels"], n_classes)
    return x_train, y_train, x_test, y_test


def _candidate_dirs(
    name: str, data_dir: str | os.PathLike[str] | None
) -> list[tuple[Path | None, str]]:
    """Where to look for ``name``, in order, each with a note on why it is on the list.

    A ``None`` folder stands for ``$TINYBCNN_DATA`` when it is not set, so the "not found"
    message can still point at it.
    """
    places: list[tuple[Path | None, str]] = []
    if data_dir:
        # ROOT/<name> first, so one folder can hold mnist/ and fashion-mnist/ side by side
        places += [(Path(data_dir) / name, "data_dir"), (Path(data_dir), "data_dir")]
    env = os.environ.get("TINYBCNN_DATA")
    if env:
        places += [(Path(env) / name, "$TINYBCNN_DATA"), (Path(env), "$TINYBCNN_DATA")]
    else:
        places.append((None, "$TINYBCNN_DATA"))
    places += [(d, "system package") for d in SYSTEM_DIRS.get(name, [])]
    places.append((cache_dir(name), "cache"))
    return places


def _how_to_get(name: str, downloading: bool = False) -> str:
    """The advice that ends every "not found" message (``downloading``: after a failed
    download, which the advice then does not repeat)."""
    ways = []
    if name == "fashion-mnist":
        ways.append("run `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)")
    ways.append(f"put the four files {', '.join(s + '[.gz]' for s in IDX_FILES.values())} "
                f"in a folder and pass --data-dir DIR (or data_dir=DIR, or set $TINYBCNN_DATA)")
    if downloading:
        ways.append("try again when the network is back (or set $TINYBCNN_MIRROR to a "
                    "mirror's base URL)")
    else:
        ways.append(f"allow the download (download=True) from {_mirrors(name)[0]}")
    return "to get it: " + "; or ".join(ways)


def _reason(error: BaseException) -> str:
    """A download error in a few words: ``HTTP 404 Not Found``, ``timed out``, ``[Errno 111]
    Connection refused`` (urllib's ``<urlopen error [Errno None] ...>`` wrapping dropped)."""
    if isinstance(error, OSError) and error.errno is None and isinstance(
            error.__cause__, OSError):  # atomic_write's re-raise naming the file: the cause
        return _reason(error.__cause__)
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, OSError) and reason.strerror:
            return (f"[Errno {reason.errno}] {reason.strerror}" if reason.errno is not None
                    else str(reason.strerror))
        return str(reason)
    return str(error) or type(error).__name__


def _mirrors(name: str) -> list[str]:
    """Base URLs to download ``name`` from: $TINYBCNN_MIRROR if set, else :data:`MIRRORS`."""
    env = os.environ.get("TINYBCNN_MIRROR", "").strip()
    bases = [u.strip() for u in env.split(",") if u.strip()] if env else MIRRORS[name]
    return [b if b.endswith("/") else b + "/" for b in bases]


def _download_file(url: str, dest: Path, sha256: str, progress: bool) -> None:
    """Download ``url`` to ``dest`` atomically, and check its SHA-256 before it gets the name.

    Raises
    ------
    DataError
        If the checksum does not match (nothing is left under ``dest``).
    OSError
        ``urllib.error.URLError`` and friends, for the caller to try the next mirror.
    """
    from tqdm.auto import tqdm  # imported here: only downloads need it

    h = hashlib.sha256()
    with atomic_write(dest) as f:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      disable=not progress, leave=False) as bar:
                while chunk := response.read(1 << 16):
                    h.update(chunk)
                    f.write(chunk)
                    bar.update(len(chunk))
        if h.hexdigest() != sha256:
            # raised inside the atomic block, so the temporary file is deleted
            raise DataError(f"{url}: SHA-256 {h.hexdigest()} does not match the expected "
                            f"{sha256} (corrupt or tampered download)")


def _download(name: str, folder: Path, progress: bool) -> None:
    """Fetch the missing ``.gz`` files of ``name`` into ``folder``, trying each mirror.

    A failure leaves no empty folder behind: the folders this call created (the cache's
    ``tinybcnn/<name>``) are removed again if nothing was downloaded into them."""
    created = [d for d in (folder, folder.parent) if not d.exists()]
    try:
        _download_missing(name, folder, progress)
    except BaseException:
        for d in created:  # deepest first; rmdir refuses a folder that holds anything
            try:
                d.rmdir()
            except OSError:
                break
        raise


def _download_missing(name: str, folder: Path, progress: bool) -> None:
    for filename, sha256 in SHA256[name].items():
        dest = folder / filename
        if dest.is_file():  # written by an earlier, interrupted run: verified before renaming
            continue
        errors = []
        for base in _mirrors(name):
            try:
                _download_file(base + filename, dest, sha256, progress)
                break
            # URLError, HTTPError and timeouts are OSErrors; a connection cut mid-file is an
            # HTTPException; a malformed mirror URL a ValueError (so is DataError: bad SHA-256)
            except (ValueError, OSError, http.client.HTTPException) as e:
                errors.append(f"{base + filename}: {_reason(e)}")
        else:
            raise DataError(f"cannot download {name} into {folder} ("
                            + "; ".join(errors) + f"); {_how_to_get(name, downloading=True)}")


def _load_named(name: str, data_dir: str | os.PathLike[str] | None, download: bool,
                progress: bool) -> Dataset:
    """Load ``fashion-mnist`` or ``mnist`` from the first place that has it, else download."""
    looked = []
    for folder, why in _candidate_dirs(name, data_dir):
        if folder is None:
            looked.append(f"{why} (not set)")
            continue
        files = _find_idx_files(folder)
        if isinstance(files, str):
            looked.append(f"{folder} ({why}: {files})")
            continue
        return _dataset_from_files(name, files, folder)
    if not download:
        raise DataError(f"{name} not found; looked in " + "; ".join(looked)
                        + f"; {_how_to_get(name)}")
    folder = cache_dir(name)
    _download(name, folder, progress)
    files = _find_idx_files(folder)
    assert not isinstance(files, str), files  # _download fetched all four or raised
    return _dataset_from_files(name, files, folder)


def _dataset_from_files(name: str, files: dict[str, Path], folder: Path) -> Dataset:
    """Build the named Dataset from four located files, saying how to repair a corrupt one."""
    try:
        arrays = _load_split_files(files, n_classes=10)
    except DataError as e:
        raise DataError(f"{e}; {name} in {folder} looks corrupt: replace the file "
                        f"(a cached download can simply be deleted and fetched again)") from None
    return Dataset(*arrays, name=name, n_classes=10, class_names=_CLASS_NAMES[name],
                   source=str(folder))


def class_names(dataset: str, n_classes: int) -> tuple[str, ...]:
    """The class names of a data set by its name, without loading it.

    Fashion-MNIST's names for ``embedded`` and ``fashion-mnist``, digits for ``mnist``, and
    the class numbers for anything else (``idx:DIR`` files carry no names).
    """
    key = _ALIASES.get(dataset, dataset)
    known = FASHION_MNIST_CLASSES if key == "embedded" else _CLASS_NAMES.get(key)
    if known is not None and len(known) == n_classes:
        return known
    return tuple(str(k) for k in range(n_classes))


#: The most classes an ``idx:DIR`` data set may have (its labels must lie in [0, this)).
MAX_IDX_CLASSES = 1000


def _load_idx_dir(spec: str) -> Dataset:
    """``idx:DIR``: four IDX files in DIR; the number of classes is read off the labels."""
    folder = Path(spec[len("idx:"):]).expanduser()
    files = _find_idx_files(folder)
    if isinstance(files, str):
        raise DataError(f"{spec}: {folder}: {files} (expected "
                        f"{', '.join(s + '[.gz]' for s in IDX_FILES.values())})")
    x_train, y_train, x_test, y_test = _load_split_files(files, n_classes=None)
    n_classes = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    if n_classes > MAX_IDX_CLASSES:
        # a damaged label (e.g. 2**31 - 1) would otherwise build a 2**31-way classifier
        raise DataError(f"{spec}: labels run up to {n_classes - 1}, but idx: data sets may "
                        f"have at most {MAX_IDX_CLASSES} classes (labels 0 to "
                        f"{MAX_IDX_CLASSES - 1}); is a label file damaged?")
    return Dataset(x_train, y_train, x_test, y_test, name=spec, n_classes=n_classes,
                   class_names=tuple(str(c) for c in range(n_classes)), source=str(folder))


def _embedded_resource() -> Any:
    """The shipped ``.npz`` as an importlib.resources Traversable (a Path as a fallback).

    ``files("tinybcnn.data")`` also works from a zip or wheel; the fallback covers a source
    tree used as a namespace package (no ``__init__.py``), which ``files`` rejects.
    """
    try:
        return importlib.resources.files(__package__ or "tinybcnn.data") / _EMBEDDED_FILE
    except (TypeError, ValueError, OSError, ModuleNotFoundError):
        return Path(__file__).with_name(_EMBEDDED_FILE)


def _load_embedded() -> Dataset:
    """The balanced Fashion-MNIST subset shipped in ``tinybcnn/data/``."""
    resource = _embedded_resource()
    try:
        with resource.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"embedded data set {resource} is missing or corrupt ({e}); "
                        "reinstall tinybcnn or rebuild it with scripts/build_embedded.py") from None
    return Dataset(arrays["x_train"], arrays["y_train"].astype(np.int64),
                   arrays["x_test"], arrays["y_test"].astype(np.int64),
                   name="embedded", n_classes=10, class_names=FASHION_MNIST_CLASSES,
                   source=f"tinybcnn/data/{_EMBEDDED_FILE} (Fashion-MNIST subset)")


def load_dataset(name: str = "embedded", data_dir: str | os.PathLike[str] | None = None,
                 download: bool = True, *, progress: bool = True) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        ``"embedded"`` (default): 6,000 train / 2,000 test Fashion-MNIST images, balanced,
        shipped in the package. ``"fashion-mnist"`` or ``"mnist"``: the full 60,000 /
        10,000 sets. ``"idx:DIR"``: the four IDX files in DIR.
    data_dir : str or path-like, optional
        For fashion-mnist and mnist: a folder holding the four files, or holding them in a
        sub-folder named after the data set.
    download : bool
        Download fashion-mnist or mnist into the cache if no folder has them.
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Unknown name; data missing everywhere (the message lists where it looked and how to
        get the data); a corrupt file; a failed or mismatching download.

    Notes
    -----
    fashion-mnist and mnist are looked for, in order, in ``data_dir``, ``$TINYBCNN_DATA``
    (each first as ``ROOT/<name>``, then ``ROOT`` itself), the system folder
    ``/usr/share/datasets/fashion-mnist`` (Fashion-MNIST only; Debian's
    ``dataset-fashion-mnist``), and the cache ``$XDG_CACHE_HOME/tinybcnn/<name>``
    (``~/.cache/tinybcnn/<name>``). Downloads go to the cache, come from :data:`MIRRORS`
    (or ``$TINYBCNN_MIRROR``), are checked against :data:`SHA256`, and appear under their
    final names only once complete and verified.
    """
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "embedded":
        return _load_embedded()
    if key in ("fashion-mnist", "mnist"):
        return _load_named(key, data_dir, download, progress)
    if name.startswith("idx:") and len(name) > len("idx:"):
        return _load_idx_dir(name)
    raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")
