"""Every size, count and range guard at its exact limit, one below and one above (issue 27).

An off-by-one (``<`` for ``<=``), a dropped factor (itemsize, the budget's halving) or a
widened range passes the usual "far too big" and "fine" tests; here each guard is tried at
the value where it must just accept and the one where it must just refuse. The limits are
computed from the formats' own definitions (the ``.npy`` and IDX layouts, the plan's
documented formula), not read back from the code under test.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import tinybcnn as tb
from tinybcnn import checkpoint as ckpt_mod
from tinybcnn import cli, mc_tiles, metrics, threads
from tinybcnn import data as data_mod
from tinybcnn import predict as predict_mod
from tinybcnn import progress as progress_mod
from tinybcnn.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from tinybcnn.data import DataError, read_idx
from tinybcnn.files import npyfile, runlock
from tinybcnn.files.npyfile import NpyFileError, load_npy, read_npy_header, sniff
from tinybcnn.random import SharedDraws, check_drop_probability


# -- .npy: the payload is prod(shape) * itemsize bytes after the header -----------------------
def _npy_bytes(array) -> tuple[bytes, int]:
    """The file and its header's length (computed from the format, not by the code)."""
    buf = io.BytesIO()
    np.save(buf, array)
    data = buf.getvalue()
    return data, len(data) - array.size * array.dtype.itemsize


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_npy_payload_at_its_exact_size(tmp_path, dtype):
    array = np.arange(15, dtype=dtype).reshape(3, 5)
    data, header = _npy_bytes(array)
    payload = 15 * np.dtype(dtype).itemsize
    for available, ok in ((header + payload, True), (header + payload - 1, False),
                          (header + payload + 1, True)):
        f = io.BytesIO(data[:available] + b"\0" * max(0, available - len(data)))
        if ok:
            shape, got_dtype, nbytes = read_npy_header(f, "x.npy", available)
            assert (shape, got_dtype, nbytes) == ((3, 5), np.dtype(dtype), payload)
        else:
            with pytest.raises(NpyFileError, match="truncated or damaged"):
                read_npy_header(f, "x.npy", available)
    (tmp_path / "exact.npy").write_bytes(data)
    np.testing.assert_array_equal(load_npy(tmp_path / "exact.npy"), array)
    (tmp_path / "short.npy").write_bytes(data[:-1])
    with pytest.raises(NpyFileError, match="truncated or damaged"):
        load_npy(tmp_path / "short.npy")


def test_a_file_shorter_than_one_element_of_a_wide_dtype_is_refused(tmp_path):
    # 15 float64 need 120 bytes; 15 bytes (the element count, itemsize dropped) is not enough
    data, header = _npy_bytes(np.zeros((3, 5)))
    (tmp_path / "x.npy").write_bytes(data[:header + 15])
    with pytest.raises(NpyFileError, match="120 bytes"):
        load_npy(tmp_path / "x.npy")


@pytest.mark.parametrize("head,kind", [(b"\x80\x02", "pickle"), (b"\x80\x05", "pickle"),
                                       (b"\x80\x06", "unknown"), (b"\x80", "unknown")])
def test_pickle_protocols_up_to_five_are_sniffed(tmp_path, head, kind):
    (tmp_path / "f").write_bytes(head + b"rest")
    assert sniff(tmp_path / "f") == kind


class _Lying(zipfile.ZipFile):
    """A zip whose members claim ``file_size`` / ``compress_size`` set by the test."""

    claims: dict = {}

    def infolist(self):
        infos = super().infolist()
        for info in infos:
            for key, value in self.claims.items():
                setattr(info, key, value(info) if callable(value) else value)
        return infos


def _npz(tmp_path, compressed):
    path = tmp_path / "a.npz"
    (np.savez_compressed if compressed else np.savez)(path, a=np.zeros(2000, np.uint8))
    return path


@pytest.mark.parametrize("extra,refused", [(0, False), (1, True)])
def test_deflate_ratio_at_its_limit(tmp_path, monkeypatch, extra, refused):
    path = _npz(tmp_path, compressed=True)
    _Lying.claims = {"file_size": lambda i: 1032 * i.compress_size + 1024 + extra}
    monkeypatch.setattr(npyfile.zipfile, "ZipFile", _Lying)
    if refused:
        with pytest.raises(NpyFileError, match="compressed: damaged archive"):
            npyfile.check_npz_sizes(path)
    else:
        npyfile.check_npz_sizes(path)  # the header still fits in what is claimed


@pytest.mark.parametrize("extra,refused", [(0, False), (1, True)])
def test_compressed_size_at_the_archive_size(tmp_path, monkeypatch, extra, refused):
    path = _npz(tmp_path, compressed=False)
    size = path.stat().st_size
    _Lying.claims = {"compress_size": size + extra}
    monkeypatch.setattr(npyfile.zipfile, "ZipFile", _Lying)
    try:
        npyfile.check_npz_sizes(path)
        message = ""
    except NpyFileError as exc:
        message = str(exc)
    assert (f"claims {size + extra:,} bytes in a {size:,}-byte file" in message) == refused


# -- IDX: a 4-byte magic, 4 bytes per dimension, then exactly prod(dims) * itemsize bytes -------
def _idx(code, dims, payload_len):
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return header + bytes(range(256)) * (payload_len // 256) + bytes(payload_len % 256)


@pytest.mark.parametrize("code,itemsize", [(0x08, 1), (0x0C, 4), (0x0E, 8)])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_payload_at_its_exact_size(tmp_path, monkeypatch, code, itemsize, gz):
    # 7-byte reads: the payload (28 · itemsize bytes) ends exactly at a chunk's end, so a
    # compressed file's one extra byte is found only by reading one past the declared size
    monkeypatch.setattr(data_mod.idx, "_CHUNK", 7)
    dims = (4, 7)
    exact = 28 * itemsize
    for length, ok in ((exact, True), (exact - 1, False), (exact + 1, False)):
        data = _idx(code, dims, length)
        path = tmp_path / f"f{length}"
        path.write_bytes(gzip.compress(data) if gz else data)
        if ok:
            assert read_idx(path).shape == dims
        elif gz:
            with pytest.raises(DataError, match="declares"):
                read_idx(path)
        else:  # a raw file is measured on disk first: the message names the bytes there
            with pytest.raises(DataError, match=f"the file holds {length:,} bytes of data"):
                read_idx(path)


def test_idx_dimensions_zero_refused_one_read(tmp_path):
    (tmp_path / "zero").write_bytes(bytes([0, 0, 8, 0]))
    with pytest.raises(DataError, match="0 dimensions"):
        read_idx(tmp_path / "zero")
    (tmp_path / "one").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 4, 0, 1, 2, 3]))
    assert read_idx(tmp_path / "one").tolist() == [0, 1, 2, 3]


# -- checkpoints: header size, members, the trainer's permutation and position -----------------
IN_SHAPE, K, N, BATCH = (1, 16, 16), 3, 20, 8


def _trainer():
    model = tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=N, weight_decay=5e-4)
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv(1e-4, 0.75))
    return tb.train.Trainer(model, obj, opt, seed=0)


def _data():
    rng = np.random.default_rng(0)
    return rng.random((N, *IN_SHAPE), dtype=np.float32), rng.integers(0, K, N)


@pytest.fixture(scope="module")
def mid_epoch():
    """A trainer 1 step into an epoch (a permutation and a position) and its state."""
    trainer = _trainer()
    trainer.fit(*_data(), iterations=1, batch_size=BATCH, mc_samples=0, progress=False)
    return trainer


def _save(path, trainer, state=None, perm=None):
    state = dict(trainer.state() if state is None else state)
    perm = trainer.run_state.perm if perm is None else perm
    return save_checkpoint(path, trainer.model, trainer.optimizer, trainer=state,
                           arrays={"perm": np.asarray(perm)})


def _resume(path):
    return _trainer().resume(path)


def test_the_saved_state_resumes(tmp_path, mid_epoch):
    _resume(_save(tmp_path / "c.npz", mid_epoch))


@pytest.mark.parametrize("delta", [-1, 1])
def test_a_permutation_of_another_length_is_refused(tmp_path, mid_epoch, delta):
    perm = np.arange(N + delta)
    with pytest.raises(CheckpointError, match="malformed permutation"):
        _resume(_save(tmp_path / "c.npz", mid_epoch, perm=perm))


def test_a_permutation_with_a_repeat_is_refused(tmp_path, mid_epoch):
    perm = np.arange(N)
    perm[3] = perm[4]
    with pytest.raises(CheckpointError, match="malformed permutation"):
        _resume(_save(tmp_path / "c.npz", mid_epoch, perm=perm))


@pytest.mark.parametrize("position,ok", [(0, True), (N, True), (N + 1, False), (-1, False)])
def test_position_at_the_ends_of_the_permutation(tmp_path, mid_epoch, position, ok):
    state = {**mid_epoch.state(), "position": position}
    path = _save(tmp_path / "c.npz", mid_epoch, state=state)
    if ok:
        _resume(path)
    else:
        with pytest.raises(CheckpointError, match="outside the saved permutation"):
            _resume(path)


def _rewrite(path, change):
    """Rewrite the checkpoint's arrays with ``change(arrays, header)``, checksum recomputed,
    so that only the check under test can object."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays.pop(ckpt_mod._HEADER).tobytes())
    change(arrays, header)
    header.pop("sha256", None)
    header["sha256"] = ckpt_mod._checksum(arrays, header)
    arrays[ckpt_mod._HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    return path


def test_header_size_at_its_limit(tmp_path, mid_epoch, monkeypatch):
    path = _save(tmp_path / "c.npz", mid_epoch)
    with np.load(path) as npz:
        size = npz[ckpt_mod._HEADER].size
    monkeypatch.setattr(ckpt_mod, "_MAX_HEADER_BYTES", size)
    read_checkpoint(path)
    monkeypatch.setattr(ckpt_mod, "_MAX_HEADER_BYTES", size - 1)
    with pytest.raises(CheckpointError, match="damaged checkpoint header"):
        read_checkpoint(path)


def test_parameter_members_must_match_the_header_exactly(tmp_path, mid_epoch):
    path = _save(tmp_path / "c.npz", mid_epoch)
    first = next(k for k in np.load(path).files if k.startswith("param/"))

    def drop(arrays, header):
        del arrays[first]

    def add(arrays, header):
        arrays["param/extra.W"] = np.zeros(2, np.float32)

    for change in (drop, add):
        _save(path, mid_epoch)
        with pytest.raises(CheckpointError, match="the header lists parameters"):
            read_checkpoint(_rewrite(path, change))


@pytest.mark.parametrize("names", [["junk"], ["junk", "more"]])
def test_any_unknown_member_is_refused(tmp_path, mid_epoch, names):
    path = _save(tmp_path / "c.npz", mid_epoch)

    def add(arrays, header):
        for name in names:
            arrays[name] = np.zeros(1)

    with pytest.raises(CheckpointError, match="unexpected arrays"):
        read_checkpoint(_rewrite(path, add))


def test_labels_must_be_one_per_input(mid_epoch):
    x, y = _data()
    trainer = _trainer()
    for bad in (np.concatenate([y, y[:1]]), y[:-1]):
        with pytest.raises(ValueError, match="entries but there are"):
            trainer.fit(x, bad, iterations=1, batch_size=BATCH, mc_samples=0, progress=False)


@pytest.mark.parametrize("label,ok", [(K - 1, True), (K, False), (-1, False)])
def test_labels_at_the_ends_of_the_class_range(label, ok):
    x, y = _data()
    y = y.copy()
    y[5] = label
    trainer = _trainer()
    if ok:
        trainer.fit(x, y, iterations=1, batch_size=BATCH, mc_samples=0, progress=False)
    else:
        with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
            trainer.fit(x, y, iterations=1, batch_size=BATCH, mc_samples=0, progress=False)


# -- random: drop probabilities, split-batch parts -----------------------------------------------
def test_drop_probability_range():
    assert check_drop_probability(0.0) == 0.0
    assert check_drop_probability(np.nextafter(1.0, 0.0)) < 1.0
    for bad in (1.0, -1e-12, float("nan")):
        with pytest.raises(ValueError, match="drop probability"):
            check_drop_probability(bad)


def test_split_parts_at_the_batch_ends():
    shared = SharedDraws(np.random.default_rng(0), 4)
    shared.part(0, 4)
    shared.part(3, 4)
    for start, stop in ((0, 5), (-1, 2), (2, 2), (3, 2)):
        with pytest.raises(ValueError, match="not a part of a batch"):
            shared.part(start, stop)
    part = shared.part(0, 3)
    for rows in (2, 4):
        with pytest.raises(ValueError, match="needs 3 rows"):
            part.mask((rows, 5), 0.5, np.float32)
    assert part.mask((3, 5), 0.5, np.float32).shape == (3, 5)


# -- predict: the tiles' memory plan, the chunked CLI, --samples -----------------------------------
@pytest.fixture(scope="module")
def plan_model():
    model = tb.models.lenet("all", in_shape=IN_SHAPE, n_classes=K, seed=0)
    x = np.zeros((4, *IN_SHAPE), np.float32)
    start = model.first_stochastic()
    prefix = mc_tiles.bytes_per_row(model, x[:1], 0, start) if start > 0 else 0
    h1 = model.forward(x[:1], stop=start)
    suffix = mc_tiles.bytes_per_row(model, h1, start, len(model))
    return model, x, start, prefix, suffix


@pytest.mark.parametrize("batch,passes", [(3, 1), (3, 4), (5, 7)])
def test_passes_per_chunk_at_the_budget(plan_model, batch, passes):
    """The documented plan: t passes over B inputs hold B·prefix + t·B·suffix bytes, and
    twice that must fit the budget."""
    model, x, start, prefix, suffix = plan_model
    assert prefix > 0 and suffix > 0
    need = 2 * (batch * prefix + passes * batch * suffix)
    assert mc_tiles.plan(model, x, start, 100, batch, need) == (batch, passes)
    below = mc_tiles.plan(model, x, start, 100, batch, need - 2)
    assert below == ((batch, passes - 1) if passes > 1 else (batch - 1, passes)) or \
        below[0] < batch, below
    assert mc_tiles.plan(model, x, start, 100, batch, need + 2 * batch * suffix) == \
        (batch, passes + 1)


@pytest.mark.parametrize("batch", [2, 5])
def test_batch_shrinks_only_below_one_pass(plan_model, batch):
    model, x, start, prefix, suffix = plan_model
    one_pass = 2 * batch * (prefix + suffix)
    assert mc_tiles.plan(model, x, start, 10, batch + 3, one_pass)[0] == batch
    assert mc_tiles.plan(model, x, start, 10, batch + 3, one_pass - 2)[0] == batch - 1


def _fake_mc(calls):
    def mc(model, x, samples=50, seed=0, rng=None, **kw):
        calls.append(len(x))
        n = len(x)
        return predict_mod.Prediction(probs=np.full((n, 2), 0.5), entropy=np.zeros(n),
                                      mutual_info=np.zeros(n), variation_ratio=np.zeros(n),
                                      samples=samples)
    return mc


@pytest.mark.parametrize("samples,chunk", [(100, 1000), (300, 333), (7, 1000), (100_000, 1)])
def test_predict_chunks_at_the_work_limit(monkeypatch, samples, chunk):
    """Up to one chunk: one plain mc_predict call and no progress bar; one image more: the
    chunks, with a bar."""
    calls, bars = [], []
    monkeypatch.setattr(predict_mod, "mc_predict", _fake_mc(calls))
    real_bar = progress_mod.progress_bar

    def bar(*args, **kwargs):
        bars.append(args)
        return real_bar(*args, **{**kwargs, "enabled": False})

    monkeypatch.setattr(progress_mod, "progress_bar", bar)
    for n, expect, n_bars in ((chunk, [chunk], 0), (chunk + 1, [chunk, 1], 1)):
        calls.clear()
        bars.clear()
        x = np.zeros((n, 1, 2, 2), np.float32)
        pred = cli._predict_with_progress(None, x, samples, 0, True)
        assert calls == expect and len(pred.probs) == n
        assert len(bars) == n_bars


@pytest.mark.parametrize("value,ok", [("10000", True), ("10001", False), ("1", True),
                                      ("0", False)])
def test_predict_samples_limit(tmp_path, value, ok):
    (tmp_path / "x.npy").write_bytes(b"")
    argv = ["predict", str(tmp_path), str(tmp_path / "x.npy"), "--samples", value]
    if ok:
        assert cli.build_parser().parse_args(argv).samples == int(value)
    else:
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(argv)


@pytest.mark.parametrize("value,ok", [("0", True), ("0.999", True), ("1", False),
                                      ("-0.001", False)])
def test_train_p_limit(tmp_path, value, ok):
    argv = ["train", "--out", str(tmp_path / "r"), "--p", value]
    if ok:
        assert cli.build_parser().parse_args(argv).p == float(value)
    else:
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(argv)


# -- threads: the clamp, the load rounding, the cgroup quota, split steps ------------------------
def test_requested_threads_clamped_only_above_the_cpus():
    at = threads.choose_threads(2, cpus=2, environ={})
    assert at.threads == 2 and "clamped" not in at.reason
    above = threads.choose_threads(3, cpus=2, environ={})
    assert above.threads == 2 and "clamped" in above.reason
    assert threads.choose_threads(1, cpus=2, environ={}).threads == 1


@pytest.mark.parametrize("value,ok", [("1", True), ("0", False), ("-1", False)])
def test_thread_count_from_the_environment(value, ok):
    env = {threads.ENV_VAR: value}
    if ok:
        assert threads.choose_threads(cpus=4, environ=env).threads == 1
    else:
        with pytest.raises(ValueError, match="whole number of threads >= 1"):
            threads.choose_threads(cpus=4, environ=env)


@pytest.mark.parametrize("load,expect", [(1.49, 3), (1.5, 2), (0.5, 3), (0.49, 4), (9.0, 1)])
def test_load_rounds_to_the_nearest_core(load, expect):
    got = threads.choose_threads(cpus=4, whole_machine=True, load=load, environ={})
    assert got.threads == expect


@pytest.mark.parametrize("text,cpus", [("100000 100000", 1), ("100001 100000", 2),
                                       ("150000 100000", 2), ("50000 100000", 1),
                                       ("max 100000", None)])
def test_cgroup_quota_rounds_up(tmp_path, text, cpus):
    (tmp_path / "cpu.max").write_text(text)
    assert threads._cgroup_quota_cpus(tmp_path / "cpu.max") == cpus


def test_a_quota_just_below_the_cpus_restricts(monkeypatch):
    cpus = len(os.sched_getaffinity(0))
    monkeypatch.setattr(threads, "_cgroup_quota_cpus", lambda *a: cpus - 1 if cpus > 1 else 1)
    got, whole = threads.available_cpus()
    if cpus > 1:
        assert (got, whole) == (cpus - 1, False)
    monkeypatch.setattr(threads, "_cgroup_quota_cpus", lambda *a: cpus)
    assert threads.available_cpus()[0] == cpus


def test_split_steps_from_two_rows_and_enough_work():
    assert threads.parts_for(2) == 2 and threads.parts_for(1) == 1
    assert threads.parts_for(10) == 2 and threads.parts_for(4096) == 2
    edge = threads.MIN_SPLIT_WORK
    assert threads.parts_for(2, edge // 2) == 2 and threads.parts_for(2, edge // 2 - 1) == 1
    assert threads.parts_for(1, 10 * edge) == 1


# -- the run lock's file, metrics at their edges ----------------------------------------------
@pytest.mark.parametrize("size,ok", [(runlock._MAX_LOCK_BYTES, True),
                                     (runlock._MAX_LOCK_BYTES + 1, False)])
def test_lock_file_size_at_its_limit(tmp_path, size, ok):
    # a stale pid of our own (digits and a newline): the package's kind of file, whatever it holds
    (tmp_path / runlock.LOCK_NAME).write_bytes(b"0" * (size - 2) + b"1\n")
    if ok:
        with runlock.run_lock(tmp_path):
            pass
    else:
        with pytest.raises(runlock.LockFileError, match=f"a file of {size} bytes"):
            with runlock.run_lock(tmp_path):
                pass


def test_a_lock_file_with_a_second_link_is_refused(tmp_path):
    (tmp_path / runlock.LOCK_NAME).write_bytes(b"")
    os.link(tmp_path / runlock.LOCK_NAME, tmp_path / "other")
    with pytest.raises(runlock.LockFileError, match="2 hard links"):
        with runlock.run_lock(tmp_path):
            pass


@pytest.mark.parametrize("conf,n_bins,bin_", [(0.5, 2, 0), (0.75, 4, 2), (1.0, 4, 3),
                                              (0.7500001, 4, 3), (0.2, 4, 0), (0.25, 4, 0),
                                              (0.2500001, 4, 1)])
def test_ece_confidence_on_a_bin_edge_goes_to_the_lower_bin(conf, n_bins, bin_):
    """Bins are ``(edges[i], edges[i+1]]`` (the first also takes 0), so a confidence on an
    edge belongs to the bin below it."""
    probs = np.array([[conf] + [(1.0 - conf) / 9] * 9])   # ten classes: conf is the max
    counts = metrics.ece(probs, np.array([0]), n_bins=n_bins).bin_counts
    assert counts.tolist() == [int(b == bin_) for b in range(n_bins)]


@pytest.mark.parametrize("eps,ok", [(np.nextafter(1.0, 0.0), True), (1.0, False),
                                    (1e-300, True), (0.0, False)])
def test_nll_eps_range(eps, ok):
    probs, labels = np.array([[0.5, 0.5]]), np.array([0])
    if ok:
        assert metrics.nll(probs, labels, eps=eps) >= 0
    else:
        with pytest.raises(ValueError, match="eps must lie in"):
            metrics.nll(probs, labels, eps=eps)
