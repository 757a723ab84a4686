"""Regression with uncertainty: MC dropout on 1-D data with a gap ("what my model doesn't know").

A smooth function with homoscedastic Gaussian noise is sampled on an interval with a hole in it.
An MLP with dropout is trained with the objective of ``docs/objective.md`` (Gaussian likelihood
of precision ``tau``, weight decay from the prior length-scale ``l``, the drop probability ``p``
and ``N``). MC dropout then gives a predictive mean and a variance with two parts::

    Var[y*] ≈ 1/tau  +  Var_t(ŷ_t)
              aleatoric  epistemic (the spread of the T passes)

The epistemic part grows in the gap and outside the data; standard dropout (one deterministic
pass) has none, so its band is the noise alone. ``tau`` is chosen by grid search on a
validation split (:func:`grid_search`), the way Gal & Ghahramani (2016) chose it. The
derivation is in ``docs/uncertainty-at-work.md``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import to_namespace, to_numpy, xp_of
from ..files.identity import check_identity, identity, record_identity
from ..files.jsonfile import JSONFileError, read_json
from ..functional.checks import positive_int
from ..metrics import gaussian_log_likelihood
from ..models import mlp
from ..objective import Objective
from ..optim import Adam, inv
from ..predict import RegressionPrediction, mc_predict_regression
from ..random import stream
from ..threads import small_work_threads
from ..train import Trainer
from . import figures
from .common import machine_info, progress_bar, write_json
from .outdir import identity_path
from .runner import Request

__all__ = ["main", "RegressionSettings", "FULL", "QUICK", "GapData", "true_function",
           "make_gap_data",
           "region_of", "train_regression", "evaluate_regression", "band_widths", "region_scores",
           "grid_search",
           "run_regression"]


@dataclass(frozen=True)
class RegressionSettings:
    """Settings of the regression experiment: the data, the network, training and the grid."""

    n_train: int = 200                          # training points (before the validation split)
    noise_std: float = 0.1                      # the true noise: tau = 100 is the "right" value
    x_range: tuple[float, float] = (-2.0, 2.0)  # training inputs ...
    gap: tuple[float, float] = (-0.5, 1.0)      # ... except this interval
    test_range: tuple[float, float] = (-5.0, 5.0)  # the data, the gap and far beyond
    n_test: int = 401                           # evenly spaced test inputs, noisy targets
    hidden: tuple[int, ...] = (128, 128, 128)
    p: float = 0.1
    iterations: int = 3000
    batch_size: int = 32
    lr: float = 3e-3
    taus: tuple[float, ...] = (3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
    length_scales: tuple[float, ...] = (1e-2, 1e-1, 1.0)
    val_fraction: float = 0.2
    samples: int = 100                          # MC passes T

    def __post_init__(self) -> None:
        """One clear error for a setting out of range."""
        for name in ("n_train", "n_test", "iterations", "batch_size", "samples"):
            positive_int(getattr(self, name), name)
        if any(not 0 < h == int(h) for h in self.hidden) or not self.hidden:
            raise ValueError(f"hidden must be positive layer widths, got {self.hidden}")
        if not 0 <= self.p < 1:
            raise ValueError(f"p is a drop probability and must lie in [0, 1), got {self.p!r}")
        positive = {"noise_std": [self.noise_std], "lr": [self.lr], "taus": self.taus,
                    "length_scales": self.length_scales}
        for name, values in positive.items():
            if not values or any(not 0 < v < float("inf") for v in values):
                raise ValueError(f"{name} must be positive and finite, got {values}")
        lo, hi = self.x_range
        g0, g1 = self.gap
        if not lo < g0 < g1 < hi:
            raise ValueError(f"the gap {self.gap} must lie inside x_range {self.x_range}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction}")


#: Full-size settings (about a minute on two CPU cores) and quick ones (seconds).
FULL = RegressionSettings()
QUICK = RegressionSettings(n_train=100, hidden=(64, 64), iterations=600, taus=(10.0, 100.0,
                           1000.0), length_scales=(1e-2,), samples=30, n_test=161)


# ---------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------

def true_function(x: np.ndarray) -> np.ndarray:
    """The smooth function behind the data, ``sin(2.5 x) + 0.4 x``."""
    return np.sin(2.5 * x) + 0.4 * x


@dataclass
class GapData:
    """1-D regression data with a gap: ``(N, 1)`` float32 inputs and targets.

    Attributes
    ----------
    x_train, y_train : ndarray (N, 1)
        Noisy samples on ``x_range`` minus ``gap``.
    x_test, y_test : ndarray (M, 1)
        Evenly spaced inputs on ``test_range`` (data, gap and beyond) with noisy targets.
    gap, x_range : (float, float)
    noise_std : float
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    gap: tuple[float, float]
    x_range: tuple[float, float]
    noise_std: float


def make_gap_data(settings: RegressionSettings = FULL, seed: int = 0) -> GapData:
    """Draw the training inputs uniformly outside the gap, the test inputs on a grid.

    Both get Gaussian noise of standard deviation ``noise_std`` (homoscedastic).
    """
    rng = stream(seed, "data")
    (lo, hi), (g0, g1) = settings.x_range, settings.gap
    # uniform on [lo, g0) ∪ (g1, hi]: draw on a line of the kept length, then jump the gap
    u = rng.uniform(lo, hi - (g1 - g0), settings.n_train)
    x = np.sort(np.where(u < g0, u, u + (g1 - g0)))
    x_test = np.linspace(*settings.test_range, settings.n_test)
    y = true_function(x) + settings.noise_std * rng.normal(size=x.shape)
    y_test = true_function(x_test) + settings.noise_std * rng.normal(size=x_test.shape)

    def col(a: np.ndarray) -> np.ndarray:
        """``(N,)`` -> ``(N, 1)`` float32, the layout the MLP takes."""
        return a[:, None].astype(np.float32)

    return GapData(col(x), col(y), col(x_test), col(y_test), settings.gap, settings.x_range,
                   settings.noise_std)


def region_of(x: np.ndarray, data: GapData) -> np.ndarray:
    """``"data"``, ``"gap"`` or ``"outside"`` for each input (shape of ``x`` without a last 1)."""
    x = np.asarray(x).reshape(len(x))
    (lo, hi), (g0, g1) = data.x_range, data.gap
    return np.where((x < lo) | (x > hi), "outside",
                    np.where((x > g0) & (x < g1), "gap", "data"))


# ---------------------------------------------------------------------------------------
# Training and prediction
# ---------------------------------------------------------------------------------------

def train_regression(x: np.ndarray, y: np.ndarray, length_scale: float, tau: float,
                     settings: RegressionSettings = FULL, seed: int = 0) -> Any:
    """Train a dropout MLP on ``(x, y)`` with the prior-derived objective of precision ``tau``.

    The weight decay of each layer is ``λ = l² / (2 N tau keep)`` (biases ``l²/(2 N tau)``),
    as ``docs/objective.md`` derives; the data term is the Gaussian ``−log N(y; ŷ, 1/tau)``.
    Adam with the ``inv`` schedule; the seed fixes the initial weights, masks and batches.

    Parameters
    ----------
    x, y : ndarray (N, 1)
    length_scale, tau : float
        Prior length-scale ``l`` and model precision ``τ``.
    settings : RegressionSettings
        ``hidden``, ``p``, ``iterations``, ``batch_size`` and ``lr``.
    seed : int

    Returns
    -------
    Sequential
        The trained model, ``(N, 1) -> (N, 1)``.
    """
    model = mlp((x.shape[1], *settings.hidden, y.shape[1]), p=settings.p, seed=seed)
    objective = Objective.for_model(model, n_train=len(x), length_scale=length_scale, tau=tau,
                                    likelihood="gaussian")
    optimizer = Adam(model, lr=settings.lr, schedule=inv(1e-3, 0.75))
    trainer = Trainer(model, objective, optimizer, seed=seed)
    with small_work_threads():
        trainer.fit(x, y, iterations=settings.iterations,
                    batch_size=min(settings.batch_size, len(x)), mc_samples=0, progress=False)
    return model


def forward_host(model: Any, x: np.ndarray) -> np.ndarray:
    """``model.forward(x)`` for host inputs ``x``, as a float64 host array, on any backend.

    On NumPy ``x`` goes in as it is; on a device it is moved to the model's namespace and
    dtype first (as :func:`~tinybcnn.predict.mc_predict` moves it), and the output is read
    back explicitly: a CuPy model refuses host arrays, and CuPy arrays refuse ``np.asarray``.
    """
    like = next(iter(model.params.values()))
    xp = xp_of(like)
    if xp is not np:
        x = to_namespace(x, xp, like.dtype)
    return to_numpy(model.forward(x)).astype(np.float64)


def evaluate_regression(model: Any, x: np.ndarray, y: np.ndarray, tau: float, samples: int,
                        seed: int = 0) -> tuple[dict[str, dict[str, float]], RegressionPrediction]:
    """Test log-likelihood and RMSE of MC-dropout and of standard-dropout prediction.

    MC: ``T`` passes, the log-likelihood by log-sum-exp over the passes
    (:func:`tinybcnn.metrics.mc_test_log_likelihood`). Standard: one deterministic pass with
    the noise ``1/tau`` as its only variance (no epistemic part), the non-Bayesian baseline.

    Returns
    -------
    scores : dict
        ``{"mc": {"ll", "rmse"}, "standard": {"ll", "rmse"}}``.
    prediction : RegressionPrediction
        The MC prediction (mean, variance, the passes).
    """
    with small_work_threads():
        mc = mc_predict_regression(model, x, tau=tau, samples=samples, seed=seed, y=y)
        det = forward_host(model, x)
    y64 = np.asarray(y, dtype=np.float64)
    scores = {"mc": {"ll": float(mc.test_ll),
                     "rmse": float(np.sqrt(np.mean((mc.mean - y64) ** 2)))},
              "standard": {"ll": gaussian_log_likelihood(det, 1.0 / tau, y64),
                           "rmse": float(np.sqrt(np.mean((det - y64) ** 2)))}}
    return scores, mc


def band_widths(pred: RegressionPrediction, x: np.ndarray, data: GapData) -> dict[str, float]:
    """Mean epistemic standard deviation ``std_t(ŷ_t)`` in the data, in the gap and outside."""
    epistemic = np.sqrt(np.asarray(pred.samples, dtype=np.float64).var(axis=0)).reshape(len(x))
    where = region_of(x, data)
    return {name: float(epistemic[where == name].mean()) for name in ("data", "gap", "outside")
            if np.any(where == name)}


def region_scores(model: Any, data: GapData, tau: float, samples: int,
                  seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """:func:`evaluate_regression` on the test points of each region (data, gap, outside)."""
    where = region_of(data.x_test, data)
    return {name: evaluate_regression(model, data.x_test[where == name],
                                      data.y_test[where == name], tau, samples, seed)[0]
            for name in ("data", "gap", "outside") if np.any(where == name)}


def grid_search(data: GapData, settings: RegressionSettings = FULL, seed: int = 0,
                progress: bool = False) -> dict[str, Any]:
    """Choose ``tau`` and ``l`` by MC log-likelihood on a validation split of the training data.

    The last ``val_fraction`` of a random permutation of the training points is held out; one
    network is trained on the rest for every ``(l, tau)`` of the grid, and scored on the
    validation points and (for the figure only: it never chooses) on the test set.

    Returns
    -------
    dict
        ``rows``: one ``{"length_scale", "tau", "val_ll", "test_ll"}`` per grid point;
        ``best``: the row of the highest ``val_ll``; ``n_fit``, ``n_val``.
    """
    order = stream(seed, "split").permutation(len(data.x_train))
    n_val = max(1, round(settings.val_fraction * len(order)))
    fit, val = order[:-n_val], order[-n_val:]
    rows = []
    bar = progress_bar(len(settings.length_scales) * len(settings.taus), "tau grid", progress,
                       unit="fit")
    try:
        for length_scale in settings.length_scales:
            for tau in settings.taus:
                model = train_regression(data.x_train[fit], data.y_train[fit], length_scale,
                                         tau, settings, seed)
                val_scores, _ = evaluate_regression(model, data.x_train[val],
                                                    data.y_train[val], tau, settings.samples,
                                                    seed)
                test_scores, _ = evaluate_regression(model, data.x_test, data.y_test, tau,
                                                     settings.samples, seed)
                rows.append({"length_scale": length_scale, "tau": tau,
                             "val_ll": val_scores["mc"]["ll"],
                             "test_ll": test_scores["mc"]["ll"]})
                bar.update(1)
    finally:
        bar.close()
    best = max(rows, key=lambda r: r["val_ll"])
    return {"rows": rows, "best": best, "n_fit": len(fit), "n_val": len(val)}


# ---------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------

def settings_for(quick: bool = False, **overrides: Any) -> RegressionSettings:
    """Full or quick settings with fields replaced by keyword (lists become tuples)."""
    base = QUICK if quick else FULL
    unknown = sorted(set(overrides) - {f.name for f in fields(base)})
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for experiment regression")
    return replace(base, **{k: tuple(v) if isinstance(v, list) else v
                            for k, v in overrides.items()})


#: The data set an identity record names: the experiment's own 1-D data with a gap.
DATASET = "gap-1d"


def _settings_record(settings: RegressionSettings, seed: int) -> dict[str, Any]:
    """The seed and the settings as ``regression.json`` holds them (tuples as lists)."""
    return {"seed": int(seed), **json.loads(json.dumps(asdict(settings)))}


def _same_settings(results: Path, settings: RegressionSettings, seed: int) -> None:
    """Refuse in one line if ``results`` (a finished regression) was made with another seed or
    setting, naming the first that differs; nothing to compare (no results): nothing said."""
    if not os.path.lexists(results):
        return
    try:
        record = read_json(results)
    except JSONFileError as exc:
        raise ValueError(f"{exc}; start afresh with --replace") from None
    seeds = record.get("seeds") if isinstance(record, dict) else None
    saved = record.get("settings") if isinstance(record, dict) else None
    if not isinstance(saved, dict) or not isinstance(seeds, dict):
        raise ValueError(f"{results} holds no settings or seed (damaged or edited); start "
                         "afresh with --replace")
    have = {"seed": seeds.get("base"), **saved}
    for name, value in _settings_record(settings, seed).items():
        if have.get(name) != value:
            same = f"--seed {have.get(name)!r}" if name == "seed" else "the same settings"
            raise ValueError(
                f"{results.parent} holds a regression made with another {name} "
                f"({have.get(name)!r} there, {value!r} here): give {same} to run it again, "
                "or start afresh with --replace (or another --out)")


def _claim(out: Path, settings: RegressionSettings, seed: int, data: GapData,
           replace: bool) -> None:
    """Check that the regression in ``out`` (if any) is this one, writing nothing: its
    settings and seed (``regression.json``), then its identity record (the seed and the
    data's content); every check passed, record the identity if it is new (``replace``: skip
    the comparisons and record this one)."""
    if not replace:
        _same_settings(out / "regression.json", settings, seed)
    wanted = identity("regression", DATASET, seed, data.x_train, data.y_train, data.x_test,
                      data.y_test)
    if check_identity(identity_path(out, "regression"), wanted, replace=replace):
        record_identity(identity_path(out, "regression"), wanted)


def run_regression(out: str | Path, quick: bool = False, seed: int = 0, progress: bool = True,
                   replace: bool = False, **overrides: Any) -> Path:
    """Choose ``tau``, train, predict, and write ``out/regression.json`` and two figures.

    The JSON's ``results`` hold the chosen ``(l, tau)``, the test log-likelihood and RMSE of
    MC and standard prediction (``scores``), the mean epistemic standard deviation per region
    (``epistemic_std``), and the whole grid; ``regression_band.png`` draws the predictive band
    split into its two parts, ``regression_tau.png`` the log-likelihood against ``tau``.

    ``out/regression_identity.json`` records the seed and the data's content
    (:mod:`tinybcnn.files.identity`) before the first file. Run again into the same ``out``:
    with the same seed and settings it is done again (it keeps no runs or state to reuse,
    and gives the same numbers); with another, it is refused in one line naming the first
    field that differs, the folder left as it was, unless ``replace`` (``--replace``).
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    settings = settings_for(quick, **overrides)
    out = Path(out)
    data = make_gap_data(settings, seed)
    out.mkdir(parents=True, exist_ok=True)
    _claim(out, settings, seed, data, replace)   # every check before the first file
    search = grid_search(data, settings, seed, progress)
    l_best, tau_best = search["best"]["length_scale"], search["best"]["tau"]
    model = train_regression(data.x_train, data.y_train, l_best, tau_best, settings, seed)
    scores, mc = evaluate_regression(model, data.x_test, data.y_test, tau_best,
                                     settings.samples, seed)
    with small_work_threads():
        standard_mean = forward_host(model, data.x_test)
    widths = band_widths(mc, data.x_test, data)
    by_region = region_scores(model, data, tau_best, settings.samples, seed)
    figures.regression_band(data.x_train[:, 0], data.y_train[:, 0], data.x_test[:, 0],
                          mc.mean[:, 0], np.asarray(mc.samples)[..., 0].var(axis=0),
                          1.0 / tau_best, standard_mean[:, 0], data.gap,
                          true_x=data.x_test[:, 0], true_y=true_function(data.x_test[:, 0]),
                          path=out / "regression_band.png")
    figures.regression_tau(search["rows"], best=search["best"], path=out / "regression_tau.png")
    results = {"length_scale": l_best, "tau": tau_best, "true_tau": 1 / settings.noise_std**2,
               "scores": scores, "scores_by_region": by_region, "epistemic_std": widths,
               "grid": search,
               "n_train": len(data.x_train), "n_test": len(data.x_test),
               "notes": ["ll is the mean test log-likelihood per point (nats, higher is "
                         "better); MC uses log-sum-exp over the T passes, standard uses one "
                         "deterministic pass with variance 1/tau",
                         "the grid's test_ll is for the figure only: tau and l are chosen by "
                         "val_ll on a held-out part of the training points",
                         "the test inputs span the data, the gap and beyond the data"]}
    record = {"experiment": "regression",
              "arguments": {"out": str(out), "quick": quick, "seed": seed, "overrides": overrides},
              "settings": asdict(settings), "seeds": {"base": seed},
              "machine": machine_info(), "started": started,
              "wall_seconds": time.perf_counter() - t0,
              "figures": sorted(p.name for p in out.glob("regression_*.png")),
              "results": results}
    path = out / "regression.json"
    write_json(path, record)
    return path


def main(request: Request) -> Path:
    """The registry's entry point: :func:`run_regression` for ``request`` (its own 1-D data,
    one seed, no run folders or state to resume: run again, it is done again)."""
    if request.resume:
        raise ValueError("resume does not apply to regression: it keeps no run folders or "
                         "state to continue; run it again without --resume (the same "
                         "settings are done again, other settings need --replace)")
    overrides = request.overrides
    if request.iterations is not None:
        overrides["iterations"] = request.iterations
    if request.dataset != "embedded" or request.data_dir is not None:
        raise ValueError("regression makes its own 1-D data: --dataset does not apply")
    if request.seeds is not None:
        raise ValueError("regression trains with one seed: use --seed, not --seeds")
    request.refuse_run_dir()
    return run_regression(request.out, quick=request.quick, seed=int(request.seed),
                          progress=request.progress, replace=request.replace, **overrides)
