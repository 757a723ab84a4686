"""Matplotlib figures, one function per figure.

The general figures (training curves, reliability, entropy, the most and least certain images,
error against the number of MC samples), which the demo and the tutorials draw; each
experiment's own figures are in :mod:`tinybcnn.experiments.figures`.

Every function takes plain NumPy data, draws one figure, saves it to ``path`` (PNG) when
given, and returns the :class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# No matplotlib.use() here: a library does not choose its user's backend (a notebook shows
# figures inline, a script may open windows). The command line chooses Agg for itself
# (tinybcnn.cli.main), and matplotlib falls back to Agg where there is no display.
import matplotlib.pyplot as plt
import numpy as np

from .files.atomic import atomic_write

__all__ = [
    "training_curves",
    "reliability_diagram",
    "entropy_histogram",
    "certain_images",
    "error_vs_samples",
    "save",
]


def save(fig: Any, path: str | Path | None) -> Any:
    """Save ``fig`` to ``path`` (parents created, written atomically) and close it; return it.

    The format follows the suffix (``.png``, ``.pdf``, ``.svg``, ...).
    """
    try:
        if path is not None:
            path = Path(path)
            fmt = path.suffix.lstrip(".").lower() or "png"
            with atomic_write(path) as f:  # never a half-written figure under the final name
                fig.savefig(f, format=fmt, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return fig


def training_curves(histories: Mapping[str, Sequence[Mapping[str, float]]],
                    path: str | Path | None = None, mc_samples: int | None = None) -> Any:
    """Training loss and held-out error (standard vs MC) against iteration, one colour per run.

    Parameters
    ----------
    histories : dict run name -> list of rows
        Each row has ``iteration`` and any of ``train_loss``, ``std_error``, ``mc_error``.
    mc_samples : int, optional
        The ``T`` of the ``mc_error`` evaluations, named in the legend.
    """
    mc_label = "MC" if mc_samples is None else f"MC, T={mc_samples}"
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (name, rows) in enumerate(histories.items()):
        color = f"C{i}"
        it = [r["iteration"] for r in rows]
        if rows and "train_loss" in rows[0]:
            ax_loss.plot(it, [r["train_loss"] for r in rows], color=color, label=name,
                         marker="o", ms=3)  # the points are the evaluations
        for key, style, what in (("std_error", "--", "standard"), ("mc_error", "-", mc_label)):
            pts = [(r["iteration"], r[key]) for r in rows if r.get(key) is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax_err.plot(xs, 100 * np.asarray(ys), style, color=color, marker="o", ms=3,
                            label=f"{name} ({what})")
    ax_loss.set(xlabel="iteration", ylabel="training objective", title="Training loss")
    ax_err.set(xlabel="iteration", ylabel="test error (%)", title="Held-out error")
    for ax in (ax_loss, ax_err):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def reliability_diagram(bins: Mapping[str, Any], path: str | Path | None = None) -> Any:
    """Reliability diagrams: accuracy against confidence per bin, one panel per predictor.

    Parameters
    ----------
    bins : dict name -> ECE result
        Objects with ``bin_edges``, ``bin_confidence``, ``bin_accuracy``, ``bin_counts`` and
        ``ece`` (as returned by :func:`tinybcnn.metrics.ece`).
    """
    from matplotlib.patches import Patch

    n = len(bins)
    fig, axes = plt.subplots(1, n, figsize=(5.0 * n, 5.0), squeeze=False)
    over = dict(color="C3", alpha=0.4, hatch="//")
    under = dict(color="C2", alpha=0.4, hatch="\\\\")
    for ax, (name, r) in zip(axes[0], bins.items(), strict=True):
        edges = np.asarray(r.bin_edges)
        centers = 0.5 * (edges[:-1] + edges[1:])
        width = np.diff(edges)
        acc = np.nan_to_num(np.asarray(r.bin_accuracy, dtype=float))
        conf = np.nan_to_num(np.asarray(r.bin_confidence, dtype=float))
        counts = np.asarray(r.bin_counts)
        filled = counts > 0
        # the bar is the accuracy: solid blue up to the mean confidence, green above it when
        # the model is underconfident (accuracy above confidence), and a red hatched gap
        # above the bar when it is overconfident (confidence above accuracy)
        base = np.minimum(acc, conf)
        ax.bar(centers[filled], base[filled], width=width[filled], color="C0", alpha=0.8)
        hi = filled & (conf > acc)
        lo = filled & (conf < acc)
        ax.bar(centers[hi], (conf - acc)[hi], bottom=acc[hi], width=width[hi], **over)
        ax.bar(centers[lo], (acc - conf)[lo], bottom=conf[lo], width=width[lo], **under)
        ax.bar(centers[filled], acc[filled], width=width[filled], fill=False, edgecolor="k",
               lw=0.8)
        for x, c in zip(centers[filled], counts[filled], strict=True):
            # how many test images each bar stands for (a bin of 3 says little): one row at
            # the foot of the panel, horizontal, never clipped by a full bar
            ax.text(x, 0.015, str(int(c)), ha="center", va="bottom", fontsize=7,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (bin of the top-class probability)",
               title=f"{name}\nECE {r.ece:.3f}")
        ax.set_aspect("equal")
    axes[0][0].set_ylabel("accuracy (the top of the bar)")
    handles = [Patch(color="C0", alpha=0.8, label="accuracy; number at the foot: test images "
                     "in the bin"),
               Patch(**over, label="overconfident: confidence above accuracy"),
               Patch(**under, label="underconfident: accuracy above confidence")]
    fig.legend(handles=handles, loc="lower center", ncol=3 if n > 1 else 1, fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.1 if n > 1 else 0.2, 1, 1))
    return save(fig, path)


def entropy_histogram(entropies: Mapping[str, tuple[np.ndarray, np.ndarray]],
                      path: str | Path | None = None) -> Any:
    """Predictive entropy of correct vs wrong predictions, one panel per predictor.

    Parameters
    ----------
    entropies : dict name -> (entropy (N,), correct (N,) bool)
    """
    n = len(entropies)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.0), squeeze=False, sharey=True)
    top = max(float(np.max(e)) for e, _ in entropies.values()) or 1.0
    edges = np.linspace(0, top, 31)
    for ax, (name, (ent, correct)) in zip(axes[0], entropies.items(), strict=True):
        correct = np.asarray(correct, dtype=bool)
        ax.hist(ent[correct], bins=edges, density=True, alpha=0.6, label="correct")
        ax.hist(ent[~correct], bins=edges, density=True, alpha=0.6, label="wrong")
        ax.set(xlabel="predictive entropy (nats)", title=name)
    axes[0][0].set_ylabel("density")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def certain_images(images: np.ndarray, score: np.ndarray, labels: np.ndarray,
                   predicted: np.ndarray, class_names: Sequence[str] | None = None, k: int = 8,
                   score_name: str = "entropy", path: str | Path | None = None,
                   title: str | None = None) -> Any:
    """The ``k`` most certain (lowest ``score``) and least certain (highest) test images.

    Each image is captioned with its predicted and true class and its score.

    Parameters
    ----------
    images : (N, H, W) or (N, 1, H, W)
    score : (N,) uncertainty, e.g. predictive entropy
    labels, predicted : (N,) true and predicted classes
    title : str, optional
        What made the predictions, e.g. ``"lenet-all, MC dropout (T=50)"``.
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    order = np.argsort(score, kind="stable")
    rows = {"most certain": order[:k], "least certain": order[::-1][:k]}
    fig, axes = plt.subplots(2, k, figsize=(1.5 * k, 4.3))
    name = (lambda c: class_names[c]) if class_names else str
    for r, (row_name, idx) in enumerate(rows.items()):
        for c, i in enumerate(idx):
            ax = axes[r][c]
            ax.imshow(images[i], cmap="gray_r")
            ok = labels[i] == predicted[i]
            ax.set_title(f"pred {name(predicted[i])}\ntrue {name(labels[i])}\n"
                         f"{score_name} {score[i]:.2f}", fontsize=6, color="k" if ok else "C3")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(row_name, fontsize=9)
    heading = "Predicted and true class (red: wrong) and uncertainty"
    fig.suptitle(f"{title}: {heading.lower()}" if title else heading, fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def error_vs_samples(t_values: Sequence[int], mc_mean: np.ndarray, mc_std: np.ndarray,
                     standard: float, path: str | Path | None = None,
                     title: str = "MC dropout test error against T") -> Any:
    """MC test error (mean ± std over repetitions) against ``T``, with the standard line."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    t = np.asarray(t_values)
    ax.plot(t, 100 * mc_mean, "C0-", label="MC dropout")
    ax.fill_between(t, 100 * (mc_mean - mc_std), 100 * (mc_mean + mc_std), color="C0", alpha=0.25,
                    label="± 1 std over repetitions")
    ax.axhline(100 * standard, color="C3", ls="--", label="standard dropout")
    ax.set(xlabel="number of samples T", ylabel="test error (%)", title=title, xscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save(fig, path)
