"""Stop a real ``tinybcnn`` process at a chosen point of its progress, by a signal.

``python tests/support/killpoint.py SIGNAL N HOOK ARGS...`` runs ``tinybcnn ARGS`` and sends
itself ``SIGNAL`` (``KILL``, ``TERM`` or ``INT``) right after the ``N``-th time ``HOOK`` happened:

``checkpoint``
    a training checkpoint was written (:func:`tinybcnn.training.checkpointing.save`): with
    checkpoints at every evaluation, N picks a point inside a run or just after one finished;
``al-state``
    active learning's state file was written (one round of one curve done).

So the point is chosen by progress, not by time: the same N stops the same work on a busy
and an idle machine. SIGKILL leaves the files as they were at that moment (no handler runs);
SIGTERM goes through the package's handler (a checkpoint, exit 143); SIGINT is a Ctrl-C
(a checkpoint, exit 130). The tests then run the same command again and compare with an
uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["run_until", "HOOKS"]

HOOKS = ("checkpoint", "al-state")
HERE = Path(__file__).resolve()


def run_until(sig: str, n: int, hook: str, argv: list, env: dict[str, str],
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``tinybcnn argv`` in a child that sends itself ``SIG<sig>`` after the ``n``-th
    ``hook``; returns the finished child (``returncode`` -9 for KILL, 143 for TERM, 130 for
    INT)."""
    cmd = [sys.executable, str(HERE), sig, str(n), hook, *map(str, argv)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False, cwd=HERE.parents[2])


def _install(sig: int, n: int, hook: str) -> None:  # pragma: no cover - runs in the child
    seen = [0]

    def after(result):
        seen[0] += 1
        if seen[0] == n:
            os.kill(os.getpid(), sig)
        return result

    if hook == "checkpoint":
        from tinybcnn.training import checkpointing

        save = checkpointing.save
        checkpointing.save = lambda *a, **k: after(save(*a, **k))
    elif hook == "al-state":
        from tinybcnn.experiments import active_learning as al

        write = al.write_json

        def write_json(path, *a, **k):
            result = write(path, *a, **k)
            return after(result) if Path(path).name == al.STATE_NAME else result
        al.write_json = write_json
    else:
        raise SystemExit(f"unknown hook {hook!r}; known: {HOOKS}")


if __name__ == "__main__":  # pragma: no cover - runs in the child
    name, count, which, *args = sys.argv[1:]
    if name == "INT":
        # as a terminal's Ctrl-C finds Python: a child of a pytest run in the background
        # inherits SIGINT ignored, and then the package installs no handler of its own
        signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path[0] = str(HERE.parents[2])   # the repository's tinybcnn, not tests/support/*
    _install(getattr(signal, f"SIG{name}"), int(count), which)
    from tinybcnn.cli import main

    sys.exit(main(args))
