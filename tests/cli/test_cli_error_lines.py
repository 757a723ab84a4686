"""Error lines that name the file and the fix (issue 26): a full disk, a failed download
through the command line, ``experiment --out FILE``."""

from __future__ import annotations

import errno

from tinybcnn import cli, data
from tinybcnn.data import sources
from tinybcnn.files import atomic


def _one_line(capsys, code):
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_full_disk_names_the_file_and_the_fix(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)  # every atomic write fails at its fsync
    out = tmp_path / "run"
    code = cli.main(["train", "--out", str(out), "--train-size", "100", "--test-size", "100",
                     "--iterations", "2", "--quiet", "--eval-samples", "0"])
    err = _one_line(capsys, code)
    assert "[Errno 28]" in err and "disk is full" in err
    assert str(out / "config.json") in err          # the file it could not write
    assert "free some space" in err and "--out" in err


def test_failed_download_is_one_short_line_without_api_advice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYBCNN_DATA", raising=False)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", {})
    monkeypatch.setitem(data.MIRRORS, "mnist", ["http://127.0.0.1:9/"])  # discard port
    monkeypatch.delenv("TINYBCNN_MIRROR", raising=False)
    code = cli.main(["train", "--dataset", "mnist", "--out", str(tmp_path / "run"),
                     "--iterations", "1", "--quiet"])
    err = _one_line(capsys, code)
    assert "cannot download mnist" in err and "--data-dir" in err
    assert "download=True" not in err and "urlopen error" not in err and "Errno None" not in err
    assert len(err) < 600
    assert not (tmp_path / "cache" / "tinybcnn").exists()   # no empty cache folder left


def test_experiment_out_file_is_a_sentence(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("mine")
    code = cli.main(["experiment", "regression", "--quick", "--quiet", "--out", str(target)])
    err = _one_line(capsys, code)
    assert "Errno" not in err and str(target) in err and "not a directory" in err
    assert target.read_text() == "mine"

