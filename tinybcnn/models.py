"""Model builders: the paper's Caffe LeNet in its three dropout variants."""

from __future__ import annotations

from typing import Any

import numpy as np

from .functional.im2col import conv_output_shape
from .nn import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential
from .random import check_drop_probability, stream

__all__ = ["lenet", "LENET_VARIANTS", "mlp"]

LENET_VARIANTS = ("all", "ip", "none")


def lenet(variant: str = "all", p: float = 0.5, in_shape: tuple[int, int, int] = (1, 28, 28),
          n_classes: int = 10, seed: int | None = 0, dtype: Any = np.float32) -> Sequential:
    """The Caffe LeNet of Gal & Ghahramani (2015), with dropout placed by ``variant``.

    ``conv1 20@5×5 → [drop1] → pool1 2×2 → conv2 50@5×5 → [drop2] → pool2 2×2 → ip1 500 →
    ReLU → [drop3] → ip2 n_classes``. There is no nonlinearity after the convolutions, as in
    the paper (and Caffe's LeNet example).

    Parameters
    ----------
    variant : {"all", "ip", "none"}
        ``"all"``: dropout after both convs (before pooling) and after ReLU(ip1) — the Bayesian
        CNN ("lenet-all"); ``"ip"``: only after ReLU(ip1) ("lenet-ip"); ``"none"``: no dropout.
    p : float
        Drop probability of every dropout layer, in [0, 1).
    in_shape : (C, H, W)
        Input shape; anything at least 16×16 works (e.g. 3×32×32 for CIFAR-10).
    n_classes : int
    seed : int or None
        Seeds the Glorot initialisation; the same seed gives the same weights in every variant.
    dtype : floating dtype
        float32 by default; float64 for gradient checks.

    Returns
    -------
    Sequential
        Layers named ``conv1, drop1, pool1, conv2, drop2, pool2, flatten, ip1, relu1, drop3, ip2``
        (dropout layers only where the variant has them).
    """
    if variant not in LENET_VARIANTS:
        raise ValueError(f"variant must be one of {LENET_VARIANTS}, got {variant!r}")
    p = check_drop_probability(p)
    if len(in_shape) != 3:
        raise ValueError(f"in_shape must be (C, H, W), got {in_shape!r}")
    c, h, w = (int(s) for s in in_shape)
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    # Spatial size after conv 5×5, pool 2, conv 5×5, pool 2 (floor division, as in Caffe's
    # pooling when the windows tile the input).
    try:
        h1, w1 = conv_output_shape(h, w, 5, 5)
        h2, w2 = conv_output_shape(h1 // 2, w1 // 2, 5, 5)
        if h2 < 2 or w2 < 2:
            raise ValueError
    except ValueError:
        raise ValueError(f"in_shape {in_shape} is too small for LeNet; need H, W >= 16") from None
    flat = 50 * (h2 // 2) * (w2 // 2)

    init = stream(seed, "init")
    conv_drop = variant == "all"
    ip_drop = variant in ("all", "ip")
    layers: list[tuple[str, Any]] = [("conv1", Conv2D(c, 20, 5, seed=init, dtype=dtype))]
    if conv_drop:
        layers.append(("drop1", Dropout(p)))
    layers += [("pool1", MaxPool2D(2)), ("conv2", Conv2D(20, 50, 5, seed=init, dtype=dtype))]
    if conv_drop:
        layers.append(("drop2", Dropout(p)))
    layers += [("pool2", MaxPool2D(2)), ("flatten", Flatten()),
               ("ip1", Dense(flat, 500, seed=init, dtype=dtype)), ("relu1", ReLU())]
    if ip_drop:
        layers.append(("drop3", Dropout(p)))
    layers.append(("ip2", Dense(500, n_classes, seed=init, dtype=dtype)))
    model = Sequential(layers)
    model.in_shape, model.variant = (c, h, w), variant
    return model


def mlp(sizes: tuple[int, ...], p: float = 0.5, seed: int | None = 0,
        dtype: Any = np.float32) -> Sequential:
    """A ReLU network ``Dense → ReLU → Dropout → ... → Dense`` (e.g. for regression).

    ``sizes = (in, hidden..., out)``; dropout follows every hidden ReLU.
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes must hold at least (in, out), got {sizes!r}")
    p = check_drop_probability(p)
    init = stream(seed, "init")
    layers: list[tuple[str, Any]] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        layers.append((f"ip{i}", Dense(a, b, seed=init, dtype=dtype)))
        if i < len(sizes) - 1:
            layers += [(f"relu{i}", ReLU()), (f"drop{i}", Dropout(p))]
    return Sequential(layers)
