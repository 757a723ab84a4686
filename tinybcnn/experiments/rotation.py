"""Rotation: one test image rotated from 0° to 180°, then the whole rotated test set.

For the single image: the sampled softmax outputs, predictive entropy and mutual information
at each angle (ICML 2016, the figure of the rotated digit). For the test set: error, NLL, ECE,
entropy and MI against the angle, standard against MC dropout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import as_float
from ..functional.checks import positive_int
from ..predict import entropy, mc_predict, standard_predict
from . import figures
from .common import (
    QUICK_TRAINING,
    Context,
    TrainingSettings,
    check_fractions,
    progress_bar,
    reuse_or_train,
    scores,
)
from .runner import Request, run_image, settings_from

NAME = "rotation"  # its key in the registry, its files' prefix

__all__ = ["FULL", "QUICK", "settings_for", "main", "RotationSettings", "rotate_images",
           "experiment"]


@dataclass(frozen=True)
class RotationSettings(TrainingSettings):
    """Settings of the rotation experiment."""

    train_fraction: float = 1.0
    max_angle: float = 180.0
    steps: int = 12                     # steps + 1 angles from 0 to max_angle
    image_class: int = 1                # rotate the first test image of this class ...
    image_index: int | None = None      # ... or this test image
    image_samples: int = 100            # T for the single image
    test_size: int | None = 1000        # rotated test-set subset
    samples: int = 50                   # T for the test set

    def check(self) -> None:
        """Steps and sample counts positive, the fraction in (0, 1]."""
        for name in ("steps", "image_samples", "samples"):
            positive_int(getattr(self, name), name)
        check_fractions([self.train_fraction])


def rotate_images(x: np.ndarray, angle: float) -> np.ndarray:
    """Rotate float images ``(N, C, H, W)`` by ``angle`` degrees about their centres.

    Bilinear (``order=1``), same size (``reshape=False``), zero outside: the paper's setting.
    A positive angle turns the image counter-clockwise as it is shown (row 0 at the top):
    90° is ``np.rot90(x, 1, axes=(2, 3))``.
    """
    from scipy import ndimage

    return ndimage.rotate(x, float(angle), axes=(3, 2), reshape=False, order=1,
                          mode="constant", cval=0.0)


def _image_index(settings: RotationSettings, labels: np.ndarray) -> int:
    """The test image to rotate: ``image_index``, else the first of class ``image_class``."""
    if settings.image_index is not None:
        index = int(settings.image_index)
        if not 0 <= index < len(labels):
            raise ValueError(f"image_index must lie in [0, {len(labels)}), got {index}")
        return index
    hits = np.flatnonzero(labels == settings.image_class)
    if not hits.size:
        raise ValueError(f"the test split has no image of class {settings.image_class}")
    return int(hits[0])


def _single_image(model: Any, rotated: np.ndarray, samples: int, seed: int) -> dict[str, Any]:
    """Standard and MC predictions of each rotation of one image (same masks at every angle).

    Returns arrays over angles: ``standard_probs``, ``mc_probs`` (A, K), ``sample_probs``
    (A, T, K), ``entropy``, ``mutual_info``, ``variation_ratio`` (A,).
    """
    std_probs, mc_probs, sample_probs, ent, mi, vr = [], [], [], [], [], []
    for i in range(len(rotated)):
        std = standard_predict(model, rotated[i:i + 1])
        mc = mc_predict(model, rotated[i:i + 1], samples=samples, seed=seed,
                        return_samples=True)
        std_probs.append(std.probs[0])
        mc_probs.append(mc.probs[0])
        sample_probs.append(mc.sample_probs[:, 0])                           # (T, K)
        ent.append(mc.entropy[0])
        mi.append(mc.mutual_info[0])
        vr.append(mc.variation_ratio[0])
    return {"standard_probs": np.array(std_probs), "mc_probs": np.array(mc_probs),
            "sample_probs": np.array(sample_probs), "entropy": np.array(ent),
            "mutual_info": np.array(mi), "variation_ratio": np.array(vr)}


def experiment(ctx: Context) -> dict[str, Any]:
    """Train (or reuse ``ctx.run_dir``), rotate one image and the test pool, draw both figures."""
    s, data = ctx.settings, ctx.data
    angles = np.linspace(0.0, s.max_angle, s.steps + 1)
    model, run = reuse_or_train(ctx, ctx.run_dir, s.train_fraction)
    ctx.record["seeds"] = {"training": [run["seed"]], "mc": [ctx.seed],
                           "test_subset": ctx.seed}

    # the single image (searched in the full test split, so it does not depend on test_size)
    full_x, full_y = ctx.record["full_test"]
    index = _image_index(s, full_y)
    image = as_float(full_x[index:index + 1])
    rotated = np.concatenate([rotate_images(image, a) for a in angles])      # (A, 1, H, W)
    preds = _single_image(model, rotated, s.image_samples, ctx.seed)
    top = [int(k) for k in np.argsort(-preds["mc_probs"].sum(axis=0), kind="stable")[:3]]
    single = {"index": index, "label": int(full_y[index]),
              "class_name": data.class_names[int(full_y[index])], "samples": s.image_samples,
              "mc_seed": ctx.seed, "top_classes": top, **preds,
              "standard_entropy": entropy(preds["standard_probs"])}

    # the (subset of the) test set
    x_test, y_test = as_float(data.x_test), data.y_test
    curves: dict[str, dict[str, list[float]]] = {"standard": {}, "mc": {}}
    bar = progress_bar(len(angles), "rotation", ctx.progress)
    try:
        for a in angles:
            x_rot = rotate_images(x_test, a)
            for kind, pred in (("standard", standard_predict(model, x_rot)),
                               ("mc", mc_predict(model, x_rot, samples=s.samples,
                                                 seed=ctx.seed))):
                for key, value in scores(pred, y_test, uncertainty=True).items():
                    curves[kind].setdefault(key, []).append(value)
            bar.update(1)
    finally:
        bar.close()
    results = {"run": run, "angles": angles, "image": single,
               "test_set": {"n_test": len(y_test), "samples": s.samples, "mc_seed": ctx.seed,
                            **curves},
               "notes": ["images rotated with scipy.ndimage.rotate(reshape=False, order=1), "
                         "zero outside",
                         "MC uses the same seed (the same masks) at every angle",
                         "image.sample_probs has shape (angles, T, classes)"]}
    names: Sequence[str] = [data.class_names[k] for k in range(data.n_classes)]
    figures.rotation_image(angles, rotated, single, names, ctx.figure("image"))
    figures.rotation_test_set(angles, curves, ctx.figure("test_set"))
    return results


# ---------------------------------------------------------------------------------------
# The protocol (tinybcnn.experiments.runner): settings and the entry point
# ---------------------------------------------------------------------------------------

#: Full-size settings.
FULL = RotationSettings()
#: Quick settings: six angles, small T.
QUICK = RotationSettings(**QUICK_TRAINING, steps=6, image_samples=10, samples=5)


def settings_for(quick: bool = False, **overrides: Any) -> RotationSettings:
    """``FULL`` (or ``QUICK``) with fields replaced by keyword (checked)."""
    return settings_from(NAME, FULL, QUICK, quick, overrides)


def main(request: Request) -> Path:
    """Train lenet-all (or score ``request.run_dir``) and rotate; write ``rotation.json`` and
    the figures. One model: ``seeds`` must be 1."""
    return run_image(request, experiment, settings_for, one_model=True, reuses_runs=True)
