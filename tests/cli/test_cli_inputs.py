"""The CLI's own code, checked on its helpers without training (a few seconds in all): what
mutmut found that the wiring table (tests/cli/test_cli_wiring.py) and the resume and backend
tests leave unchecked (docs/architecture.md, "Mutation scores").

In order: predict's image reader ``_read_images`` against pixels / 256 written out here, and
its refusals one by one; ``_check_finite_prediction`` on NaN rows counted by hand;
``_predict_with_progress`` in chunks against one unchunked ``mc_predict`` (the chunks pass
their images' offset, so the masks are the same); the parser's one-line error; what the
commands print, and what they say when stdout fails; predict on a stand-in run (an ensemble
averages every member); ``train --resume``'s checks on a config.json written here; every help
line a user reads, written out; what the parser hands on; and how ``main`` ends a command
that stops (interrupted, diverged, SIGTERM, a closed or full stdout).

One file, because it is cli's covering set in scripts/mutation.py, and a change of that set
starts the module's mutation run afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import tinybcnn.demo as demo_mod
import tinybcnn.experiments as experiments_mod
import tinybcnn.info as info_mod
import tinybcnn.progress as progress_mod
import tinybcnn.report as report_mod
from tinybcnn import cli
from tinybcnn.data import write_idx
from tinybcnn.ensembles import ensemble_predict
from tinybcnn.models import lenet
from tinybcnn.predict import mc_predict

pytestmark = pytest.mark.usefixtures("keep_backend")  # in-process commands set the backend

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
EXPECTED = (PIXELS.astype(np.float64) / 256)[:, None]  # the training data's scale


def _save(path, array):
    with open(path, "wb") as f:  # np.save would add ".npy" to a name without it
        np.save(f, array)
    return str(path)


# -- _read_images ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 28, 28), (4, 1, 28, 28)])
def test_uint8_npy_images_are_pixels_over_256_in_nchw(tmp_path, shape):
    x = cli._read_images(_save(tmp_path / "x.npy", PIXELS.reshape(shape)))
    assert x.dtype == np.float32 and x.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(x, EXPECTED.astype(np.float32))


def test_one_image_of_shape_h_w_is_a_batch_of_one(tmp_path):
    x = cli._read_images(_save(tmp_path / "one.npy", PIXELS[2]))
    assert x.shape == (1, 1, 28, 28)
    np.testing.assert_array_equal(x[0], EXPECTED[2].astype(np.float32))


def test_an_idx_file_reads_as_its_npy_twin(tmp_path):
    write_idx(tmp_path / "images-idx3-ubyte", PIXELS)
    x = cli._read_images(str(tmp_path / "images-idx3-ubyte"))
    np.testing.assert_array_equal(x, EXPECTED.astype(np.float32))


def test_a_file_named_npy_is_checked_as_npy_whatever_it_holds(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"\x00\x00\x08\x03" + bytes(16))  # an IDX header
    with pytest.raises(ValueError, match="not a .npy file"):
        cli._read_images(str(tmp_path / "x.npy"))


def test_an_npy_file_under_another_name_is_read_as_npy(tmp_path):
    x = cli._read_images(_save(tmp_path / "images.bin", PIXELS))
    np.testing.assert_array_equal(x, EXPECTED.astype(np.float32))


@pytest.mark.parametrize("kind, content, words", [
    ("npz", None, "an .npz archive"),
    ("pickle", b"\x80\x04K\x01.", "a Python pickle"),
    ("empty", b"", "empty file"),
])
def test_npz_pickle_and_empty_files_get_the_npy_readers_reason(tmp_path, kind, content, words):
    # named without ".npy": the first bytes alone must send them to the .npy reader's checks
    path = tmp_path / f"images.{kind}-file"
    if content is None:
        with open(path, "wb") as f:
            np.savez(f, x=PIXELS)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=words):
        cli._read_images(str(path))


@pytest.mark.parametrize("shape", [(4, 2, 28, 28), (28,), (1, 4, 1, 28, 28)])
def test_other_shapes_are_refused_with_the_shape(tmp_path, shape):
    array = np.zeros(shape, np.uint8)
    with pytest.raises(ValueError, match=r"must be \(N, H, W\) or \(N, 1, H, W\), got shape "
                       + repr(shape).replace("(", r"\(").replace(")", r"\)")):
        cli._read_images(_save(tmp_path / "x.npy", array))


def test_no_images_is_refused(tmp_path):
    with pytest.raises(ValueError, match="holds no images"):
        cli._read_images(_save(tmp_path / "x.npy", np.zeros((0, 28, 28), np.uint8)))


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, np.bool_])
def test_non_uint8_integers_are_refused(tmp_path, dtype):
    with pytest.raises(ValueError, match="must be uint8 or floats in \\[0, 1\\], got "
                       + np.dtype(dtype).name):
        cli._read_images(_save(tmp_path / "x.npy", PIXELS.astype(dtype)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_float_images_are_kept_as_they_are_in_float32(tmp_path, dtype):
    floats = (EXPECTED[:, 0] * (255 / 256) + 1e-3).astype(dtype)  # in [0, 1), max below 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning below 1.0
        x = cli._read_images(_save(tmp_path / "x.npy", floats))
    assert x.dtype == np.float32 and x.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(x[:, 0], floats.astype(np.float32))


def test_non_finite_pixels_are_counted_and_refused(tmp_path):
    floats = EXPECTED[:, 0].copy()
    floats[0, 0, :2] = np.nan
    floats[3, 5, 5] = np.inf
    with pytest.raises(ValueError, match=r"\b3 pixel values are NaN or infinite; images must "
                       "be finite$"):
        cli._read_images(_save(tmp_path / "x.npy", floats))


@pytest.mark.parametrize("where, value", [((0, 0, 0), -1e-3), ((1, 2, 3), 1.5)])
def test_floats_outside_the_unit_range_are_refused(tmp_path, where, value):
    floats = EXPECTED[:, 0].copy()
    floats[where] = value
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] .*\. Divide by 256 or save "
                       "them as uint8$"):
        cli._read_images(_save(tmp_path / "x.npy", floats))


def test_a_pixel_of_exactly_one_warns_of_pixels_over_255(tmp_path):
    floats = EXPECTED[:, 0].copy()
    floats[1, 1, 1] = 1.0
    path = _save(tmp_path / "x.npy", floats)
    with pytest.warns(UserWarning) as caught:
        x = cli._read_images(path)
    assert [str(w.message) for w in caught] == [
        f"{path}: float pixels reach 1.0, which suggests pixels / 255; the model was trained on "
        "pixels / 256 (at most 0.996): multiply by 255/256 or save the images as uint8"]
    assert x[1, 0, 1, 1] == 1.0


def test_the_images_argument_names_what_is_wrong_with_it(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    cases = {str(tmp_path): f"{str(tmp_path)!r} is a directory, not a file",
             str(tmp_path / "fifo"): f"{str(tmp_path / 'fifo')!r} is not a regular file; give an "
             ".npy or IDX file saved on disk",
             str(tmp_path / "gone.npy"): f"file {str(tmp_path / 'gone.npy')!r} does not exist"}
    for path, reason in cases.items():
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            cli._existing_file(path)
        assert str(refused.value) == reason
    assert cli._existing_file(_save(tmp_path / "x.npy", PIXELS)) == str(tmp_path / "x.npy")


# -- _check_finite_prediction --------------------------------------------------------------------
def test_rows_with_a_nan_are_counted_and_refused():
    probs = np.full((5, 3), 1 / 3)
    probs[1, 2] = np.nan
    probs[4, :] = np.nan
    with pytest.raises(ValueError) as refused:
        cli._check_finite_prediction(types.SimpleNamespace(probs=probs), "run")
    assert str(refused.value) == (
        f"{Path('run') / 'checkpoint.npz'}: the model's outputs are not finite (NaN) for 2 of 5 "
        "images: its weights are so large that the logits overflow; nothing was written")


def test_finite_predictions_pass():
    probs = np.full((5, 3), 1 / 3)
    assert cli._check_finite_prediction(types.SimpleNamespace(probs=probs), "run") is None


# -- _predict_with_progress ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def nets():
    return [lenet("all", p=0.5, in_shape=(1, 28, 28), n_classes=10, seed=s) for s in (0, 1)]


@pytest.fixture
def updates(monkeypatch):
    seen, samples = [], []
    real = cli._predict_with_progress

    def spy(model, x, t, *args, **kw):  # the T of the call, for the bar's label
        samples.append(t)
        return real(model, x, t, *args, **kw)

    class Bar:
        def __init__(self, total, enabled=True, **kw):
            seen.append(("open", total, enabled))
            assert kw == {"desc": f"predict (T={samples[-1]})", "unit": "img"}

        def update(self, n):
            seen.append(n)

        def close(self):
            seen.append("close")

    monkeypatch.setattr(progress_mod, "progress_bar", Bar)
    monkeypatch.setattr(cli, "_predict_with_progress", spy)
    return seen


def _same(pred, want):
    for k in ("probs", "entropy", "mutual_info", "variation_ratio"):
        np.testing.assert_allclose(getattr(pred, k), getattr(want, k), rtol=1e-5, atol=1e-6)
    assert pred.samples == want.samples


def test_chunked_prediction_is_the_unchunked_one(nets, updates):
    x = np.concatenate([EXPECTED, EXPECTED[:3] * 0.5]).astype(np.float32)   # 7 images
    # work 10 at T = 3: chunks of 10 // 3 = 3 images: 3, 3, 1
    pred = cli._predict_with_progress(nets[0], x, 3, 5, False, work=10)
    _same(pred, mc_predict(nets[0], x, samples=3, seed=5))
    assert updates == [("open", 7, False), 3, 3, 1, "close"]


def test_an_ensemble_is_chunked_by_its_passes_too(nets, updates):
    x = np.concatenate([EXPECTED, EXPECTED[:1] * 0.5]).astype(np.float32)  # 5 images
    # work 12 at T = 2: 6 images, halved for K = 2 members: 3, 2
    pred = cli._predict_with_progress(nets, x, 2, 1, True, work=12)
    _same(pred, ensemble_predict(nets, x, samples=2, seed=1))
    assert updates == [("open", 5, True), 3, 2, "close"]


def test_work_below_the_samples_still_moves_one_image_at_a_time(nets, updates):
    x = EXPECTED[:3].astype(np.float32)
    pred = cli._predict_with_progress(nets[0], x, 3, 0, False, work=2)   # 2 // 3 = 0: one
    _same(pred, mc_predict(nets[0], x, samples=3, seed=0))
    assert updates == [("open", 3, False), 1, 1, 1, "close"]


def test_a_batch_within_one_chunk_has_no_bar(nets, updates):
    x = EXPECTED[:3].astype(np.float32)
    pred = cli._predict_with_progress(nets[1], x, 2, 4, True, work=6)   # chunk 3 = all of x
    _same(pred, mc_predict(nets[1], x, samples=2, seed=4))
    assert updates == []


# -- the parser's error --------------------------------------------------------------------------
def test_a_bad_argument_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--p", "1.5", "--out", "x"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == ("tinybcnn train: error: argument --p: expected a drop probability p in "
                   "[0, 1), got 1.5 (see tinybcnn train --help)\n")


# -- what the commands print, and say when stdout fails ------------------------------------------
class FullStdout:
    """A stdout on a full disk: every write and flush fails."""

    def write(self, text):
        raise OSError(28, "No space left on device")

    def flush(self):
        raise OSError(28, "No space left on device")


@pytest.fixture
def stubs(monkeypatch, tmp_path):
    """demo and experiment stubbed: they write nothing, return at once."""
    monkeypatch.setattr(demo_mod, "run_demo", lambda **kw: None)
    monkeypatch.setattr(experiments_mod, "run", lambda name, **kw: Path(kw["out"]) / "r.json")
    monkeypatch.setattr(report_mod, "experiment_summary", lambda path: f"summary of {path}")
    return tmp_path / "out"


def test_experiment_prints_the_summary_of_its_results_file(stubs, capsys):
    assert cli.main(["experiment", "ood", "--out", str(stubs), "--quiet"]) == 0
    assert capsys.readouterr().out == f"summary of {stubs / 'r.json'}\n"


@pytest.mark.parametrize("command", [["demo"], ["experiment", "ood"]])
def test_a_full_stdout_after_demo_or_experiment_says_the_files_are_kept(
        stubs, command, monkeypatch, capsys):
    monkeypatch.setattr(cli, "silence_stdout", lambda: None)  # keep pytest's own stdout
    monkeypatch.setattr(sys, "stdout", FullStdout())
    code = cli.main([*command, "--out", str(stubs), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.endswith(f"(No space left on device); the files written in {stubs} are kept\n")


def test_info_prints_its_report_as_json_indented_by_two(monkeypatch, capsys):
    monkeypatch.setattr(info_mod, "info_report", lambda: {"backend": "numpy", "n": [1]})
    assert cli.main(["info"]) == 0
    assert capsys.readouterr().out == '{\n  "backend": "numpy",\n  "n": [\n    1\n  ]\n}\n'


# -- predict's wiring on a stand-in run (load_members stubbed: untrained networks) -------------
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


@pytest.fixture
def run_of(monkeypatch, tmp_path):
    """``run_of(models, dataset)``: a run folder whose load_members gives these networks."""
    import tinybcnn.runs as runs_mod

    def make(models, dataset="embedded"):
        config = types.SimpleNamespace(dataset=dataset)
        monkeypatch.setattr(runs_mod, "load_members", lambda run_dir, backend=None:
                            (config, models))
        return tmp_path

    return make


def test_predict_on_an_ensemble_averages_every_member(run_of, nets, tmp_path, capsys):
    run = run_of(nets)
    images = _save(tmp_path / "x.npy", PIXELS[:3])
    assert cli.main(["predict", str(run), images, "--samples", "2", "--seed", "3", "--quiet",
                     "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = ensemble_predict(nets, EXPECTED[:3].astype(np.float32), samples=2, seed=3)
    np.testing.assert_allclose([r["probs"] for r in got["predictions"]], want.probs,
                               rtol=1e-5, atol=1e-7)
    assert got["images"] == images and got["classes"] == list(FASHION)


def test_predict_names_fashion_classes_in_its_table(run_of, nets, tmp_path, capsys):
    run = run_of(nets[:1], dataset="fashion-mnist")
    assert cli.main(["predict", str(run), _save(tmp_path / "x.npy", PIXELS[:3]),
                     "--samples", "2", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 3
    for line in lines:  # "image class prob entropy MI  name": the class's Fashion-MNIST name
        k = int(line.split()[1])
        assert line.endswith("  " + FASHION[k])


def test_predict_refuses_images_of_another_size_naming_both(run_of, nets, tmp_path, capsys):
    run = run_of(nets[:1])
    images = _save(tmp_path / "x.npy", np.zeros((2, 12, 14), np.uint8))
    assert cli.main(["predict", str(run), images, "--quiet"]) == 2
    assert capsys.readouterr().err == (f"tinybcnn: error: {images}: the model takes images of "
                                       "shape (28, 28), got (12, 14)\n")


def test_predict_with_overflowing_weights_is_one_line_and_no_numpy_warning(
        run_of, tmp_path, capsys):
    net = lenet("all", p=0.5, in_shape=(1, 28, 28), n_classes=10, seed=0)
    for w in net.params.values():
        w *= np.float32(1e30)  # the logits overflow float32: inf, then softmax's inf - inf
    run = run_of([net])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning of NumPy's would raise here
        code = cli.main(["predict", str(run), _save(tmp_path / "x.npy", PIXELS[:2]),
                         "--samples", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"tinybcnn: error: {run / 'checkpoint.npz'}: the model's outputs are "
                          "not finite (NaN) for 2 of 2 images")


def test_predict_prints_a_table_of_what_its_json_holds(run_of, nets, tmp_path, capsys):
    run = run_of(nets[:1])
    images = _save(tmp_path / "x.npy", PIXELS[:3])
    common = ["predict", str(run), images, "--samples", "2", "--seed", "1", "--quiet"]
    assert cli.main([*common, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    assert cli.main(common) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == " image  class   prob  entropy      MI  name"
    assert lines[1:] == [f"{r['image']:6d} {r['class']:6d} {max(r['probs']):6.3f} "
                         f"{r['entropy']:8.3f} {r['mutual_info']:7.3f}  {FASHION[r['class']]}"
                         for r in rows]


@pytest.fixture
def evaluated(monkeypatch, tmp_path):
    """evaluate on a stand-in run: evaluate_run stubbed to return ``result`` (set by the
    test) and record what it was asked."""
    import tinybcnn.runs as runs_mod

    asked, result = {}, {}
    standard = {"error": 0.25, "nll": 0.7, "brier": 0.3, "ece": 0.05}
    mc = {"error": 0.125, "nll": 0.5, "brier": 0.2, "ece": 0.04}

    def evaluate_run(run_dir, **kw):
        asked.update(kw)
        return {"n_test": 1234, "samples": 7, "standard": standard, "mc": mc, **result}

    def metrics_file(run_dir, dataset, data_dir):
        asked["metrics_file"] = (run_dir, dataset, data_dir)
        return Path(run_dir) / "metrics-x.json"

    monkeypatch.setattr(runs_mod, "evaluate_run", evaluate_run)
    monkeypatch.setattr(runs_mod, "metrics_file", metrics_file)
    return tmp_path, asked, result


@pytest.mark.parametrize("result, flags, scored", [
    ({"dataset": "mnist"}, [], "scored: mnist test set, 1,234 images, T = 7"),
    ({}, ["--dataset", "fashion-mnist"], "scored: fashion-mnist test set, 1,234 images, T = 7"),
    ({}, [], "scored: the run's test set, 1,234 images, T = 7"),
])
def test_evaluate_says_what_it_scored(evaluated, capsys, result, flags, scored):
    run, asked, returned = evaluated
    returned.update(result)
    assert cli.main(["evaluate", str(run), *flags]) == 0
    assert scored in capsys.readouterr().out.splitlines()
    assert asked["progress"] is True


def test_evaluate_quiet_turns_its_progress_off(evaluated):
    run, asked, _ = evaluated
    assert cli.main(["evaluate", str(run), "--quiet"]) == 0
    assert asked["progress"] is False


@pytest.mark.parametrize("result, rows", [
    ({"iteration": None}, ["standard                        25.00   0.700   0.050",
                           "MC (T=7)                        12.50   0.500   0.040"]),
    ({"members": 1}, ["standard                        25.00   0.700   0.050",
                      "MC (T=7)                        12.50   0.500   0.040"]),
    ({"members": 2}, ["ensemble (K=2)                  25.00   0.700   0.050",
                      "MC ensemble (K=2, T=7)          12.50   0.500   0.040"]),
])
def test_evaluate_prints_its_table_and_the_file_it_wrote(evaluated, capsys, result, rows):
    run, asked, returned = evaluated
    returned.update({"dataset": "mnist", **result})
    data_dir = run / "data"
    data_dir.mkdir()
    assert cli.main(["evaluate", str(run), "--dataset", "fashion-mnist", "--data-dir",
                     str(data_dir), "--quiet"]) == 0
    assert asked["metrics_file"] == (str(run), "fashion-mnist", str(data_dir))
    assert capsys.readouterr().out.splitlines() == [
        "scored: mnist test set, 1,234 images, T = 7",
        "                              error %     NLL     ECE", *rows,
        f"files: {run / 'metrics-x.json'}"]


def test_evaluate_names_the_checkpoint_iteration_it_scored(evaluated, capsys):
    run, _, returned = evaluated
    returned.update(dataset="mnist", iteration=1500)
    assert cli.main(["evaluate", str(run), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "scored: mnist test set, 1,234 images, T = 7; checkpoint at iteration 1,500")


def test_a_full_stdout_after_evaluate_says_its_metrics_file_is_kept(
        evaluated, monkeypatch, capsys):
    run, _, _ = evaluated
    monkeypatch.setattr(cli, "silence_stdout", lambda: None)
    monkeypatch.setattr(sys, "stdout", FullStdout())
    assert cli.main(["evaluate", str(run), "--quiet"]) == 1
    assert capsys.readouterr().err.endswith(
        f"; {run / 'metrics-x.json'} was written and is kept\n")


# -- train --resume's checks, on a config.json written here (nothing trains) -------------------
@pytest.fixture
def numpy_run(tmp_path):
    from tinybcnn.runconfig import RunConfig

    RunConfig(**RunConfig.defaults()).validate().save(tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["backend"] == "numpy"
    return tmp_path


def test_resume_with_another_backend_alone_is_refused(numpy_run, capsys):
    # --backend is the only flag given: no configuration flag, and still a clash
    before = (numpy_run / "config.json").read_text()
    assert cli.main(["train", "--resume", "--out", str(numpy_run), "--quiet",
                     "--backend", "array_api_strict"]) == 2
    assert capsys.readouterr().err == (
        f"tinybcnn: error: --backend array_api_strict: the run in {numpy_run} trains on numpy "
        "(config.json), and --resume continues it there (its float32 sums round differently on "
        "another backend); drop --backend, or train a new run in another --out\n")
    assert (numpy_run / "config.json").read_text() == before


@pytest.mark.parametrize("flags, clash, drop", [
    (["--lr", "0.010000000001"], "--lr 0.010000000001 (the run has 0.01)", "this flag"),
    (["--p", "0.25", "--seed", "3"], "--p 0.25 (the run has 0.5), --seed 3 (the run has 0)",
     "these flags"),
])
def test_resume_refuses_each_flag_off_the_runs_value(numpy_run, capsys, flags, clash, drop):
    # 1e-10 relative is more than float rounding (1e-12) and is refused
    before = (numpy_run / "config.json").read_text()
    assert cli.main(["train", "--resume", "--out", str(numpy_run), "--quiet", *flags]) == 2
    assert capsys.readouterr().err == (
        f"tinybcnn: error: {clash}: --resume continues the run in {numpy_run} as its "
        f"config.json says; drop {drop}, or train a new run in another --out (only "
        "--iterations/--epochs, the total, and --eval-samples may change)\n")
    assert (numpy_run / "config.json").read_text() == before


def test_resume_flags_without_a_run_leave_the_refusal_to_train_run(tmp_path):
    args = argparse.Namespace(given={"--lr"}, lr=0.5, out=str(tmp_path), backend=None)
    assert cli._check_resume_flags(args) is None   # train_run then says what is missing


def test_a_data_dir_that_is_not_there_is_named(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        cli._existing_dir(str(tmp_path / "gone"))
    assert str(refused.value) == f"directory {str(tmp_path / 'gone')!r} does not exist"
    assert cli._existing_dir(str(tmp_path)) == str(tmp_path)


# every train flag the run's config.json fixes (written out here, not read off the code's
# table, cli._RESUME_CONFIG: mutmut makes no mutants of a module constant)
@pytest.mark.parametrize("flag, value, old", [
    ("--model", "lenet-ip", "lenet-all"), ("--dataset", "mnist", "embedded"),
    ("--data-dir", "{run}", None), ("--train-size", "5", None), ("--test-size", "5", None),
    ("--batch-size", "32", 64), ("--p", "0.25", 0.5), ("--lr", "0.5", 0.01),
    ("--weight-decay", "0.001", 0.0005), ("--length-scale", "0.5", None),
    ("--eval-every", "3", None), ("--seed", "3", 0), ("--members", "2", 1),
])
def test_resume_refuses_every_config_flag_off_the_runs_value(numpy_run, capsys, flag, value,
                                                           old):
    value = value.format(run=numpy_run)
    assert cli.main(["train", "--resume", "--out", str(numpy_run), "--quiet", flag,
                     value]) == 2
    assert capsys.readouterr().err.startswith(
        f"tinybcnn: error: {flag} {value} (the run has {old}): --resume continues the run")


@pytest.fixture
def trained_with(monkeypatch):
    """train_members stubbed: ``trained_with`` holds what train was asked (nothing trains)."""
    import tinybcnn.runs as runs_mod

    asked = {}

    def train_members(config, out, **kw):
        asked.update(kw, config=config)
        return []

    monkeypatch.setattr(runs_mod, "train_members", train_members)
    return asked


@pytest.mark.parametrize("flags, eval_samples", [(["--eval-samples", "3"], 3), ([], None)])
def test_resume_hands_a_new_eval_samples_on_and_none_otherwise(
        numpy_run, trained_with, flags, eval_samples):
    assert cli.main(["train", "--resume", "--out", str(numpy_run), "--quiet", *flags]) == 0
    assert trained_with["eval_samples"] == eval_samples
    assert trained_with["resume"] is True


def test_resume_and_replace_together_are_refused(tmp_path, trained_with, capsys):
    assert cli.main(["train", "--resume", "--replace", "--out", str(tmp_path), "--quiet"]) == 2
    assert capsys.readouterr().err == "tinybcnn: error: give --resume or --replace, not both\n"
    assert trained_with == {}


# -- the help a user reads ---------------------------------------------------------------------
# Every option's help line, written out, as `tinybcnn CMD --help` prints it: a help text
# dropped, emptied or garbled is something a user sees (mutmut found the parser's help texts
# checked nowhere in cli's covering tests). A wording change updates this table on purpose.
BACKEND = "array backend (default: $TINYBCNN_BACKEND or numpy)"
THREADS = "BLAS threads (default: $TINYBCNN_THREADS, else the free CPUs)"
DATASET = "embedded | fashion-mnist | mnist | idx:DIR"
DATA_DIR = ("a folder to search first for the fashion-mnist / mnist IDX files (downloads are "
            "cached in ~/.cache/tinybcnn, not here)")
COMMON = {"--backend": BACKEND, "--seed": "random seed (0)", "--quiet": "no progress bars",
          "--threads": THREADS}
HELP = {
    "demo": {
        **COMMON, "--out": "output directory (tinybcnn-demo)",
        "--train-size": "training images (1000)", "--test-size": "test images (2000)",
        "--iterations": "SGD iterations per model (default 2000; 60 with --quick)",
        "--samples": "MC samples T (50)", "--quick": "a tiny run, for a smoke test",
        "--replace": "train both models afresh, replacing the runs in --out (without it, a run "
                     "there with other settings is refused)"},
    "train": {
        **COMMON, "--out": "output directory",
        "--model": "lenet-all: dropout after every convolution and dense layer (the Bayesian "
                   "CNN); lenet-ip: after the dense layers only (the usual baseline); "
                   "lenet-none: no dropout (default lenet-all)",
        "--dataset": DATASET + " (embedded)", "--data-dir": DATA_DIR,
        "--train-size": "seeded stratified subset of the training split (default: all of it)",
        "--test-size": "seeded stratified subset of the test split (default: all of it)",
        "--epochs": "passes over the training set (default 10 if neither this nor "
                    "--iterations is given)",
        "--iterations": "SGD updates in total (default: 10 epochs' worth)",
        "--batch-size": "minibatch size (64)", "--p": "drop probability (0.5)",
        "--lr": "base learning rate of the inv schedule (0.01)",
        "--weight-decay": "Caffe-style weight decay (default 0.0005)",
        "--length-scale": "prior length-scale l instead of --weight-decay",
        "--members": "K > 1: a deep ensemble of K networks from K seeds into one run folder "
                     "(member-<k>.npz), resumable member by member; evaluate and predict "
                     "average them (default 1)",
        "--eval-every": "evaluate and checkpoint every K iterations (default: at the end)",
        "--eval-samples": "MC samples in the evaluations during training (20), at most 10,000; "
                          "with --resume it may change (the evaluations only, not the weights)",
        "--resume": "continue the run in --out from its checkpoint; its config.json gives every "
                    "option except --iterations/--epochs, which set a new total, and "
                    "--eval-samples",
        "--replace": "train afresh into --out, replacing the finished or interrupted run there"},
    "evaluate": {
        **COMMON, "run_dir": "", "--dataset": DATASET, "--data-dir": DATA_DIR,
        "--samples": "MC samples T (50), at most 10,000"},
    "predict": {
        **COMMON, "run_dir": "",
        "images": ".npy (N,H,W) or (N,1,H,W), or an IDX file: uint8 pixels 0-255, or floats "
                  "scaled as in training, pixels / 256 (not / 255)",
        "--samples": "MC samples T (50), at most 10,000; of a deep ensemble (train --members "
                     "K): T passes of each member, and 1 the deep ensemble itself (each "
                     "member's deterministic pass)",
        "--format": "text: a table (default); csv: one row per image with the probability of "
                    "every class, entropy, mutual_info, variation_ratio; json: the same, one "
                    "object"},
    "experiment": {
        **COMMON, "--out": "output directory", "name": "",
        "--dataset": DATASET + " (embedded)", "--data-dir": DATA_DIR,
        "--quick": "tiny sizes, for CI (< 1 minute)", "--seeds": "number of seeds",
        "--iterations": "training iterations per network (default: the experiment's own)",
        "--rounds": "acquisition rounds of 10 images (25)",
        "--pool-subset": "pool images scored per round (1000; the paper: 2000)",
        "--samples": "MC passes T for scoring (20)",
        "--acquisitions": "comma list of random, bald, max_entropy, variation_ratio, "
                          "variation_ratio_probs, mean_std, bald_standard",
        "--thresholds": "test errors for the labels-to-reach table (0.25,0.2)",
        "--resume": "reuse the finished runs in --out and continue interrupted ones "
                    "(active-learning: continue at the round it stopped); refused if --out was "
                    "made with another data set or --seed",
        "--replace": "start afresh, replacing the runs, saved state and data set and seed "
                     "record in --out"},
    "info": {"--backend": ""},
}
COMMANDS = {
    "demo": "small-data Bayesian CNN vs baseline: table + figures",
    "train": "train a model into a run directory",
    "evaluate": "standard and MC-dropout metrics -> RUN_DIR/metrics.json (with --dataset D: "
                "RUN_DIR/metrics-D.json)",
    "predict": "classify images from an .npy or IDX file",
    "experiment": "the paper's experiments (see docs/results.md)",
    "info": "backend, versions, BLAS threads, GPU",
}


def _help_of(argv, monkeypatch, capsys) -> tuple[str, dict[str, tuple[str, str]]]:
    """``tinybcnn ARGV --help``: its text and ``{option: (invocation, help)}`` (one line each:
    no wrapping at 1,000 columns; a long invocation puts its help on the next line)."""
    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit) as stop:
        cli.main([*argv, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    entries: dict[str, list[str]] = {}
    last = None
    for line in out.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if indent in (2, 4) and line.strip():   # an option, or a subcommand (indent 4)
            invocation, _, text = line.strip().partition("  ")
            last = invocation.split(", ")[-1].split()[0].strip("{}")
            entries[last] = [invocation, text.strip()]
        elif indent > 4 and last is not None:   # the help under a long invocation
            entries[last][1] = " ".join([entries[last][1], line.strip()]).strip()
        else:
            last = None
    return out, {k: (v[0], v[1]) for k, v in entries.items()}


@pytest.mark.parametrize("command", list(HELP))
def test_every_option_shows_its_help_in_full(command, monkeypatch, capsys):
    out, entries = _help_of([command], monkeypatch, capsys)
    helps = {k: text for k, (_, text) in entries.items() if k not in ("--help", "the")}
    want = dict(HELP[command])
    if "name" in want:   # experiment's positional shows as its choices
        del want["name"]
        helps = {k: v for k, v in helps.items() if not k.startswith("small-data")}
    assert helps == want


def test_the_commands_and_the_description_show_in_the_top_help(monkeypatch, capsys):
    out, entries = _help_of([], monkeypatch, capsys)
    assert {k: text for k, (_, text) in entries.items() if k in COMMANDS} == COMMANDS
    assert out.startswith("usage: tinybcnn [-h] {demo,train,evaluate,predict,experiment,info}")
    assert ("Bayesian CNNs with MC dropout (Gal & Ghahramani), from scratch in NumPy/CuPy."
            in out.splitlines())


def test_experiment_shows_its_active_learning_group_and_metavars(monkeypatch, capsys):
    out, entries = _help_of(["experiment"], monkeypatch, capsys)
    lines = out.splitlines()
    at = lines.index("active-learning:")
    assert lines[at + 1] == ("  the active-learning experiment's scale (defaults: "
                             "docs/results.md section 6)")
    assert entries["--acquisitions"][0] == "--acquisitions A,B,..."
    assert entries["--thresholds"][0] == "--thresholds E,..."
    assert entries["--rounds"][0] == "--rounds ROUNDS"   # the group's options are listed under it
    assert lines.index("  --rounds ROUNDS       acquisition rounds of 10 images (25)") > at


# -- what the parser hands on (no command runs) ------------------------------------------------
@pytest.mark.parametrize("given, members", [("1", 1), ("100", 100)])
def test_members_from_1_to_100_are_taken(given, members):
    args = cli.build_parser().parse_args(["train", "--out", "r", "--members", given])
    assert args.members == members


@pytest.mark.parametrize("given", ["0", "101"])
def test_members_outside_1_to_100_are_refused_saying_the_range(given, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--out", "r", "--members", given])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"tinybcnn train: error: argument --members: expected a number of members from 1 to "
        f"100, got {given} (see tinybcnn train --help)\n")


@pytest.mark.parametrize("command", [["train"], ["experiment", "ood"]])
def test_out_is_required_where_it_has_no_default(command, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(command)
    assert stop.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err


def test_demo_writes_into_tinybcnn_demo_by_default():
    assert cli.build_parser().parse_args(["demo"]).out == "tinybcnn-demo"


@pytest.mark.parametrize("argv, given", [
    (["--data-dir=a=b", "--lr", "0.1"], {"--data-dir", "--lr"}),   # a value holding "="
    (["--out", "d", "--batch", "32"], {"--out", "--batch-size"}),   # a value, a prefix
    (["--p", "0.3", "--", "--seed", "1"], {"--p"}),                   # nothing after "--"
    (["--eval", "3", "--t", "1"], set()),                              # ambiguous prefixes
])
def test_given_options_are_what_the_user_typed(argv, given):
    assert cli._given_options(cli.build_parser(), "train", argv) == given


# -- how main ends a command that stops ----------------------------------------------------------
def _stopping_with(monkeypatch, command: str, error: BaseException) -> None:
    """``command``'s function raises ``error`` (main reads the functions when it builds the
    parser, so patching the module's name is enough)."""
    def stop(args):
        raise error
    monkeypatch.setattr(cli, f"_cmd_{command}", stop)


@pytest.mark.parametrize("argv, again", [
    (["demo"], "run the same command again to continue"),
    (["train", "--out", "r"], "continue with --resume"),
])
def test_an_interrupted_training_names_its_checkpoint_and_how_to_go_on(
        argv, again, monkeypatch, capsys):
    from tinybcnn.training.errors import TrainingInterrupted

    _stopping_with(monkeypatch, argv[0], TrainingInterrupted(7, Path("r") / "checkpoint.npz"))
    assert cli.main(argv) == 130
    assert capsys.readouterr().err == (
        f"\ntinybcnn: interrupted; checkpoint saved to {Path('r') / 'checkpoint.npz'}, {again}\n")


@pytest.mark.parametrize("error", ["interrupted without a checkpoint", "ctrl-c"])
def test_an_interruption_with_nothing_saved_says_only_that(error, monkeypatch, capsys):
    from tinybcnn.training.errors import TrainingInterrupted

    raised = (TrainingInterrupted(7, None) if error.startswith("interrupted")
              else KeyboardInterrupt())
    _stopping_with(monkeypatch, "train", raised)
    assert cli.main(["train", "--out", "r"]) == 130
    assert capsys.readouterr().err == "\ntinybcnn: interrupted\n"


def test_a_diverged_training_is_one_error_line_and_exit_1(monkeypatch, capsys):
    from tinybcnn.training.errors import TrainingDiverged

    error = TrainingDiverged(3, "loss", 0.5)
    _stopping_with(monkeypatch, "train", error)
    assert cli.main(["train", "--out", "r"]) == 1
    assert capsys.readouterr().err == f"tinybcnn: error: {error}\n"


@pytest.mark.parametrize("program", [True, False])
def test_the_program_stopped_by_sigterm_ignores_further_signals(program, monkeypatch, capsys):
    import signal

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    def terminate(args):
        # main's own handler, or the signal would end the test process itself
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, before[0])
        os.kill(os.getpid(), signal.SIGTERM)   # the handler raises Terminated here
    monkeypatch.setattr(cli, "_cmd_info", terminate)
    monkeypatch.setattr(sys, "argv", ["tinybcnn", "info"])
    try:
        assert cli.main(None if program else ["info"]) == 143
        after = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
    # the program on its way out: a second signal must not kill it; a caller of main in its
    # own process (a notebook) gets its handlers back
    assert after == ((signal.SIG_IGN, signal.SIG_IGN) if program else before)
    assert capsys.readouterr().err == "\ntinybcnn: terminated (SIGTERM)\n"


def test_a_closed_stdout_is_refused_before_anything_runs(monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(cli, "_cmd_info", lambda args: ran.append(args) or 0)
    monkeypatch.setattr(sys, "stdout", None)   # started with >&-
    assert cli.main(["info"]) == 2
    assert not ran
    assert capsys.readouterr().err == (
        "tinybcnn: error: stdout is closed, so the results of info would be lost; nothing was "
        "done: run it with stdout open (> FILE, or > /dev/null to discard them)\n")


def test_a_full_stdout_after_a_command_that_writes_no_file_says_so(monkeypatch, capsys):
    monkeypatch.setattr(cli, "silence_stdout", lambda: None)  # keep pytest's own stdout
    monkeypatch.setattr(cli, "_cmd_info", lambda args: print("{}") or 0)
    monkeypatch.setattr(sys, "stdout", FullStdout())
    assert cli.main(["info"]) == 1
    assert capsys.readouterr().err == ("tinybcnn: error: cannot write the results of info to "
                                       "stdout (No space left on device); no file was written\n")


# each with what a user reads after it: "(see tinybcnn COMMAND --help)"; a command that writes
# is given --out, which must not be made
@pytest.mark.parametrize("argv, line", [
    (["train", "--model", "lenet-x"], "argument --model: invalid choice: 'lenet-x' (choose from "
     "'lenet-all', 'lenet-ip', 'lenet-none')"),
    (["experiment", "nosuch"], "argument name: invalid choice: 'nosuch' (choose from "
     "'small-data', 'mc-samples', 'rotation', 'ood', 'regression', 'active-learning', 'rivals', "
     "'critique')"),
    (["train", "--backend", "tpu"], "argument --backend: invalid choice: 'tpu' (choose from "
     "'numpy', 'cupy', 'array_api_strict')"),
    (["train", "--dataset", "cifar"], "argument --dataset: unknown dataset 'cifar'; choose "
     "embedded, fashion-mnist, mnist or idx:DIR"),
    (["train", "--data-dir", "/no/such/dir"], "argument --data-dir: directory '/no/such/dir' "
     "does not exist"),
    (["evaluate", "{tmp}/gone"], "argument run_dir: directory '{tmp}/gone' does not exist"),
    (["predict", "{tmp}/gone", "{tmp}/x.npy"],
     "argument run_dir: directory '{tmp}/gone' does not exist"),
    (["predict", "{tmp}", "{tmp}/none.npy"], "argument images: file '{tmp}/none.npy' does not "
     "exist"),
    (["predict", "{tmp}", "{tmp}/x.npy", "--format", "xml"], "argument --format: invalid "
     "choice: 'xml' (choose from 'text', 'csv', 'json')"),
    (["info", "--backend", "tpu"], "argument --backend: invalid choice: 'tpu' (choose from "
     "'numpy', 'cupy', 'array_api_strict')"),
])
def test_the_parser_refuses_a_bad_argument_in_one_line(argv, line, tmp_path, capsys):
    _save(tmp_path / "x.npy", PIXELS[:1])
    out = ["--out", str(tmp_path / "r")] if argv[0] in ("train", "experiment") else []
    with pytest.raises(SystemExit) as stop:
        cli.main([*(a.format(tmp=tmp_path) for a in argv), *out])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (f"tinybcnn {argv[0]}: error: "
                                       f"{line.format(tmp=tmp_path)} (see tinybcnn {argv[0]} "
                                       "--help)\n")
    assert not (tmp_path / "r").exists()


def test_train_with_no_options_hands_on_the_papers_defaults(trained_with, tmp_path):
    assert cli.main(["train", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    config = trained_with["config"]
    # Caffe's LeNet solver and the paper's p, written out (not read off RunConfig)
    assert (config.model, config.dataset, config.batch_size, config.p, config.lr,
            config.weight_decay, config.length_scale, config.eval_samples, config.eval_every,
            config.seed, config.members) == ("lenet-all", "embedded", 64, 0.5, 0.01, 5e-4,
                                             None, 20, None, 0, 1)
    assert (config.train_size, config.test_size, config.iterations, config.epochs) == (
        None, None, None, None)


# -- what train hands on and prints --------------------------------------------------------------
def test_train_hands_replace_on(trained_with, tmp_path):
    for flags, replace in ((["--replace"], True), ([], False)):
        assert cli.main(["train", "--out", str(tmp_path / "r"), "--quiet", *flags]) == 0
        assert trained_with["replace"] is replace


def _members(*rows_of_each):
    """What train_members returns: (trainer, history) per member (stand-ins)."""
    return [(types.SimpleNamespace(iteration=7 + k), types.SimpleNamespace(rows=rows))
            for k, rows in enumerate(rows_of_each)]


@pytest.mark.parametrize("trained, lines", [
    (_members([{"std_error": 0.5}, {"std_error": 0.125, "mc_error": 0.0625}]),
     ["trained 7 iterations into {out} (std_error 0.1250, mc_error 0.0625)"]),
    (_members([{"std_error": None, "mc_error": 0.25}]),
     ["trained 7 iterations into {out} (mc_error 0.2500)"]),
    (_members([]), ["trained 7 iterations into {out}"]),               # never evaluated
    (_members([{"loss": 1.0}], [{"std_error": 0.1}]),
     ["member 0: trained 7 iterations into {out}",
      "member 1: trained 8 iterations into {out} (std_error 0.1000)"]),
])
def test_train_prints_each_members_iterations_and_last_errors(trained, lines, monkeypatch,
                                                              tmp_path, capsys):
    import tinybcnn.runs as runs_mod

    monkeypatch.setattr(runs_mod, "train_members", lambda config, out, **kw: trained)
    out = tmp_path / "r"
    assert cli.main(["train", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines() == [line.format(out=out) for line in lines]


def test_a_full_stdout_after_train_says_the_run_is_kept(trained_with, monkeypatch, tmp_path,
                                                        capsys):
    monkeypatch.setattr(cli, "silence_stdout", lambda: None)  # keep pytest's own stdout
    monkeypatch.setattr(sys, "stdout", FullStdout())
    out = tmp_path / "r"
    assert cli.main(["train", "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err.endswith(
        f"(No space left on device); the run in {out} is trained and kept\n")


def test_a_dataset_name_is_checked_and_an_idx_folder_must_exist(tmp_path):
    assert cli._dataset("fashion-mnist") == "fashion-mnist"
    assert cli._dataset(f"idx:{tmp_path}") == f"idx:{tmp_path}"
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        cli._dataset(f"idx:{tmp_path / 'gone'}")
    assert str(refused.value) == f"directory {str(tmp_path / 'gone')!r} does not exist"
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        cli._dataset("cifar")
    assert str(refused.value) == ("unknown dataset 'cifar'; choose embedded, fashion-mnist, "
                                  "mnist or idx:DIR")


@pytest.mark.parametrize("chosen, imported, backend", [
    (None, False, "Agg"),      # nothing chosen: the command line draws into files
    ("pdf", False, "pdf"),     # the user's MPLBACKEND is kept
    (None, True, None),        # matplotlib already in use here (a notebook): left alone
])
def test_figures_go_to_agg_unless_a_backend_is_chosen_or_in_use(chosen, imported, backend,
                                                                 monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)
    if chosen:
        monkeypatch.setenv("MPLBACKEND", chosen)
    if imported:
        monkeypatch.setitem(sys.modules, "matplotlib", types.ModuleType("matplotlib"))
    else:
        monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    cli._figures_to_files()
    assert os.environ.get("MPLBACKEND") == backend


@pytest.mark.parametrize("argv, other_out", [
    (["train", "--out", "r"], ", or choose an --out on another disk,"),
    (["info"], ""),                                  # no --out to offer
    (["evaluate", "{run}"], ""),                     # writes into the run it scores
])
def test_a_full_disk_offers_another_out_only_to_a_command_with_one(argv, other_out, tmp_path,
                                                                  monkeypatch, capsys):
    _stopping_with(monkeypatch, argv[0], OSError(28, "No space left on device", "r/x.npz"))
    assert cli.main([a.format(run=tmp_path) for a in argv]) == 2
    assert capsys.readouterr().err == (
        "tinybcnn: error: the disk is full writing r/x.npz ([Errno 28] No space left on "
        f"device); free some space there{other_out} and run the command again\n")


def test_a_reader_that_leaves_ends_quietly_with_stdout_on_devnull(monkeypatch, tmp_path, capsys):
    """``tinybcnn info | head -1``: the pipe breaks; main exits 0, says nothing, and points
    stdout's descriptor at /dev/null so the interpreter's last flush cannot fail again."""
    _stopping_with(monkeypatch, "info", BrokenPipeError(32, "Broken pipe"))
    with open(tmp_path / "stdout", "w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        assert cli.main(["info"]) == 0
        pointed_at = os.fstat(stdout.fileno())
    assert (pointed_at.st_rdev, pointed_at.st_ino) == (os.stat(os.devnull).st_rdev,
                                                       os.stat(os.devnull).st_ino)
    assert capsys.readouterr().err == ""


def test_main_gives_the_warning_printer_and_stdout_back(monkeypatch):
    """main shows warnings its own way and guards stdout while a command runs, and puts both
    back after (a notebook calling main keeps its own)."""
    monkeypatch.setattr(cli, "_cmd_info", lambda args: 0)
    before = warnings.showwarning, sys.stdout
    for stop in (None, ValueError("bad"), KeyboardInterrupt()):
        if stop is not None:
            _stopping_with(monkeypatch, "info", stop)
        cli.main(["info"])
        assert (warnings.showwarning, sys.stdout) == before, stop


@pytest.mark.parametrize("parse, text, value", [
    (cli._positive_float, "1e-9", 1e-9), (cli._non_negative_float, "0", 0.0),
    (cli._positive_int, "1", 1), (cli._drop_probability, "0", 0.0),
])
def test_a_number_at_its_closed_bound_is_taken(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize("parse, text, line", [
    (cli._positive_float, "0", "expected a positive number, got 0"),   # (0, inf): 0 is out
    (cli._positive_float, "-1", "expected a positive number, got -1"),
    (cli._positive_float, "abc", "expected a positive number, got 'abc'"),
    (cli._positive_int, "1.5", "expected a positive integer, got '1.5'"),
    (cli._drop_probability, "1", "expected a drop probability p in [0, 1), got 1"),
])
def test_a_number_outside_its_range_or_not_a_number_is_named(parse, text, line):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == line


def test_options_without_a_command_are_refused_naming_the_missing_command(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--quiet"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("tinybcnn: error: the following arguments are required: "
                                       "command (see tinybcnn --help)\n")


def test_demo_with_no_options_hands_on_its_documented_defaults(monkeypatch, tmp_path):
    """The numbers `tinybcnn demo --help` shows, written out (README's main job)."""
    asked = {}
    monkeypatch.setattr(demo_mod, "run_demo", lambda **kw: asked.update(kw))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo"]) == 0
    assert asked == dict(out="tinybcnn-demo", seed=0, train_size=1000, test_size=2000,
                         iterations=None, samples=50, quick=False, progress=True,
                         replace=False)


def test_predict_takes_every_format_it_offers(tmp_path):
    images = _save(tmp_path / "x.npy", PIXELS[:1])
    for form in ("text", "csv", "json"):
        args = cli.build_parser().parse_args(["predict", str(tmp_path), images, "--format", form])
        assert args.format == form


def test_evaluate_and_predict_take_50_samples_by_default(evaluated, run_of, nets, monkeypatch):
    run, asked, _ = evaluated
    assert cli.main(["evaluate", str(run), "--quiet"]) == 0
    predicted = []

    def stop(model, x, t, *args, **kw):   # the T predict asks for; then stop (Ctrl-C)
        predicted.append(t)
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_predict_with_progress", stop)
    images = _save(run / "x.npy", PIXELS[:1])
    assert cli.main(["predict", str(run_of(nets[:1])), images, "--quiet"]) == 130
    assert (asked["samples"], predicted) == (50, [50])
