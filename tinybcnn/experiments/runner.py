"""One protocol for every experiment: a :class:`Request` in, the results file's path out.

:func:`run` is the same for every experiment and names none: it checks the arguments every
experiment shares, takes the output folder under :mod:`tinybcnn.files.rundir`'s rule and lock, and
calls the experiment module's ``main(request)``. Each experiment module provides

``FULL``, ``QUICK``
    its full-size and quick settings;
``settings_for(quick=False, **overrides)``
    those settings with fields replaced (checked);
``main(request) -> Path``
    the whole experiment, inside the locked folder; it refuses, in one line, what in the
    request does not apply to it.

The image experiments (small data, MC samples, rotation, OOD) share their ``main``:
:func:`run_image` loads the data, builds the :class:`~tinybcnn.experiments.common.Context`,
calls the module's ``experiment(ctx)`` and writes the results record around what it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from ..data import Dataset, load_dataset
from ..files.identity import check_identity, identity, record_identity
from ..files.rundir import check_out_dir, writing
from ..functional.checks import positive_int
from ..runs import dataset_key
from .common import Context, machine_info, subset, write_json
from .outdir import experiment_folder, identity_path

__all__ = ["Request", "run", "run_image", "settings_from"]


@dataclass
class Request:
    """What ``tinybcnn experiment`` (or :func:`tinybcnn.experiments.run`) asks of an experiment.

    Attributes
    ----------
    name : str
        The experiment's key (``"small_data"``, ...): its files' prefix.
    out : path
        The output folder; run folders go to ``out/<name>_runs/``.
    dataset, data_dir : str
        As for :func:`tinybcnn.data.load_dataset`.
    quick : bool
        The module's ``QUICK`` settings instead of ``FULL``.
    seeds : int or None
        Training seeds ``seed .. seed+seeds-1`` (mc_samples: sampling repetitions).
    iterations : int or None
        SGD iterations of every training run (default: the settings').
    seed : int
        Base seed of subsets, initial weights, dropout masks and MC samples.
    progress, resume : bool
        Progress bars; reuse finished runs in ``out`` and continue interrupted ones.
    replace : bool
        Start afresh: run folders in ``out`` are trained again (each removed under its own
        lock first) and a saved active-learning state is discarded. Without it, and without
        ``resume``, a saved state is refused and so is a run folder holding a checkpoint.
    run_dir : path or None
        A trained run to score instead of training (the experiments that can).
    overrides : dict
        Settings fields to replace.
    """

    name: str
    out: str | Path
    dataset: str = "embedded"
    data_dir: str | None = None
    quick: bool = False
    seeds: int | None = None
    iterations: int | None = None
    seed: int = 0
    progress: bool = True
    resume: bool = False
    replace: bool = False
    run_dir: str | Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def refuse_run_dir(self) -> None:
        """One line if the request names a trained run to reuse (for an experiment that
        trains its own)."""
        if self.run_dir is not None:
            raise ValueError(f"run_dir does not apply to {self.name}: it trains its own models")


def run(module: ModuleType, request: Request) -> Path:
    """Run the experiment ``module`` as ``request`` asks; return its results file.

    The output folder follows :mod:`tinybcnn.files.rundir`'s rule: new, empty or an experiment
    folder of this package (never a user's folder, a symlink or a training run), written by one
    experiment at a time; checked here before any data is loaded, and again under the lock.
    """
    seed = request.seed
    positive_int(seed, "seed", minimum=0)
    if request.iterations is not None:
        positive_int(request.iterations, "iterations")
    if request.resume and request.replace:
        raise ValueError("give --resume or --replace, not both")
    folder = experiment_folder(request.name)
    check_out_dir(request.out, folder)
    with writing(request.out, folder):
        return module.main(request)


def settings_from(name: str, full: Any, quick_settings: Any, quick: bool,
                  overrides: dict[str, Any]) -> Any:
    """``full`` (or ``quick_settings``) with the fields in ``overrides`` replaced (lists become
    tuples); an unknown field is one ``ValueError`` naming the known ones."""
    base = quick_settings if quick else full
    known = {f.name for f in fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for experiment {name}; "
                         f"known: {', '.join(sorted(known))}")
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return replace(base, **overrides)   # checked by the settings' __post_init__


def _dataset_record(full: Dataset, pool: Dataset, seed: int) -> dict[str, Any]:
    """What the results file says about the data: source, sizes, and the sizes used."""
    return {"name": full.name, "source": full.source, "n_classes": full.n_classes,
            "class_names": list(full.class_names), "image_shape": list(full.image_shape),
            "split_sizes": {"train": len(full.y_train), "test": len(full.y_test)},
            "used_sizes": {"train_pool": len(pool.y_train), "test": len(pool.y_test)},
            "subset_seed": seed}


def run_image(request: Request, experiment: Callable[[Context], dict[str, Any]],
              settings_for: Callable[..., Any], *, one_model: bool = False,
              reuses_runs: bool = False) -> Path:
    """The ``main`` of an image experiment: data, context, ``experiment(ctx)``, the record.

    Parameters
    ----------
    request : Request
    experiment : callable
        The module's ``experiment(ctx) -> results`` (JSON-able).
    settings_for : callable
        The module's ``settings_for(quick, **overrides)``.
    one_model : bool
        The experiment trains one model: ``seeds`` must be 1 (and is not a setting).
    reuses_runs : bool
        The experiment can score a trained run (``request.run_dir``) instead of training.

    Returns
    -------
    Path
        ``out/<name>.json``.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    key, seed, overrides = request.name, request.seed, request.overrides
    if not reuses_runs:
        request.refuse_run_dir()
    if request.seeds is not None:
        overrides["seeds"] = request.seeds
    if one_model and overrides.pop("seeds", 1) != 1:
        raise ValueError(f"{key} trains one model: seeds must be 1")
    settings = settings_for(request.quick, **overrides)

    full = load_dataset(request.dataset, data_dir=request.data_dir, progress=request.progress)
    pool = Dataset(*subset(full.x_train, full.y_train, settings.train_pool, seed),
                   *subset(full.x_test, full.y_test, settings.test_size, seed),
                   full.name, full.n_classes, full.class_names, full.source)
    out = Path(request.out)
    claim = _identity_claim(out, key, request, pool, seed)
    run_dir = request.run_dir
    arguments = {"name": key, "out": str(out), "dataset": request.dataset,
                 "data_dir": request.data_dir, "quick": request.quick, "seeds": request.seeds,
                 "iterations": request.iterations, "seed": seed, "progress": request.progress,
                 "resume": request.resume, "run_dir": None if run_dir is None else str(run_dir),
                 "overrides": overrides}
    ctx = Context(name=key, out=out, data=pool, settings=settings, seed=int(seed),
                  seeds=int(getattr(settings, "seeds", 1)), iterations=request.iterations,
                  progress=request.progress, resume=request.resume,
                  replace=request.replace, run_dir=run_dir, claim=claim,
                  record={"data_dir": request.data_dir,
                          "full_test": (full.x_test, full.y_test)})
    results = experiment(ctx)
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
    claim()
    write_json(path, record)
    return path


def _identity_claim(out: Path, key: str, request: Request, pool: Dataset,
                    seed: int) -> Callable[[], None]:
    """Check the folder's identity record for ``key`` (data set, its content, the seed) before
    anything is written; return what records it, once, before the first file is written."""
    path = identity_path(out, key)
    wanted = identity(key, dataset_key(request.dataset), seed, pool.x_train, pool.y_train,
                      pool.x_test, pool.y_test)   # idx:./x and idx:/abs/x are one data set
    pending = [check_identity(path, wanted, replace=request.replace)]

    def claim() -> None:
        if pending[0]:
            record_identity(path, wanted)
            pending[0] = False
    return claim
