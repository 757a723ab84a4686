"""The results page's figures, drawn from synthetic data of the experiments' shapes, are
readable on a phone and draw what they claim to (docs/results.md shows them at full width).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinybcnn.experiments.figures as plots

PHONE_PX = 400          # the width a phone shows a full-width figure at
MIN_TEXT_PX = 6.0       # the smallest text, in pixels, after that scaling
NAMES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"]


def smallest_text_px(fig) -> float:
    """Height in pixels of the figure's smallest visible text when it is shown 400 px wide:
    points / 72 are inches in the figure, which is scaled by 400 px / its width in inches."""
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize"))
             if t.get_visible() and getattr(t, "get_text", lambda: "")()
             and all(ax.get_visible() for ax in [t.axes] if ax is not None)]
    return min(sizes) / 72 * PHONE_PX / fig.get_figwidth()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_small_data_curves_readable_on_a_phone(rng):
    sizes, runs = [188, 750, 1500, 6000], []
    for model in ("lenet-none", "lenet-ip", "lenet-all"):
        for size in sizes:
            runs.append({"model": model, "train_size": size, "history": [
                {"iteration": i, "std_error": 0.3 - 1e-4 * i + 0.01 * rng.random(),
                 "mc_error": None if model == "lenet-none" else 0.28 - 1e-4 * i}
                for i in range(100, 1001, 100)]})
    fig = plots.small_data_curves(runs, sizes, ["lenet-none", "lenet-ip", "lenet-all"])
    # was 4 panels in a row, 14.4 in wide: its 10 pt labels were 3.9 px high at 400 px
    assert smallest_text_px(fig) >= MIN_TEXT_PX
    rows = {round(ax.get_position().y0, 2) for ax in fig.axes if ax.get_visible()}
    assert len(rows) == 2


def test_rotation_test_set_readable_on_a_phone(rng):
    angles = np.arange(0, 181, 15)
    curves = {k: {q: rng.random(len(angles)) for q in
                  ("error", "nll", "ece", "entropy", "mutual_info")} for k in ("standard", "mc")}
    fig = plots.rotation_test_set(angles, curves)
    assert smallest_text_px(fig) >= MIN_TEXT_PX
    assert sum(ax.get_visible() for ax in fig.axes) == 5


def test_rotation_image_draws_the_true_class(rng):
    angles = np.arange(0, 181, 30)
    probs = rng.dirichlet(0.3 * np.ones(10), size=(len(angles), 20))
    single = {"sample_probs": probs, "mc_probs": probs.mean(1), "standard_probs": probs[:, 0],
              "top_classes": [5, 8], "entropy": rng.random(len(angles)),
              "mutual_info": rng.random(len(angles)), "standard_entropy": rng.random(len(angles)),
              "class_name": "Trouser", "samples": 20, "label": 1}
    fig = plots.rotation_image(angles, rng.random((len(angles), 1, 28, 28)), single, NAMES)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    # failed before: only the predicted classes (Sandal, Bag) were drawn, never Trouser
    assert legend[0] == "Trouser (true class)" and {"Sandal", "Bag"} <= set(legend)


def test_ood_auroc_draws_no_bar_for_a_constant_score():
    names = ("max_prob", "entropy", "mutual_info", "variation_ratio")
    summary = {k: {n: {"auroc": {"mean": 0.5 if k == "standard" and n in names[2:] else 0.8,
                                 "std": 0.0}} for n in names} for k in ("standard", "mc")}
    fig = plots.ood_auroc(summary, constant=[("standard", "mutual_info"),
                                             ("standard", "variation_ratio")])
    ax = fig.axes[0]
    heights = sorted(round(b.get_height(), 3) for b in ax.patches)
    assert heights == [0.0, 0.0] + [0.8] * 6          # no 0.5 bars drawn as results
    assert sum("no AUROC" in t.get_text() for t in ax.texts) == 2


def test_ood_histograms_readable_on_a_phone_and_no_auroc_for_a_constant_score(rng):
    names = ["1-max_prob", "entropy", "mutual_info", "variation_ratio"]
    scores = {"standard": {n: (rng.random(50), rng.random(50)) for n in names[:2]},
              "mc": {n: (rng.random(50), rng.random(50)) for n in names}}
    scores["standard"].update({n: (np.zeros(50), np.zeros(50)) for n in names[2:]})
    fig = plots.ood_histograms(scores)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 8
    assert len({round(ax.get_position().x0, 3) for ax in shown}) == 2   # two a row, not four
    assert smallest_text_px(fig) >= MIN_TEXT_PX
    notes = [t.get_text() for ax in shown for t in ax.texts]
    assert len(notes) == 2 and all("no AUROC" in n and "0.5" not in n for n in notes), notes


def test_critique_curves_label_only_the_sizes_and_keep_the_legend_off_the_curves():
    sizes = [250, 500, 1000, 2000, 4000]
    curve = {"mean": [0.4, 0.38, 0.36, 0.34, 0.32], "std": [0.01] * 5}
    curves = {name: {"in": curve, "out": curve} for name in
              ("MC dropout (p = 0.5)", "Concrete dropout", "deep ensemble (K = 3)")}
    fig = plots.critique_curves(curves, sizes)
    assert smallest_text_px(fig) >= MIN_TEXT_PX
    ax = fig.axes[0]
    # a log axis over about a decade labelled its minor ticks too: "3×10²" overprinted 250
    minor = [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]
    assert minor == [] and [t.get_text() for t in ax.get_xticklabels()] == [
        "250", "500", "1,000", "2,000", "4,000"]
    # the legend lies under the axes (it covered the highest curve inside them)
    assert ax.get_legend().get_window_extent().y1 < ax.get_window_extent().y0
