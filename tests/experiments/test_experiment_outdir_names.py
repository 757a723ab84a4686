"""An experiment folder's JSON names must hold that experiment's own files (issue 35).

A folder that is an experiment folder (it holds another experiment's results) may still hold
a user's file under a name the experiment writes, say ``regression.json``: running
``experiment regression`` there would overwrite it. The rule refuses such a folder, naming
the file, and leaves it as it was; the experiment's own file under the name passes.
"""

from __future__ import annotations

import json
import re

import pytest

from tinybcnn.experiments.outdir import EXPERIMENT_NAMES, experiment_folder
from tinybcnn.files.rundir import OutDirError, check_out_dir, writing


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


# -- how an experiment folder is known (mutation testing: outdir's own tests) -----------------
def _refusal(out, why: str) -> str:
    return f"^{re.escape(str(out))} {re.escape(why)}: refusing to write into it; choose a new"


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"a string"', "{"])
def test_a_results_name_holding_no_results_is_not_an_experiment_folder(tmp_path, text):
    (tmp_path / "small_data.json").write_text(text)
    with pytest.raises(OutDirError, match=_refusal(
            tmp_path, "is not empty and is not a tinybcnn experiment folder")):
        check_out_dir(tmp_path, experiment_folder("ood"))


def test_a_users_file_of_another_experiments_name_does_not_make_the_folder_ours(tmp_path):
    """Only the experiment's own record counts: a user's small_data.json (not valid JSON of
    an experiment) beside a user's file is refused."""
    (tmp_path / "small_data.json").write_text('{"experiment": "mine"}')
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutDirError, match="is not a tinybcnn experiment folder"):
        check_out_dir(tmp_path, experiment_folder("regression"))


def test_an_empty_runs_folder_makes_an_experiment_folder(tmp_path):
    (tmp_path / "small_data_runs").mkdir()
    (tmp_path / "small_data_runs" / ".tinybcnn.lock").write_text("")   # own entries only
    check_out_dir(tmp_path, experiment_folder("small_data"))
    check_out_dir(tmp_path, experiment_folder("ood"))        # any experiment's runs folder


def test_a_runs_folder_holding_a_run_makes_an_experiment_folder(tmp_path):
    from tinybcnn.runs import CONFIG, RunConfig

    run = tmp_path / "ood_runs" / "lenet-all-seed0"
    run.mkdir(parents=True)
    RunConfig().validate().save(run / CONFIG)
    check_out_dir(tmp_path, experiment_folder("ood"))


@pytest.mark.parametrize("inside", ["users_folder/", "users_file.txt"])
def test_a_runs_folder_holding_anything_else_is_not_ours(tmp_path, inside):
    runs = tmp_path / "ood_runs"
    runs.mkdir()
    if inside.endswith("/"):
        (runs / inside).mkdir()
    else:
        (runs / inside).write_text("mine")
    with pytest.raises(OutDirError, match="is not a tinybcnn experiment folder"):
        check_out_dir(tmp_path, experiment_folder("ood"))


def test_a_runs_name_that_is_a_file_is_not_ours(tmp_path):
    (tmp_path / "ood.json").write_text(json.dumps({"experiment": "ood"}))
    (tmp_path / "ood_runs").write_text("a file where a folder belongs")
    with pytest.raises(OutDirError, match=_refusal(
            tmp_path, "holds ood_runs, which is not a regular folder")):
        check_out_dir(tmp_path, experiment_folder("ood"))


@pytest.mark.parametrize("name", ["ood_curves.png", "ood.json", "ood_details.json"])
def test_a_folder_where_a_file_belongs_is_refused(tmp_path, name):
    (tmp_path / "small_data.json").write_text(json.dumps({"experiment": "small_data"}))
    (tmp_path / name).mkdir()
    with pytest.raises(OutDirError, match=_refusal(
            tmp_path, f"holds {name}, which is not a regular file")):
        check_out_dir(tmp_path, experiment_folder("ood"))


@pytest.mark.parametrize("name", ["ood_notes.txt", "ood_curves.pngx", "other.png", "ood_x"])
def test_names_the_experiment_does_not_write_are_left_to_the_user(tmp_path, name):
    (tmp_path / "ood.json").write_text(json.dumps({"experiment": "ood"}))
    (tmp_path / name).mkdir()              # a folder: refused only under a name it writes
    check_out_dir(tmp_path, experiment_folder("ood"))


def test_the_refusals_name_the_folder_and_the_file(tmp_path):
    (tmp_path / "small_data.json").write_text(json.dumps({"experiment": "small_data"}))
    (tmp_path / "ood.json").write_text("{}")
    with pytest.raises(OutDirError, match=_refusal(
            tmp_path, "holds ood.json, which is not ood's results file")):
        check_out_dir(tmp_path, experiment_folder("ood"))
    assert experiment_folder("ood").what == "a folder of experiment ood"


def test_another_experiments_runs_name_as_a_file_is_not_ours(tmp_path):
    """``ood_runs`` as a file, checked for regression (a name regression never writes): the
    folder is not an experiment folder, refused in one line (not listed as a folder)."""
    (tmp_path / "ood_runs").write_text("a file")
    with pytest.raises(OutDirError, match=_refusal(
            tmp_path, "is not empty and is not a tinybcnn experiment folder")):
        check_out_dir(tmp_path, experiment_folder("regression"))


def test_the_identity_record_is_one_of_the_experiments_own_names(tmp_path):
    """Where each experiment records the data set and seed its folder was made with: in the
    folder, under a name of its own (``<key>_identity.json``), as the docs name it."""
    from tinybcnn.experiments.outdir import identity_path

    for key in EXPERIMENT_NAMES:
        assert identity_path(tmp_path, key) == tmp_path / f"{key}_identity.json"
        assert identity_path(str(tmp_path), key) == tmp_path / f"{key}_identity.json"
