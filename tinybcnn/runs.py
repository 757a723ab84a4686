"""Run directories: one training run's configuration, checkpoint, log and metrics.

The command line, the demo and the experiments all train and evaluate through here, so a
run is described once (:class:`~tinybcnn.runconfig.RunConfig`, in :mod:`tinybcnn.runconfig`
with the file names) and always laid out the same way::

    RUN_DIR/config.json       the RunConfig
    RUN_DIR/checkpoint.npz    weights, optimiser and RNG state (no pickle)
    RUN_DIR/history.csv       evaluation rows during training
    RUN_DIR/member-<k>.npz    a deep ensemble (``members = K > 1``): member k's checkpoint,
    RUN_DIR/history-<k>.csv   and its evaluation rows, in place of the two above
    RUN_DIR/metrics.json      written by evaluate_run (the run's own test set)
    RUN_DIR/metrics-D.json    evaluate_run on another data set D (``--dataset``)
    RUN_DIR/.tinybcnn.lock    held by the process writing there (see runlock.py)

Every file is written atomically. A directory that holds anything else and no
``config.json`` of a run is not a run directory: training into it is refused, so a
mistyped ``--out`` never overwrites a user's files. The rule (what a run folder may hold, the
lock, what is cleaned up, what is refused) is :mod:`tinybcnn.files.rundir`'s, shared with the demo
and the experiments. A checkpoint is checked against its run's ``config.json`` (model, seed,
classes, input shape, iterations done) before it is used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .backend import set_backend
from .checkpoint import CheckpointError, model_from_checkpoint
from .choices import MAX_SAMPLES
from .data import Dataset, as_float, load_dataset
from .ensembles import ensemble_predict, member_seeds
from .files.jsonfile import write_json
from .files.rundir import FolderKind, OutDirError, check_out_dir, refuse, writing
from .models import lenet
from .objective import Objective
from .optim import SGD, inv
from .predict import Prediction, inputs_for, mc_predict, standard_predict
from .progress import progress_bar
from .runconfig import (
    CHECKPOINT,
    CONFIG,
    DEFAULT_EPOCHS,
    HISTORY,
    METRICS,
    MODEL_NAMES,
    RUN_FILES,
    RunConfig,
    member_checkpoint,
    member_history,
)
from .threads import current_blas_threads, same_threads_as, step_threads
from .train import History, Trainer

__all__ = ["RunConfig", "MODEL_NAMES", "build", "load_data", "train_run", "train_members",
           "load_run", "load_members", "member_configs", "evaluate", "evaluate_members",
           "evaluate_run", "scores", "check_run_dir", "is_run_dir", "CONFIG",
           "CHECKPOINT", "HISTORY", "METRICS", "RUN_FILES", "RUN_FOLDER", "metrics_path",
           "remove_run_files", "config_difference", "metrics_file", "dataset_key"]


def load_data(config: RunConfig, progress: bool = True) -> Dataset:
    """The run's dataset, with the seeded stratified training (and test) subsets applied."""
    data = load_dataset(config.dataset, data_dir=config.data_dir, progress=progress)
    if config.train_size is not None or config.test_size is not None:
        data = data.subset(config.train_size, config.test_size, seed=config.seed)
    return data


def build(config: RunConfig, data: Dataset) -> Trainer:
    """Model, objective, optimiser and trainer for ``config`` on ``data``.

    Each part is built from its own fields of ``config`` by one helper below, in the order the
    trainer needs them; nothing else is read. The backend is switched first, so that the model
    is created on it.
    """
    set_backend(config.backend)
    model = _model(config, data)
    return Trainer(model, _objective(config, model, n_train=len(data.y_train)),
                   _optimizer(config, model), seed=config.seed)


def _model(config: RunConfig, data: Dataset) -> Any:
    """The LeNet of ``config.model`` (dropout ``config.p``), shaped for ``data``."""
    return lenet(config.model.removeprefix("lenet-"), p=config.p, in_shape=data.image_shape,
                 n_classes=data.n_classes, seed=config.seed)


def _objective(config: RunConfig, model: Any, n_train: int) -> Objective:
    """The dropout objective of ``model``: a prior length-scale or a Caffe weight decay."""
    return Objective.for_model(model, n_train=n_train, length_scale=config.length_scale,
                               weight_decay=config.weight_decay)


def _optimizer(config: RunConfig, model: Any) -> SGD:
    """Caffe's LeNet solver: SGD with momentum and the ``inv`` learning-rate schedule."""
    return SGD(model, lr=config.lr, momentum=config.momentum,
               schedule=inv(gamma=config.gamma, power=config.power))


def _iterations(config: RunConfig, n_train: int) -> int:
    if config.iterations is not None:
        return config.iterations
    epochs = config.epochs if config.epochs is not None else DEFAULT_EPOCHS
    return max(1, math.ceil(epochs * n_train / config.batch_size))


def member_configs(config: RunConfig) -> list[RunConfig]:
    """The configs the networks of a run are built from: ``[config]`` for one network; for a
    deep ensemble (``members = K > 1``) one per member, with ``seed`` the member's
    (:func:`tinybcnn.ensembles.member_seeds`: initial weights, data order and masks) and
    ``members`` 1. The training subset is the ensemble's, drawn with ``config.seed``."""
    if config.members == 1:
        return [config]
    return [dataclasses.replace(config, seed=s, members=1)
            for s in member_seeds(config.seed, config.members)]


def _checkpoint_name(config: RunConfig, k: int) -> str:
    """Member ``k``'s checkpoint file: ``checkpoint.npz`` for a single network."""
    return CHECKPOINT if config.members == 1 else member_checkpoint(k)


def _has_checkpoint(out: Path) -> bool:
    """Whether ``out`` holds a checkpoint of a run (one network's, or an ensemble member's)."""
    return (out / CHECKPOINT).exists() or (out / member_checkpoint(0)).exists()


def train_run(config: RunConfig | None, out: str | Path, resume: bool = False,
              progress: bool = True, data: Dataset | None = None,
              total: tuple[int | None, float | None] | None = None,
              replace: bool = False,
              eval_samples: int | None = None) -> tuple[Trainer, History]:
    """Train ``config`` into the run directory ``out``; the trainer and its history.

    :func:`train_members` (the arguments are its own); for a deep ensemble, the last member's
    trainer and history.
    """
    return train_members(config, out, resume=resume, progress=progress, data=data,
                         total=total, replace=replace, eval_samples=eval_samples)[-1]


def train_members(config: RunConfig | None, out: str | Path, resume: bool = False,
                  progress: bool = True, data: Dataset | None = None,
                  total: tuple[int | None, float | None] | None = None,
                  replace: bool = False,
                  eval_samples: int | None = None) -> list[tuple[Trainer, History]]:
    """Train ``config`` into the run directory ``out`` (resuming from its checkpoint if asked).

    With ``resume=True`` the configuration is read back from ``out`` and training continues
    from the checkpoint to the same total number of iterations, which gives the same weights
    as an uninterrupted run; ``total=(iterations, epochs)`` sets a new total instead. Without
    ``resume``, a run directory that already holds a checkpoint is refused, never overwritten,
    unless ``replace=True`` (``--replace``): then the run's files are removed and ``config``
    trains afresh, but only once the run's lock is held and every check has passed, so a
    refusal (another process training there, bad settings) leaves the folder as it was.

    A new run records the thread counts it starts with (``config.blas_threads``,
    ``config.step_threads``); a resumed one trains on those counts again, whatever the load
    now (see :func:`tinybcnn.threads.same_threads_as`), unless ``--threads`` says otherwise.

    ``eval_samples`` (``--eval-samples`` with ``--resume``) sets a new number of MC samples
    for the evaluations during training: they score the weights and never change them, so a
    run whose config.json asks for more than :data:`~tinybcnn.choices.MAX_SAMPLES` (a run
    stuck in an evaluation that would take days) is refused, and resumed with a sane count.

    A deep ensemble (``config.members = K > 1``) trains its members one after the other
    (:func:`member_configs`), each to the run's total, each checkpointed to its own
    ``member-<k>.npz``: a resumed ensemble loads the members already there (a finished one
    trains no further, the interrupted one continues bit for bit) and starts the others.

    Returns
    -------
    list of (Trainer, History)
        One per network (one for a single run).
    """
    out = Path(out)
    if resume and replace:
        raise ValueError("give --resume or --replace, not both")
    # a run replaced is checked as a run continued: its folder must be a run of ours
    replacing = replace and is_run_dir(out)
    if resume:
        if not _has_checkpoint(out):
            raise ValueError(f"nothing to resume: {out / CHECKPOINT} does not exist")
        check_out_dir(out, RUN_FOLDER, resume=True)
        config = RunConfig.load(out / CONFIG)
    else:
        check_out_dir(out, RUN_FOLDER, resume=replacing)
    assert config is not None
    config.validate()
    if resume and eval_samples is not None and eval_samples != config.eval_samples:
        config = dataclasses.replace(config, eval_samples=eval_samples).validate()
    else:
        eval_samples = None  # nothing to record
    _check_eval_samples(config, out, resume)
    # everything that can fail on bad input happens before the directory is created
    data = data if data is not None else load_data(config, progress=progress)
    _check_decay(config, len(data.y_train))
    _check_batch_size(config, len(data.y_train))
    trainers = [build(c, data) for c in member_configs(config)]
    if not resume:
        config.blas_threads = current_blas_threads()
        config.step_threads = step_threads() or None
    # writing(): the rule of tinybcnn.files.rundir, checked again under the lock; stale temp files
    # of ours removed; a folder created here and left empty by a failure removed again
    with writing(out, RUN_FOLDER, resume=resume or replacing), same_threads_as(
            config.blas_threads, f"the run in {out}", config.step_threads):
        if resume:
            new_total = total is not None and total != (None, None)
            if new_total:
                config = dataclasses.replace(config, iterations=total[0],
                                             epochs=total[1]).validate()
            _resume_members(trainers, config, out, len(data.y_train))
            if new_total or eval_samples is not None:  # only after every check: a refusal
                config.save(out / CONFIG)              # leaves config.json as it was
        else:
            if replacing:  # under the lock, after every check: the old run goes now
                remove_run_files(out)
            config.save(out / CONFIG)
        return [(trainer, _fit(trainer, config, data, out, progress, k))
                for k, trainer in enumerate(trainers)]


def _resume_members(trainers: list[Trainer], config: RunConfig, out: Path, n_train: int) -> None:
    """Resume each network from its checkpoint in ``out`` and check it against the run: an
    ensemble's member whose checkpoint is not there yet starts from its seed."""
    for k, (trainer, member) in enumerate(zip(trainers, member_configs(config), strict=True)):
        path = out / _checkpoint_name(config, k)
        if config.members == 1 or path.exists():
            trainer.resume(path)
        _check_resumed(member, trainer, out, _iterations(config, n_train), path.name)


def _fit(trainer: Trainer, config: RunConfig, data: Dataset, out: Path,
         progress: bool, k: int = 0) -> History:
    """``trainer.fit`` to the run's total, with its evaluations, history and checkpoints
    (member ``k``'s files in an ensemble)."""
    single = config.members == 1
    label = f"{config.model} train" if single else f"{config.model} member {k}"
    return trainer.fit(
        as_float(data.x_train), data.y_train,
        iterations=_iterations(config, len(data.y_train)),
        batch_size=config.batch_size, x_val=as_float(data.x_test), y_val=data.y_test,
        eval_every=config.eval_every, mc_samples=config.eval_samples,
        log_path=out / (HISTORY if single else member_history(k)),
        checkpoint_path=out / _checkpoint_name(config, k),
        checkpoint_every=config.eval_every, progress=progress and label,
    )


def _check_batch_size(config: RunConfig, n_train: int) -> None:
    """Refuse a batch larger than the data: before config.json and the lock, not in fit()."""
    if config.batch_size > n_train:
        raise ValueError(f"--batch-size {config.batch_size} is larger than the "
                         f"{n_train:,} training images: give at most {n_train:,}")


def _check_decay(config: RunConfig, n_train: int) -> None:
    """Refuse a decay so strong that one SGD step moves every weight past zero.

    The step adds ``lr · d · w`` to the gradient's move, ``d`` the largest per-parameter decay
    (``weight_decay``; ``l² / (N keep)`` for a length-scale ``l``, the kernels of the layer
    with the lowest keep probability). With ``lr · d >= 1`` the weights flip sign or blow up at
    every step: ``--weight-decay 1e308`` diverged with "try a lower learning rate", and
    ``--length-scale 1e155`` overflowed computing ``l²``. Refused when ``d >= 1`` as well (a
    decay that large is absurd whatever the rate); a huge ``--lr`` with a sane decay is left to
    training, whose divergence message names the learning rate. Checked before anything is
    written.
    """
    keep = 1.0 - config.p if config.model != "lenet-none" else 1.0
    if config.length_scale is not None:
        value, option = config.length_scale, "--length-scale"
        decay = value * value / (n_train * keep)  # inf, not OverflowError, when too large
        bound = math.sqrt(n_train * keep / config.lr)
        sane = (f"with --lr {config.lr:g}, {n_train:,} training images and p = {config.p:g} "
                f"it must be below {bound:.3g} (typical: 1e-2 to 10)")
    else:
        value = decay = config.weight_decay
        option = "--weight-decay"
        sane = (f"with --lr {config.lr:g} it must be below {1 / config.lr:.3g} "
                "(Caffe's LeNet: 5e-4)")
    # a decay of 1 or more per unit of weight is the decay's fault; below that a divergence
    # is the learning rate's, which training itself reports (a huge --lr is a real case)
    if not (config.lr * decay < 1 or decay < 1):
        raise ValueError(f"{option} {value:g} is too strong: each step would decay every weight "
                         f"by lr x {decay:.3g} >= 1 of itself; {sane}")


def _check_eval_samples(config: RunConfig, out: Path, resume: bool) -> None:
    """Refuse more MC samples per evaluation than any command takes (``--samples``)."""
    if config.eval_samples > MAX_SAMPLES:
        fix = ("resume with --eval-samples T, T at most "
               f"{MAX_SAMPLES:,} (it changes the evaluations, not the weights)" if resume else
               f"give at most {MAX_SAMPLES:,}")
        where = out / CONFIG if resume else "the settings"
        raise ValueError(f"eval_samples {config.eval_samples:,} in {where} is more than the "
                         f"{MAX_SAMPLES:,} MC samples an evaluation takes: {fix}")


def _check_resumed(config: RunConfig, trainer: Trainer, out: Path, total: int,
                   name: str = CHECKPOINT) -> None:
    """Refuse a checkpoint that disagrees with its run's config (seed, iterations done).

    ``config`` is the network's own (a member's seed in an ensemble); ``name`` the checkpoint's
    file."""
    if trainer.seed != config.seed:
        raise CheckpointError(f"{out / name} was trained with seed {trainer.seed}, but "
                              f"{out / CONFIG} says seed {config.seed}"
                              f"{'' if name == CHECKPOINT else ' for this member'}: it is not "
                              "this run's checkpoint")
    if total < trainer.iteration:
        asked = (f"--iterations {config.iterations}" if config.iterations is not None else
                 f"{total} iterations")
        raise ValueError(f"{out} has already trained {trainer.iteration} iterations "
                         f"({out / name}); {asked} would end before that: give a total "
                         f"of at least {trainer.iteration}, or train into a new --out")


def config_difference(saved: RunConfig, wanted: RunConfig) -> str | None:
    """The first setting in which two runs differ, as ``"iterations 40 there, 20 here"``, or
    None for the same run (the thread counts a run recorded are not part of what it is)."""
    for f in dataclasses.fields(RunConfig):
        if f.compare and getattr(saved, f.name) != getattr(wanted, f.name):
            return f"{f.name} {getattr(saved, f.name)!r} there, {getattr(wanted, f.name)!r} here"
    return None


def remove_run_files(run_dir: Path) -> None:
    """Delete what a run of this package wrote in ``run_dir``: its config, checkpoint, history
    and metrics files, only those names and only regular files (a symlink or folder there is
    refused by the folder rule before this is reached). Call it holding the run's lock."""
    for entry in os.scandir(run_dir):
        if _run_expect(entry.name) == "file" and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)


def is_run_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds the ``config.json`` of a tinybcnn run."""
    try:
        RunConfig.load(Path(directory) / CONFIG)
    except ValueError:
        return False
    return True


def _run_expect(name: str) -> str | None:
    """``"file"`` for the names a run directory's files have (see the module docstring)."""
    if name in (CONFIG, CHECKPOINT, HISTORY, METRICS) or (
            name.startswith("metrics-") and name.endswith(".json")) or _MEMBER_FILE.fullmatch(
            name):
        return "file"
    return None


#: An ensemble member's checkpoint or history (``member-3.npz``, ``history-3.csv``).
_MEMBER_FILE = re.compile(r"(member-(0|[1-9][0-9]*)\.npz)|(history-(0|[1-9][0-9]*)\.csv)")


def _check_run_folder(out: Path, names: set[str], resume: bool) -> None:
    """A run directory holds a valid ``config.json``; a new run is refused a checkpoint."""
    if CONFIG not in names:
        if resume:
            raise OutDirError(f"{out} holds no {CONFIG}: it is not a tinybcnn run directory")
        raise refuse(out, "is not empty and is not a tinybcnn run directory")
    try:
        RunConfig.load(out / CONFIG)
    except ValueError as exc:
        raise OutDirError(f"{exc}; refusing to write into {out}") from None
    if (CHECKPOINT in names or member_checkpoint(0) in names) and not resume:
        raise OutDirError(f"{out} already holds a run; continue it with --resume, or choose "
                          "another --out")


#: The run directory under :mod:`tinybcnn.files.rundir`'s rule: its files, and a valid config.
RUN_FOLDER = FolderKind("a tinybcnn run directory", _run_expect, _check_run_folder)


def check_run_dir(out: str | Path) -> None:
    """Refuse ``out`` as the directory of a new run unless it is new, empty, or a run's own.

    The rule is :func:`tinybcnn.files.rundir.check_out_dir` with :data:`RUN_FOLDER`.

    Raises
    ------
    ValueError
        If ``out`` holds a finished or interrupted run (a checkpoint: continue it with
        ``--resume``), or holds files but no run ``config.json`` (a user's folder: nothing in
        it is ever overwritten), or is a symlink, or its lock is not ours.
    """
    check_out_dir(out, RUN_FOLDER)


#: What a checkpoint for a run on a named data set must take and give: (in_shape, classes).
_NAMED_SHAPES = {name: ((1, 28, 28), 10) for name in ("embedded", "fashion-mnist", "mnist")}


def load_run(run_dir: str | Path, backend: str | None = None) -> tuple[RunConfig, Any]:
    """The configuration and trained model of a run directory.

    The model is loaded onto ``backend`` if given (``--backend`` of ``evaluate`` and
    ``predict``: a run trained on a GPU can be scored on the CPU and the other way round),
    else onto the backend the run was trained on. The checkpoint is checked against the
    config (see :func:`_check_checkpoint`). A deep-ensemble run is :func:`load_members`'.
    """
    config, models, _ = _load_run(run_dir, backend, ensemble=False)
    return config, models[0]


def load_members(run_dir: str | Path,
                 backend: str | None = None) -> tuple[RunConfig, list[Any]]:
    """The configuration and trained networks of a run directory: every member of a deep
    ensemble (``members = K``), or the one network of a single run, as :func:`load_run`."""
    config, models, _ = _load_run(run_dir, backend)
    return config, models


def _load_run(run_dir: str | Path, backend: str | None = None,
              ensemble: bool = True) -> tuple[RunConfig, list[Any], list[Any]]:
    """The config, the networks and their :class:`~tinybcnn.checkpoint.Checkpoint` s;
    ``ensemble=False`` refuses an ensemble run in one line."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} does not exist")
    config = RunConfig.load(run_dir / CONFIG)
    if config.members > 1 and not ensemble:
        raise ValueError(f"{run_dir} is a deep ensemble of {config.members} networks "
                         f"({CONFIG}): load it with tinybcnn.runs.load_members")
    set_backend(backend or config.backend)
    models, ckpts = [], []
    for k, member in enumerate(member_configs(config)):
        name = _checkpoint_name(config, k)
        if config.members > 1 and not (run_dir / name).exists():
            raise ValueError(f"{run_dir} holds {k} of its {config.members} members ({name} "
                             "is missing): finish training it with tinybcnn train --resume "
                             f"--out {run_dir}")
        model, ckpt = model_from_checkpoint(run_dir / name)
        _check_checkpoint(member, ckpt, run_dir, name)
        models.append(model)
        ckpts.append(ckpt)
    return config, models, ckpts


def _check_checkpoint(config: RunConfig, ckpt: Any, run_dir: Path,
                      name: str = CHECKPOINT) -> None:
    """Refuse a checkpoint that is not this run's: another model or p, other classes or input
    shape than the run's data set, another seed, more iterations than the run's total.
    ``config`` is the network's own (:func:`member_configs`), ``name`` its checkpoint."""
    saved, where = ckpt.model, f"{run_dir / name}"
    said = f"but {run_dir / CONFIG} says"
    if saved.get("name") != config.model or (saved.get("p") not in (None, config.p)):
        raise CheckpointError(f"{where} is for {saved.get('name')} with p = {saved.get('p')}, "
                              f"{said} {config.model} with p = {config.p}")
    if config.dataset in _NAMED_SHAPES:
        in_shape, classes = _NAMED_SHAPES[config.dataset]
        if saved.get("n_classes") != classes or tuple(saved.get("in_shape") or ()) != in_shape:
            raise CheckpointError(f"{where} is for {saved.get('n_classes')} classes of "
                                  f"{tuple(saved.get('in_shape') or ())} images, {said} "
                                  f"{config.dataset} ({classes} classes of {in_shape})")
    state = ckpt.trainer if isinstance(ckpt.trainer, dict) else {}
    if "seed" in state and state["seed"] != config.seed:
        raise CheckpointError(f"{where} was trained with seed {state['seed']}, {said} seed "
                              f"{config.seed}: it is not this run's checkpoint")
    done = state.get("iteration")
    if config.iterations is not None and isinstance(done, int) and done > config.iterations:
        raise CheckpointError(f"{where} has trained {done} iterations, {said} "
                              f"{config.iterations}: it is not this run's checkpoint")


def scores(pred: Prediction, labels: np.ndarray, uncertainty: bool = False) -> dict[str, float]:
    """Error, NLL, Brier score and ECE of ``pred`` on ``labels`` (the keys of metrics.json).

    With ``uncertainty``, also the mean predictive ``entropy`` and ``mutual_info``.
    """
    out = {"error": metrics.error(pred.probs, labels), "nll": metrics.nll(pred.probs, labels),
           "brier": metrics.brier(pred.probs, labels),
           "ece": metrics.ece(pred.probs, labels).ece}
    if uncertainty:
        out["entropy"] = float(np.mean(pred.entropy))
        out["mutual_info"] = float(np.mean(pred.mutual_info))
    return out


def evaluate(model: Any, x: np.ndarray, labels: np.ndarray, samples: int = 50,
             seed: int = 0, progress: bool = False) -> tuple[dict[str, Any], Prediction,
                                                              Prediction]:
    """Standard and MC-dropout scores of ``model`` on float inputs ``x``; with ``progress``, a
    bar of the MC passes on stderr when it is a terminal.

    Returns
    -------
    metrics : dict
        ``{"samples", "n_test", "standard": {error, nll, brier, ece}, "mc": {...}}``
    standard, mc : Prediction
    """
    x = inputs_for(model, x)     # on a device model: the test set is sent there once
    std = standard_predict(model, x)
    # the T passes are the long part: a bar on a terminal only (stderr; never with --quiet,
    # never in a log), updated per batch, which changes nothing in the arithmetic
    bar = progress_bar(len(labels), enabled=progress, desc=f"MC dropout, T = {samples}",
                       unit="img", terminal_only=True)
    try:
        mc = mc_predict(model, x, samples=samples, seed=seed, on_batch=bar.update)
    finally:
        bar.close()
    result = {"samples": int(samples), "n_test": int(len(labels)),
              "standard": scores(std, labels), "mc": scores(mc, labels)}
    return result, std, mc


def evaluate_members(models: list[Any], x: np.ndarray, labels: np.ndarray, samples: int = 50,
                     seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """The scores of a deep ensemble on float inputs ``x``, in :func:`evaluate`'s layout.

    ``"standard"`` is the deep ensemble (each member's deterministic pass, averaged),
    ``"mc"`` the MC-dropout ensemble (``samples`` passes of each member, all averaged):
    :func:`tinybcnn.ensembles.ensemble_predict` with ``samples`` 1 and ``T``. A list of one
    model scores exactly as :func:`evaluate` (with its bar when ``progress``).
    """
    x = inputs_for(models[0], x)
    if len(models) == 1:
        return evaluate(models[0], x, labels, samples=samples, seed=seed, progress=progress)[0]
    ens = ensemble_predict(models, x)
    mc = ensemble_predict(models, x, samples=samples, seed=seed)
    return {"samples": int(samples), "members": len(models), "n_test": int(len(labels)),
            "standard": scores(ens, labels, uncertainty=True),
            "mc": scores(mc, labels, uncertainty=True)}


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def dataset_key(dataset: str) -> str:
    """The data set a ``--dataset`` value names: ``idx:DIR`` with DIR made absolute (so
    ``idx:x``, ``idx:./x/`` and ``idx:~/x`` from the home folder are one data set)."""
    if dataset.startswith("idx:"):
        return "idx:" + os.path.abspath(os.path.expanduser(dataset[len("idx:"):]))
    return dataset


def metrics_path(run_dir: str | Path, dataset: str | None = None) -> Path:
    """Where :func:`evaluate_run` writes: ``metrics.json`` for the run's own test set,
    ``metrics-<dataset>.json`` for another data set.

    The name is one-to-one: a data set name that is not a safe file name as it stands
    (``idx:/data/x``) gets a readable slug plus 12 hex digits of its SHA-256
    (``metrics-idx_data_x-<hash>.json``), so two data sets never share a file; a safe name
    (``fashion-mnist``) is kept as it is."""
    if dataset is None:
        return Path(run_dir) / METRICS
    key = dataset_key(dataset)
    slug = _UNSAFE.sub("_", key).strip("._")[:80] or "dataset"
    if slug != key:
        slug = f"{slug[:60]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return Path(run_dir) / f"metrics-{slug}.json"


def _other_dataset(config: RunConfig, dataset: str | None, data_dir: str | None) -> str | None:
    """``dataset`` if it is another data set than the run's own, else None: ``--dataset`` equal
    to the run's data set (and no other ``--data-dir``) scores the run's own test set."""
    if dataset is None or (dataset_key(dataset) == dataset_key(config.dataset)
                           and data_dir in (None, config.data_dir)):
        return None
    return dataset


def metrics_file(run_dir: str | Path, dataset: str | None = None,
                 data_dir: str | None = None) -> Path:
    """The file :func:`evaluate_run` writes for these arguments (:func:`metrics_path` of the
    data set scored, the run's own one included)."""
    config = RunConfig.load(Path(run_dir) / CONFIG)
    return metrics_path(run_dir, _other_dataset(config, dataset, data_dir))


def evaluate_run(run_dir: str | Path, dataset: str | None = None, samples: int = 50,
                 seed: int = 0, data_dir: str | None = None,
                 progress: bool = True, backend: str | None = None) -> dict[str, Any]:
    """Evaluate a trained run on its (or another) test set and write its metrics file.

    ``backend``: where to score (default: the backend the run was trained on).

    A deep ensemble's file adds ``"members": K``; its ``"standard"`` is the deep ensemble
    and its ``"mc"`` the MC-dropout ensemble (:func:`evaluate_members`), with the mean
    entropy and mutual information across members; ``iteration`` is member 0's (they train to
    the same total).

    ``metrics.json`` for the run's own test set (``dataset`` None or the run's own);
    ``metrics-<dataset>.json`` for the whole test split of another data set
    (:func:`metrics_path`: one file per data set). Both record the ``dataset`` scored and
    the ``iteration`` of the checkpoint. The run's lock is held throughout: a run that another
    process is training is refused, not scored mid-training.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} does not exist")
    with writing(run_dir, RUN_FOLDER, resume=True):
        config, models, ckpts = _load_run(run_dir, backend)
        dataset = _other_dataset(config, dataset, data_dir)
        scored = config.dataset
        if dataset is not None:  # the whole test split of another dataset; no training subset
            config.dataset, config.data_dir = dataset, data_dir
            config.train_size = config.test_size = None
            scored = dataset
        data = load_data(config, progress=progress)
        ckpt = ckpts[0]
        in_shape, classes = tuple(ckpt.model.get("in_shape") or ()), ckpt.model.get("n_classes")
        # the run's own data must have the model's classes; another data set may have fewer
        # (scoring on some of the classes is fine), never more, nor another image shape
        if in_shape != data.image_shape or not isinstance(classes, int) or (
                data.n_classes > classes if dataset is not None else data.n_classes != classes):
            raise CheckpointError(f"{run_dir / CHECKPOINT} is for {classes} classes of "
                                  f"{in_shape} images; {scored} has {data.n_classes} classes of "
                                  f"{data.image_shape} images")
        result = evaluate_members(models, as_float(data.x_test), data.y_test, samples=samples,
                                  seed=seed, progress=progress)
        trained = ckpt.trainer if isinstance(ckpt.trainer, dict) else {}
        result = {"dataset": scored, "iteration": trained.get("iteration"), **result}
        write_json(metrics_path(run_dir, dataset), result)
    return result
