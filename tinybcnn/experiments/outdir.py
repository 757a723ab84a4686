"""An experiment's output folder under :mod:`tinybcnn.files.rundir`'s rule.

An experiment folder holds what experiments wrote there: ``<name>.json`` (the results record),
``<name>_details.json``, a run's state ``<name>_state.json`` (active learning's, for
``--resume``), the data set and seed it was made with ``<name>_identity.json``, figures
``<name>_*.png`` and run folders ``<name>_runs/``, for any of the experiments, perhaps beside
files of the user's, which are never touched. It is known by its contents, not its names: a
results JSON whose ``"experiment"`` is that experiment's name (``active_learning.json`` is
exactly ``{"dataset", "acquisitions"}``), or a ``<name>_runs`` folder that is empty or holds a
run. So a user's ``regression.json`` is not an experiment's, and a training run or a user's
folder is refused as ``--out``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import choices
from ..choices import experiment_key
from ..files.jsonfile import JSONFileError, read_json
from ..files.rundir import FolderKind, is_own_entry, is_real_dir, refuse
from ..runs import is_run_dir

__all__ = ["EXPERIMENT_NAMES", "experiment_folder", "identity_path"]

#: Every experiment whose outputs an experiment folder may hold (by key: ``small_data``, ...).
EXPERIMENT_NAMES = tuple(experiment_key(name) for name in choices.EXPERIMENT_NAMES)


def _json_names(key: str) -> tuple[str, str, str, str]:
    """The JSON files experiment ``key`` may write: results, details, a run's state and the
    identity record (:mod:`tinybcnn.files.identity`)."""
    return f"{key}.json", f"{key}_details.json", f"{key}_state.json", f"{key}_identity.json"


def identity_path(out: str | Path, key: str) -> Path:
    """Where experiment ``key`` records the data set and seed its work in ``out`` was made
    with."""
    return Path(out) / f"{key}_identity.json"


def _own_json(path: Path, key: str) -> bool:
    """Whether ``path`` is a results file experiment ``key`` wrote (read within bounds)."""
    try:
        record = read_json(path)
    except JSONFileError:
        return False
    if not isinstance(record, dict):
        return False
    if path.name == "active_learning.json":  # exactly {"dataset", "acquisitions"}
        return set(record) == {"dataset", "acquisitions"}
    return record.get("experiment") == key


def _has_experiment(out: Path, names: set[str]) -> bool:
    """Whether ``out`` holds an experiment's results JSON, or its run folder (empty or a run)."""
    for key in EXPERIMENT_NAMES:
        for file in _json_names(key):
            if file in names and _own_json(out / file, key):
                return True
        runs = out / f"{key}_runs"
        if f"{key}_runs" in names and is_real_dir(runs):
            inside = [e.name for e in os.scandir(runs) if not is_own_entry(e.name)]
            if not inside or any(is_real_dir(runs / n) and is_run_dir(runs / n)
                                 for n in inside):
                return True
    return False


def experiment_folder(key: str) -> FolderKind:
    """The folder experiment ``key`` (``"small_data"``, ...) writes into."""

    def expect(name: str) -> str | None:
        if name == f"{key}_runs":
            return "dir"
        if name in _json_names(key) or (
                name.startswith(f"{key}_") and name.endswith(".png")):
            return "file"
        return None

    def check(out: Path, names: set[str], resume: bool) -> None:
        if not _has_experiment(out, names):
            raise refuse(out, "is not empty and is not a tinybcnn experiment folder")
        for file in _json_names(key):  # this one's must be its own
            if file in names and not _own_json(out / file, key):
                raise refuse(out, f"holds {file}, which is not {key}'s results file")

    return FolderKind(f"a folder of experiment {key}", expect, check)
