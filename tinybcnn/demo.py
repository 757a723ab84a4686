"""``tinybcnn demo``: the main job in one command.

Train the Bayesian CNN (lenet-all: dropout after every conv and inner-product layer) and the
lenet-ip baseline on a small training set of real Fashion-MNIST, evaluate both with standard
dropout (weight averaging) and MC dropout, print a table and write figures.

The demo owns its folder (``tinybcnn-demo`` by default), and records in ``identity.json`` the
data and seed it was made with: running it again there continues the runs that match the
settings (a run interrupted by Ctrl-C resumes from its checkpoint, a
finished one is reused). A run there with other settings (one extended by ``train --resume``,
say) is refused before anything is written or removed; ``--replace`` trains it afresh. A
folder that is not empty and holds no demo run is refused, so a mistyped ``--out`` never
overwrites a user's files.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics, plots
from .checkpoint import CheckpointError
from .choices import DEMO_ITERATIONS, DEMO_SAMPLES, DEMO_TEST_SIZE, DEMO_TRAIN_SIZE
from .data import Dataset, as_float, load_dataset
from .files.identity import check_identity, identity, record_identity
from .files.jsonfile import write_json
from .files.rundir import FolderKind, check_out_dir, is_real_dir, refuse, writing
from .predict import Prediction, mc_predict, standard_predict
from .progress import progress_bar
from .report import results_table, scored_line
from .runs import CHECKPOINT, CONFIG, RunConfig, config_difference, is_run_dir, scores, train_run
from .train import History, Trainer

__all__ = ["run_demo", "format_table", "best_line", "MODELS", "DEMO_TRAIN_SIZE", "DEMO_TEST_SIZE",
           "DEMO_ITERATIONS", "DEMO_SAMPLES", "FIGURES", "RESULTS"]

MODELS = ("lenet-all", "lenet-ip")
#: Evaluations (and checkpoints) during each model's training: 8 points per training curve,
#: the first at an eighth of the iterations (4 points, from iteration 500, said little).
EVALUATIONS = 8
#: MC samples of the evaluations during training (the final evaluation uses ``samples``):
#: 5, so that 8 evaluations cost what 4 at T = 10 did (each is 1 + T passes over the test set).
EVAL_SAMPLES = 5
RESULTS = "results.json"
#: The data set and seed the folder's runs were made with (:mod:`tinybcnn.files.identity`).
IDENTITY = "identity.json"
FIGURES = ("training_curves.png", "reliability.png", "entropy.png", "certain_images.png")


def format_table(results: dict[str, dict[str, Any]], dataset: str = "embedded",
                 files: Sequence[str | Path] = ()) -> str:
    """The results table (:func:`tinybcnn.report.results_table`): error %, NLL and ECE per
    model and predictor, after a line saying what was scored."""
    first = next(iter(results.values()))
    rows = []
    for model, r in results.items():
        for kind in ("standard", "mc"):
            label = "standard" if kind == "standard" else f"MC (T={r['samples']})"
            rows.append((f"{model:10s} {label}", r[kind]))
    return results_table(rows, scored_line(dataset, first["n_test"], first["samples"]), files)


def run_demo(out: str | Path = "tinybcnn-demo", seed: int = 0,
             train_size: int = DEMO_TRAIN_SIZE, iterations: int | None = None,
             samples: int = DEMO_SAMPLES, quick: bool = False, progress: bool = True,
             test_size: int | None = DEMO_TEST_SIZE, replace: bool = False) -> dict[str, Any]:
    """Train lenet-all and lenet-ip on ``train_size`` embedded images, compare, plot.

    Parameters
    ----------
    out : path
        The demo's folder: the two run directories, ``results.json`` and the figures.
        Running again in the same folder continues (or reuses) the runs that match.
    seed : int
        Seeds the training subset, the initial weights, the masks and the MC samples.
    train_size, test_size : int
        Training and test images (stratified subsets of the embedded 6,000 / 2,000).
    iterations : int, optional
        SGD iterations per model, batch 64 (default :data:`DEMO_ITERATIONS`; 60 with
        ``quick``).
    samples : int
        MC-dropout samples ``T`` at test time.
    quick : bool
        Tiny sizes for a smoke test (at most 500 training and test images, 60 iterations,
        T at most 10).
    progress : bool
        Progress bars on a terminal, a log line every few seconds elsewhere.
    replace : bool
        Train afresh a model whose run in ``out`` has other settings (``--replace``); without
        it such a run is refused before anything is written or removed.

    Returns
    -------
    dict
        ``{model: metrics}`` as in ``metrics.json``, plus wall times.

    Raises
    ------
    ValueError
        If ``out`` holds files but no demo run, or a run with other settings (without
        ``replace``), or another process is writing there.
    """
    out = Path(out)
    check_demo_dir(out)
    if quick:
        train_size, samples = min(train_size, 500), min(samples, 10)
        test_size = min(test_size or 500, 500)
    iterations = iterations or (60 if quick else DEMO_ITERATIONS)
    data = load_dataset("embedded", progress=progress).subset(train_size, test_size, seed=seed)
    with writing(out, DEMO_FOLDER):  # files.rundir's rule, the lock, stale temp files removed
        configs = {name: RunConfig(model=name, train_size=train_size, test_size=len(data.y_test),
                                   iterations=iterations,
                                   eval_every=max(1, iterations // EVALUATIONS),
                                   eval_samples=min(samples, EVAL_SAMPLES), seed=seed)
                   for name in MODELS}
        # both runs, then the data and seed the folder was made with, before either trains:
        # a refusal changes nothing
        if not replace:
            for name, config in configs.items():
                _refuse_another_run(config, out / name)
        wanted = identity("demo", "embedded", seed, data.x_train, data.y_train, data.x_test,
                          data.y_test)
        if check_identity(out / IDENTITY, wanted, replace):
            record_identity(out / IDENTITY, wanted)
        return _run(out, data, configs, samples, seed, progress, replace)


def _run(out: Path, data: Dataset, configs: dict[str, RunConfig], samples: int, seed: int,
         progress: bool, replace: bool) -> dict[str, Any]:
    x_test, y_test = as_float(data.x_test), data.y_test
    iterations = configs[MODELS[0]].iterations
    print(f"tinybcnn demo: {len(data.y_train)} training / {len(y_test)} test images of "
          f"{data.name}, {iterations} iterations per model, MC with T = {samples}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    histories, bins, entropies = {}, {}, {}
    for name, config in configs.items():
        start = time.perf_counter()
        trainer, history = _train_or_continue(config, out / name, data, progress, replace)
        train_s = time.perf_counter() - start
        std, mc = _predict(trainer.model, x_test, samples, seed, f"{name} evaluate", progress)
        results[name] = {"samples": int(samples), "n_test": int(len(y_test)),
                         "standard": scores(std, y_test), "mc": scores(mc, y_test),
                         "train_seconds": round(train_s, 1)}
        histories[name] = history.rows
        for kind, pred in (("standard", std), (f"MC T={samples}", mc)):
            key = f"{name} {kind}"
            bins[key] = metrics.ece(pred.probs, y_test)
            entropies[key] = (pred.entropy, pred.labels == y_test)
        if name == "lenet-all":
            plots.certain_images(data.x_test, mc.entropy, y_test, mc.labels,
                                 class_names=data.class_names,
                                 title=f"{name}, MC dropout (T={samples})",
                                 path=out / "certain_images.png")

    plots.training_curves(histories, path=out / "training_curves.png",
                          mc_samples=min(samples, EVAL_SAMPLES))
    plots.reliability_diagram(bins, path=out / "reliability.png")
    plots.entropy_histogram(entropies, path=out / "entropy.png")
    write_json(out / RESULTS, results)

    print()
    print(format_table(results, data.name, [out / RESULTS, *(out / f for f in FIGURES)]))
    print(f"runs: {out / MODELS[0]}, {out / MODELS[1]}")
    print()
    print(best_line(results, "error"))
    print(best_line(results, "nll"))
    return results


def best_line(results: dict[str, dict[str, Any]], metric: str) -> str:
    """One line naming the model and predictor with the lowest ``metric`` ("error" or "nll").

    At the demo's size the error gap between lenet-all (MC) and lenet-ip is about one seed's
    noise, while the NLL gap is several times larger (``README.md``), so both are shown.
    """
    model, kind = min(((m, k) for m in results for k in ("standard", "mc")),
                      key=lambda mk: results[mk[0]][mk[1]][metric])
    value = results[model][kind][metric]
    shown = f"{100 * value:.2f}%" if metric == "error" else f"{value:.3f}"
    label = "test error" if metric == "error" else "test NLL"
    return f"lowest {label}: {model} with {'MC' if kind == 'mc' else 'standard'} dropout ({shown})"


def _refuse_another_run(config: RunConfig, run_dir: Path) -> None:
    """Refuse, in one line, a run in ``run_dir`` with other settings than ``config`` (such as
    one the user extended with ``train --resume``): the demo never replaces it unasked."""
    if is_run_dir(run_dir):
        differs = config_difference(RunConfig.load(run_dir / CONFIG), config)
        if differs is not None:
            raise ValueError(f"{run_dir} holds another {config.model} run ({differs}): "
                             "refusing to replace it; run the demo with --replace to train it "
                             "afresh, or choose another --out")


def _train_or_continue(config: RunConfig, run_dir: Path, data: Dataset, progress: bool,
                       replace: bool = False) -> tuple[Trainer, History]:
    """Continue (or reuse) the run in ``run_dir``, which is this run (checked by
    :func:`_refuse_another_run`), or start it if there is none; with ``replace`` train it
    afresh (:func:`~tinybcnn.runs.train_run` removes the old run under the run's lock). An
    unreadable checkpoint is refused, not replaced, unless ``replace``."""
    if not replace and (run_dir / CHECKPOINT).exists():
        _refuse_another_run(config, run_dir)  # again: the folder may have changed meanwhile
        try:
            return train_run(None, run_dir, resume=True, progress=progress, data=data)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}; run the demo with --replace to train "
                                  f"{config.model} afresh") from None
    return train_run(config, run_dir, progress=progress, data=data, replace=replace)


def _predict(model: Any, x: np.ndarray, samples: int, seed: int, desc: str,
             progress: bool, chunk: int = 500) -> tuple[Prediction, Prediction]:
    """Standard and MC predictions, the MC ones ``chunk`` images at a time, with progress."""
    bar = progress_bar(len(x), enabled=progress, desc=desc, unit="img")
    try:
        std = standard_predict(model, x)
        parts = []
        for start in range(0, len(x), chunk):
            # masks per image: each chunk says where its images start in the seed's stream
            parts.append(mc_predict(model, x[start:start + chunk], samples=samples, seed=seed,
                                    first_image=start))
            bar.update(len(parts[-1].probs))
    finally:
        bar.close()
    mc = Prediction(**{k: np.concatenate([getattr(p, k) for p in parts])
                       for k in ("probs", "entropy", "mutual_info", "variation_ratio")},
                    samples=samples)
    return std, mc


def check_demo_dir(out: str | Path) -> None:
    """Refuse ``out`` unless it is new, empty, or a demo folder (holds a run of a demo model).

    The rule is :func:`tinybcnn.files.rundir.check_out_dir` with :data:`DEMO_FOLDER`.

    Raises
    ------
    ValueError
        If ``out`` is a file or a symlink, or a non-empty folder with no demo run in it.
    """
    check_out_dir(out, DEMO_FOLDER)


def _demo_expect(name: str) -> str | None:
    """What the demo writes under ``name``: its results, identity record and figures, its
    two run folders."""
    return "file" if name in (RESULTS, IDENTITY, *FIGURES) else "dir" if name in MODELS else None


def _check_demo_folder(out: Path, names: set[str], resume: bool) -> None:
    """A demo folder holds the run of a demo model (a real folder, a valid run)."""
    if not any(is_real_dir(out / m) and is_run_dir(out / m) for m in MODELS):
        raise refuse(out, "is not empty and is not a tinybcnn demo folder")


#: The demo's folder under :mod:`tinybcnn.files.rundir`'s rule.
DEMO_FOLDER = FolderKind("a tinybcnn demo folder", _demo_expect, _check_demo_folder)
