"""An experiment folder's JSON names must hold that experiment's own files (issue 35).

A folder that is an experiment folder (it holds another experiment's results) may still hold
a user's file under a name the experiment writes, say ``regression.json``: running
``experiment regression`` there would overwrite it. The rule refuses such a folder, naming
the file, and leaves it as it was; the experiment's own file under the name passes.
"""

from __future__ import annotations

import json

import pytest

from tinybcnn.experiments.outdir import EXPERIMENT_NAMES, experiment_folder
from tinybcnn.rundir import OutDirError, check_out_dir, writing


def _own_record(key: str, name: str) -> dict:
    """What experiment ``key`` writes under ``name`` (the results file, details or state)."""
    if name == "active_learning.json":
        return {"dataset": "embedded", "acquisitions": {}}
    return {"experiment": key, "results": {}}


def _names(key: str) -> list[str]:
    return [f"{key}.json", f"{key}_details.json", f"{key}_state.json"]


CASES = [(key, name) for key in EXPERIMENT_NAMES for name in _names(key)]


def _other(key: str) -> str:
    return next(k for k in EXPERIMENT_NAMES if k != key and k != "active_learning")


@pytest.mark.parametrize("key, name", CASES)
def test_a_users_file_under_an_experiments_name_is_refused(tmp_path, key, name):
    other = _other(key)
    (tmp_path / f"{other}.json").write_text(json.dumps(_own_record(other, f"{other}.json")))
    users = json.dumps({"my": "numbers"})
    (tmp_path / name).write_text(users)
    with pytest.raises(OutDirError, match=f"holds {name}, which is not {key}'s results file"):
        check_out_dir(tmp_path, experiment_folder(key))
    with pytest.raises(OutDirError, match=f"holds {name}"):
        with writing(tmp_path, experiment_folder(key)):
            pytest.fail("the block must not run")
    assert (tmp_path / name).read_text() == users


@pytest.mark.parametrize("key, name", CASES)
def test_the_experiments_own_file_under_its_name_passes(tmp_path, key, name):
    other = _other(key)
    (tmp_path / f"{other}.json").write_text(json.dumps(_own_record(other, f"{other}.json")))
    (tmp_path / name).write_text(json.dumps(_own_record(key, name)))
    check_out_dir(tmp_path, experiment_folder(key))


@pytest.mark.parametrize("key", EXPERIMENT_NAMES)
def test_another_experiments_file_under_the_name_is_refused(tmp_path, key):
    """``regression.json`` written by small_data (its "experiment" says so) is not
    regression's: the name alone does not make it the experiment's own."""
    other = _other(key)
    (tmp_path / f"{other}.json").write_text(json.dumps(_own_record(other, f"{other}.json")))
    (tmp_path / f"{key}.json").write_text(json.dumps({"experiment": other, "results": {}}))
    with pytest.raises(OutDirError, match=f"not {key}'s results file"):
        check_out_dir(tmp_path, experiment_folder(key))
