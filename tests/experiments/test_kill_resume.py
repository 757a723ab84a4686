"""Every experiment stopped at several points and continued with ``--resume`` gives the results
of a run that was never stopped, bit for bit (issue 30: "resume equals never stopping").

The points are chosen by progress, not time (``support.killpoint``): SIGKILL just after the
first checkpoint of the first training run (mid-run: the resume starts from that checkpoint),
SIGTERM just after a run's last checkpoint (the run is finished; the package's handler stops
the experiment), and for small data SIGKILL inside the fourth of its six runs. Active learning
is stopped after its first and second saved round. The regression experiment is not here: it
keeps no run folders and refuses ``--resume``.

The oracle is the same command run once without a stop. The results files are compared
whole, less what differs between any two runs: wall times, start time, the machine, the
output folder's name and whether a run was resumed. Settings are the smallest the command line
takes, with one thread (``--threads 1``), so the machine's load cannot change the bits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import child_env
from support.cli_capture import run_cli
from support.killpoint import run_until

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

QUICK = ["--quick", "--iterations", "4", "--quiet", "--threads", "1"]
EXPERIMENTS = {
    "small-data": ("small_data", ["--seeds", "1"], "checkpoint",
                   [("KILL", 1), ("TERM", 2), ("KILL", 7)]),
    "mc-samples": ("mc_samples", ["--seeds", "2"], "checkpoint", [("KILL", 1), ("TERM", 2)]),
    "rotation": ("rotation", [], "checkpoint", [("KILL", 1), ("TERM", 2)]),
    "ood": ("ood", [], "checkpoint", [("KILL", 1), ("TERM", 2)]),
    "active-learning": ("active_learning", ["--rounds", "2", "--acquisitions", "random,bald",
                                            "--pool-subset", "20", "--samples", "2"],
                        "al-state", [("KILL", 1), ("TERM", 3)]),
}
CASES = [(name, sig, n) for name, (_, _, _, points) in EXPERIMENTS.items()
         for sig, n in points]
#: Keys whose values differ between any two runs of the same work (and any ``*seconds``).
VOLATILE = {"started", "machine", "time", "resumed", "run_dir", "out", "resume"}


def stable(value):
    """``value`` without the :data:`VOLATILE` keys and the timings, at any depth."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items()
                if k not in VOLATILE and not k.endswith("seconds")}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def results(out: Path, key: str) -> dict:
    files = [f"{key}.json"] + (["active_learning_details.json"] if key == "active_learning"
                               else [])
    return {f: stable(json.loads((out / f).read_text())) for f in files}


def command(name: str, out: Path) -> list:
    return ["experiment", name, *QUICK, *EXPERIMENTS[name][1], "--out", out]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run of each experiment, made when first asked for."""
    root, done = tmp_path_factory.mktemp("straight"), {}

    def get(name: str) -> dict:
        if name not in done:
            out = root / name
            code, _, err = run_cli(command(name, out))
            assert code == 0, err
            done[name] = results(out, EXPERIMENTS[name][0])
        return done[name]
    return get


@pytest.mark.parametrize("name, sig, n", CASES)
def test_stopped_then_resumed_equals_never_stopped(name, sig, n, straight, tmp_path):
    key, _, hook, _ = EXPERIMENTS[name]
    out = tmp_path / "stopped"
    env = {**child_env(), "TINYBCNN_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    stopped = run_until(sig, n, hook, command(name, out), env)
    assert stopped.returncode == (-9 if sig == "KILL" else 143), stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert not (out / f"{key}.json").exists() or key == "active_learning"
    code, _, err = run_cli([*command(name, out), "--resume"])
    assert code == 0, err
    got, want = results(out, key), straight(name)
    assert got == want, f"{name} differs at {first_difference(got, want)}"


def first_difference(a, b, at: str = "") -> str:
    """Where two JSON values first differ (``results.runs[0].final.mc.nll: 1.2 != 1.3``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{at}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{at}[{i}]")
    return f"{at}: {a!r:.80} != {b!r:.80}"
