"""``experiment regression`` has an identity like every other experiment (issue 30).

Its folder records the seed and the data it was made with (``regression_identity.json``)
before the first file. Run again with the same seed and settings, it is done again (it keeps
no runs or state to reuse) and gives the same numbers; with another seed or setting it is
refused in one line that names the field, the folder left byte for byte as it was
(``support.folder_snapshot``), unless ``--replace``. ``--resume`` is refused in one line: there
is nothing to continue. Before, a second run with other settings silently rewrote the results.

The oracle for the data's identity is SHA-256 over the arrays' bytes laid out by hand, and
for "done again" the first run's own results.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from support.cli_capture import run_cli
from support.folder_snapshot import assert_unchanged, snapshot

from tinybcnn.experiments import regression as reg

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("keep_backend")]

REG = ["experiment", "regression", "--quick", "--iterations", "5", "--quiet", "--threads", "1"]


def one_line_refusal(code: int, stdout: str, err: str) -> str:
    assert code == 2 and stdout == "" and err.count("\n") == 1, (code, stdout, err)
    assert "Traceback" not in err
    return err


def results_of(folder):
    """What a regression decides: its results and settings (not its times or machine)."""
    record = json.loads((folder / "regression.json").read_text())
    return record["results"], record["settings"], record["seeds"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("regression") / "exp"
    code, _, err = run_cli([*REG, "--out", out])
    assert code == 0, err
    return out


@pytest.fixture
def folder(made, tmp_path):
    """A copy of the finished regression folder, to change."""
    return shutil.copytree(made, tmp_path / "exp")


def test_the_folder_records_the_seed_and_the_data(made):
    record = json.loads((made / "regression_identity.json").read_text())
    data = reg.make_gap_data(reg.QUICK, seed=0)
    arrays = (data.x_train, data.y_train, data.x_test, data.y_test)
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(f"<f4{a.shape};".encode() + a.astype("<f4").tobytes())
    assert record == {"experiment": "regression", "dataset": "gap-1d", "seed": 0,
                      "data_shape": [[100, 1], [100, 1], [161, 1], [161, 1]],
                      "data_sha256": digest.hexdigest()}


def test_the_same_settings_run_again_are_done_again_to_the_same_numbers(folder):
    first, record = results_of(folder), (folder / "regression_identity.json").read_bytes()
    code, _, err = run_cli([*REG, "--out", folder])
    assert code == 0, err
    assert results_of(folder) == first
    assert (folder / "regression_identity.json").read_bytes() == record


FULL = [a for a in REG if a != "--quick"]       # the full settings: 200 training points


@pytest.mark.parametrize("argv, named", [
    ([*REG, "--seed", "1"], "seed (0 there, 1 here): give --seed 0"),
    ([*REG, "--iterations", "6"], "iterations (5 there, 6 here)"),
    (FULL, "n_train (100 there, 200 here)"),
])
def test_another_seed_or_setting_is_refused_naming_it(made, argv, named):
    before = snapshot(made)
    err = one_line_refusal(*run_cli([*argv, "--out", made]))
    assert named in err and "--replace" in err, err
    assert_unchanged(made, before)


def test_resume_is_refused_in_one_line_saying_why(made):
    before = snapshot(made)
    err = one_line_refusal(*run_cli([*REG, "--resume", "--out", made]))
    assert "resume does not apply to regression" in err and "run it again" in err
    assert_unchanged(made, before)


def test_an_interrupted_regression_is_checked_by_its_identity_record(folder):
    """Killed before its results were written: only the record says what it was."""
    (folder / "regression.json").unlink()
    for png in folder.glob("regression_*.png"):
        png.unlink()
    before = snapshot(folder)
    err = one_line_refusal(*run_cli([*REG, "--seed", "3", "--out", folder]))
    assert "seed (0 there, 3 here)" in err
    assert_unchanged(folder, before)
    code, _, err = run_cli([*REG, "--out", folder])           # the same one: done again
    assert code == 0, err
    assert results_of(folder)[2] == {"base": 0}


def test_damaged_records_are_refused_and_replace_starts_afresh(folder):
    (folder / "regression_identity.json").write_text('{"experiment": "regression"}')
    before = snapshot(folder)
    err = one_line_refusal(*run_cli([*REG, "--out", folder]))
    assert "regression_identity.json is not a tinybcnn identity record" in err
    assert_unchanged(folder, before)
    (folder / "regression.json").write_text('{"experiment": "regression"}')
    before = snapshot(folder)
    err = one_line_refusal(*run_cli([*REG, "--out", folder]))
    assert "regression.json holds no settings or seed" in err
    assert_unchanged(folder, before)
    code, _, err = run_cli([*REG, "--seed", "1", "--replace", "--out", folder])
    assert code == 0, err
    assert json.loads((folder / "regression_identity.json").read_text())["seed"] == 1
    assert results_of(folder)[2] == {"base": 1}
