"""Every experiment runs on the device path: on array_api_strict and on the CuPy-rules double.

Issue 23, defect 3: ``experiment regression`` passed host NumPy inputs to a device model
(``NamespaceMismatch``, then a traceback from the CLI), and ``experiment active-learning``
drew device masks with a NumPy generator (``TypeError``). No experiment ran on the device
path in CI. Quick settings and five iterations: these check that each runs, not what it finds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import cupy_double

from tinybcnn import backend, cli

pytestmark = pytest.mark.slow  # runs every experiment (pytest -m "not slow" leaves it out)

pytest.importorskip("array_api_strict")

EXPERIMENTS = ["small-data", "mc-samples", "rotation", "ood", "regression", "active-learning"]


@pytest.fixture(autouse=True)
def _backend_as_it_was():
    before = backend.get_backend()
    yield
    backend.set_backend(before)


# active learning's quick run scores a pool of 100 images with 5 passes in each of 2 rounds,
# for each of its 7 acquisition functions (~30 s on each namespace): one round of a 20-image
# pool and 2 passes runs every function's scoring, acquisition and retraining on the device
# just the same (the scale of --quick is tests/experiments/test_active_learning_scale.py's)
SMALLER = {"active-learning": ["--rounds", "1", "--pool-subset", "20", "--samples", "2"]}


def _run(name: str, out, backend_name: str) -> int:
    return cli.main(["experiment", name, "--quick", "--iterations", "5", "--quiet",
                     *SMALLER.get(name, []), "--out", str(out), "--backend", backend_name])


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_on_array_api_strict(name, tmp_path, capsys):
    assert _run(name, tmp_path, "array_api_strict") == 0
    written = capsys.readouterr().out.split("files: ", 1)[1].split(",")[0].strip()
    assert json.loads(open(written).read())   # a results file that parses


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_on_the_cupy_double(name, tmp_path, capsys):
    pytest.importorskip("array_api_compat")
    with cupy_double.installed():
        code = _run(name, tmp_path, "cupy")
    assert code == 0, capsys.readouterr().err


def test_cli_maps_a_namespace_mismatch_to_one_line_exit_2(monkeypatch, capsys):
    """A NumPy input met by a device model is bad input: one line, exit 2, no traceback."""
    import tinybcnn as tb
    from tinybcnn import experiments

    def mixes(*args, **kwargs):
        model = tb.models.mlp((1, 4, 1), p=0.1, seed=0)     # on the current backend
        model.forward(np.ones((2, 1), dtype=np.float32))    # host data: NamespaceMismatch

    monkeypatch.setattr(experiments, "run", mixes)
    code = cli.main(["experiment", "regression", "--quick", "--out", "unused",
                     "--backend", "array_api_strict"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("tinybcnn: error: x is a numpy array")
