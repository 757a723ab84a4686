"""The papers' experiments as functions: small data, MC samples, rotation, out-of-distribution.

Each experiment trains through :mod:`tinybcnn.runs` (the Caffe LeNet recipe of the command
line: SGD with momentum 0.9, lr 0.01 with the ``inv`` schedule, weight decay 5e-4, batch 64),
writes ``OUT/<name>.json`` and figures ``OUT/<name>_*.png``, and keeps its run directories
(config, checkpoint, history) under ``OUT/<name>_runs/``:

``small_data``
    lenet-none, lenet-ip and lenet-all on stratified subsets of the training split
    (1/32, 1/8, 1/4 and all of it), several seeds; test error against iterations and the final
    standard- and MC-dropout errors (Gal & Ghahramani 2015, figure 3).
``mc_samples``
    one lenet-all; MC test error against the number of passes ``T`` (mean ± std over repeated
    sampling), against standard dropout (2015, figure 4).
``rotation``
    one test image rotated from 0° to 180°: the sampled softmax outputs, predictive entropy and
    mutual information per angle (ICML 2016, figure of the rotated digit); then error, NLL, ECE,
    entropy and MI of the whole rotated test set against the angle.
``ood``
    lenet-all trained on classes 0–4; classes 5–9 of the test split are out of distribution.
    AUROC and FPR at 95% TPR of 1 − max p̄, entropy, MI and variation ratio, standard vs MC.

Every experiment has a full-size default and a ``quick`` mode (a few hundred images, tens of
iterations, small ``T``) for smoke tests; any setting can be overridden by keyword (see
:data:`FULL` and :data:`QUICK`). ``run(name, out, ...)`` is what ``tinybcnn experiment`` calls.

Randomness: training seeds are ``seed, seed + 1, ...``; MC sampling seeds likewise. The same
arguments give the same JSON (apart from wall times) on the same backend.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, metrics
from .backend import get_backend
from .data import Dataset, as_float, load_dataset, stratified_subset
from .predict import Prediction, entropy, mc_predict, standard_predict
from .runs import CHECKPOINT, CONFIG, RunConfig, load_run, train_run

__all__ = [
    "EXPERIMENTS",
    "FULL",
    "QUICK",
    "SmallDataSettings",
    "MCSamplesSettings",
    "RotationSettings",
    "OODSettings",
    "settings_for",
    "default_iterations",
    "mc_error_curve",
    "rotate_images",
    "ood_scores",
    "machine_info",
    "run",
    "small_data",
    "mc_samples",
    "rotation",
    "ood",
]


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

def default_iterations(train_size: int, batch_size: int = 64, epochs: float = 30,
                       minimum: int = 1000, maximum: int = 10000) -> int:
    """SGD iterations for a training set of ``train_size``: ``epochs`` passes, clamped.

    Small sets get at least ``minimum`` updates (hundreds of epochs: the over-fitting regime
    in which the paper compares dropout placements); large ones at most ``maximum`` (Caffe's
    LeNet solver runs 10,000).
    """
    wanted = math.ceil(epochs * train_size / batch_size)
    return int(min(max(wanted, minimum), maximum))


@dataclass(frozen=True)
class _Training:
    """Fields shared by every experiment that trains."""

    iterations: int | None = None       # None: default_iterations(train size, batch size)
    batch_size: int = 64
    p: float = 0.5
    train_pool: int | None = None       # cap the training split first (a stratified subset)
    test_size: int | None = None        # cap the test split (a stratified subset)
    eval_size: int | None = 1000        # test images behind the error-vs-iteration rows
    eval_points: int = 10               # history rows per run
    eval_samples: int = 10              # MC passes per history row


@dataclass(frozen=True)
class SmallDataSettings(_Training):
    """Settings of :func:`small_data` (``seeds`` is the number of training seeds)."""

    models: tuple[str, ...] = ("lenet-none", "lenet-ip", "lenet-all")
    fractions: tuple[float, ...] = (1 / 32, 1 / 8, 1 / 4, 1.0)
    seeds: int = 3
    samples: int = 50                   # MC passes T of the final evaluation


@dataclass(frozen=True)
class MCSamplesSettings(_Training):
    """Settings of :func:`mc_samples` (``seeds`` is the number of sampling repetitions)."""

    train_fraction: float = 0.25
    t_values: tuple[int, ...] = (1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 70, 100)
    seeds: int = 5


@dataclass(frozen=True)
class RotationSettings(_Training):
    """Settings of :func:`rotation`."""

    train_fraction: float = 1.0
    max_angle: float = 180.0
    steps: int = 12                     # steps + 1 angles from 0 to max_angle
    image_class: int = 1                # rotate the first test image of this class ...
    image_index: int | None = None      # ... or this test image
    image_samples: int = 100            # T for the single image
    test_size: int | None = 1000        # rotated test-set subset
    samples: int = 50                   # T for the test set


@dataclass(frozen=True)
class OODSettings(_Training):
    """Settings of :func:`ood` (``seeds`` is the number of training seeds)."""

    in_classes: int = 5                 # classes 0 .. in_classes-1 in distribution
    train_fraction: float = 1.0
    samples: int = 50
    tpr: float = 0.95
    seeds: int = 1


#: Full-size settings per experiment.
FULL: dict[str, Any] = {
    "small_data": SmallDataSettings(),
    "mc_samples": MCSamplesSettings(),
    "rotation": RotationSettings(),
    "ood": OODSettings(),
}

_QUICK_TRAINING = dict(iterations=30, batch_size=32, train_pool=200, test_size=100,
                       eval_size=100, eval_points=2, eval_samples=2)

#: ``quick`` settings: a few hundred images, tens of iterations, small T (seconds each).
QUICK: dict[str, Any] = {
    "small_data": SmallDataSettings(**{**_QUICK_TRAINING, "iterations": 12, "batch_size": 16},
                                    fractions=(1 / 4, 1.0), seeds=2, samples=5),
    "mc_samples": MCSamplesSettings(**_QUICK_TRAINING, train_fraction=1.0,
                                    t_values=(1, 2, 3, 5, 10, 20), seeds=3),
    "rotation": RotationSettings(**_QUICK_TRAINING, steps=6,
                                 image_samples=10, samples=5),
    "ood": OODSettings(**_QUICK_TRAINING, samples=10),
}


def settings_for(name: str, quick: bool = False, **overrides: Any) -> Any:
    """The settings of experiment ``name`` (full or quick), with fields replaced by keyword.

    Raises
    ------
    ValueError
        For an unknown experiment or setting, or a value out of range.
    """
    name = _canonical(name)
    base = (QUICK if quick else FULL)[name]
    known = {f.name for f in fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for experiment {name}; "
                         f"known: {', '.join(sorted(known))}")
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    settings = replace(base, **overrides)
    _validate(settings)
    return settings


def _validate(s: Any) -> None:
    def positive(name: str, value: Any, optional: bool = False) -> None:
        if optional and value is None:
            return
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

    for name in ("iterations", "train_pool", "test_size", "eval_size"):
        positive(name, getattr(s, name), optional=True)
    for name in ("batch_size", "eval_points", "seeds", "samples", "steps", "image_samples"):
        if hasattr(s, name):
            positive(name, getattr(s, name))
    if s.eval_samples < 0:
        raise ValueError(f"eval_samples must be >= 0, got {s.eval_samples!r}")
    if not 0 <= s.p < 1:
        raise ValueError(f"p is a drop probability and must lie in [0, 1), got {s.p!r}")
    fracs = list(getattr(s, "fractions", ())) + [getattr(s, "train_fraction", 1.0)]
    if any(not 0 < f <= 1 for f in fracs):
        raise ValueError(f"training fractions must lie in (0, 1], got {fracs}")
    if isinstance(s, SmallDataSettings):
        bad = [m for m in s.models if m not in ("lenet-none", "lenet-ip", "lenet-all")]
        if bad or not s.models:
            raise ValueError(f"models must be lenet-none, lenet-ip or lenet-all, got {s.models}")
    if isinstance(s, MCSamplesSettings):
        if not s.t_values or any(int(t) != t or t < 1 for t in s.t_values):
            raise ValueError(f"t_values must be positive integers, got {s.t_values}")
    if isinstance(s, OODSettings) and not 0 < s.tpr <= 1:
        raise ValueError(f"tpr must lie in (0, 1], got {s.tpr}")


# ---------------------------------------------------------------------------------------
# Small helpers (public where tests and notebooks want them)
# ---------------------------------------------------------------------------------------

def mc_error_curve(sample_probs: np.ndarray, labels: np.ndarray,
                   t_values: Sequence[int]) -> dict[str, np.ndarray]:
    """Error and NLL of the mean of the first ``T`` passes, for every ``T`` in ``t_values``.

    The passes are nested (``T = 10`` uses the masks of ``T = 5`` plus five more), so one
    draw of ``max(t_values)`` passes gives the whole curve.

    Parameters
    ----------
    sample_probs : ndarray (T_max, N, K)
        Per-pass softmax outputs (``mc_predict(..., return_samples=True).sample_probs``).
    labels : ndarray (N,)
    t_values : increasing positive ints, at most ``T_max``

    Returns
    -------
    dict
        ``{"error": (len(t_values),), "nll": (len(t_values),)}``.
    """
    sample_probs = np.asarray(sample_probs, dtype=np.float64)
    t_values = [int(t) for t in t_values]
    if sample_probs.ndim != 3 or not t_values or max(t_values) > sample_probs.shape[0]:
        raise ValueError(f"need sample_probs (T, N, K) with T >= max(t_values); got shape "
                         f"{sample_probs.shape} and t_values {t_values}")
    if sorted(t_values) != t_values or t_values[0] < 1:
        raise ValueError(f"t_values must be increasing positive integers, got {t_values}")
    running = np.zeros(sample_probs.shape[1:])
    errors, nlls, done = [], [], 0
    for t in t_values:
        running += sample_probs[done:t].sum(axis=0)
        done = t
        probs = running / t
        errors.append(metrics.error(probs, labels))
        nlls.append(metrics.nll(probs, labels))
    return {"error": np.array(errors), "nll": np.array(nlls)}


def rotate_images(x: np.ndarray, angle: float) -> np.ndarray:
    """Rotate float images ``(N, C, H, W)`` by ``angle`` degrees about their centres.

    Bilinear (``order=1``), same size (``reshape=False``), zero outside: the paper's setting.
    """
    from scipy import ndimage

    return ndimage.rotate(x, float(angle), axes=(3, 2), reshape=False, order=1,
                          mode="constant", cval=0.0)


#: Out-of-distribution scores: higher means "more likely out of distribution".
OOD_SCORES: dict[str, Callable[[Prediction], np.ndarray]] = {
    "1-max_prob": lambda pred: 1.0 - pred.confidence,
    "entropy": lambda pred: pred.entropy,
    "mutual_info": lambda pred: pred.mutual_info,
    "variation_ratio": lambda pred: pred.variation_ratio,
}


def ood_scores(pred_in: Prediction, pred_out: Prediction,
               tpr: float = 0.95) -> dict[str, dict[str, float]]:
    """AUROC and FPR at ``tpr`` TPR of each uncertainty score, out-of-distribution positive.

    Identical scores (MI and variation ratio of one deterministic pass are all 0) give an
    AUROC of exactly 0.5 and an FPR of 1.
    """
    result = {}
    is_out = np.r_[np.zeros(len(pred_in.probs), bool), np.ones(len(pred_out.probs), bool)]
    for name, score in OOD_SCORES.items():
        s_in, s_out = score(pred_in), score(pred_out)
        s = np.concatenate([s_in, s_out])
        result[name] = {"auroc": metrics.auroc(s, is_out),
                        "fpr_at_tpr": metrics.fpr_at_tpr(s, is_out, tpr),
                        "mean_in": float(np.mean(s_in)), "mean_out": float(np.mean(s_out))}
    return result


def _cpu_model() -> str | None:
    """The CPU's marketing name (Linux /proc/cpuinfo; platform.processor() is often empty)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> dict[str, Any]:
    """Where the numbers came from: CPU, OS, versions, backend, BLAS library and threads."""
    import scipy

    info: dict[str, Any] = {
        "processor": platform.processor(),
        "cpu_model": _cpu_model(),
        "uname": dict(platform.uname()._asdict()),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "tinybcnn": __version__,
        "backend": get_backend(),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads")}
                        for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        info["blas"] = None
    if info["backend"] == "cupy":
        try:
            import cupy

            props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
            info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) \
                else str(props["name"])
            info["cupy"] = cupy.__version__
        except Exception as exc:  # a driver problem should not lose the results
            info["gpu"] = f"unknown ({type(exc).__name__})"
    return info


def _jsonable(value: Any) -> Any:
    """Plain JSON values: arrays to lists, NumPy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


def _scores(pred: Prediction, labels: np.ndarray) -> dict[str, float]:
    return {"error": metrics.error(pred.probs, labels), "nll": metrics.nll(pred.probs, labels),
            "brier": metrics.brier(pred.probs, labels),
            "ece": metrics.ece(pred.probs, labels).ece,
            "entropy": float(np.mean(pred.entropy)),
            "mutual_info": float(np.mean(pred.mutual_info))}


def _progress(total: int, desc: str, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", disable=None if progress else True,
                dynamic_ncols=True)


# ---------------------------------------------------------------------------------------
# The shared machinery: data, training, the results file
# ---------------------------------------------------------------------------------------

@dataclass
class _Context:
    name: str
    out: Path
    data: Dataset               # the (capped) pool: train_pool / test_size applied
    settings: Any
    seed: int
    seeds: int
    iterations: int | None
    progress: bool
    resume: bool
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def runs_dir(self) -> Path:
        return self.out / f"{self.name}_runs"

    def figure(self, suffix: str) -> Path:
        return self.out / f"{self.name}_{suffix}.png"


def _subset(x: np.ndarray, y: np.ndarray, n: int | None,
            seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n is None or n >= len(y):
        return x, y
    return stratified_subset(x, y, n, seed)


def _train(ctx: _Context, model: str, x_train: np.ndarray, y_train: np.ndarray,
           run_seed: int, tag: str, n_classes: int | None = None,
           class_names: Sequence[str] | None = None,
           eval_split: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
    """Train ``model`` on uint8 images through :func:`tinybcnn.runs.train_run`.

    The history rows evaluate on ``eval_split`` (default: ``eval_size`` stratified images of
    the test pool). Returns the trainer, history rows, run directory, config and wall time.
    """
    s, data = ctx.settings, ctx.data
    n = len(y_train)
    batch = min(s.batch_size, n)
    iterations = ctx.iterations or s.iterations or default_iterations(n, batch)
    if eval_split is None:
        eval_split = _subset(data.x_test, data.y_test, s.eval_size, ctx.seed)
    k = n_classes or data.n_classes
    run_data = Dataset(x_train, y_train, eval_split[0], eval_split[1], data.name, k,
                       tuple(class_names or data.class_names[:k]), data.source)
    data_dir = ctx.record.get("data_dir")
    config = RunConfig(model=model, dataset=data.name,
                       data_dir=None if data_dir is None else str(data_dir),
                       train_size=n, test_size=len(eval_split[1]), iterations=iterations,
                       batch_size=batch, p=s.p, weight_decay=5e-4,
                       eval_every=max(1, math.ceil(iterations / s.eval_points)),
                       eval_samples=s.eval_samples if model != "lenet-none" else 0,
                       seed=run_seed, backend=get_backend()).validate()
    run_dir = ctx.runs_dir / tag
    resume = False
    if ctx.resume and (run_dir / CHECKPOINT).exists():
        try:   # only a run of exactly this configuration is continued; others start afresh
            resume = RunConfig.load(run_dir / CONFIG) == config
        except ValueError:
            resume = False
    start = time.perf_counter()
    trainer, history = train_run(config, run_dir, resume=resume, progress=ctx.progress,
                                 data=run_data)
    return {"trainer": trainer, "model": trainer.model, "history": list(history.rows),
            "run_dir": run_dir, "config": config, "train_seconds": time.perf_counter() - start,
            "resumed": resume}


def _run_record(trained: dict[str, Any]) -> dict[str, Any]:
    c = trained["config"]
    return {"run_dir": str(trained["run_dir"]), "train_size": c.train_size,
            "iterations": c.iterations, "batch_size": c.batch_size,
            "eval_every": c.eval_every, "seed": c.seed,
            "train_seconds": trained["train_seconds"], "resumed": trained["resumed"]}


def _fraction_size(n: int, fraction: float) -> int:
    return max(1, round(n * fraction))


# ---------------------------------------------------------------------------------------
# 1. Small data: model x training-set size x seed
# ---------------------------------------------------------------------------------------

def _small_data(ctx: _Context) -> dict[str, Any]:
    s, data = ctx.settings, ctx.data
    seeds = [ctx.seed + i for i in range(ctx.seeds)]
    ctx.record["seeds"] = {"training": seeds, "mc": seeds, "test_subset": ctx.seed}
    sizes = [_fraction_size(len(data.y_train), f) for f in s.fractions]
    x_test, y_test = as_float(data.x_test), data.y_test
    runs: list[dict[str, Any]] = []
    bar = _progress(len(s.models) * len(sizes) * len(seeds), "small-data", ctx.progress)
    try:
        for size, fraction in zip(sizes, s.fractions, strict=True):
            for run_seed in seeds:
                x_tr, y_tr = _subset(data.x_train, data.y_train, size, run_seed)
                for model in s.models:
                    bar.set_postfix_str(f"{model} n={size} seed={run_seed}")
                    trained = _train(ctx, model, x_tr, y_tr, run_seed,
                                     f"{model}_n{size}_s{run_seed}")
                    start = time.perf_counter()
                    final = {"standard": _scores(standard_predict(trained["model"], x_test),
                                                 y_test)}
                    if model != "lenet-none":  # without dropout MC equals standard: once
                        mc = mc_predict(trained["model"], x_test, samples=s.samples,
                                        seed=run_seed)
                        final["mc"] = _scores(mc, y_test)
                    runs.append({"model": model, "fraction": fraction, **_run_record(trained),
                                 "history": trained["history"], "final": final,
                                 "eval_seconds": time.perf_counter() - start})
                    bar.update(1)
    finally:
        bar.close()

    summary: dict[str, Any] = {}
    for model in s.models:
        summary[model] = {}
        for kind in ("standard", "mc"):
            if model == "lenet-none" and kind == "mc":
                continue
            per_size = [[r["final"][kind]["error"] for r in runs
                         if r["model"] == model and r["train_size"] == n] for n in sizes]
            arr = np.array(per_size)                                   # (sizes, seeds)
            summary[model][kind] = {"train_size": sizes, "mean": arr.mean(axis=1),
                                    "std": arr.std(axis=1), "min": arr.min(axis=1),
                                    "max": arr.max(axis=1)}
    results = {"train_sizes": sizes, "fractions": list(s.fractions), "seeds": seeds,
               "n_test": len(y_test), "samples": s.samples, "runs": runs,
               "summary": summary,
               "notes": ["errors are fractions in [0, 1]",
                         "lenet-none has no dropout, so its MC prediction equals the standard "
                         "one: it is recorded once, under 'standard'",
                         "history rows evaluate on 'eval_size' test images with "
                         "'eval_samples' MC passes; 'final' uses the whole test pool"]}
    _plot_small_data_curves(runs, sizes, s.models, ctx.figure("curves"))
    _plot_small_data_final(summary, ctx.figure("final"))
    return results


# ---------------------------------------------------------------------------------------
# 2. MC samples: error against T
# ---------------------------------------------------------------------------------------

def _reuse_or_train(ctx: _Context, run_dir: str | Path | None,
                    fraction: float) -> tuple[Any, dict[str, Any]]:
    if run_dir is not None:
        config, model = load_run(run_dir)
        return model, {"run_dir": str(run_dir), "reused": True, "train_size": config.train_size,
                       "iterations": config.iterations, "seed": config.seed,
                       "model": config.model}
    data = ctx.data
    x_tr, y_tr = _subset(data.x_train, data.y_train,
                         _fraction_size(len(data.y_train), fraction), ctx.seed)
    trained = _train(ctx, "lenet-all", x_tr, y_tr, ctx.seed, f"lenet-all_n{len(y_tr)}_s{ctx.seed}")
    return trained["model"], {**_run_record(trained), "reused": False, "model": "lenet-all",
                              "history": trained["history"]}


def _mc_samples(ctx: _Context, run_dir: str | Path | None = None) -> dict[str, Any]:
    s, data = ctx.settings, ctx.data
    t_values = sorted({int(t) for t in s.t_values})
    x_test, y_test = as_float(data.x_test), data.y_test
    model, run = _reuse_or_train(ctx, run_dir, s.train_fraction)
    ctx.record["seeds"] = {"training": [run["seed"]],
                           "mc": [ctx.seed + r for r in range(ctx.seeds)]}
    std = standard_predict(model, x_test)
    reps = []
    bar = _progress(ctx.seeds, "mc-samples", ctx.progress)
    try:
        for r in range(ctx.seeds):
            mc_seed = ctx.seed + r
            start = time.perf_counter()
            pred = mc_predict(model, x_test, samples=t_values[-1], seed=mc_seed,
                              return_samples=True)
            curve = mc_error_curve(pred.sample_probs, y_test, t_values)
            reps.append({"seed": mc_seed, "error": curve["error"], "nll": curve["nll"],
                         "first_pass_error": metrics.error(pred.sample_probs[0], y_test),
                         "mean_error": metrics.error(pred.probs, y_test),
                         "seconds": time.perf_counter() - start})
            bar.update(1)
    finally:
        bar.close()
    err = np.array([r["error"] for r in reps])
    nll = np.array([r["nll"] for r in reps])
    std_scores = _scores(std, y_test)
    below = np.flatnonzero(err.mean(axis=0) <= std_scores["error"])
    results = {"run": run, "n_test": len(y_test), "t_values": t_values,
               "standard": std_scores, "repetitions": reps,
               "mc_error_mean": err.mean(axis=0), "mc_error_std": err.std(axis=0),
               "mc_nll_mean": nll.mean(axis=0), "mc_nll_std": nll.std(axis=0),
               "first_t_at_or_below_standard": int(t_values[below[0]]) if below.size else None,
               "notes": ["each repetition draws max(t_values) passes once; the error at T is "
                         "that of the mean of its first T passes (nested masks)"]}
    from . import plots

    plots.error_vs_samples(t_values, err.mean(axis=0), err.std(axis=0), std_scores["error"],
                           path=ctx.figure("error"),
                           title=f"MC dropout test error against T ({len(reps)} repetitions)")
    return results


# ---------------------------------------------------------------------------------------
# 3. Rotation: one image, then the test set
# ---------------------------------------------------------------------------------------

def _rotation(ctx: _Context, run_dir: str | Path | None = None) -> dict[str, Any]:
    s, data = ctx.settings, ctx.data
    angles = np.linspace(0.0, s.max_angle, s.steps + 1)
    model, run = _reuse_or_train(ctx, run_dir, s.train_fraction)
    ctx.record["seeds"] = {"training": [run["seed"]], "mc": [ctx.seed],
                           "test_subset": ctx.seed}

    # the single image (searched in the full test split, so it does not depend on test_size)
    full = ctx.record["full_test"]
    if s.image_index is not None:
        index = int(s.image_index)
        if not 0 <= index < len(full[1]):
            raise ValueError(f"image_index must lie in [0, {len(full[1])}), got {index}")
    else:
        hits = np.flatnonzero(full[1] == s.image_class)
        if not hits.size:
            raise ValueError(f"the test split has no image of class {s.image_class}")
        index = int(hits[0])
    image = as_float(full[0][index:index + 1])
    rotated = np.concatenate([rotate_images(image, a) for a in angles])      # (A, 1, H, W)
    std_probs, mc_probs, samples, ent, mi, vr = [], [], [], [], [], []
    for i in range(len(angles)):
        std = standard_predict(model, rotated[i:i + 1])
        mc = mc_predict(model, rotated[i:i + 1], samples=s.image_samples, seed=ctx.seed,
                        return_samples=True)   # same masks at every angle
        std_probs.append(std.probs[0])
        mc_probs.append(mc.probs[0])
        samples.append(mc.sample_probs[:, 0])                                 # (T, K)
        ent.append(mc.entropy[0])
        mi.append(mc.mutual_info[0])
        vr.append(mc.variation_ratio[0])
    mc_probs_arr = np.array(mc_probs)
    top = [int(k) for k in np.argsort(-mc_probs_arr.sum(axis=0), kind="stable")[:3]]
    single = {"index": index, "label": int(full[1][index]),
              "class_name": data.class_names[int(full[1][index])], "samples": s.image_samples,
              "mc_seed": ctx.seed, "top_classes": top, "standard_probs": np.array(std_probs),
              "mc_probs": mc_probs_arr, "sample_probs": np.array(samples),
              "entropy": np.array(ent), "mutual_info": np.array(mi),
              "variation_ratio": np.array(vr),
              "standard_entropy": entropy(np.array(std_probs))}

    # the (subset of the) test set
    x_test, y_test = as_float(data.x_test), data.y_test
    curves: dict[str, dict[str, list[float]]] = {"standard": {}, "mc": {}}
    bar = _progress(len(angles), "rotation", ctx.progress)
    try:
        for a in angles:
            x_rot = rotate_images(x_test, a)
            for kind, pred in (("standard", standard_predict(model, x_rot)),
                               ("mc", mc_predict(model, x_rot, samples=s.samples,
                                                 seed=ctx.seed))):
                for key, value in _scores(pred, y_test).items():
                    curves[kind].setdefault(key, []).append(value)
            bar.update(1)
    finally:
        bar.close()
    results = {"run": run, "angles": angles, "image": single,
               "test_set": {"n_test": len(y_test), "samples": s.samples, "mc_seed": ctx.seed,
                            **curves},
               "notes": ["images rotated with scipy.ndimage.rotate(reshape=False, order=1), "
                         "zero outside",
                         "MC uses the same seed (the same masks) at every angle",
                         "image.sample_probs has shape (angles, T, classes)"]}
    names = [data.class_names[k] for k in range(data.n_classes)]
    _plot_rotation_image(angles, rotated, single, names, ctx.figure("image"))
    _plot_rotation_test_set(angles, curves, ctx.figure("test_set"))
    return results


# ---------------------------------------------------------------------------------------
# 4. Out of distribution: train on classes 0..4, detect 5..9
# ---------------------------------------------------------------------------------------

def _split(pred: Prediction, n: int) -> tuple[Prediction, Prediction]:
    """The first ``n`` inputs' prediction and the rest's."""
    def part(s: slice) -> Prediction:
        return Prediction(probs=pred.probs[s], entropy=pred.entropy[s],
                          mutual_info=pred.mutual_info[s],
                          variation_ratio=pred.variation_ratio[s], samples=pred.samples)

    return part(slice(0, n)), part(slice(n, None))


def _ood(ctx: _Context) -> dict[str, Any]:
    s, data = ctx.settings, ctx.data
    k_in = int(s.in_classes)
    if not 2 <= k_in < data.n_classes:
        raise ValueError(f"in_classes must lie in [2, {data.n_classes - 1}] for "
                         f"{data.n_classes} classes, got {k_in}")
    tr = data.y_train < k_in
    te_in, te_out = data.y_test < k_in, data.y_test >= k_in
    x_in, y_in = as_float(data.x_test[te_in]), data.y_test[te_in]
    x_out = as_float(data.x_test[te_out])
    x_all = np.concatenate([x_in, x_out])
    eval_split = _subset(data.x_test[te_in], data.y_test[te_in], s.eval_size, ctx.seed)
    per_seed, hist_preds = [], None
    seeds = [ctx.seed + i for i in range(ctx.seeds)]
    ctx.record["seeds"] = {"training": seeds, "mc": seeds, "eval_subset": ctx.seed}
    bar = _progress(ctx.seeds, "ood", ctx.progress)
    try:
        for run_seed in seeds:
            x_tr, y_tr = _subset(data.x_train[tr], data.y_train[tr],
                                 _fraction_size(int(tr.sum()), s.train_fraction), run_seed)
            trained = _train(ctx, "lenet-all", x_tr, y_tr, run_seed,
                             f"lenet-all_in{k_in}_n{len(y_tr)}_s{run_seed}", n_classes=k_in,
                             eval_split=eval_split)
            model = trained["model"]
            preds = {"standard": _split(standard_predict(model, x_all), len(y_in)),
                     "mc": _split(mc_predict(model, x_all, samples=s.samples, seed=run_seed),
                                  len(y_in))}
            hist_preds = hist_preds or preds
            per_seed.append({**_run_record(trained), "history": trained["history"],
                             "in_distribution": {k: _scores(p[0], y_in)
                                                 for k, p in preds.items()},
                             "scores": {k: ood_scores(*p, tpr=s.tpr) for k, p in preds.items()}})
            bar.update(1)
    finally:
        bar.close()
    summary: dict[str, Any] = {}
    for kind in ("standard", "mc"):
        summary[kind] = {}
        for score in OOD_SCORES:
            for key in ("auroc", "fpr_at_tpr"):
                vals = np.array([r["scores"][kind][score][key] for r in per_seed])
                summary[kind].setdefault(score, {})[key] = {"mean": vals.mean(),
                                                            "std": vals.std()}
    results = {"in_classes": list(range(k_in)), "out_classes": list(range(k_in, data.n_classes)),
               "n_in": len(y_in), "n_out": len(x_out), "samples": s.samples, "tpr": s.tpr,
               "seeds": [r["seed"] for r in per_seed], "per_seed": per_seed, "summary": summary,
               "notes": ["out-of-distribution images are the positives; a higher score means "
                         "more uncertain",
                         "standard dropout is one deterministic pass: its mutual information "
                         "and variation ratio are all 0, so their AUROC is 0.5 (FPR 1) by "
                         "construction"]}
    _plot_ood_histograms(hist_preds, ctx.figure("scores"))
    _plot_ood_auroc(summary, ctx.figure("auroc"))
    return results


# ---------------------------------------------------------------------------------------
# Figures (matplotlib, Agg via tinybcnn.plots)
# ---------------------------------------------------------------------------------------

_MODEL_COLORS = {"lenet-none": "C2", "lenet-ip": "C1", "lenet-all": "C0"}
_STYLE = {"standard": "--", "mc": "-"}


def _plot_small_data_curves(runs: list[dict[str, Any]], sizes: list[int],
                            models: Sequence[str], path: Path) -> None:
    from . import plots

    fig, axes = plots.plt.subplots(1, len(sizes), figsize=(3.6 * len(sizes), 3.4),
                                   squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for model in models:
            group = [r for r in runs if r["model"] == model and r["train_size"] == size]
            for kind, key in (("standard", "std_error"), ("mc", "mc_error")):
                rows = [[row.get(key) for row in r["history"]] for r in group]
                if not rows or any(v is None for row in rows for v in row):
                    continue
                n = min(len(row) for row in rows)
                arr = 100 * np.array([row[:n] for row in rows], dtype=float)
                it = [row["iteration"] for row in group[0]["history"][:n]]
                label = f"{model} ({'MC' if kind == 'mc' else 'standard'})"
                if model == "lenet-none":
                    label = f"{model} (no dropout)"
                ax.plot(it, arr.mean(axis=0), _STYLE[kind], color=_MODEL_COLORS[model],
                        label=label)
                ax.fill_between(it, arr.min(axis=0), arr.max(axis=0),
                                color=_MODEL_COLORS[model], alpha=0.12)
        ax.set(xlabel="iteration", title=f"{size} training images")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test error (%)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Test error during training (mean over seeds, band: min–max)", fontsize=10)
    fig.tight_layout()
    plots.save(fig, path)


def _plot_small_data_final(summary: dict[str, Any], path: Path) -> None:
    from . import plots

    fig, ax = plots.plt.subplots(figsize=(5.2, 3.8))
    lines = [(model, kind, v) for model, kinds in summary.items() for kind, v in kinds.items()]
    for i, (model, kind, v) in enumerate(lines):
        label = (f"{model} (no dropout)" if model == "lenet-none"
                 else f"{model} ({'MC' if kind == 'mc' else 'standard'})")
        # spread the markers a little along the (log) size axis so error bars stay readable
        shift = 1.0 + 0.025 * (i - (len(lines) - 1) / 2)
        ax.errorbar(np.asarray(v["train_size"]) * shift, 100 * np.asarray(v["mean"]),
                    yerr=100 * np.asarray(v["std"]), fmt=_STYLE[kind] + "o",
                    color=_MODEL_COLORS[model], capsize=3, ms=4, label=label)
    sizes = lines[0][2]["train_size"]
    ax.set(xscale="log", xlabel="training images", ylabel="test error (%)",
           title="Final test error (mean ± std over seeds)")
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(n) for n in sizes])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    plots.save(fig, path)


def _plot_rotation_image(angles: np.ndarray, images: np.ndarray, single: dict[str, Any],
                         class_names: Sequence[str], path: Path) -> None:
    from . import plots

    plt = plots.plt
    n = len(angles)
    step = angles[1] - angles[0] if n > 1 else 1.0
    fig = plt.figure(figsize=(max(7.0, 0.75 * n), 7.0))
    grid = fig.add_gridspec(3, n, height_ratios=[3, 2, 0.8], hspace=0.12, wspace=0.0)
    ax_p = fig.add_subplot(grid[0, :])
    ax_u = fig.add_subplot(grid[1, :], sharex=ax_p)
    jitter = np.random.default_rng(0)
    samples = np.asarray(single["sample_probs"])                # (A, T, K)
    for j, k in enumerate(single["top_classes"]):
        color = f"C{j}"
        offset = (j - 1) * step / 5
        for i, a in enumerate(angles):
            t = samples.shape[1]
            ax_p.scatter(a + offset + jitter.uniform(-step / 14, step / 14, t), samples[i, :, k],
                         s=6, color=color, alpha=0.35, lw=0,
                         label=class_names[k] if i == 0 else None)
        ax_p.plot(angles, np.asarray(single["mc_probs"])[:, k], "-", color=color, lw=1)
        ax_p.plot(angles, np.asarray(single["standard_probs"])[:, k], "x", color=color, ms=6)
    ax_p.set(ylabel="softmax output", ylim=(-0.03, 1.03),
             title=f"Rotated test image ({single['class_name']}): T = {single['samples']} "
                   "sampled outputs per angle (line: MC mean, x: standard)")
    ax_p.legend(fontsize=8, loc="center right", markerscale=2)
    ax_u.plot(angles, single["entropy"], "C0-o", ms=3, label="predictive entropy (MC)")
    ax_u.plot(angles, single["mutual_info"], "C3-o", ms=3, label="mutual information (MC)")
    ax_u.plot(angles, single["standard_entropy"], "C0--", label="entropy (standard)")
    ax_u.set(ylabel="nats")
    ax_u.legend(fontsize=8)
    for ax in (ax_p, ax_u):
        ax.grid(alpha=0.3)
        ax.set_xlim(angles[0] - step / 2, angles[-1] + step / 2)
    ax_u.set_xticks(angles)
    plt.setp(ax_p.get_xticklabels(), visible=False)
    plt.setp(ax_u.get_xticklabels(), visible=False)
    for i in range(n):
        ax = fig.add_subplot(grid[2, i])
        ax.imshow(images[i, 0], cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{angles[i]:g}°", fontsize=8)
    plots.save(fig, path)


def _plot_rotation_test_set(angles: np.ndarray, curves: dict[str, dict[str, list[float]]],
                            path: Path) -> None:
    from . import plots

    keys = [("error", "error (%)", 100), ("nll", "NLL", 1), ("ece", "ECE", 1),
            ("entropy", "mean entropy (nats)", 1), ("mutual_info", "mean MI (nats)", 1)]
    fig, axes = plots.plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.0))
    for ax, (key, label, scale) in zip(axes, keys, strict=True):
        for kind, name in (("standard", "standard"), ("mc", "MC")):
            ax.plot(angles, scale * np.asarray(curves[kind][key]), _STYLE[kind] + "o", ms=3,
                    color="C3" if kind == "standard" else "C0", label=name)
        ax.set(xlabel="rotation (degrees)", title=label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Rotated test set", fontsize=10)
    fig.tight_layout()
    plots.save(fig, path)


def _plot_ood_histograms(preds: dict[str, tuple[Prediction, Prediction]], path: Path) -> None:
    from . import plots

    fig, axes = plots.plt.subplots(2, len(OOD_SCORES), figsize=(3.2 * len(OOD_SCORES), 5.6),
                                   squeeze=False)
    for r, (kind, (p_in, p_out)) in enumerate(preds.items()):
        for c, (name, score) in enumerate(OOD_SCORES.items()):
            ax = axes[r][c]
            s_in, s_out = score(p_in), score(p_out)
            ax.set_title(f"{'MC' if kind == 'mc' else 'standard'}: {name}", fontsize=9)
            lo = min(float(np.min(s_in)), float(np.min(s_out)))
            hi = max(float(np.max(s_in)), float(np.max(s_out)))
            if hi - lo < 1e-12:  # MI and variation ratio of one deterministic pass
                ax.text(0.5, 0.5, f"all scores = {hi:g}\n(no spread: AUROC 0.5)",
                        ha="center", va="center", transform=ax.transAxes, fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            edges = np.linspace(min(lo, 0.0), hi, 31)
            ax.hist(s_in, bins=edges, alpha=0.6, density=True, label="in (negatives)")
            ax.hist(s_out, bins=edges, alpha=0.6, density=True, label="out (positives)")
    axes[0][0].legend(fontsize=8)
    axes[0][0].set_ylabel("density")
    axes[1][0].set_ylabel("density")
    fig.tight_layout()
    plots.save(fig, path)


def _plot_ood_auroc(summary: dict[str, Any], path: Path) -> None:
    from . import plots

    names = list(OOD_SCORES)
    x = np.arange(len(names))
    fig, ax = plots.plt.subplots(figsize=(6, 3.6))
    for j, (kind, label) in enumerate((("standard", "standard"), ("mc", "MC dropout"))):
        means = [summary[kind][n]["auroc"]["mean"] for n in names]
        stds = [summary[kind][n]["auroc"]["std"] for n in names]
        ax.bar(x + (j - 0.5) * 0.38, means, width=0.38, yerr=stds if any(stds) else None,
               capsize=3,
               color="C3" if kind == "standard" else "C0", label=label)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set(xticks=x, ylim=(0, 1), ylabel="AUROC (out = positive)",
           title="Out-of-distribution detection")
    ax.set_xticklabels(names, fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plots.save(fig, path)


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------

EXPERIMENTS: dict[str, Callable[..., dict[str, Any]]] = {
    "small_data": _small_data,
    "mc_samples": _mc_samples,
    "rotation": _rotation,
    "ood": _ood,
}


def _canonical(name: str) -> str:
    key = str(name).replace("-", "_")
    if key not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of "
                         f"{', '.join(k.replace('_', '-') for k in EXPERIMENTS)}")
    return key


def run(name: str, out: str | Path, dataset: str = "embedded", data_dir: str | None = None,
        quick: bool = False, seeds: int | None = None, iterations: int | None = None,
        seed: int = 0, progress: bool = True, resume: bool = False,
        run_dir: str | Path | None = None, **overrides: Any) -> Path:
    """Run experiment ``name`` and write ``out/<name>.json`` and ``out/<name>_*.png``.

    Parameters
    ----------
    name : {"small_data", "mc_samples", "rotation", "ood"} (dashes work too)
    out : path
        Output folder (created). Run directories go to ``out/<name>_runs/``.
    dataset, data_dir : str
        As for :func:`tinybcnn.data.load_dataset`.
    quick : bool
        Tiny sizes (see :data:`QUICK`), seconds on a laptop.
    seeds : int, optional
        small_data and ood: training seeds ``seed .. seed+seeds-1``; mc_samples: sampling
        repetitions; rotation: must be 1 (one model).
    iterations : int, optional
        SGD iterations of every training run (default: the settings', else
        :func:`default_iterations` of the training-set size).
    seed : int
        Base seed of subsets, initial weights, dropout masks and MC samples.
    progress : bool
        tqdm bars (shown on a terminal only).
    resume : bool
        Continue (or reuse, if finished) run directories already in ``out`` whose config is
        identical, instead of training them again.
    run_dir : path, optional
        mc_samples and rotation: use this trained run instead of training lenet-all.
    **overrides
        Settings fields to replace (see :class:`SmallDataSettings` etc.).

    Returns
    -------
    Path
        The JSON results file.
    """
    key = _canonical(name)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    if seed is None or isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if iterations is not None and (isinstance(iterations, bool) or int(iterations) != iterations
                                   or iterations < 1):
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if run_dir is not None and key not in ("mc_samples", "rotation"):
        raise ValueError(f"run_dir applies to mc_samples and rotation, not {key}")
    if seeds is not None:
        overrides["seeds"] = seeds
    if key == "rotation" and overrides.pop("seeds", 1) != 1:
        raise ValueError("rotation trains one model: seeds must be 1")
    settings = settings_for(key, quick=quick, **overrides)

    full = load_dataset(dataset, data_dir=data_dir, progress=progress)
    pool = Dataset(*_subset(full.x_train, full.y_train, settings.train_pool, seed),
                   *_subset(full.x_test, full.y_test, settings.test_size, seed),
                   full.name, full.n_classes, full.class_names, full.source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arguments = {"name": key, "out": str(out), "dataset": dataset, "data_dir": data_dir,
                 "quick": quick, "seeds": seeds, "iterations": iterations, "seed": seed,
                 "progress": progress, "resume": resume,
                 "run_dir": None if run_dir is None else str(run_dir), "overrides": overrides}
    ctx = _Context(name=key, out=out, data=pool, settings=settings, seed=int(seed),
                   seeds=int(getattr(settings, "seeds", 1)), iterations=iterations,
                   progress=progress, resume=resume,
                   record={"data_dir": data_dir, "full_test": (full.x_test, full.y_test)})
    extra = {"run_dir": run_dir} if key in ("mc_samples", "rotation") else {}
    results = EXPERIMENTS[key](ctx, **extra)
    figures = sorted(p.name for p in out.glob(f"{key}_*.png"))
    record = {
        "experiment": key,
        "arguments": arguments,
        "settings": asdict(settings),
        "dataset": {"name": full.name, "source": full.source, "n_classes": full.n_classes,
                    "class_names": list(full.class_names),
                    "image_shape": list(full.image_shape),
                    "split_sizes": {"train": len(full.y_train), "test": len(full.y_test)},
                    "used_sizes": {"train_pool": len(pool.y_train), "test": len(pool.y_test)},
                    "subset_seed": seed},
        "seeds": {"base": seed, **ctx.record.get("seeds", {})},
        "machine": machine_info(),
        "started": started,
        "wall_seconds": time.perf_counter() - t0,
        "figures": figures,
        "results": results,
    }
    path = out / f"{key}.json"
    _write_json(path, record)
    return path


def _entry(name: str) -> Callable[..., Path]:
    def experiment(out: str | Path, **kwargs: Any) -> Path:
        return run(name, out, **kwargs)

    experiment.__name__ = experiment.__qualname__ = name
    experiment.__doc__ = (f"Run the ``{name}`` experiment: ``run({name!r}, out, **kwargs)``; "
                          f"see :func:`run` and the module docstring.")
    return experiment


small_data = _entry("small_data")
mc_samples = _entry("mc_samples")
rotation = _entry("rotation")
ood = _entry("ood")
