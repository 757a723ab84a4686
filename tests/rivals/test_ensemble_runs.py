"""Deep ensembles from the command line: ``train --members K`` into one run folder, resumable
member by member; ``evaluate`` and ``predict`` average the members. The oracles are an
uninterrupted run (for resume) and the members' softmax outputs averaged by hand with SciPy
(for the scores)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from scipy import special

from tinybcnn.checkpoint import read_checkpoint
from tinybcnn.cli import main
from tinybcnn.data import as_float
from tinybcnn.ensembles import member_seeds
from tinybcnn.runconfig import RunConfig
from tinybcnn.runs import load_data, load_members, load_run

TRAIN = ["train", "--train-size", "60", "--test-size", "30", "--batch-size", "16",
         "--eval-samples", "0", "--quiet", "--members", "2"]


def _train(out, *extra):
    return main([*TRAIN, "--out", str(out), *extra])


def _params(path):
    params = read_checkpoint(path).params
    assert "conv1.W" in params
    return params


def test_members_resume_one_by_one_to_the_uninterrupted_run(tmp_path, capsys):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _train(whole, "--iterations", "4") == 0
    # interrupted: member 0 half-way, member 1 not started (its files never written)
    assert _train(cut, "--iterations", "2") == 0
    (cut / "member-1.npz").unlink()
    (cut / "history-1.csv").unlink()
    assert _train(cut, "--iterations", "4", "--resume") == 0
    for k in range(2):
        a, b = _params(whole / f"member-{k}.npz"), _params(cut / f"member-{k}.npz")
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])   # bit for bit
    # the members are different networks, seeded by member_seeds
    m0, m1 = _params(whole / "member-0.npz"), _params(whole / "member-1.npz")
    assert not np.array_equal(m0["conv1.W"], m1["conv1.W"])
    seeds = [read_checkpoint(whole / f"member-{k}.npz").trainer["seed"] for k in range(2)]
    assert seeds == member_seeds(0, 2)
    assert not (whole / "checkpoint.npz").exists()


def test_evaluate_and_predict_average_the_members_softmax(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--iterations", "3") == 0
    assert main(["evaluate", str(run), "--samples", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ensemble (K=2)" in out and "MC ensemble (K=2, T=2)" in out
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["members"] == 2 and saved["samples"] == 2
    config, models = load_members(run)
    data = load_data(config, progress=False)
    x, y = as_float(data.x_test).astype(np.float64), data.y_test
    p = np.mean([special.softmax(m.forward(x.astype(np.float32)).astype(np.float64), axis=1)
                 for m in models], axis=0)
    assert saved["standard"]["error"] == pytest.approx(np.mean(p.argmax(1) != y), abs=1e-12)
    assert saved["standard"]["nll"] == pytest.approx(-np.mean(np.log(p[np.arange(len(y)), y])),
                                                     rel=1e-5)
    # predict --samples 1: the deep ensemble, image by image
    np.save(tmp_path / "x.npy", data.x_test[:5])
    assert main(["predict", str(run), str(tmp_path / "x.npy"), "--samples", "1",
                 "--format", "json", "--quiet"]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    np.testing.assert_allclose([r["probs"] for r in rows], p[:5], rtol=1e-5, atol=1e-7)


def test_ensemble_runs_are_refused_where_they_do_not_fit(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--iterations", "2") == 0
    capsys.readouterr()
    # a finished ensemble is not trained over without --resume or --replace
    assert _train(run, "--iterations", "2") == 2
    assert "already holds a run" in capsys.readouterr().err
    # --resume with another K is another run
    assert _train(run, "--iterations", "3", "--resume", "--members", "3") == 2
    assert "--members 3 (the run has 2)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="deep ensemble of 2 networks.*load_members"):
        load_run(run)
    # a member missing (removed by hand): evaluate says what to do, in one line
    shutil.copytree(run, tmp_path / "part")
    (tmp_path / "part" / "member-1.npz").unlink()
    assert main(["evaluate", str(tmp_path / "part"), "--samples", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds 1 of its 2 members" in err and "--resume" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main([*TRAIN[:-1], "101", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "from 1 to 100" in capsys.readouterr().err


def test_a_config_of_an_earlier_release_is_one_network():
    raw = {k: v for k, v in vars(RunConfig(backend="numpy")).items() if k != "members"}
    assert RunConfig(**raw).validate().members == 1
    with pytest.raises(ValueError, match="members must be at least 1|members"):
        RunConfig(members=0, backend="numpy").validate()
