"""The demo stopped at several points and run again gives the results of a demo that was never
stopped, bit for bit (issue 30: "resume equals never stopping").

The points are chosen by progress (``support.killpoint``: the N-th checkpoint written; the
demo checkpoints each model 8 times): SIGKILL inside lenet-all's training, SIGTERM just after
lenet-all finished, SIGKILL inside lenet-ip's. The demo continues its own runs when run again
(no ``--resume``). The oracle is the same command run once without a stop; the results are
compared whole, less the wall times. One thread (``--threads 1``), so the machine's load
cannot change the bits.
"""

from __future__ import annotations

import json

import pytest
from support.cli import child_env
from support.cli_capture import run_cli
from support.killpoint import run_until

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

DEMO = ["demo", "--quick", "--quiet", "--train-size", "64", "--test-size", "32",
        "--iterations", "8", "--samples", "2", "--threads", "1"]


def results(out) -> dict:
    record = json.loads((out / "results.json").read_text())
    return {model: {k: v for k, v in r.items() if k != "train_seconds"}
            for model, r in record.items()}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "straight"
    code, _, err = run_cli([*DEMO, "--out", out])
    assert code == 0, err
    return results(out)


@pytest.mark.parametrize("sig, n", [("KILL", 3), ("TERM", 8), ("KILL", 12)])
def test_stopped_then_run_again_equals_never_stopped(sig, n, straight, tmp_path):
    out = tmp_path / "demo"
    env = {**child_env(), "TINYBCNN_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    stopped = run_until(sig, n, "checkpoint", [*DEMO, "--out", out], env)
    assert stopped.returncode == (-9 if sig == "KILL" else 143), stopped.stderr
    assert "Traceback" not in stopped.stderr and not (out / "results.json").exists()
    code, _, err = run_cli([*DEMO, "--out", out])
    assert code == 0, err
    assert results(out) == straight
