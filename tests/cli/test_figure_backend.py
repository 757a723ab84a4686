"""The library leaves matplotlib's backend to its user; the command line draws with Agg.

Each check runs in a fresh interpreter, since a backend, once chosen, stays for the process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# every check starts a fresh interpreter: pytest -m "not slow" leaves them out
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, tmp_path: Path, **env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY",
                                                             "WAYLAND_DISPLAY", "MATPLOTLIBRC")}
    base["PYTHONPATH"] = str(ROOT) + os.pathsep + base.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env={**base, **env})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_importing_plots_keeps_the_users_backend(tmp_path):
    # failed while tinybcnn/plots.py called matplotlib.use("Agg") on import: "agg"
    out = run("""
        import matplotlib
        matplotlib.use("pdf")
        import tinybcnn.plots
        print(matplotlib.get_backend())
        """, tmp_path)
    assert out == ["pdf"]


def test_importing_plots_chooses_no_backend(tmp_path):
    out = run("""
        import matplotlib
        from matplotlib import rcsetup
        import tinybcnn.plots
        # still unresolved: matplotlib resolves it on first use, from the user's settings
        print(dict.__getitem__(matplotlib.rcParams, "backend") is rcsetup._auto_backend_sentinel)
        """, tmp_path)
    assert out == ["True"]


def test_command_line_draws_with_agg_without_a_display(tmp_path):
    # a matplotlibrc that names another backend, as a desktop user's might
    (tmp_path / "matplotlibrc").write_text("backend: svg\n")
    out = run("""
        import contextlib, io
        from tinybcnn.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["info"]) == 0
        import matplotlib
        import tinybcnn.plots as plots
        import numpy as np
        plots.error_vs_samples(np.array([1, 5]), np.array([0.3, 0.2]), np.array([0.01, 0.01]),
                               0.25, "fig.png")
        print(matplotlib.get_backend().lower())
        """, tmp_path, MATPLOTLIBRC=str(tmp_path))
    assert out == ["agg"]
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line_respects_mplbackend(tmp_path):
    out = run("""
        import contextlib, io
        from tinybcnn.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["info"]) == 0
        import matplotlib
        print(matplotlib.get_backend().lower())
        """, tmp_path, MPLBACKEND="pdf")
    assert out == ["pdf"]
