"""A checkpoint with NaN or infinite weights is refused by every command that reads one, and
``predict --format json`` never writes a NaN token (which is not JSON).

Training never saves such a checkpoint (it stops on a non-finite loss and keeps the last good
one), so one that holds them was damaged or written by something else; before, ``predict``
answered class 0 for every image with exit code 0 and ``--format json`` printed ``NaN``.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from support.checkpoint_edit import rewrite_checkpoint
from support.cli_capture import TINY_TRAIN, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("finite")
    run = root / "run"
    code, _, err = run_cli([*TINY_TRAIN, "--out", run])
    assert code == 0, err
    images = root / "images.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8))
    return run, images


def _strict_json(text: str):
    """``json.loads`` that refuses NaN, Infinity and -Infinity (Python's accepts them)."""
    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_every_command_refuses_non_finite_weights(tiny_run, tmp_path, value):
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)

    def poison(params):
        params["ip1.W"][3, 5] = value

    rewrite_checkpoint(run / "checkpoint.npz", params=poison)
    before = (run / "checkpoint.npz").read_bytes()
    for argv in (["predict", run, tiny_run[1], "--samples", "2", "--quiet"],
                 ["predict", run, tiny_run[1], "--samples", "2", "--quiet", "--format", "json"],
                 ["evaluate", run, "--samples", "2", "--quiet"],
                 ["train", "--resume", "--iterations", "3", "--quiet", "--out", run]):
        code, out, err = run_cli(argv)
        assert code == 2, (argv, out, err)
        assert out == "" and err.count("\n") == 1, (argv, err)
        assert "checkpoint.npz" in err and "ip1.W" in err and "not finite" in err, err
    assert (run / "checkpoint.npz").read_bytes() == before
    assert not (run / "metrics.json").exists()


def test_json_output_holds_no_nan_token(tiny_run, tmp_path):
    """Finite but huge weights overflow the logits: softmax gives NaN probabilities. The
    output is then refused in one line (nothing on stdout), or is strict JSON."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run[0], run)

    def huge(params):
        params["ip2.W"][...] = np.float32(3e38)
        params["ip2.W"][:, 0] = np.float32(-3e38)

    rewrite_checkpoint(run / "checkpoint.npz", params=huge)
    code, out, err = run_cli(["predict", run, tiny_run[1], "--samples", "2", "--quiet",
                              "--format", "json"])
    if code == 0:
        _strict_json(out)
    else:
        assert code == 2 and out == "" and err.count("\n") == 1, (out, err)
        assert "NaN" in err or "not finite" in err


def test_json_output_of_a_good_run_is_strict_json(tiny_run):
    code, out, err = run_cli(["predict", tiny_run[0], tiny_run[1], "--samples", "2",
                              "--quiet", "--format", "json"])
    assert code == 0, err
    probs = [row["probs"] for row in _strict_json(out)["predictions"]]
    assert np.allclose(np.sum(probs, axis=1), 1.0, atol=1e-5)
