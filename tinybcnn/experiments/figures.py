"""The experiments' figures, one function per figure (:mod:`tinybcnn.plots` has the general ones).

Every function takes plain NumPy data (what the experiment writes to its JSON), draws one
figure, saves it to ``path`` (PNG) when given, and returns the
:class:`matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..plots import plt, save
from ..random import stream

__all__ = ["small_data_curves", "small_data_final", "rotation_image", "rotation_test_set",
           "ood_histograms", "ood_auroc", "regression_band", "regression_tau",
           "active_learning_curves", "active_learning_picks"]

#: Colour of each LeNet variant and line style of each predictor, shared by the figures.
_MODEL_COLOURS = {"lenet-none": "C2", "lenet-ip": "C1", "lenet-all": "C0"}
_STYLE = {"standard": "--", "mc": "-"}


def small_data_curves(runs: Sequence[Mapping[str, Any]], sizes: Sequence[int],
                      models: Sequence[str], path: str | Path | None = None) -> Any:
    """Test error against iteration, one panel per training-set size (small-data experiment).

    Parameters
    ----------
    runs : list of dict
        One per training run, with ``model``, ``train_size`` and ``history`` (rows with
        ``iteration``, ``std_error`` and ``mc_error``).
    sizes : list of int
        Training-set sizes, one panel each.
    models : list of str
        ``lenet-none`` / ``lenet-ip`` / ``lenet-all``; lines are the mean over seeds, the band
        their min–max.
    """
    # at most two panels a row: four in a row shrink to unreadable text on a phone
    ncols = min(2, len(sizes))
    nrows = -(-len(sizes) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.0 * nrows + 0.9),
                             squeeze=False)
    for ax in axes.flat[len(sizes):]:
        ax.set_visible(False)
    for ax, size in zip(axes.flat, sizes, strict=False):
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
                ax.plot(it, arr.mean(axis=0), _STYLE[kind], color=_MODEL_COLOURS[model],
                        label=label)
                ax.fill_between(it, arr.min(axis=0), arr.max(axis=0),
                                color=_MODEL_COLOURS[model], alpha=0.12)
        ax.set(xlabel="iteration", ylabel="test error (%)", title=f"{size} training images")
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=10, frameon=False)
    fig.suptitle("Test error during training\n(mean over seeds, band: min–max)", fontsize=11)
    fig.tight_layout(rect=(0, 0.9 / (3.0 * nrows + 0.9), 1, 1))
    return save(fig, path)


def small_data_final(summary: Mapping[str, Mapping[str, Mapping[str, Any]]],
                     path: str | Path | None = None) -> Any:
    """Final test error (mean ± std over seeds) against training-set size, log axis.

    Parameters
    ----------
    summary : dict model -> {"standard"|"mc": {"train_size", "mean", "std"}}
        Errors as fractions (drawn in percent).
    """
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    lines = [(model, kind, v) for model, kinds in summary.items() for kind, v in kinds.items()]
    for i, (model, kind, v) in enumerate(lines):
        label = (f"{model} (no dropout)" if model == "lenet-none"
                 else f"{model} ({'MC' if kind == 'mc' else 'standard'})")
        # spread the markers a little along the (log) size axis so error bars stay readable
        shift = 1.0 + 0.025 * (i - (len(lines) - 1) / 2)
        ax.errorbar(np.asarray(v["train_size"]) * shift, 100 * np.asarray(v["mean"]),
                    yerr=100 * np.asarray(v["std"]), fmt=_STYLE[kind] + "o",
                    color=_MODEL_COLOURS[model], capsize=3, ms=4, label=label)
    sizes = lines[0][2]["train_size"]
    ax.set(xscale="log", xlabel="training images", ylabel="test error (%)",
           title="Final test error (mean ± std over seeds)")
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(n) for n in sizes])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def rotation_image(angles: np.ndarray, images: np.ndarray, single: Mapping[str, Any],
                   class_names: Sequence[str], path: str | Path | None = None) -> Any:
    """One test image rotated step by step: sampled softmax outputs, entropy and MI per angle.

    Parameters
    ----------
    angles : ndarray (A,)
        Rotation angles in degrees, evenly spaced.
    images : ndarray (A, 1, H, W)
        The rotated images (drawn as a strip under the plots).
    single : dict
        The rotation experiment's ``image`` record: ``sample_probs`` (A, T, K), ``mc_probs``
        and ``standard_probs`` (A, K), ``top_classes`` (the classes drawn), ``entropy``,
        ``mutual_info``, ``standard_entropy`` (A,), ``class_name`` and ``samples``.
    class_names : list of str
    """
    n = len(angles)
    step = angles[1] - angles[0] if n > 1 else 1.0
    fig = plt.figure(figsize=(max(7.0, 0.75 * n), 7.0))
    grid = fig.add_gridspec(3, n, height_ratios=[3, 2, 0.8], hspace=0.12, wspace=0.0)
    ax_p = fig.add_subplot(grid[0, :])
    ax_u = fig.add_subplot(grid[1, :], sharex=ax_p)
    jitter = stream(0, "jitter")
    samples = np.asarray(single["sample_probs"])                # (A, T, K)
    # the true class first (its probability falling is the story), then the classes the
    # model predicts at some angle
    true = single.get("label")
    drawn = ([true] if true is not None else []) + [k for k in single["top_classes"]
                                                      if k != true]
    for j, k in enumerate(drawn):
        color = f"C{j}"
        offset = (j - (len(drawn) - 1) / 2) * step / (2 * len(drawn))
        for i, a in enumerate(angles):
            t = samples.shape[1]
            name = class_names[k] + (" (true class)" if k == true else "")
            ax_p.scatter(a + offset + jitter.uniform(-step / 14, step / 14, t), samples[i, :, k],
                         s=6, color=color, alpha=0.35, lw=0, label=name if i == 0 else None)
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
    return save(fig, path)


def rotation_test_set(angles: np.ndarray, curves: Mapping[str, Mapping[str, Sequence[float]]],
                      path: str | Path | None = None) -> Any:
    """Error, NLL, ECE, mean entropy and mean MI of the rotated test set against the angle.

    Parameters
    ----------
    angles : ndarray (A,)
    curves : dict "standard"|"mc" -> {"error"|"nll"|"ece"|"entropy"|"mutual_info": (A,)}
    """
    keys = [("error", "error (%)", 100), ("nll", "NLL", 1), ("ece", "ECE", 1),
            ("entropy", "mean entropy (nats)", 1), ("mutual_info", "mean MI (nats)", 1)]
    # three panels a row (not five): readable on a phone
    fig, axes = plt.subplots(2, 3, figsize=(8.4, 5.6))
    axes = axes.ravel()
    axes[-1].set_visible(False)
    for ax, (key, label, scale) in zip(axes, keys, strict=False):
        for kind, name in (("standard", "standard"), ("mc", "MC")):
            ax.plot(angles, scale * np.asarray(curves[kind][key]), _STYLE[kind] + "o", ms=3,
                    color="C3" if kind == "standard" else "C0", label=name)
        ax.set(xlabel="rotation (degrees)", title=label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=10)
    fig.suptitle("Rotated test set", fontsize=11)
    fig.tight_layout()
    return save(fig, path)


def ood_histograms(scores: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
                   path: str | Path | None = None) -> Any:
    """Histograms of each uncertainty score on in- and out-of-distribution inputs.

    Parameters
    ----------
    scores : dict predictor ("standard"|"mc") -> {score name: (in (N_in,), out (N_out,))}
        One column of panels per predictor, one row per score (two columns, not four: a
        row of four shrinks to unreadable text on a phone). A score with no spread (MI of
        one deterministic pass) gets a note instead of a histogram.
    """
    names = list(dict.fromkeys(n for per_score in scores.values() for n in per_score))
    fig, axes = plt.subplots(len(names), len(scores),
                             figsize=(3.4 * len(scores), 2.2 * len(names) + 0.3), squeeze=False)
    for c, (kind, per_score) in enumerate(scores.items()):
        for r, name in enumerate(names):
            ax = axes[r][c]
            ax.set_title(f"{'MC' if kind == 'mc' else 'standard'}: {name}", fontsize=10)
            if name not in per_score:
                ax.set_visible(False)
                continue
            s_in, s_out = per_score[name]
            lo = min(float(np.min(s_in)), float(np.min(s_out)))
            hi = max(float(np.max(s_in)), float(np.max(s_out)))
            if hi - lo < 1e-12:  # MI and variation ratio of one deterministic pass
                ax.text(0.5, 0.5, f"every image scores {hi:g}:\nno spread, no AUROC",
                        ha="center", va="center", transform=ax.transAxes, fontsize=10)
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            edges = np.linspace(min(lo, 0.0), hi, 31)
            ax.hist(s_in, bins=edges, alpha=0.6, density=True, label="in (negatives)")
            ax.hist(s_out, bins=edges, alpha=0.6, density=True, label="out (positives)")
    axes[0][0].legend(fontsize=9)
    for row in axes:
        row[0].set_ylabel("density")
    fig.tight_layout()
    return save(fig, path)


def ood_auroc(summary: Mapping[str, Mapping[str, Any]], path: str | Path | None = None,
              constant: Sequence[tuple[str, str]] = ()) -> Any:
    """AUROC (mean ± std over seeds) of each score, standard against MC dropout, as bars.

    Parameters
    ----------
    summary : dict "standard"|"mc" -> {score name: {"auroc": {"mean", "std"}}}
    constant : list of (predictor, score name)
        Scores with the same value for every image (the MI and vote count of one
        deterministic pass): their AUROC is 0.5 by construction, not a result, so they get
        a note instead of a bar.
    """
    names = list(summary["mc"])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for j, (kind, label) in enumerate((("standard", "standard"), ("mc", "MC dropout"))):
        shown = [n not in {s for k, s in constant if k == kind} for n in names]
        means = [summary[kind][n]["auroc"]["mean"] if ok else 0.0 for n, ok in zip(
            names, shown, strict=True)]
        stds = [summary[kind][n]["auroc"]["std"] if ok else 0.0 for n, ok in zip(
            names, shown, strict=True)]
        ax.bar(x + (j - 0.5) * 0.38, means, width=0.38, yerr=stds if any(stds) else None,
               capsize=3, color="C3" if kind == "standard" else "C0", label=label)
        for i, ok in enumerate(shown):
            if not ok:
                ax.text(x[i] + (j - 0.5) * 0.38, 0.03, "constant:\nno AUROC", rotation=90,
                        ha="center", va="bottom", fontsize=7, color="0.3")
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set(xticks=x, ylim=(0, 1), ylabel="AUROC (out = positive)",
           title="Out-of-distribution detection")
    ax.set_xticklabels(names, fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


# ---------------------------------------------------------------------------------------
# Uncertainty at work: regression with a gap, active learning
# ---------------------------------------------------------------------------------------

__all__ += ["regression_band", "regression_tau", "active_learning_curves",
            "active_learning_picks"]


def regression_band(x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray, mean: np.ndarray,
                    epistemic_var: np.ndarray, aleatoric_var: float, standard: np.ndarray,
                    gap: tuple[float, float], true_x: np.ndarray | None = None,
                    true_y: np.ndarray | None = None, path: str | Path | None = None) -> Any:
    """MC-dropout regression: mean ± 2σ, the band split into aleatoric and epistemic parts.

    Left: the predictive band ``mean ± 2 sqrt(1/tau + Var_t ŷ_t)`` (dark: the noise alone,
    ``± 2 sqrt(1/tau)``), with standard dropout's single curve; right: the two standard
    deviations against ``x``. The gap in the training data is shaded.

    Parameters
    ----------
    x_train, y_train : ndarray (N,)
    x, mean, epistemic_var, standard : ndarray (M,)
        Test inputs (sorted), MC mean, ``Var_t(ŷ_t)`` and the deterministic pass.
    aleatoric_var : float
        ``1/tau``.
    gap : (float, float)
    true_x, true_y : ndarray, optional
        The noiseless function, drawn dashed.
    """
    fig, (ax, ax_sd) = plt.subplots(1, 2, figsize=(11, 3.8),
                                    gridspec_kw={"width_ratios": [2, 1]})
    total_sd = np.sqrt(aleatoric_var + epistemic_var)
    noise_sd = np.sqrt(aleatoric_var)
    ax.fill_between(x, mean - 2 * total_sd, mean + 2 * total_sd, color="C0", alpha=0.2,
                    lw=0, label="± 2σ, total (MC)")
    ax.fill_between(x, mean - 2 * noise_sd, mean + 2 * noise_sd, color="C0", alpha=0.35,
                    lw=0, label="± 2σ, aleatoric only (1/τ)")
    ax.plot(x, mean, "C0-", lw=1.5, label="MC dropout mean")
    ax.plot(x, standard, "C3--", lw=1.2, label="standard dropout (no band)")
    if true_x is not None and true_y is not None:
        ax.plot(true_x, true_y, "k:", lw=1, zorder=5, label="true function")
    ax.plot(x_train, y_train, "k.", ms=3, alpha=0.6, label="training data")
    for a in (ax, ax_sd):
        a.axvspan(*gap, color="0.85", zorder=0)
        a.grid(alpha=0.3)
        a.set_xlim(x.min(), x.max())
    ax.set(xlabel="x", ylabel="y", title="Predictive band (grey: the gap in the data)")
    ax.legend(fontsize=7, loc="upper left")
    ax_sd.plot(x, np.sqrt(epistemic_var), "C0-", label="epistemic: std of the passes")
    ax_sd.axhline(noise_sd, color="C2", ls="--", label="aleatoric: sqrt(1/τ)")
    ax_sd.set(xlabel="x", ylabel="standard deviation", title="The two parts of σ")
    ax_sd.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def regression_tau(rows: Sequence[Mapping[str, float]], best: Mapping[str, float] | None = None,
                   path: str | Path | None = None) -> Any:
    """Validation and test log-likelihood against ``tau``, one line per length-scale ``l``.

    Parameters
    ----------
    rows : list of dict
        ``{"length_scale", "tau", "val_ll", "test_ll"}`` (the grid search's rows).
    best : dict, optional
        The chosen row, circled.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    scales = sorted({r["length_scale"] for r in rows})
    for i, l in enumerate(scales):
        mine = sorted((r for r in rows if r["length_scale"] == l), key=lambda r: r["tau"])
        taus = [r["tau"] for r in mine]
        for ax, key in zip(axes, ("val_ll", "test_ll"), strict=True):
            ax.plot(taus, [r[key] for r in mine], "o-", color=f"C{i}", ms=4, label=f"l = {l:g}")
    if best is not None:
        for ax, key in zip(axes, ("val_ll", "test_ll"), strict=True):
            ax.plot([best["tau"]], [best[key]], "o", ms=11, mfc="none", mec="k",
                    label="chosen on validation")
    for ax, title in zip(axes, ("validation (chooses τ)", "test (for comparison)"), strict=True):
        ax.set(xscale="log", xlabel="model precision τ", ylabel="MC log-likelihood per point",
               title=title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def active_learning_curves(curves: Mapping[str, Mapping[str, Any]],
                           path: str | Path | None = None,
                           title: str = "Active learning",
                           thresholds: Sequence[float] = ()) -> Any:
    """Test error against the number of labelled images, one line per acquisition function.

    Parameters
    ----------
    curves : dict name -> {"labels": (R,), "error": (seeds, R)}
        Errors as fractions (drawn in percent); the line is the mean over seeds, the band
        its min–max.
    thresholds : sequence of float
        Test errors (fractions) drawn as thin grey lines: those of the labels-to-reach table.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for t in thresholds:
        ax.axhline(100 * t, color="0.5", lw=0.8, ls=":", zorder=0)
    for i, (name, c) in enumerate(curves.items()):
        labels = np.asarray(c["labels"])
        err = 100 * np.asarray(c["error"], dtype=float)
        style = "--" if name in ("random", "bald_standard") else "-"
        ax.plot(labels, err.mean(axis=0), style, color=f"C{i}", marker="o", ms=3, label=name)
        if len(err) > 1:
            ax.fill_between(labels, err.min(axis=0), err.max(axis=0), color=f"C{i}", alpha=0.12)
    ax.set(xlabel="labelled images", ylabel="test error (%)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # counts of images: no "22.5"
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def active_learning_picks(picks: Mapping[str, np.ndarray], path: str | Path | None = None) -> Any:
    """The images each acquisition function labelled in its first round, one row each.

    Parameters
    ----------
    picks : dict name -> images (k, H, W) or (k, 1, H, W), best first
    """
    k = max(1, max(len(v) for v in picks.values()))
    fig, axes = plt.subplots(len(picks), k, figsize=(1.0 * k + 1.2, 1.1 * len(picks)),
                             squeeze=False)
    for r, (name, images) in enumerate(picks.items()):
        images = np.asarray(images)
        if images.ndim == 4:
            images = images[:, 0]
        for c in range(k):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(images[c], cmap="gray_r")
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("First images each acquisition function asks to label", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


# ---------------------------------------------------------------------------------------
# MC dropout among its rivals, and the critique
# ---------------------------------------------------------------------------------------

__all__ += ["rivals_bars", "critique_curves"]


def rivals_bars(summary: Mapping[str, Mapping[str, Any]], path: str | Path | None = None) -> Any:
    """Error, NLL and ECE of every method (mean ± std over seeds), one panel each.

    Parameters
    ----------
    summary : dict method -> {"error"|"nll"|"ece": {"mean", "std"}, ...}
    """
    names = list(summary)
    y = np.arange(len(names))
    fig, axes = plt.subplots(1, 3, figsize=(10, 0.35 * len(names) + 1.4), sharey=True)
    for ax, key, label in zip(axes, ("error", "nll", "ece"), ("test error", "NLL", "ECE"),
                              strict=True):
        means = [summary[n][key]["mean"] for n in names]
        stds = [summary[n][key]["std"] for n in names]
        colours = ["C0" if "ensemble" in n else "C2" if "Concrete" in n else
                   "C1" if n.startswith("MC") else "C3" for n in names]
        ax.barh(y, means, xerr=stds if any(stds) else None, color=colours, capsize=2)
        ax.set(xlabel=label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle("MC dropout among its rivals (lower is better)", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def critique_curves(curves: Mapping[str, Mapping[str, Any]], sizes: Sequence[int],
                    path: str | Path | None = None) -> Any:
    """Mean mutual information on the test set and out of distribution against the
    training-set size, per method (mean ± std over seeds).

    Parameters
    ----------
    curves : dict method -> {"in"|"out": {"mean": [...], "std": [...]}}
        One value per size.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    fig, ax = plt.subplots(figsize=(6, 4.4))
    for i, c in enumerate(curves.values()):
        for where, style in (("in", "-"), ("out", ":")):
            ax.errorbar(sizes, c[where]["mean"], yerr=c[where]["std"], ls=style, marker="o",
                        ms=3, capsize=2, color=f"C{i}")
    ax.set(xscale="log", xlabel="training images", ylabel="mean mutual information (nats)",
           title="Does the epistemic part shrink with data?")
    ax.set_xticks(list(sizes))
    ax.set_xticklabels([f"{n:,}" for n in sizes])
    # a log axis spanning about a decade labels its minor ticks too ("3×10²" between 250 and
    # 500, overprinting the sizes): only the sizes are labelled
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)
    # the legend under the axes, where it hides no curve: colour is the method, line style
    # the data (six "method, where" entries once covered the highest curve)
    handles = [Line2D([], [], color=f"C{i}", marker="o", ms=3, label=name)
               for i, name in enumerate(curves)]
    handles += [Line2D([], [], color="0.3", ls="-", label="test set"),
                Line2D([], [], color="0.3", ls=":", label="inverted images (out of dist.)")]
    ax.legend(handles=handles, fontsize=7, ncol=2, loc="upper center",
              bbox_to_anchor=(0.5, -0.16), frameon=False)
    fig.tight_layout()
    return save(fig, path)

