"""A checkpoint header with a valid checksum but a missing or mistyped field is refused in one
line naming the file and the field, by predict, evaluate and ``train --resume`` alike
(issue 30, D4/F3).

Before: KeyError and TypeError tracebacks (a missing ``n_classes``, ``loss_sum``, layer list),
and for ``trainer.iteration`` "5" evaluate said "Cannot specify ',' with 's'."
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from support.checkpoint_edit import rewrite_checkpoint
from support.cli_capture import TINY_TRAIN, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("header")
    code, _, err = run_cli([*TINY_TRAIN, "--out", root / "run"])
    assert code == 0, err
    images = root / "images.npy"
    np.save(images, np.zeros((2, 28, 28), dtype=np.uint8))
    return root / "run", images


def _drop(section, key):
    def edit(h):
        del h[section][key]
    return edit


def _set(section, key, value):
    def edit(h):
        h[section][key] = value
    return edit


CASES = [
    (_drop("model", "n_classes"), "model.n_classes"),
    (_set("model", "in_shape", "28x28"), "model.in_shape"),
    (_drop("model", "layers"), "model.layers"),
    (_set("trainer", "iteration", "5"), "trainer.iteration"),
    (_drop("trainer", "loss_sum"), "trainer.loss_sum"),
    (_set("optimizer", "iteration", None), "optimizer.iteration"),
]


@pytest.mark.parametrize("edit, field", CASES, ids=[c[1] for c in CASES])
def test_a_bad_header_field_is_named_by_every_command(tiny_run, tmp_path, edit, field):
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)
    rewrite_checkpoint(run / "checkpoint.npz", header=edit)
    for argv in (["predict", run, tiny_run[1], "--samples", "2"],
                 ["evaluate", run, "--samples", "2"],
                 ["train", "--resume", "--iterations", "3", "--out", run]):
        code, out, err = run_cli([*argv, "--quiet"])
        assert code == 2 and out == "" and err.count("\n") == 1, (argv, err)
        assert "checkpoint.npz" in err and field in err, (argv, err)
