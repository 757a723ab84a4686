"""tinybcnn.data: the IDX reader and writer (round trips and fuzzing), load_idx_pair, the
Dataset container, stratified subsets, the embedded set, ``idx:DIR``, locating data on disk,
and downloading against a local HTTP server. No test touches the network."""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
import struct
import threading
import tracemalloc
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinybcnn import data
from tinybcnn.data import (
    FASHION_MNIST_CLASSES,
    IDX_FILES,
    PIXEL_SCALE,
    DataError,
    Dataset,
    as_float,
    load_dataset,
    load_idx_pair,
    read_idx,
    sources,
    stratified_indices,
    stratified_subset,
    write_idx,
)

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_TYPES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file built by hand from the format description: the oracle for the reader."""
    code = IDX_TYPES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def put(path: Path, content: bytes, gz: bool = False) -> Path:
    """Write ``content`` to ``path``, gzip-compressed if asked (whatever the name)."""
    path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
    return path


# ---------------------------------------------------------------------------------------
# write_idx / read_idx round trips
# ---------------------------------------------------------------------------------------

idx_arrays = hnp.arrays(
    dtype=st.sampled_from([np.dtype(t) for t in IDX_TYPES])
    | st.sampled_from([np.dtype(">i4"), np.dtype("<f8"), np.dtype(">i2")]),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6),
)


@settings(max_examples=60)
@given(array=idx_arrays, gz=st.booleans())
def test_write_read_round_trip(tmp_path_factory, array, gz):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, array)
    back = read_idx(path)
    assert back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("=")  # native order, same type
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, array)  # NaNs compare equal here
    assert back.flags.writeable
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz


def test_writer_output_is_the_documented_format(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "images-idx3-ubyte", images).read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03"  # MNIST's image magic 0x00000803
    assert raw == idx_bytes(images)
    floats = np.array([1.5, -2.0], dtype=np.float32)
    assert write_idx(tmp_path / "f", floats).read_bytes() == b"\x00\x00\x0d\x01" + struct.pack(
        ">I2f", 2, 1.5, -2.0)
    # gzip output is deterministic (mtime 0) and decompresses to the same bytes
    gz1 = write_idx(tmp_path / "a.gz", images).read_bytes()
    gz2 = write_idx(tmp_path / "b.gz", images).read_bytes()
    assert gz1 == gz2 and gzip.decompress(gz1) == raw


def test_compression_is_detected_by_content_not_name(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    misnamed_gz = put(tmp_path / "labels-idx1-ubyte", idx_bytes(labels), gz=True)
    misnamed_raw = put(tmp_path / "labels-idx1-ubyte.gz", idx_bytes(labels), gz=False)
    np.testing.assert_array_equal(read_idx(misnamed_gz), labels)
    np.testing.assert_array_equal(read_idx(misnamed_raw), labels)


@pytest.mark.parametrize("array", [np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.uint16),
                                   np.float16(1.0), np.array(7, np.uint8)])
def test_writer_rejects_what_idx_cannot_hold(tmp_path, array):
    with pytest.raises(DataError, match="IDX cannot store"):
        write_idx(tmp_path / "x", array)
    assert not list(tmp_path.iterdir())  # nothing left behind, not even a temporary file


# ---------------------------------------------------------------------------------------
# read_idx on bad input: only DataError, always naming the file
# ---------------------------------------------------------------------------------------

GOOD = idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))


def read_fails(path: Path, match: str | None = None) -> str:
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("content, match", [
    (b"", "truncated"),
    (b"\x00\x00", "truncated"),
    (b"\x01\x00\x08\x03" + GOOD[4:], "magic number 0x01000803"),
    (b"\x00\x00\x07\x03" + GOOD[4:], "type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated"),
    (GOOD[:-1], "holds (only )?23 bytes"),
    (GOOD + b"\x00", "holds"),
    (b"\x00\x00\x08\x03" + struct.pack(">3I", 3, 3, 4) + GOOD[16:], "declares shape .3, 3, 4."),
])
def test_bad_files_raise_data_error(tmp_path, content, match, gz):
    read_fails(put(tmp_path / "bad", content, gz), match)


def test_missing_and_unreadable_files(tmp_path):
    read_fails(tmp_path / "nope", "no such file")
    read_fails(tmp_path, "cannot read")  # a directory
    read_fails(put(tmp_path / "broken.gz", gzip.compress(GOOD)[:-6]), "cannot read")
    corrupt = bytearray(gzip.compress(GOOD))
    corrupt[-8] ^= 0xFF  # the CRC
    read_fails(put(tmp_path / "crc.gz", bytes(corrupt)), "cannot read")


@settings(max_examples=150)
@given(cut=st.integers(0, len(GOOD) - 1), gz=st.booleans())
def test_any_truncation_is_a_data_error(tmp_path_factory, cut, gz):
    path = put(tmp_path_factory.mktemp("cut") / "f", GOOD[:cut], gz)
    read_fails(path)


@settings(max_examples=150)
@given(content=st.binary(max_size=64) | st.builds(
    lambda pos, byte: GOOD[:pos] + bytes([byte]) + GOOD[pos + 1:],
    st.integers(0, len(GOOD) - 1), st.integers(0, 255)), gz=st.booleans())
def test_fuzzed_files_read_or_raise_data_error(tmp_path_factory, content, gz):
    """Random bytes and one-byte mutations of a good file: an array or a DataError, nothing
    else; and an array only when its header is consistent with its length."""
    path = put(tmp_path_factory.mktemp("fuzz") / "f", content, gz)
    try:
        array = read_idx(path)
    except DataError:
        return
    assert 4 + 4 * array.ndim + array.nbytes == len(content)


@settings(max_examples=150)
@given(gz_bytes=st.builds(
    lambda pos, byte: (lambda b: b[:pos % len(b)] + bytes([byte]) + b[pos % len(b) + 1:])(
        gzip.compress(GOOD, mtime=0)),
    st.integers(0, 10_000), st.integers(0, 255)))
def test_corrupt_gzip_streams_raise_data_error(tmp_path_factory, gz_bytes):
    path = put(tmp_path_factory.mktemp("gz") / "f.gz", gz_bytes)
    try:
        np.testing.assert_array_equal(read_idx(path).ravel(), np.frombuffer(GOOD[16:], np.uint8))
    except DataError:
        pass


@settings(max_examples=40)
@given(dims=st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=6).filter(
    lambda d: np.prod(d, dtype=object) >= 10**9),
    code=st.sampled_from(list(IDX_TYPES.values())), payload=st.binary(max_size=100),
    gz=st.booleans())
def test_huge_declared_size_fails_fast_without_allocating(tmp_path_factory, dims, code,
                                                          payload, gz):
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    path = put(tmp_path_factory.mktemp("huge") / "f", header + payload, gz)
    tracemalloc.start()
    try:
        read_fails(path, "declares")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # a few MiB at most, against >= 1 GB declared


def test_terabyte_header_on_large_gzip_is_bounded_by_real_data(tmp_path):
    """A gzip file whose header declares 10^12 bytes but holds 4 MB: memory follows the
    4 MB actually there, not the declared terabyte."""
    header = b"\x00\x00\x08\x02" + struct.pack(">2I", 10**6, 10**6)
    path = put(tmp_path / "big.gz", header + bytes(4 * 10**6), gz=True)
    tracemalloc.start()
    try:
        read_fails(path, "only 4,000,000 bytes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


# ---------------------------------------------------------------------------------------
# load_idx_pair
# ---------------------------------------------------------------------------------------


def write_pair(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray,
               gz: bool = True) -> tuple[Path, Path]:
    suffix = ".gz" if gz else ""
    return (write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images),
            write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels))


def test_load_idx_pair(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (7, 5, 6), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 0, 1, 2], np.uint8)
    x, y = load_idx_pair(*write_pair(tmp_path, "train", images, labels), n_classes=4)
    assert x.dtype == np.uint8 and x.shape == (7, 5, 6)
    assert y.dtype == np.int64 and y.shape == (7,)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_load_idx_pair_count_mismatch(tmp_path):
    paths = write_pair(tmp_path, "train", np.zeros((5, 2, 2), np.uint8), np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        load_idx_pair(*paths)


@pytest.mark.parametrize("labels, n_classes", [
    (np.array([0, 1, 10], np.uint8), 10), (np.array([0, -1, 2], np.int8), None)])
def test_load_idx_pair_label_range(tmp_path, labels, n_classes):
    paths = write_pair(tmp_path, "t10k", np.zeros((3, 2, 2), np.uint8), labels)
    with pytest.raises(DataError, match="labels must be"):
        load_idx_pair(*paths, n_classes=n_classes)


@pytest.mark.parametrize("images, labels", [
    (np.zeros((3, 4), np.uint8), np.zeros(3, np.uint8)),  # images without an H axis
    (np.zeros((3, 2, 2), np.float32), np.zeros(3, np.uint8)),  # float images
    (np.zeros((3, 2, 2), np.uint8), np.zeros((3, 1), np.uint8)),  # 2-D labels
    (np.zeros((3, 2, 2), np.uint8), np.zeros(3, np.float32)),  # float labels
])
def test_load_idx_pair_rejects_wrong_kinds(tmp_path, images, labels):
    with pytest.raises(DataError, match="expected"):
        load_idx_pair(*write_pair(tmp_path, "train", images, labels, gz=False))


# ---------------------------------------------------------------------------------------
# as_float, Dataset, stratified subsets
# ---------------------------------------------------------------------------------------


def test_as_float_scales_by_one_over_256():
    x = np.array([[[0, 1], [128, 255]]], np.uint8)
    f = as_float(x)
    assert f.dtype == np.float32 and f.shape == (1, 1, 2, 2)
    assert PIXEL_SCALE == 1 / 256
    np.testing.assert_array_equal(f[0, 0], [[0, 1 / 256], [0.5, 255 / 256]])  # exact
    assert as_float(np.zeros((2, 3, 4, 4), np.uint8)).shape == (2, 3, 4, 4)
    with pytest.raises(DataError, match="uint8"):
        as_float(f)  # already scaled: refusing beats scaling twice


def small_dataset(n_train: int = 12, n_test: int = 4) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(rng.integers(0, 256, (n_train, 4, 4), dtype=np.uint8),
                   np.arange(n_train, dtype=np.int64) % 10,
                   rng.integers(0, 256, (n_test, 4, 4), dtype=np.uint8),
                   np.arange(n_test, dtype=np.int64) % 10, name="toy")


def test_dataset_validates_and_subsets():
    ds = small_dataset(40, 20)
    assert ds.image_shape == (1, 4, 4)
    assert ds.class_names == FASHION_MNIST_CLASSES
    assert ds.as_float(ds.x_test).shape == (20, 1, 4, 4)
    assert "toy" in repr(ds) and "40 train" in repr(ds)
    sub = ds.subset(train_size=20, seed=1)
    assert len(sub.x_train) == 20 and len(sub.x_test) == 20
    np.testing.assert_array_equal(np.bincount(sub.y_train), [2] * 10)
    with pytest.raises(DataError, match="int64"):
        Dataset(ds.x_train, ds.y_train.astype(np.uint8), ds.x_test, ds.y_test, name="bad")
    with pytest.raises(DataError, match=r"\[0, 10\)"):
        Dataset(ds.x_train, ds.y_train + 5, ds.x_test, ds.y_test, name="bad")
    with pytest.raises(DataError, match="test images"):
        Dataset(ds.x_train, ds.y_train, ds.x_test[:, :3], ds.y_test, name="bad")


@given(counts=st.lists(st.integers(0, 30), min_size=1, max_size=8).filter(lambda c: sum(c)),
       frac=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100)
def test_stratified_subset_keeps_proportions(counts, frac, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(y)
    x = np.arange(len(y)) * 10  # x[i] identifies i, so we can check x and y stay paired
    n = int(frac * len(y))
    xs, ys = stratified_subset(x, y, n, seed)
    assert len(xs) == len(ys) == n
    assert len(set(xs.tolist())) == n  # without replacement
    np.testing.assert_array_equal(y[xs // 10], ys)  # pairs kept
    got = np.bincount(ys, minlength=len(counts))
    exact = n * np.array(counts) / len(y)
    assert np.all(got >= np.floor(exact)) and np.all(got <= np.ceil(exact))
    xs2, ys2 = stratified_subset(x, y, n, seed)  # same seed, same subset, same order
    np.testing.assert_array_equal(xs, xs2)


@given(k=st.integers(1, 12), per_class=st.integers(1, 20), data=st.data())
def test_stratified_subset_of_balanced_data_is_balanced(k, per_class, data):
    y = np.tile(np.arange(k), per_class)
    n = data.draw(st.integers(0, len(y)))
    got = np.bincount(stratified_indices(y, n, seed=data.draw(st.integers(0, 99))), minlength=k)
    assert got.sum() == n and got.max() - got.min() <= 1


def test_stratified_leftover_places_go_to_random_classes_and_come_in_random_order():
    """The docstring's two promises beyond the counts: ties for the places left over are
    broken at random (not always in favour of the first classes), and the indices come in
    random order (not sorted, nor grouped by class)."""
    y = np.tile(np.arange(10), 10)                   # balanced: every remainder ties
    favoured = set()
    for seed in range(20):
        idx = stratified_indices(y, 15, seed=seed)   # 10 places by quota, 5 left over
        counts = np.bincount(y[idx], minlength=10)
        assert sorted(counts) == [1] * 5 + [2] * 5
        favoured.add(tuple(np.flatnonzero(counts == 2)))
        assert not np.array_equal(idx, np.sort(idx))
        assert not np.array_equal(y[idx], np.sort(y[idx]))
    assert len(favoured) > 10                        # 252 possible choices of 5 classes


def test_stratified_subset_errors():
    y = np.arange(10) % 2
    with pytest.raises(DataError, match="subset of 11"):
        stratified_subset(np.zeros(10), y, 11, seed=0)
    with pytest.raises(ValueError):  # DataError is a ValueError
        stratified_subset(np.zeros(10), y, -1, seed=0)
    with pytest.raises(DataError, match="9 examples but y holds 10"):
        stratified_subset(np.zeros(9), y, 5, seed=0)
    a = stratified_indices(np.arange(100) % 10, 30, seed=1)
    b = stratified_indices(np.arange(100) % 10, 30, seed=2)
    assert not np.array_equal(a, b)


# ---------------------------------------------------------------------------------------
# the embedded set and idx:DIR
# ---------------------------------------------------------------------------------------


def test_embedded_dataset():
    ds = load_dataset("embedded")
    assert ds.name == "embedded" and ds.n_classes == 10
    assert ds.class_names == FASHION_MNIST_CLASSES
    assert ds.x_train.shape == (6000, 28, 28) and ds.x_test.shape == (2000, 28, 28)
    assert ds.x_train.dtype == ds.x_test.dtype == np.uint8
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(ds.y_train), [600] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [200] * 10)
    assert ds.x_train.max() == 255 and 40 < ds.x_train.mean() < 100  # real images
    assert load_dataset().name == "embedded"  # the default


def test_embedded_file_is_small_and_licensed():
    folder = Path(data.__file__).parent  # the package folder holds the shipped files
    npz = folder / "fashion_mnist_small.npz"
    assert npz.stat().st_size <= 4_000_000
    licence = (folder / "LICENSE-fashion-mnist.md").read_text()
    assert "MIT" in licence and "Zalando" in licence and "build_embedded.py" in licence
    # importlib.resources finds it too where tinybcnn is a regular package
    try:
        resource = importlib.resources.files("tinybcnn") / "data" / npz.name
    except (TypeError, OSError):  # a namespace package in a bare source tree
        return
    assert resource.read_bytes()[:2] == b"PK"


def test_idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    write_pair(tmp_path, "train", rng.integers(0, 256, (9, 8, 8), dtype=np.uint8),
               np.arange(9, dtype=np.uint8) % 3, gz=True)
    write_pair(tmp_path, "t10k", rng.integers(0, 256, (4, 8, 8), dtype=np.uint8),
               np.arange(4, dtype=np.uint8) % 3, gz=False)
    ds = load_dataset(f"idx:{tmp_path}")
    assert ds.name == f"idx:{tmp_path}" and ds.n_classes == 3
    assert ds.x_train.shape == (9, 8, 8) and ds.x_test.shape == (4, 8, 8)
    assert ds.class_names == ("0", "1", "2")
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(f"idx:{tmp_path / 'nope'}")
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte\[.gz\]"):
        load_dataset(f"idx:{tmp_path}")


def test_unknown_name():
    with pytest.raises(DataError, match="unknown data set 'cifar'.*embedded"):
        load_dataset("cifar")


# ---------------------------------------------------------------------------------------
# locating and downloading fashion-mnist / mnist
# ---------------------------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No data anywhere: an empty cache, no $TINYBCNN_DATA or mirror, no system folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYBCNN_DATA", raising=False)
    monkeypatch.delenv("TINYBCNN_MIRROR", raising=False)
    # patched where load_dataset reads it (tinybcnn.data only re-exports it)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {"fashion-mnist": [tmp_path / "system"],
                                                 "mnist": []})
    for var in ("no_proxy", "NO_PROXY"):  # never send 127.0.0.1 through a proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    return tmp_path


def make_idx_set(folder: Path, n_train: int = 30, n_test: int = 10) -> None:
    """Four small, valid, gzipped IDX files with the standard names."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_pair(folder, prefix, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                   np.arange(n, dtype=np.uint8) % 10)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 (free port) serving tmp_path/www; yields (root, url)."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler,
                                                                    directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def published(monkeypatch, name: str, root: Path, url: str | list[str]) -> dict[str, str]:
    """Serve the four files of ``name`` from ``root`` and make their digests the known ones."""
    make_idx_set(root)
    table = {f"{stem}.gz": hashlib.sha256((root / f"{stem}.gz").read_bytes()).hexdigest()
             for stem in IDX_FILES.values()}
    monkeypatch.setitem(data.SHA256, name, table)
    monkeypatch.setitem(data.MIRRORS, name, url if isinstance(url, list) else [url])
    return table


def test_download_into_cache(isolated, server, monkeypatch):
    root, url = server
    table = published(monkeypatch, "mnist", root, url)
    ds = load_dataset("mnist", progress=False)
    cache = isolated / "cache" / "tinybcnn" / "mnist"
    assert ds.source == str(cache) and ds.name == "mnist"
    assert ds.x_train.shape == (30, 28, 28) and ds.x_test.shape == (10, 28, 28)
    assert ds.class_names == tuple("0123456789")
    assert sorted(p.name for p in cache.iterdir()) == sorted(table)  # no temporary files
    for name, digest in table.items():
        assert hashlib.sha256((cache / name).read_bytes()).hexdigest() == digest
    for f in root.iterdir():  # the server is no longer needed: the cache is used
        f.unlink()
    assert load_dataset("mnist", download=False).source == str(cache)


def test_download_falls_back_to_next_mirror_and_env_mirror(isolated, server, monkeypatch):
    root, url = server
    published(monkeypatch, "fashion-mnist", root, [url + "missing/", url])
    assert len(load_dataset("fashion-mnist", progress=False).x_train) == 30
    # $TINYBCNN_MIRROR replaces the built-in list
    monkeypatch.setenv("XDG_CACHE_HOME", str(isolated / "cache2"))
    monkeypatch.setitem(data.MIRRORS, "fashion-mnist", ["http://127.0.0.1:9/unused/"])
    monkeypatch.setenv("TINYBCNN_MIRROR", url.rstrip("/"))
    assert len(load_dataset("fashion-mnist", progress=False).x_test) == 10


def test_download_with_wrong_checksum_leaves_nothing(isolated, server, monkeypatch):
    root, url = server
    table = published(monkeypatch, "mnist", root, url)
    bad = "t10k-images-idx3-ubyte.gz"
    monkeypatch.setitem(data.SHA256, "mnist", {**table, bad: "0" * 64})
    with pytest.raises(DataError, match=f"{bad}.*SHA-256.*does not match") as info:
        load_dataset("mnist", progress=False)
    assert "--data-dir" in str(info.value)
    cache = isolated / "cache" / "tinybcnn" / "mnist"
    left = sorted(p.name for p in cache.iterdir())
    assert bad not in left and not [n for n in left if n.endswith(".part")]
    # a later run with the right table fetches only what is missing, then loads
    monkeypatch.setitem(data.SHA256, "mnist", table)
    assert len(load_dataset("mnist", progress=False).x_test) == 10


def test_corrupt_download_source_is_a_data_error(isolated, server, monkeypatch):
    """The mirror serves a truncated file and the table agrees with it (say, a bad
    mirror list): the checksum passes, the reader catches it."""
    root, url = server
    published(monkeypatch, "mnist", root, url)
    victim = root / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-10])
    monkeypatch.setitem(data.SHA256["mnist"], victim.name,
                        hashlib.sha256(victim.read_bytes()).hexdigest())
    with pytest.raises(DataError, match="train-labels.*corrupt"):
        load_dataset("mnist", progress=False)


def test_unreachable_mirror_is_a_data_error(isolated, monkeypatch):
    monkeypatch.setitem(data.MIRRORS, "mnist", ["http://127.0.0.1:9/"])  # discard port
    with pytest.raises(DataError, match="cannot download mnist") as info:
        load_dataset("mnist", progress=False)
    # no empty cache folder left behind, one short line, no advice the CLI cannot take
    # (issue 26: it was ~600 characters of "<urlopen error [Errno None] ...>" and download=True)
    assert not (isolated / "cache" / "tinybcnn" / "mnist").exists()
    message = str(info.value)
    assert "\n" not in message and "urlopen error" not in message
    assert "download=True" not in message and "--data-dir" in message
    assert "http://127.0.0.1:9/train-images-idx3-ubyte.gz: [Errno 111]" in message


def test_missing_everywhere_says_where_it_looked_and_how_to_get_it(isolated):
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", data_dir=isolated / "mine", download=False)
    message = str(info.value)
    assert "\n" not in message  # one line for the command line
    cache = isolated / "cache" / "tinybcnn" / "fashion-mnist"
    for place in (isolated / "mine", isolated / "system", cache):
        assert str(place) in message
    for advice in ("$TINYBCNN_DATA", "apt-get install dataset-fashion-mnist", "--data-dir",
                   "download=True"):
        assert advice in message


def test_search_order(isolated, monkeypatch):
    make_idx_set(isolated / "env" / "mnist", n_train=11)  # $TINYBCNN_DATA/<name>
    make_idx_set(isolated / "mine", n_train=12)  # data_dir itself
    monkeypatch.setenv("TINYBCNN_DATA", str(isolated / "env"))
    assert len(load_dataset("mnist", download=False).x_train) == 11
    assert len(load_dataset("mnist", data_dir=isolated / "mine", download=False).x_train) == 12
    make_idx_set(isolated / "system", n_train=13)
    monkeypatch.delenv("TINYBCNN_DATA")
    assert len(load_dataset("fashion-mnist", download=False).x_train) == 13


def test_corrupt_local_file_names_it(isolated):
    make_idx_set(isolated / "mine")
    victim = isolated / "mine" / "t10k-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz.*corrupt"):
        load_dataset("mnist", data_dir=isolated / "mine", download=False)


# ---------------------------------------------------------------------------------------
# the real thing (Debian's dataset-fashion-mnist)
# ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason=f"{DEBIAN_DIR} absent: "
                    "`apt-get install dataset-fashion-mnist` to run this test")
def test_full_fashion_mnist_from_debian(isolated, monkeypatch):
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {"fashion-mnist": [DEBIAN_DIR]})
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.source == str(DEBIAN_DIR)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(ds.y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [1000] * 10)
    # the embedded set is made of real Fashion-MNIST images with their own labels
    small = load_dataset("embedded")
    label_of = {img.tobytes(): lab for img, lab in zip(ds.x_train, ds.y_train, strict=True)}
    assert all(label_of.get(img.tobytes()) == lab
               for img, lab in zip(small.x_train[:500], small.y_train[:500], strict=True))
