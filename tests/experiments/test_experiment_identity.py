"""A demo or experiment folder records the data set and seed its work was made with, and every
command that continues or reuses that work checks them (issue 30, B1).

Before, ``experiment small-data --seed 1 --resume`` in a folder made with seed 0 exited 0: the
runs whose configs matched (the same run seeds, sizes and iterations) were "resumed" although
they had been trained on seed 0's subset, and the record said seed 1. The same held for an
``idx:DIR`` data set whose files changed. Now each is refused in one line that names the field,
and the folder is left byte for byte as it was.

The oracle for the fingerprint is :mod:`hashlib` itself over bytes laid out by hand.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from support.cli_capture import run_cli
from support.folder_snapshot import assert_unchanged, snapshot
from support.idx import write_tiny_idx

from tinybcnn.data import write_idx
from tinybcnn.files.identity import data_fingerprint

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

SMALL = ["experiment", "small-data", "--quick", "--seeds", "1", "--iterations", "2",
         "--quiet", "--threads", "1"]


def one_line_refusal(code: int, stdout: str, err: str) -> str:
    assert code == 2 and stdout == "" and err.count("\n") == 1, (code, stdout, err)
    assert "Traceback" not in err
    return err


def test_fingerprint_is_sha256_of_dtype_shape_and_bytes():
    x = np.arange(12, dtype=np.uint8).reshape(3, 4)
    y = np.array([1, 2, 3], dtype=np.int64)
    want = hashlib.sha256(b"|u1(3, 4);" + bytes(range(12))
                          + b"<i8(3,);" + b"".join(int(v).to_bytes(8, "little")
                                                   for v in (1, 2, 3))).hexdigest()
    shapes, sha = data_fingerprint(x, y)
    assert shapes == [[3, 4], [3]] and sha == want
    assert data_fingerprint(x.T.copy().T, y)[1] == want          # layout is not identity
    assert data_fingerprint(x.astype(np.int16), y)[1] != want    # the dtype is
    assert data_fingerprint(x.reshape(4, 3), y)[1] != want       # so is the shape


@pytest.fixture(scope="module")
def seed0(tmp_path_factory):
    out = tmp_path_factory.mktemp("identity") / "exp"
    code, _, err = run_cli([*SMALL, "--out", out])
    assert code == 0, err
    record = json.loads((out / "small_data_identity.json").read_text())
    assert record["seed"] == 0 and record["dataset"] == "embedded"
    return out


def test_resume_with_another_seed_is_refused_naming_it(seed0):
    before = snapshot(seed0)
    err = one_line_refusal(*run_cli([*SMALL, "--seed", "1", "--resume", "--out", seed0]))
    assert "seed (0 there, 1 here)" in err and "--seed 0" in err and "--replace" in err
    assert_unchanged(seed0, before)
    # without --resume too: the folder's work is not this one's
    err = one_line_refusal(*run_cli([*SMALL, "--seed", "1", "--out", seed0]))
    assert "seed (0 there, 1 here)" in err
    assert_unchanged(seed0, before)


def test_resume_with_the_same_seed_goes_on(seed0):
    code, _, err = run_cli([*SMALL, "--resume", "--out", seed0])
    assert code == 0, err
    runs = json.loads((seed0 / "small_data.json").read_text())["results"]["runs"]
    assert runs and all(r["resumed"] for r in runs)


def test_a_damaged_record_is_refused_and_replace_starts_afresh(seed0, tmp_path):
    import shutil

    out = shutil.copytree(seed0, tmp_path / "exp")
    (out / "small_data_identity.json").write_text('{"experiment": "small_data", "seed": 0}')
    before = snapshot(out)
    err = one_line_refusal(*run_cli([*SMALL, "--resume", "--out", out]))
    assert "small_data_identity.json is not a tinybcnn identity record" in err
    assert_unchanged(out, before)
    code, _, err = run_cli([*SMALL, "--seed", "1", "--replace", "--out", out])
    assert code == 0, err
    assert json.loads((out / "small_data_identity.json").read_text())["seed"] == 1


def test_resume_on_changed_data_is_refused_naming_its_content(tmp_path, monkeypatch):
    folder = tmp_path / "idx"
    folder.mkdir()
    dataset = write_tiny_idx(folder)
    out = tmp_path / "exp"
    args = [*SMALL, "--dataset", dataset, "--out", out]
    code, _, err = run_cli(args)
    assert code == 0, err
    # the same files named another way are the same data set
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli([*SMALL, "--dataset", "idx:./idx", "--out", out, "--resume"])
    assert code == 0, err
    # one pixel of one training image changes: same name, same sizes, other data
    from tinybcnn.data import read_idx

    images = read_idx(folder / "train-images-idx3-ubyte").copy()
    images[0, 0, 0] ^= 1
    write_idx(folder / "train-images-idx3-ubyte", images)
    before = snapshot(out)
    err = one_line_refusal(*run_cli([*args, "--resume"]))
    assert "data_sha256" in err and "--replace" in err
    assert_unchanged(out, before)


def test_active_learning_resume_with_another_seed_is_refused(tmp_path):
    out = tmp_path / "al"
    args = ["experiment", "active-learning", "--quick", "--rounds", "1", "--iterations", "2",
            "--acquisitions", "random", "--pool-subset", "20", "--samples", "2", "--quiet",
            "--threads", "1", "--out", out]
    code, _, err = run_cli(args)
    assert code == 0, err
    before = snapshot(out)
    err = one_line_refusal(*run_cli([*args, "--seed", "1", "--resume"]))
    assert "seed (0 there, 1 here)" in err
    assert_unchanged(out, before)
