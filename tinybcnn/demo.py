"""``tinybcnn demo``: the main job in one command.

Train the Bayesian CNN (lenet-all: dropout after every conv and inner-product layer) and the
lenet-ip baseline on a small training set of real Fashion-MNIST, evaluate both with standard
dropout (weight averaging) and MC dropout, print a table and write figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from . import metrics, plots
from .data import as_float, load_dataset
from .runs import RunConfig, evaluate, train_run

__all__ = ["run_demo", "format_table"]

MODELS = ("lenet-all", "lenet-ip")


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table of error, NLL and ECE per model and predictor."""
    lines = [f"{'model':10s} {'prediction':12s} {'error %':>8s} {'NLL':>7s} {'ECE':>7s}",
             "-" * 48]
    for model, r in results.items():
        for kind, label in (("standard", "standard"), ("mc", f"MC (T={r['samples']})")):
            m = r[kind]
            lines.append(f"{model:10s} {label:12s} {100 * m['error']:8.2f} {m['nll']:7.3f} "
                         f"{m['ece']:7.3f}")
    return "\n".join(lines)


def run_demo(out: str | Path = "tinybcnn-demo", seed: int = 0, train_size: int = 2000,
             iterations: int | None = None, samples: int = 50, quick: bool = False,
             progress: bool = True) -> dict[str, Any]:
    """Train lenet-all and lenet-ip on ``train_size`` embedded images, compare, plot.

    Parameters
    ----------
    out : path
        Folder for the two run directories, ``results.json`` and the figures.
    seed : int
        Seeds the training subset, the initial weights, the masks and the MC samples.
    train_size : int
        Training images (a stratified subset of the embedded 6,000).
    iterations : int, optional
        SGD iterations per model, batch 64 (default 3000, as in the paper-style recipe of
        ``docs/results.md``; 60 with ``quick``).
    samples : int
        MC-dropout samples ``T`` at test time.
    quick : bool
        Tiny sizes for a smoke test (500 training and test images, 60 iterations, T = 10).

    Returns
    -------
    dict
        ``{model: metrics}`` as in ``metrics.json``, plus wall times.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if quick:
        train_size, samples = min(train_size, 500), min(samples, 10)
    iterations = iterations or (60 if quick else 3000)
    data = load_dataset("embedded", progress=progress)
    data = data.subset(train_size, 500 if quick else None, seed=seed)
    x_test, y_test = as_float(data.x_test), data.y_test
    print(f"tinybcnn demo: {len(data.y_train)} training / {len(y_test)} test images of "
          f"{data.name}, {iterations} iterations per model, MC with T = {samples}")

    results: dict[str, dict[str, Any]] = {}
    histories, bins, entropies = {}, {}, {}
    for name in MODELS:
        config = RunConfig(model=name, train_size=train_size, iterations=iterations,
                           eval_every=max(1, iterations // 6), eval_samples=min(samples, 10),
                           seed=seed)
        start = time.perf_counter()
        trainer, history = train_run(config, out / name, progress=progress, data=data)
        train_s = time.perf_counter() - start
        scores, std, mc = evaluate(trainer.model, x_test, y_test, samples=samples, seed=seed)
        scores["train_seconds"] = round(train_s, 1)
        results[name] = scores
        histories[name] = history.rows
        for kind, pred in (("standard", std), (f"MC T={samples}", mc)):
            key = f"{name} {kind}"
            bins[key] = metrics.ece(pred.probs, y_test)
            entropies[key] = (pred.entropy, pred.labels == y_test)
        if name == "lenet-all":
            plots.certain_images(data.x_test, mc.entropy, y_test, mc.labels,
                                 class_names=data.class_names,
                                 path=out / "certain_images.png")

    plots.training_curves(histories, path=out / "training_curves.png")
    plots.reliability_diagram(bins, path=out / "reliability.png")
    plots.entropy_histogram(entropies, path=out / "entropy.png")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    print()
    print(format_table(results))
    best = min(((m, k) for m in results for k in ("standard", "mc")),
               key=lambda mk: results[mk[0]][mk[1]]["error"])
    print(f"\nlowest test error: {best[0]} with {'MC' if best[1] == 'mc' else 'standard'} "
          f"dropout ({100 * results[best[0]][best[1]]['error']:.2f}%)")
    print(f"figures: {', '.join(str(p) for p in sorted(out.glob('*.png')))}")
    print(f"results: {out / 'results.json'}; runs: {out / MODELS[0]}, {out / MODELS[1]}")
    return results
