"""What every image experiment shares: settings, checks, training through :mod:`tinybcnn.runs`,
scores and the JSON results file (the machine information comes from :mod:`tinybcnn.info`).

An experiment is a function ``experiment(ctx) -> results`` of a :class:`Context` (the output
folder, the capped data, the settings and the seeds); :func:`tinybcnn.experiments.run` builds the
context, calls it, and wraps the results in a record with the arguments, the data set and the
machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import get_backend
from ..data import Dataset, stratified_subset
from ..files.jsonfile import write_json
from ..functional.checks import positive_int
from ..info import machine_info
from ..runs import (
    CHECKPOINT,
    CONFIG,
    RunConfig,
    config_difference,
    dataset_key,
    load_run,
    scores,
    train_run,
)

__all__ = ["TrainingSettings", "QUICK_TRAINING", "Context", "default_iterations",
           "check_fractions", "machine_info", "write_json", "scores",
           "progress_bar", "subset", "fraction_size", "train", "run_record", "reuse_or_train"]


# ---------------------------------------------------------------------------------------
# Settings and their checks
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


#: The training part of the image experiments' ``QUICK`` settings: a few hundred images, tens
#: of iterations, small T (seconds each).
QUICK_TRAINING: dict[str, Any] = dict(iterations=30, batch_size=32, train_pool=200,
                                      test_size=100, eval_size=100, eval_points=2,
                                      eval_samples=2)


@dataclass(frozen=True)
class TrainingSettings:
    """Fields shared by every experiment that trains a LeNet; checked on construction.

    Subclasses add their own fields and checks in :meth:`check` (called after the shared ones).
    """

    iterations: int | None = None       # None: default_iterations(train size, batch size)
    batch_size: int = 64
    p: float = 0.5
    train_pool: int | None = None       # cap the training split first (a stratified subset)
    test_size: int | None = None        # cap the test split (a stratified subset)
    eval_size: int | None = 1000        # test images behind the error-vs-iteration rows
    eval_points: int = 10               # history rows per run
    eval_samples: int = 10              # MC passes per history row

    def __post_init__(self) -> None:
        """Check the shared fields, then the subclass's (:meth:`check`)."""
        for name in ("iterations", "train_pool", "test_size", "eval_size"):   # None: no cap
            if getattr(self, name) is not None:
                positive_int(getattr(self, name), name)
        for name in ("batch_size", "eval_points"):
            positive_int(getattr(self, name), name)
        if self.eval_samples < 0:
            raise ValueError(f"eval_samples must be >= 0, got {self.eval_samples!r}")
        if not 0 <= self.p < 1:
            raise ValueError(f"p is a drop probability and must lie in [0, 1), got {self.p!r}")
        self.check()

    def check(self) -> None:
        """Subclass hook: raise ``ValueError`` for a field out of range."""


def check_fractions(fractions: Sequence[float]) -> None:
    """Training fractions must lie in (0, 1]."""
    if any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"training fractions must lie in (0, 1], got {list(fractions)}")


# ---------------------------------------------------------------------------------------
# Progress, data subsets and the results file
# ---------------------------------------------------------------------------------------

def progress_bar(total: int, desc: str, progress: bool, unit: str = "run") -> Any:
    """A tqdm bar of ``total`` steps (shown on a terminal only, never when ``progress`` is off)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None if progress else True,
                dynamic_ncols=True)


# ---------------------------------------------------------------------------------------
# Data and training
# ---------------------------------------------------------------------------------------

@dataclass
class Context:
    """Everything an experiment function needs to know about its run.

    Attributes
    ----------
    name : str
        Experiment name (``small_data``, ...): prefixes the figures and the run folder.
    out : Path
        Output folder.
    data : Dataset
        The (capped) pool: ``train_pool`` / ``test_size`` already applied, uint8 images.
    settings : TrainingSettings subclass
    seed, seeds : int
        Base seed and number of seeds (training seeds are ``seed, seed + 1, ...``).
    iterations : int or None
        Overrides the settings' iterations for every training run.
    progress, resume : bool
    replace : bool
        Train every run afresh, replacing the run folders already in ``out`` (``--replace``).
    record : dict
        Extras for the results record (``seeds``) and for the experiment (``data_dir``,
        ``full_test``: the uncapped test split).
    run_dir : path or None
        A trained run to score instead of training one (the experiments that can).
    claim : callable
        Records the folder's identity (data set, seed) if it is new; called before the
        first file is written (:func:`train` calls it).
    """

    name: str
    out: Path
    data: Dataset
    settings: Any
    seed: int
    seeds: int
    iterations: int | None
    progress: bool
    resume: bool
    replace: bool = False
    record: dict[str, Any] = field(default_factory=dict)
    run_dir: str | Path | None = None
    claim: Callable[[], None] = lambda: None

    @property
    def runs_dir(self) -> Path:
        """Where the training runs (config, checkpoint, history) go: ``out/<name>_runs``."""
        return self.out / f"{self.name}_runs"

    def figure(self, suffix: str) -> Path:
        """The path of figure ``out/<name>_<suffix>.png``."""
        return self.out / f"{self.name}_{suffix}.png"


def subset(x: np.ndarray, y: np.ndarray, n: int | None,
           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified subset of ``n`` examples (all of them when ``n`` is None or too large)."""
    if n is None or n >= len(y):
        return x, y
    return stratified_subset(x, y, n, seed)


def fraction_size(n: int, fraction: float) -> int:
    """``round(n · fraction)``, at least 1."""
    return max(1, round(n * fraction))


def train(ctx: Context, model: str, x_train: np.ndarray, y_train: np.ndarray,
          run_seed: int, tag: str, n_classes: int | None = None,
          class_names: Sequence[str] | None = None,
          eval_split: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
    """Train ``model`` on uint8 images through :func:`tinybcnn.runs.train_run`.

    The recipe is the command line's (SGD, momentum 0.9, lr 0.01, ``inv`` schedule, weight
    decay 5e-4). The history rows evaluate on ``eval_split`` (default: ``eval_size``
    stratified images of the test pool). With ``ctx.resume``, a run folder holding a
    checkpoint of exactly this configuration is continued (or reused) instead of retrained.

    Returns
    -------
    dict
        ``trainer, model, history (rows), run_dir, config, train_seconds, resumed``.
    """
    s, data = ctx.settings, ctx.data
    n = len(y_train)
    batch = min(s.batch_size, n)
    iterations = ctx.iterations or s.iterations or default_iterations(n, batch)
    if eval_split is None:
        eval_split = subset(data.x_test, data.y_test, s.eval_size, ctx.seed)
    k = n_classes or data.n_classes
    run_data = Dataset(x_train, y_train, eval_split[0], eval_split[1], data.name, k,
                       tuple(class_names or data.class_names[:k]), data.source)
    data_dir = ctx.record.get("data_dir")
    config = RunConfig(model=model, dataset=dataset_key(data.name),  # idx:DIR made absolute
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
            saved = RunConfig.load(run_dir / CONFIG)
            resume = saved == config
        except ValueError:
            saved, resume = None, False
        if saved is not None and not resume and not ctx.replace:
            # "continue it with --resume" (the folder rule's words) would send the user round
            raise ValueError(f"{run_dir} holds a run with other settings "
                             f"({config_difference(saved, config)}): --resume continues an "
                             "experiment only with the settings it was started with; give "
                             "those, or start afresh with --replace (or another --out)")
    ctx.claim()   # the folder's first write records its identity (data set, seed)
    start = time.perf_counter()
    trainer, history = train_run(config, run_dir, resume=resume, progress=ctx.progress,
                                 data=run_data, replace=ctx.replace and not resume)
    return {"trainer": trainer, "model": trainer.model, "history": list(history.rows),
            "run_dir": run_dir, "config": config, "train_seconds": time.perf_counter() - start,
            "resumed": resume}


def run_record(trained: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready summary of a :func:`train` result (folder, sizes, seed, time)."""
    c = trained["config"]
    return {"run_dir": str(trained["run_dir"]), "train_size": c.train_size,
            "iterations": c.iterations, "batch_size": c.batch_size,
            "eval_every": c.eval_every, "seed": c.seed,
            "train_seconds": trained["train_seconds"], "resumed": trained["resumed"]}


def reuse_or_train(ctx: Context, run_dir: str | Path | None,
                   fraction: float) -> tuple[Any, dict[str, Any]]:
    """The model of ``run_dir`` if given, else a lenet-all trained on ``fraction`` of the pool.

    Returns
    -------
    model : Sequential
    record : dict
        The run's summary, with ``reused`` telling which of the two happened.
    """
    if run_dir is not None:
        config, model = load_run(run_dir)
        return model, {"run_dir": str(run_dir), "reused": True, "train_size": config.train_size,
                       "iterations": config.iterations, "seed": config.seed,
                       "model": config.model}
    data = ctx.data
    x_tr, y_tr = subset(data.x_train, data.y_train, fraction_size(len(data.y_train), fraction),
                        ctx.seed)
    trained = train(ctx, "lenet-all", x_tr, y_tr, ctx.seed, f"lenet-all_n{len(y_tr)}_s{ctx.seed}")
    return trained["model"], {**run_record(trained), "reused": False, "model": "lenet-all",
                              "history": trained["history"]}
