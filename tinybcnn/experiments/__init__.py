"""The papers' experiments: one module each, one registry, one protocol (:mod:`.runner`).

Each module (``small_data``, ``mc_samples``, ``rotation``, ``ood``, ``regression``,
``active_learning``, and MC dropout's rivals: ``rivals``, ``critique``) owns its ``FULL`` and
``QUICK`` settings, ``settings_for(quick, **overrides)`` and ``main(request)``; :mod:`.common`
holds what they share, :mod:`.figures` their figures, :mod:`.rival_methods` what the two
rivals experiments share. A new one is a module plus its name in
:data:`tinybcnn.choices.EXPERIMENT_NAMES` (or :func:`register`). :func:`run` is what
``tinybcnn experiment`` calls.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from ..choices import EXPERIMENT_NAMES, experiment_key
from . import runner
from .common import default_iterations, machine_info
from .mc_samples import MCSamplesSettings, mc_error_curve
from .ood import OOD_SCORES, OODSettings, ood_scores
from .rotation import RotationSettings, rotate_images
from .small_data import SmallDataSettings

__all__ = ["EXPERIMENTS", "FULL", "QUICK", "register", "settings_for", "run",
           "default_iterations", "machine_info", "mc_error_curve", "rotate_images", "ood_scores",
           "OOD_SCORES", "SmallDataSettings", "MCSamplesSettings", "RotationSettings",
           "OODSettings"]

#: The registry: experiment key (``"small_data"``, ...) -> its module.
EXPERIMENTS: dict[str, ModuleType] = {}
#: Each experiment's full-size and quick settings, by key (the modules' ``FULL``, ``QUICK``).
FULL: dict[str, Any] = {}
QUICK: dict[str, Any] = {}


def register(name: str, module: ModuleType) -> None:
    """Add experiment ``name`` (``"toy"``, ``"small-data"``), run by ``module.main``."""
    key = experiment_key(name)
    EXPERIMENTS[key], FULL[key], QUICK[key] = module, module.FULL, module.QUICK


for _name in EXPERIMENT_NAMES:
    register(_name, import_module(f"{__name__}.{experiment_key(_name)}"))
del _name


def _module(name: str) -> ModuleType:
    """The registered module of ``name`` (dashes work); one ``ValueError`` if there is none."""
    if experiment_key(str(name)) not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of "
                         f"{', '.join(k.replace('_', '-') for k in EXPERIMENTS)}")
    return EXPERIMENTS[experiment_key(str(name))]


def settings_for(name: str, quick: bool = False, **overrides: Any) -> Any:
    """The settings of experiment ``name`` (full or quick), with fields replaced by keyword."""
    return _module(name).settings_for(quick, **overrides)


def run(name: str, out: str | Path, dataset: str = "embedded", data_dir: str | None = None,
        quick: bool = False, seeds: int | None = None, iterations: int | None = None,
        seed: int = 0, progress: bool = True, resume: bool = False,
        run_dir: str | Path | None = None, replace: bool = False, **overrides: Any) -> Path:
    """Run experiment ``name`` into ``out``; return its results file (``out/<key>.json``).

    The arguments are :class:`.runner.Request`'s; ``**overrides`` replace settings fields.
    """
    module = _module(name)
    return runner.run(module, runner.Request(
        experiment_key(str(name)), out, dataset=dataset, data_dir=data_dir, quick=quick,
        seeds=seeds, iterations=iterations, seed=seed, progress=progress, resume=resume,
        replace=replace, run_dir=run_dir, overrides=overrides))
