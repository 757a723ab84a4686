"""Run a tutorial as a notebook, as a reader does in Jupyter, and read back what each cell shows.

The tutorial (a Jupytext percent script) is opened as a notebook and executed cell by cell in
an IPython kernel with matplotlib's default backend there (inline: no ``MPLBACKEND``), so a
figure shows only if the notebook really displays it. To know which cells draw a figure
without trusting the tutorial's text, a first cell (run, then removed from the result) makes
``Figure.savefig`` publish a marker output in the cell that calls it: every tutorial figure,
and every :mod:`tinybcnn.plots` and :mod:`tinybcnn.experiments.figures` function, saves
through it, while the inline backend renders its PNGs without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAVEFIG_MIME = "application/x-tinybcnn-savefig"   # the marker's type: never a real output

_RECORD_SAVEFIG = f"""\
from IPython.display import display as _display
from matplotlib.figure import Figure as _Figure

_original_savefig = _Figure.savefig


def _recording_savefig(self, *args, **kwargs):
    _display({{"{SAVEFIG_MIME}": str(id(self))}}, raw=True)
    return _original_savefig(self, *args, **kwargs)


_Figure.savefig = _recording_savefig
"""


@dataclass
class CellShown:
    """What one code cell of the executed notebook showed."""

    source: str
    stdout: str = ""
    figures_saved: set[str] = field(default_factory=set)   # ids of the figures it saved
    images: int = 0                                          # image/png outputs
    text_only_figures: list[str] = field(default_factory=list)   # "<Figure size ...>" alone


def kernel_env(out: Path, quick: bool) -> dict[str, str]:
    """The kernel's environment: a reader's (no backend chosen), quick or full, NumPy."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "TINYBCNN_QUICK")}
    if quick:
        env["TINYBCNN_QUICK"] = "1"
    env.update(TINYBCNN_TUTORIAL_OUT=str(out), TINYBCNN_BACKEND="numpy", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # beside the other xdist worker, a kernel's second OpenBLAS thread only spins (a
        # tutorial calls the package's functions, which choose no count of their own):
        # tutorial 11 took 0.66x the CPU time on one thread. The tutorials' checks hold on
        # any count; a count the caller set is kept
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def shown(cell) -> CellShown:                                   # noqa: ANN001 - nbformat node
    """Sort a code cell's outputs into printed text, saved-figure markers and images."""
    result = CellShown(cell.source)
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stdout":
            result.stdout += output.text
        data = output.get("data", {})
        if SAVEFIG_MIME in data:
            result.figures_saved.add(data[SAVEFIG_MIME])
        elif "image/png" in data:
            result.images += 1
        elif data.get("text/plain", "").startswith("<Figure size"):
            result.text_only_figures.append(data["text/plain"])
    return result


def run_notebook(script: Path, out: Path, quick: bool = True,
                 timeout_s: float = 600) -> list[CellShown]:
    """Execute ``script`` as a notebook in ``out``; what each code cell showed, in order.

    A cell that raises fails here with nbclient's ``CellExecutionError`` (its traceback).
    """
    import jupytext
    import nbclient
    import nbformat

    nb = jupytext.read(script)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_RECORD_SAVEFIG))
    client = nbclient.NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                                     resources={"metadata": {"path": str(out)}},
                                     shutdown_kernel="immediate")   # graceful: ~2 s more
    client.execute(env=kernel_env(out, quick))
    return [shown(c) for c in nb.cells[1:] if c.cell_type == "code"]
