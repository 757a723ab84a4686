"""A checkpoint that is a symbolic link or not a regular file is refused before it is opened.

The package never follows a symlink it did not make (docs/architecture.md, "Threat model"):
``evaluate`` and ``predict`` read a run's checkpoint, so one planted as a link to another
file, or as a FIFO, gets one line and exit 2; the link's target is left as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.cli import assert_one_line_error, call, train_tiny_run

from tinybcnn.runs import CHECKPOINT

pytestmark = pytest.mark.usefixtures("keep_backend")  # tests/conftest.py


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("ckptlinks"))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "x.npy"
    np.save(path, np.zeros((2, 28, 28), np.uint8))
    return path


def _commands(folder: Path, images: Path) -> list[list]:
    return [["evaluate", folder, "--samples", "2"], ["predict", folder, images, "--samples", "2"]]


@pytest.mark.parametrize("which", [0, 1], ids=["evaluate", "predict"])
def test_a_symlinked_checkpoint_is_refused_and_its_target_kept(which, run, images, tmp_path,
                                                               capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    target = tmp_path / "elsewhere.npz"
    os.replace(folder / CHECKPOINT, target)
    (folder / CHECKPOINT).symlink_to(target)
    before = target.read_bytes()
    code, _, err = call(_commands(folder, images)[which], capsys)
    line = assert_one_line_error(code, err)
    assert "symbolic link" in line and CHECKPOINT in line
    assert target.read_bytes() == before and (folder / CHECKPOINT).is_symlink()


@pytest.mark.parametrize("which", [0, 1], ids=["evaluate", "predict"])
def test_a_fifo_checkpoint_is_named_as_such(which, run, images, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    (folder / CHECKPOINT).unlink()
    os.mkfifo(folder / CHECKPOINT)
    code, _, err = call(_commands(folder, images)[which], capsys)
    line = assert_one_line_error(code, err)
    assert CHECKPOINT in line and ("not a regular file" in line or "FIFO" in line)
