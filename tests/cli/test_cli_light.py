"""Instant help (issue 26): ``tinybcnn --help``, every ``tinybcnn CMD --help``, bare ``tinybcnn``
and argument errors import no heavy module, and ``tinybcnn info`` runs without matplotlib.

Each check runs in a fresh interpreter (this test process has imported everything already) and
reads ``sys.modules`` after the command line has finished."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tinybcnn import runconfig

# every check starts a fresh interpreter (seconds each): pytest -m "not slow" leaves them out
pytestmark = pytest.mark.slow

HEAVY = ("matplotlib", "scipy", "tqdm", "tinybcnn.plots", "tinybcnn.demo",
         "tinybcnn.experiments", "tinybcnn.train", "tinybcnn.runs", "tinybcnn.metrics")
COMMANDS = ("demo", "train", "evaluate", "predict", "experiment", "info")

_PROBE = """
import json, sys
from tinybcnn.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    code = exc.code
heavy = [m for m in json.loads(sys.argv[2]) if sys.modules.get(m) is not None]
print("\\nPROBE", json.dumps({"code": code, "heavy": heavy}))
"""


def _probe(argv: list[str], block: str = "") -> tuple[int, list[str], str]:
    """Run ``main(argv)`` in a fresh interpreter; (exit code, heavy modules loaded, output)."""
    proc = subprocess.run([sys.executable, "-c", block + _PROBE, json.dumps(argv),
                           json.dumps(HEAVY)], capture_output=True, text=True, timeout=120)
    line = [x for x in proc.stdout.splitlines() if x.startswith("PROBE ")]
    assert line, proc.stdout + proc.stderr
    found = json.loads(line[-1][6:])
    return found["code"], found["heavy"], proc.stdout + proc.stderr


@pytest.mark.parametrize("argv", [["--help"], *([c, "--help"] for c in COMMANDS)],
                         ids=lambda a: " ".join(a))
def test_help_imports_nothing_heavy(argv):
    code, heavy, out = _probe(argv)
    assert code == 0 and "usage: tinybcnn" in out
    assert heavy == [], f"tinybcnn {' '.join(argv)} imported {heavy}"


@pytest.mark.parametrize("argv", [["demo", "--seed", "-1"], ["train", "--model", "lenet-x"],
                                  ["experiment", "nope"], ["predict"], ["--bogus"]],
                         ids=lambda a: " ".join(a))
def test_argument_errors_import_nothing_heavy(argv):
    code, heavy, out = _probe(argv)
    assert code == 2 and "error:" in out
    assert heavy == [], f"tinybcnn {' '.join(argv)} imported {heavy}"


def test_bare_tinybcnn_prints_the_help_and_exits_2():
    code, heavy, out = _probe([])
    assert code == 2 and heavy == []
    assert "usage: tinybcnn" in out and "positional arguments" in out
    assert "required: command" not in out


def test_model_has_help_text_naming_every_model():
    code, _, out = _probe(["train", "--help"])
    text = " ".join(out.split())  # argparse wraps the help
    for name in runconfig.MODEL_NAMES:
        assert f"{name}:" in text


def test_info_runs_without_matplotlib():
    block = "import sys; sys.modules['matplotlib'] = None  # import matplotlib now fails\n"
    code, heavy, out = _probe(["info"], block=block)
    assert code == 0, out
    assert '"threads": "evaluation and prediction on ' in out
    assert not {"matplotlib", "tinybcnn.plots", "tinybcnn.demo", "tinybcnn.train"} & set(heavy)
