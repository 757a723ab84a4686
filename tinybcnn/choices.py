"""Names and defaults the command line shows, stated once, in a module that imports nothing.

``tinybcnn --help`` builds the whole parser, so what the parser needs must be light to import
(:mod:`tinybcnn.runs` pulls in SciPy, :mod:`tinybcnn.demo` matplotlib). This module is the
source of these names: the demo reads its defaults here, and the experiments' registry and
output folders take the experiment names from here. A run's defaults and the model names are
:mod:`tinybcnn.runconfig`'s (light too).
"""

from __future__ import annotations

__all__ = ["MODEL_HELP", "DEMO_TRAIN_SIZE", "DEMO_TEST_SIZE", "DEMO_ITERATIONS",
           "DEMO_SAMPLES", "EXPERIMENT_NAMES", "experiment_key",
           "MAX_SAMPLES"]

#: ``--model``'s help: the models of :data:`tinybcnn.runconfig.MODEL_NAMES`.
MODEL_HELP = ("lenet-all: dropout after every convolution and dense layer (the Bayesian CNN); "
              "lenet-ip: after the dense layers only (the usual baseline); lenet-none: no "
              "dropout")
#: ``tinybcnn demo``'s defaults (:func:`tinybcnn.demo.run_demo` reads them here). The demo
#: counts iterations (batch 64 each), not the training-set size; on 1,000 images, 2,000
#: iterations are enough for MC-dropout lenet-all to beat lenet-ip (on seeds 0 and 1, by 0.5
#: to 0.9 points), while on 2,000 images lenet-all needs more iterations than lenet-ip to get
#: there.
DEMO_TRAIN_SIZE, DEMO_TEST_SIZE, DEMO_ITERATIONS, DEMO_SAMPLES = 1000, 2000, 2000, 50
#: The most MC samples any option takes (``--samples``, ``--eval-samples``): far past where the
#: MC error stops mattering (it falls as 1/sqrt(T)), and a bound on the work one command line
#: can ask for.
MAX_SAMPLES = 10_000
#: ``tinybcnn experiment NAME``: the registry in :mod:`tinybcnn.experiments` has one entry
#: per name, under its key (:func:`experiment_key`).
EXPERIMENT_NAMES = ("small-data", "mc-samples", "rotation", "ood", "regression",
                    "active-learning", "rivals", "critique")


def experiment_key(name: str) -> str:
    """The Python name of experiment ``name`` (``"small-data"`` -> ``"small_data"``): its
    module, its registry key, and the prefix of the files it writes."""
    return name.replace("-", "_")
