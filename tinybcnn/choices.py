"""Names and defaults the command line shows, in a module that imports nothing.

``tinybcnn --help`` builds the whole parser, so what the parser needs lives here rather than in
the modules that use it (:mod:`tinybcnn.runs` pulls in SciPy, :mod:`tinybcnn.demo` matplotlib):
help and argument errors stay instant. ``tests/test_cli_light.py`` checks that these copies agree
with their sources (:data:`tinybcnn.runs.MODEL_NAMES`, the constants of :mod:`tinybcnn.demo`,
:data:`tinybcnn.experiments.EXPERIMENTS`).
"""

from __future__ import annotations

__all__ = ["MODEL_NAMES", "MODEL_HELP", "DEMO_TRAIN_SIZE", "DEMO_TEST_SIZE", "DEMO_ITERATIONS",
           "DEMO_SAMPLES", "EXPERIMENT_NAMES", "MAX_SAMPLES"]

#: The models ``--model`` takes (``runs.MODEL_NAMES``): LeNet with dropout after every layer,
#: after the inner-product layers only (the paper's standard baseline), or none.
MODEL_NAMES = ("lenet-all", "lenet-ip", "lenet-none")
MODEL_HELP = ("lenet-all: dropout after every convolution and dense layer (the Bayesian CNN); "
              "lenet-ip: after the dense layers only (the usual baseline); lenet-none: no "
              "dropout (default lenet-all)")
#: ``tinybcnn demo``'s defaults (the same numbers as in :mod:`tinybcnn.demo`).
DEMO_TRAIN_SIZE, DEMO_TEST_SIZE, DEMO_ITERATIONS, DEMO_SAMPLES = 1000, 2000, 2000, 50
#: The most MC samples any option takes (``--samples``, ``--eval-samples``): far past where the
#: MC error stops mattering (it falls as 1/sqrt(T)), and a bound on the work one command line
#: can ask for.
MAX_SAMPLES = 10_000
#: ``tinybcnn experiment NAME``.
EXPERIMENT_NAMES = ("small-data", "mc-samples", "rotation", "ood", "regression",
                    "active-learning")
