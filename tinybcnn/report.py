"""One way to print results: the table of ``demo``, ``evaluate`` and every ``experiment``, and
``predict``'s machine-readable rows.

Every results table says what was scored (data set, number of images, MC samples ``T``), gives
the error in percent with NLL and ECE beside it, and ends with where the files went::

    scored: embedded test set, 2,000 images, T = 50
                                 error %     NLL     ECE
    lenet-all  standard            19.40   0.571   0.046
    lenet-all  MC (T=50)           17.29   0.498   0.021
    files: tinybcnn-demo/results.json

Imports only the standard library, so the command line can use it anywhere.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["scored_line", "results_table", "experiment_summary", "write_predictions"]

#: Width of a row's label column.
LABEL = 28


def scored_line(dataset: str, images: int | None, samples: int | None = None,
                split: str = "test set") -> str:
    """``"scored: embedded test set, 2,000 images, T = 50"`` (parts that are None left out)."""
    parts = [f"{dataset} {split}"]
    if images is not None:
        parts.append(f"{int(images):,} images")
    if samples is not None:
        parts.append(f"T = {int(samples)}")
    return "scored: " + ", ".join(parts)


def _cell(value: Any, scale: float = 1.0, digits: int = 3, width: int = 7) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-':>{width}s}"
    return f"{scale * float(value):{width}.{digits}f}"


def results_table(rows: Iterable[tuple[str, dict[str, Any]]], scored: str | None = None,
                  files: Sequence[str | Path] = ()) -> str:
    """The results table: one row per ``(label, scores)``.

    Parameters
    ----------
    rows : iterable of (str, dict)
        A label and a dict with ``error`` (a fraction; printed in percent), ``nll`` and
        ``ece``; a missing score prints as ``-``.
    scored : str, optional
        What was scored (:func:`scored_line`), the first line.
    files : sequence of paths
        Where the files went, the last line.

    Returns
    -------
    str
        The lines, without a final newline.
    """
    lines = [scored] if scored else []
    lines.append(f"{'':{LABEL}s} {'error %':>8s} {'NLL':>7s} {'ECE':>7s}")
    for label, s in rows:
        lines.append(f"{label:{LABEL}s} {_cell(s.get('error'), 100, 2, 8)} "
                     f"{_cell(s.get('nll'))} {_cell(s.get('ece'))}")
    if files:
        lines.append("files: " + ", ".join(str(f) for f in files))
    return "\n".join(lines)


# -- experiments --------------------------------------------------------------------------
def experiment_summary(path: str | Path) -> str:
    """The summary ``tinybcnn experiment`` prints, read back from the experiment's JSON file:
    what was scored, the scores (error in percent, NLL, ECE, means over seeds where there are
    several), and the files. Regression reports RMSE and test log-likelihood and active
    learning the error per acquisition function, in lines of their own."""
    path = Path(path)
    try:
        return _summary(path, json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        # the experiment itself finished: a results file this cannot summarise (an older
        # layout, a test's stand-in) still gets its files line, not an error
        return f"files: {path}"


def _summary(path: Path, record: dict[str, Any]) -> str:
    key = str(record.get("experiment") or path.stem)
    results = record.get("results", record)
    dataset = record.get("dataset")
    dataset = dataset.get("name") if isinstance(dataset, dict) else dataset
    figures = record.get("figures") or sorted(p.name for p in path.parent.glob(f"{key}_*.png"))
    files = [path, *(path.parent / f for f in figures)]
    make = _SUMMARIES.get(key)
    if make is None:
        return "files: " + ", ".join(str(f) for f in files)
    return make(results, str(dataset or "embedded"), files)


def _mean(values: Sequence[float | None]) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _small_data(r: dict[str, Any], dataset: str, files: list[Path]) -> str:
    rows = []
    for n in r["train_sizes"]:
        for run_model in dict.fromkeys(run["model"] for run in r["runs"]):
            runs = [run for run in r["runs"] if run["model"] == run_model
                    and run["train_size"] == n]
            for kind in ("standard", "mc"):
                finals = [run["final"][kind] for run in runs if kind in run.get("final", {})]
                if finals:
                    rows.append((f"{run_model} n={n} {_kind(kind, r.get('samples'))}",
                                 {m: _mean([f.get(m) for f in finals])
                                  for m in ("error", "nll", "ece")}))
    seeds = len(r.get("seeds", [])) or 1
    scored = scored_line(dataset, r.get("n_test"), r.get("samples"))
    return results_table(rows, scored + (f", mean of {seeds} seeds" if seeds > 1 else ""),
                         files)


def _kind(kind: str, samples: Any) -> str:
    return "standard" if kind == "standard" else f"MC (T={samples})"


def _mc_samples(r: dict[str, Any], dataset: str, files: list[Path]) -> str:
    rows = [("standard", r["standard"])]
    reps = len(r.get("repetitions", []))
    for i, t in enumerate(r["t_values"]):
        rows.append((f"MC (T={t}, mean of {reps})", {"error": r["mc_error_mean"][i],
                                                      "nll": r["mc_nll_mean"][i]}))
    return results_table(rows, scored_line(dataset, r.get("n_test"), None), files)


def _rotation(r: dict[str, Any], dataset: str, files: list[Path]) -> str:
    test = r["test_set"]
    rows = []
    for i, angle in enumerate(r["angles"]):
        for kind in ("standard", "mc"):
            rows.append((f"{float(angle):g} degrees, {_kind(kind, test.get('samples'))}",
                         {m: test[kind][m][i] for m in ("error", "nll", "ece")}))
    return results_table(rows, scored_line(dataset, test.get("n_test"), test.get("samples"),
                                           "test set, rotated"), files)


def _ood(r: dict[str, Any], dataset: str, files: list[Path]) -> str:
    rows = []
    for kind in ("standard", "mc"):
        scores = [s["in_distribution"][kind] for s in r["per_seed"]]
        rows.append((f"in-distribution, {_kind(kind, r.get('samples'))}",
                     {m: _mean([x.get(m) for x in scores]) for m in ("error", "nll", "ece")}))
    table = results_table(rows, scored_line(dataset, r.get("n_in"), r.get("samples"),
                                            f"test set (classes {r.get('in_classes')})"))
    auroc = [f"AUROC in vs out ({r.get('n_out')} images of classes {r.get('out_classes')}):"]
    for kind in ("standard", "mc"):
        for score, v in r["summary"][kind].items():
            auroc.append(f"  {_kind(kind, r.get('samples')):12s} {score:16s} "
                         f"{v['auroc']['mean']:.3f}")
    return "\n".join([table, *auroc, "files: " + ", ".join(str(f) for f in files)])


def _regression(r: dict[str, Any], dataset: str, files: list[Path]) -> str:
    lines = [f"scored: the 1-D regression test set, {r.get('n_test')} points "
             f"(length-scale {r.get('length_scale')}, tau {r.get('tau')})",
             f"{'':{LABEL}s} {'RMSE':>8s} {'test LL':>9s}"]
    for kind in ("standard", "mc"):
        s = r["scores"][kind]
        lines.append(f"{kind:{LABEL}s} {s['rmse']:8.3f} {s['ll']:9.2f}")
    lines.append("files: " + ", ".join(str(f) for f in files))
    return "\n".join(lines)


def _active_learning(r: dict[str, Any], dataset: str, files: list[Path]) -> str:
    lines = [f"scored: {dataset} test set, error % after each acquisition round "
             "(mean over seeds)", f"{'':{LABEL}s} {'labels':>7s} {'first':>7s} {'last':>7s}"]
    for name, a in r["acquisitions"].items():
        curves = a["error"]
        first = _mean([c[0] for c in curves])
        last = _mean([c[-1] for c in curves])
        lines.append(f"{name:{LABEL}s} {a['labels'][-1]:7d} {_cell(first, 100, 2)} "
                     f"{_cell(last, 100, 2)}")
    lines.append("files: " + ", ".join(str(f) for f in files))
    return "\n".join(lines)


_SUMMARIES = {"small_data": _small_data, "mc_samples": _mc_samples, "rotation": _rotation,
              "ood": _ood, "regression": _regression, "active_learning": _active_learning}


# -- predict --------------------------------------------------------------------------------
def prediction_rows(pred: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """One dict per image: ``image, class, name, probs (per class), entropy, mutual_info,
    variation_ratio``, plain Python numbers."""
    rows = []
    for i in range(len(pred.probs)):
        probs = [float(p) for p in pred.probs[i]]
        k = max(range(len(probs)), key=probs.__getitem__)
        rows.append({"image": i, "class": k, "name": names[k], "probs": probs,
                     "entropy": float(pred.entropy[i]),
                     "mutual_info": float(pred.mutual_info[i]),
                     "variation_ratio": float(pred.variation_ratio[i])})
    return rows


def write_predictions(stream: IO[str], pred: Any, names: Sequence[str], fmt: str,
                      samples: int, seed: int, images: str) -> None:
    """``predict --format csv|json``.

    csv: a header ``image,class,name,p_0,...,p_{K-1},entropy,mutual_info,variation_ratio`` and
    one row per image (full float precision, so the probabilities sum to 1). json: one object
    ``{"images", "samples", "seed", "classes", "predictions": [row, ...]}`` with each row as in
    :func:`prediction_rows`; strict JSON (a non-finite number raises ValueError, and nothing
    is written).
    """
    rows = prediction_rows(pred, names)
    if fmt == "json":
        # strict JSON (a NaN token is not JSON), built whole before anything is written
        text = json.dumps({"images": str(images), "samples": int(samples), "seed": int(seed),
                           "classes": list(names), "predictions": rows}, indent=1,
                          allow_nan=False)
        stream.write(text + "\n")
        return
    if fmt != "csv":
        raise ValueError(f"format must be text, csv or json, got {fmt!r}")
    k = len(names)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["image", "class", "name", *(f"p_{j}" for j in range(k)), "entropy",
                     "mutual_info", "variation_ratio"])
    for r in rows:
        writer.writerow([r["image"], r["class"], r["name"], *(repr(p) for p in r["probs"]),
                         repr(r["entropy"]), repr(r["mutual_info"]),
                         repr(r["variation_ratio"])])
