"""The papers' experiments as functions: small data, MC samples, rotation, out-of-distribution.

One module per experiment, each with its settings and an ``experiment(ctx)`` function;
:mod:`.common` holds what they share (settings checks, training, the results file) and
:mod:`tinybcnn.plots` draws their figures.

Each image experiment trains through :mod:`tinybcnn.runs` (the Caffe LeNet recipe of the
command line: SGD with momentum 0.9, lr 0.01 with the ``inv`` schedule, weight decay 5e-4,
batch 64), writes ``OUT/<name>.json`` and figures ``OUT/<name>_*.png``, and keeps its run
directories (config, checkpoint, history) under ``OUT/<name>_runs/``:

``small_data`` (:mod:`.small_data`)
    lenet-none, lenet-ip and lenet-all on stratified subsets of the training split
    (1/32, 1/8, 1/4 and all of it), several seeds; test error against iterations and the final
    standard- and MC-dropout errors (Gal & Ghahramani 2015, figure 3).
``mc_samples`` (:mod:`.mc_samples`)
    one lenet-all; MC test error against the number of passes ``T`` (mean ± std over repeated
    sampling), against standard dropout (2015, figure 4).
``rotation`` (:mod:`.rotation`)
    one test image rotated from 0° to 180°: the sampled softmax outputs, predictive entropy and
    mutual information per angle (ICML 2016, figure of the rotated digit); then error, NLL, ECE,
    entropy and MI of the whole rotated test set against the angle.
``ood`` (:mod:`.ood`)
    lenet-all trained on classes 0–4; classes 5–9 of the test split are out of distribution.
    AUROC and FPR at 95% TPR of 1 − max p̄, entropy, MI and variation ratio, standard vs MC.

Two more put the uncertainty to work, each with its own settings and results file:

``regression`` (:mod:`.regression`)
    MC-dropout regression on 1-D data with a gap: the predictive band, split into its
    aleatoric and epistemic parts, ``tau`` chosen on a validation split, MC against standard
    test log-likelihood (ICML 2016).
``active_learning`` (:mod:`.active_learning`)
    Bayesian active learning with BALD and four other acquisition functions (two forms of
    the variation ratio among them) against random and a non-Bayesian control (Gal, Islam
    & Ghahramani 2017); resumable after every round.

Every experiment has a full-size default and a ``quick`` mode (a few hundred images, tens of
iterations, small ``T``) for smoke tests; any setting can be overridden by keyword (see
:data:`FULL` and :data:`QUICK`). ``run(name, out, ...)`` is what ``tinybcnn experiment`` calls.

The package attributes ``small_data``, ``mc_samples``, ``rotation`` and ``ood`` are entry
functions (``small_data(out, **kwargs)`` is ``run("small_data", out, **kwargs)``), kept from
when this package was one module; they hide the modules of the same names, so import from
those with ``from tinybcnn.experiments.rotation import rotate_images``. ``regression`` and
``active_learning`` are the modules themselves (their functions are what a reader uses).

Randomness: training seeds are ``seed, seed + 1, ...``; MC sampling seeds likewise. The same
arguments give the same JSON (apart from wall times) on the same backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..data import Dataset, load_dataset
from ..files.rundir import check_out_dir, writing
from ..info import machine_info
from . import active_learning as _active_learning
from . import mc_samples as _mc_samples
from . import ood as _ood
from . import regression as _regression
from . import rotation as _rotation
from . import small_data as _small_data
from .common import (
    Context,
    check_positive_int,
    default_iterations,
    subset,
    write_json,
)
from .mc_samples import MCSamplesSettings, mc_error_curve
from .ood import OOD_SCORES, OODSettings, ood_scores
from .outdir import experiment_folder
from .rotation import RotationSettings, rotate_images
from .small_data import SmallDataSettings

__all__ = [
    "EXPERIMENTS",
    "FULL",
    "QUICK",
    "SmallDataSettings",
    "MCSamplesSettings",
    "RotationSettings",
    "OODSettings",
    "OOD_SCORES",
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
    "regression",
    "active_learning",
    "STANDALONE",
]

#: Experiment name -> its function of a :class:`~tinybcnn.experiments.common.Context`.
EXPERIMENTS: dict[str, Callable[..., dict[str, Any]]] = {
    "small_data": _small_data.experiment,
    "mc_samples": _mc_samples.experiment,
    "rotation": _rotation.experiment,
    "ood": _ood.experiment,
}

#: The experiments with their own data and results file: name -> (settings_for, run).
STANDALONE: dict[str, tuple[Callable[..., Any], Callable[..., Path]]] = {
    "regression": (_regression.settings_for, _regression.run_regression),
    "active_learning": (_active_learning.settings_for, _active_learning.run_active_learning),
}

#: Full-size settings per experiment.
FULL: dict[str, Any] = {
    "small_data": SmallDataSettings(),
    "mc_samples": MCSamplesSettings(),
    "rotation": RotationSettings(),
    "ood": OODSettings(),
    "regression": _regression.FULL,
    "active_learning": _active_learning.FULL,
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
    "regression": _regression.QUICK,
    "active_learning": _active_learning.QUICK,
}


def _canonical(name: str) -> str:
    """``"small-data"`` -> ``"small_data"``; ``ValueError`` for an unknown experiment."""
    key = str(name).replace("-", "_")
    if key not in EXPERIMENTS and key not in STANDALONE:
        raise ValueError(f"unknown experiment {name!r}; choose one of "
                         f"{', '.join(k.replace('_', '-') for k in [*EXPERIMENTS, *STANDALONE])}")
    return key


def settings_for(name: str, quick: bool = False, **overrides: Any) -> Any:
    """The settings of experiment ``name`` (full or quick), with fields replaced by keyword.

    Raises
    ------
    ValueError
        For an unknown experiment or setting, or a value out of range.
    """
    name = _canonical(name)
    if name in STANDALONE:
        return STANDALONE[name][0](quick, **overrides)
    base = (QUICK if quick else FULL)[name]
    known = {f.name for f in fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for experiment {name}; "
                         f"known: {', '.join(sorted(known))}")
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return replace(base, **overrides)   # checked by the settings' __post_init__


def _check_run_arguments(key: str, seed: Any, iterations: Any, run_dir: Any) -> None:
    """The arguments of :func:`run` that are not settings: one clear error each."""
    if seed is None or isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    check_positive_int("iterations", iterations, optional=True)
    if run_dir is not None and key not in ("mc_samples", "rotation"):
        raise ValueError(f"run_dir applies to mc_samples and rotation, not {key}")


def _run_standalone(key: str, out: str | Path, dataset: str, data_dir: str | None, quick: bool,
                    seeds: int | None, iterations: int | None, seed: int, progress: bool,
                    resume: bool, replace: bool, overrides: dict[str, Any]) -> Path:
    """:func:`run` for ``regression`` and ``active_learning`` (their own data and files)."""
    if resume and key == "regression":
        raise ValueError(f"resume does not apply to {key}: it keeps no run folders")
    if iterations is not None:
        overrides["iterations"] = iterations
    if key == "regression":
        if dataset != "embedded" or data_dir is not None:
            raise ValueError("regression makes its own 1-D data: --dataset does not apply")
        if seeds is not None:
            raise ValueError("regression trains with one seed: use --seed, not --seeds")
        return _regression.run_regression(out, quick=quick, seed=seed, progress=progress,
                                          **overrides)
    if seeds is not None:
        overrides["seeds"] = seeds
    return _active_learning.run_active_learning(out, dataset=dataset, data_dir=data_dir,
                                                quick=quick, seed=seed, progress=progress,
                                                resume=resume, replace=replace, **overrides)


def _dataset_record(full: Dataset, pool: Dataset, seed: int) -> dict[str, Any]:
    """What the results file says about the data: source, sizes, and the sizes used."""
    return {"name": full.name, "source": full.source, "n_classes": full.n_classes,
            "class_names": list(full.class_names), "image_shape": list(full.image_shape),
            "split_sizes": {"train": len(full.y_train), "test": len(full.y_test)},
            "used_sizes": {"train_pool": len(pool.y_train), "test": len(pool.y_test)},
            "subset_seed": seed}


def run(name: str, out: str | Path, dataset: str = "embedded", data_dir: str | None = None,
        quick: bool = False, seeds: int | None = None, iterations: int | None = None,
        seed: int = 0, progress: bool = True, resume: bool = False,
        run_dir: str | Path | None = None, replace: bool = False, **overrides: Any) -> Path:
    """Run experiment ``name`` and write ``out/<name>.json`` and ``out/<name>_*.png``.

    Parameters
    ----------
    name : {"small_data", "mc_samples", "rotation", "ood", "regression", "active_learning"}
        Dashes work too. ``regression`` and ``active_learning`` write their own files (see
        :func:`.regression.run_regression`, :func:`.active_learning.run_active_learning`).
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
        identical, instead of training them again; active_learning continues each curve at
        the round it stopped (``out/active_learning_state.json``).
    run_dir : path, optional
        mc_samples and rotation: use this trained run instead of training lenet-all.
    replace : bool
        Start afresh: run folders in ``out`` are trained again (each removed under its lock
        first) and active_learning's saved state is discarded. Without it, and without
        ``resume``, a saved state is refused and so is a run folder holding a checkpoint.
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
    _check_run_arguments(key, seed, iterations, run_dir)
    if resume and replace:
        raise ValueError("give --resume or --replace, not both")
    # tinybcnn.files.rundir's rule: ``out`` is new, empty or an experiment folder of this package
    # (never a user's folder, a symlink or a training run), and one experiment writes it at a
    # time; checked here before any data is loaded, and again under the lock
    folder = experiment_folder(key)
    check_out_dir(out, folder)
    with writing(out, folder):
        if key in STANDALONE:
            return _run_standalone(key, out, dataset, data_dir, quick, seeds, iterations,
                                   int(seed), progress, resume, replace, overrides)
        return _run_image(key, out, dataset, data_dir, quick, seeds, iterations, seed,
                          progress, resume, replace, run_dir, started, t0, overrides)


def _run_image(key: str, out: str | Path, dataset: str, data_dir: str | None, quick: bool,
               seeds: int | None, iterations: int | None, seed: int, progress: bool,
               resume: bool, replace: bool, run_dir: str | Path | None, started: str, t0: float,
               overrides: dict[str, Any]) -> Path:
    """:func:`run` for the image experiments (inside the output folder's lock)."""
    if seeds is not None:
        overrides["seeds"] = seeds
    if key == "rotation" and overrides.pop("seeds", 1) != 1:
        raise ValueError("rotation trains one model: seeds must be 1")
    settings = settings_for(key, quick=quick, **overrides)

    full = load_dataset(dataset, data_dir=data_dir, progress=progress)
    pool = Dataset(*subset(full.x_train, full.y_train, settings.train_pool, seed),
                   *subset(full.x_test, full.y_test, settings.test_size, seed),
                   full.name, full.n_classes, full.class_names, full.source)
    out = Path(out)
    arguments = {"name": key, "out": str(out), "dataset": dataset, "data_dir": data_dir,
                 "quick": quick, "seeds": seeds, "iterations": iterations, "seed": seed,
                 "progress": progress, "resume": resume,
                 "run_dir": None if run_dir is None else str(run_dir), "overrides": overrides}
    ctx = Context(name=key, out=out, data=pool, settings=settings, seed=int(seed),
                  seeds=int(getattr(settings, "seeds", 1)), iterations=iterations,
                  progress=progress, resume=resume, replace=replace,
                  record={"data_dir": data_dir, "full_test": (full.x_test, full.y_test)})
    extra = {"run_dir": run_dir} if key in ("mc_samples", "rotation") else {}
    results = EXPERIMENTS[key](ctx, **extra)
    record = {
        "experiment": key,
        "arguments": arguments,
        "settings": asdict(settings),
        "dataset": _dataset_record(full, pool, seed),
        "seeds": {"base": seed, **ctx.record.get("seeds", {})},
        "machine": machine_info(),
        "started": started,
        "wall_seconds": time.perf_counter() - t0,
        "figures": sorted(p.name for p in out.glob(f"{key}_*.png")),
        "results": results,
    }
    path = out / f"{key}.json"
    write_json(path, record)
    return path


def _entry(name: str) -> Callable[..., Path]:
    """The entry function of experiment ``name``: ``run(name, out, **kwargs)``."""
    def experiment(out: str | Path, **kwargs: Any) -> Path:
        """Replaced below by a docstring naming the experiment."""
        return run(name, out, **kwargs)

    experiment.__name__ = experiment.__qualname__ = name
    experiment.__doc__ = (f"Run the ``{name}`` experiment: ``run({name!r}, out, **kwargs)``; "
                          f"see :func:`run` and the module docstring.")
    return experiment


# Bound after the submodule imports on purpose: these names are the entry functions.
small_data = _entry("small_data")
mc_samples = _entry("mc_samples")
rotation = _entry("rotation")
ood = _entry("ood")
regression = _regression
active_learning = _active_learning
