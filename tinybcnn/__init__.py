"""tinybcnn: Bayesian convolutional neural networks from scratch in NumPy/CuPy.

After Gal & Ghahramani, "Bayesian Convolutional Neural Networks with Bernoulli Approximate
Variational Inference" (2015) and "Dropout as a Bayesian Approximation" (ICML 2016).
Importing tinybcnn never imports CuPy; see :mod:`tinybcnn.backend`.
"""

from importlib import import_module
from typing import Any

from . import backend, functional, random

__version__ = "0.1.0"

_LAZY = ("gradcheck", "nn", "models", "objective", "optim", "predict", "metrics",
         "checkpoint", "data", "train", "training", "runs", "demo", "experiments", "plots",
         "threads", "info", "cli", "concrete", "calibration", "ensembles", "mc_tiles")


def __getattr__(name: str) -> Any:
    # Submodules load on first use, so `import tinybcnn` stays light (no matplotlib, no tqdm).
    if name in _LAZY:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinybcnn' has no attribute {name!r}")


__all__ = ["backend", "functional", "random", "__version__", *_LAZY]
