"""Run a Jupytext percent tutorial cell by cell and record what each code cell shows.

Used by the docs build (``tutorial_pages.py``) so that the tutorial pages show their printed
output and figures under each cell, the way a notebook does. Run as a script, in a fresh
process per tutorial (tutorials set backends and matplotlib state)::

    python docs/_hooks/run_tutorial.py tutorials/01_im2col.py OUT.json

with the environment the caller chooses (the docs build sets ``TINYBCNN_QUICK=1``). The JSON
holds one entry per code cell, in order: ``{"stdout": str, "figures": [base64 PNG, ...]}``.
A figure is recorded whenever the cell saves one (``Figure.savefig``, which every tutorial
figure and every :mod:`tinybcnn.plots` function goes through). A cell that raises stops the
run with exit status 1 and the traceback on stderr.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import sys
import traceback
from pathlib import Path

FIGURE_DPI = 80          # the site's copy of a figure; the tutorial's own file is unchanged


def strip_header(lines: list[str]) -> list[str]:
    """Drop the Jupytext YAML header (a comment block between two ``# ---`` lines)."""
    if lines and lines[0].strip() == "# ---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "# ---":
                return lines[i + 1:]
    return lines


def cells(source: str) -> list[tuple[str, list[str]]]:
    """``(kind, lines)`` for each ``# %%`` cell; kind is ``"markdown"`` or ``"code"``."""
    out: list[tuple[str, list[str]]] = []
    kind, body = None, []
    for line in strip_header(source.splitlines()):
        if line.startswith("# %%"):
            if kind is not None:
                out.append((kind, body))
            kind, body = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            body.append(line)
    if kind is not None:
        out.append((kind, body))
    return out


def run(script: Path) -> list[dict]:
    """Execute the code cells of ``script`` in one namespace; the outputs per code cell."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    current: list[str] = []
    original_savefig = Figure.savefig

    def recording_savefig(self, fname, *args, **kwargs):       # noqa: ANN001
        result = original_savefig(self, fname, *args, **kwargs)
        buf = io.BytesIO()
        original_savefig(self, buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
        current.append(base64.b64encode(buf.getvalue()).decode("ascii"))
        return result

    Figure.savefig = recording_savefig
    namespace: dict = {"__name__": "__main__", "__file__": str(script)}
    outputs = []
    for i, (kind, body) in enumerate(cells(script.read_text(encoding="utf-8"))):
        if kind != "code":
            continue
        current.clear()
        stdout = io.StringIO()
        code = compile("\n".join(body), f"{script.name} (cell {i})", "exec")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
            try:
                exec(code, namespace)                            # noqa: S102 - our own tutorial
            except BaseException:
                sys.__stdout__.write(stdout.getvalue())
                raise
        outputs.append({"stdout": stdout.getvalue(), "figures": list(current)})
    return outputs


def main(argv: list[str]) -> int:
    script, out = Path(argv[1]).resolve(), Path(argv[2])
    sys.path.insert(0, str(script.parent))
    try:
        outputs = run(script)
    except BaseException:
        traceback.print_exc()
        return 1
    out.write_text(json.dumps(outputs), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
