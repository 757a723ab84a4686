"""MkDocs hook: the MC-dropout samples behind the interactive regression figure.

``docs/interactive-regression.md`` draws tutorial 09's model in the browser, with sliders for
the number of passes ``T``, the drop probability ``p`` and the width of the gap in the data.
Nothing is computed in the browser but means and variances: this hook trains one small
dropout MLP per (``p``, gap) on the regression experiment's data
(:mod:`tinybcnn.experiments.regression`), draws ``T_MAX`` MC passes of each on a grid of
inputs, and writes them, with the training points, as ``javascripts/mc_regression_data.js``
(``window.MC_REGRESSION = {...}``): a script, not a JSON fetch, so the page works from
``file://`` with no server and no network.

Nine small trainings: about 15 s of CPU per site build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = "javascripts/mc_regression_data.js"

PS = (0.05, 0.1, 0.25)                                # drop probabilities on the p slider
GAPS = ((0.0, 0.5), (-0.5, 1.0), (-1.0, 1.5))        # narrow, the experiment's, wide
T_MAX = 50
GRID = (-4.0, 4.0, 81)                                # x from -4 to 4: data, gap and beyond
TAU, LENGTH_SCALE = 100.0, 0.01                       # the experiment's chosen (tau, l)
SETTINGS = dict(hidden=(64, 64, 64), iterations=1000, lr=1e-2, n_train=120)
DECIMALS = 4


def gap_key(gap: tuple[float, float]) -> str:
    """The name of a gap in the data, e.g. ``"-0.5,1"``."""
    return f"{gap[0]:g},{gap[1]:g}"


def key(p: float, gap: tuple[float, float]) -> str:
    """The name of one (p, gap) setting in the data, e.g. ``"0.1|-0.5,1"``."""
    return f"{p:g}|{gap_key(gap)}"


def compute(ps=PS, gaps=GAPS, t_max: int = T_MAX, grid=GRID, seed: int = 0,
            **overrides: Any) -> dict[str, Any]:
    """Train one MLP per (p, gap) and draw ``t_max`` MC passes of it on the grid.

    Returns
    -------
    dict
        ``x`` (grid), ``tau``, ``t_max``, ``ps``, ``gaps``, ``train`` (per gap: ``x``, ``y``),
        ``passes`` (per :func:`key`: a ``t_max × len(x)`` list of lists).
    """
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tinybcnn.backend import get_backend, set_backend
    from tinybcnn.experiments.regression import make_gap_data, settings_for, train_regression
    from tinybcnn.predict import mc_predict_regression

    x = np.linspace(*grid[:2], grid[2], dtype=np.float32)[:, None]
    data: dict[str, Any] = {"x": np.round(x[:, 0], DECIMALS).tolist(), "tau": TAU,
                            "t_max": t_max, "ps": list(ps), "gaps": [list(g) for g in gaps],
                            "train": {}, "passes": {}}
    before = get_backend()
    set_backend("numpy")
    try:
        for gap in gaps:
            base = settings_for(**{**SETTINGS, **overrides, "gap": gap})
            points = make_gap_data(base, seed=seed)
            data["train"][gap_key(gap)] = {
                "x": np.round(points.x_train[:, 0], DECIMALS).tolist(),
                "y": np.round(points.y_train[:, 0], DECIMALS).tolist()}
            for p in ps:
                settings = settings_for(**{**SETTINGS, **overrides, "gap": gap, "p": p})
                model = train_regression(points.x_train, points.y_train, LENGTH_SCALE, TAU,
                                         settings, seed=seed)
                pred = mc_predict_regression(model, x, tau=TAU, samples=t_max, seed=seed)
                passes = np.asarray(pred.samples, dtype=np.float64)[:, :, 0]
                data["passes"][key(p, gap)] = np.round(passes, DECIMALS).tolist()
    finally:
        set_backend(before)
    return data


def on_files(files: Files, config: Any) -> Files:
    """Add the generated data script to the site."""
    content = "window.MC_REGRESSION = " + json.dumps(compute(), separators=(",", ":")) + ";\n"
    files.append(File.generated(config, OUTPUT, content=content))
    return files
