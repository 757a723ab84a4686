"""The ``tinybcnn`` command line (also ``python -m tinybcnn``).

Bad input — arguments, files, checkpoints, a missing GPU — gets one line on stderr and exit
code 2, never a traceback. Ctrl-C during training saves a checkpoint and exits 130; SIGTERM
(``kill``, ``timeout``, job schedulers) does the same and exits 143.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .backend import BACKENDS
from .choices import MAX_SAMPLES
from .terminal import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    GuardedStdout,
    StdoutFailed,
    catch_signals,
    error_line,
    interrupt_code,
    restore_signals,
    say,
    show_warning,
    silence_stdout,
    stopped_by,
)

__all__ = ["main", "build_parser"]

class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the default prints the whole usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument types: each raises ArgumentTypeError with the reason --------------------------
def _number(kind: type, low: float, high: float, what: str, low_open: bool = False) -> Any:
    """An argparse type: ``kind(text)`` within ``[low, high)`` (``(low, high)`` if low_open)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (low < value if low_open else low <= value) or not value < high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return parse


_positive_int = _number(int, 1, math.inf, "a positive integer")
_non_negative_int = _number(int, 0, math.inf, "an integer >= 0")
_positive_float = _number(float, 0, math.inf, "a positive number", low_open=True)
_non_negative_float = _number(float, 0, math.inf, "a number >= 0")
_drop_probability = _number(float, 0, 1, "a drop probability p in [0, 1)")
#: The most MC samples every ``--samples`` (and ``train --eval-samples``) takes:
#: :data:`tinybcnn.choices.MAX_SAMPLES`.
MAX_PREDICT_SAMPLES = MAX_SAMPLES
_predict_samples = _number(int, 1, MAX_PREDICT_SAMPLES + 1,
                           f"a number of samples from 1 to {MAX_PREDICT_SAMPLES:,}")
_eval_samples = _number(int, 0, MAX_PREDICT_SAMPLES + 1,
                        f"a number of samples from 0 to {MAX_PREDICT_SAMPLES:,}")


def _dataset(text: str) -> str:
    from .data import DATASET_NAMES

    if text in DATASET_NAMES[:-1] or text.startswith("idx:"):
        # "~" expanded as the loader expands it (idx:~/data works, unquoted or quoted)
        if text.startswith("idx:") and not Path(text[4:]).expanduser().is_dir():
            raise argparse.ArgumentTypeError(f"directory {text[4:]!r} does not exist")
        return text
    raise argparse.ArgumentTypeError(
        f"unknown dataset {text!r}; choose embedded, fashion-mnist, mnist or idx:DIR")


def _existing_dir(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"directory {text!r} does not exist")
    return text


def _existing_file(text: str) -> str:
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory, not a file")
    if Path(text).exists() and not Path(text).is_file():  # a FIFO, a socket, a device
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular file; give an .npy or "
                                         "IDX file saved on disk")
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"file {text!r} does not exist")
    return text


# -- the parser ------------------------------------------------------------------------------
def _add_common(p: argparse.ArgumentParser, out: bool = True, out_default: str | None = None,
                seed: bool = True) -> None:
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="array backend (default: $TINYBCNN_BACKEND or numpy)")
    if seed:
        p.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (0)")
    if out:
        p.add_argument("--out", default=out_default, required=out_default is None,
                       help="output directory" + (f" ({out_default})" if out_default else ""))
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="BLAS threads (default: $TINYBCNN_THREADS, else the free CPUs)")


def _add_replace(p: argparse.ArgumentParser, what: str) -> None:
    """``--replace``, the same flag for every command that may replace a run: ``what`` it does
    there. Without it nothing finished or interrupted is ever removed."""
    p.add_argument("--replace", action="store_true", help=what)


def _add_data(p: argparse.ArgumentParser, default: str | None = "embedded") -> None:
    p.add_argument("--dataset", type=_dataset, default=default,
                   help="embedded | fashion-mnist | mnist | idx:DIR" +
                   (f" ({default})" if default else ""))
    p.add_argument("--data-dir", type=_existing_dir, default=None,
                   help="a folder to search first for the fashion-mnist / mnist IDX files "
                   "(downloads are cached in ~/.cache/tinybcnn, not here)")


def build_parser() -> argparse.ArgumentParser:
    """The ``tinybcnn`` argument parser with its subcommands.

    Building it imports only argparse, :mod:`tinybcnn.choices` and :mod:`tinybcnn.runconfig`
    (no SciPy, matplotlib, demo or training code), so ``--help`` and argument errors are
    instant."""
    parser = _Parser(prog="tinybcnn", description="Bayesian CNNs with MC dropout "
                     "(Gal & Ghahramani), from scratch in NumPy/CuPy.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_demo(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    _add_experiment(sub)
    _add_info(sub)
    return parser


def _add_demo(sub: Any) -> None:
    """``tinybcnn demo``: the main job."""
    from .choices import DEMO_ITERATIONS, DEMO_SAMPLES, DEMO_TEST_SIZE, DEMO_TRAIN_SIZE

    p = sub.add_parser("demo", help="small-data Bayesian CNN vs baseline: table + figures")
    _add_common(p, out_default="tinybcnn-demo")
    p.add_argument("--train-size", type=_positive_int, default=DEMO_TRAIN_SIZE,
                   help=f"training images ({DEMO_TRAIN_SIZE})")
    p.add_argument("--test-size", type=_positive_int, default=DEMO_TEST_SIZE,
                   help=f"test images ({DEMO_TEST_SIZE})")
    p.add_argument("--iterations", type=_positive_int, default=None,
                   help=f"SGD iterations per model (default {DEMO_ITERATIONS}; 60 with --quick)")
    p.add_argument("--samples", type=_predict_samples, default=DEMO_SAMPLES,
                   help=f"MC samples T ({DEMO_SAMPLES})")
    p.add_argument("--quick", action="store_true", help="a tiny run, for a smoke test")
    _add_replace(p, "train both models afresh, replacing the runs in --out (without it, a run "
                 "there with other settings is refused)")
    p.set_defaults(func=_cmd_demo)


def _add_train(sub: Any) -> None:
    """``tinybcnn train``: its defaults are :meth:`RunConfig.defaults`."""
    from .choices import MODEL_HELP
    from .runconfig import DEFAULT_EPOCHS, MAX_MEMBERS, MODEL_NAMES, RunConfig

    run = RunConfig.defaults()  # the run's defaults, stated once there
    p = sub.add_parser("train", help="train a model into a run directory")
    p.add_argument("--model", choices=MODEL_NAMES, default=run["model"],
                   help=MODEL_HELP + f" (default {run['model']})")
    _add_data(p, default=run["dataset"])
    p.add_argument("--train-size", type=_positive_int, default=run["train_size"],
                   help="seeded stratified subset of the training split (default: all of it)")
    p.add_argument("--test-size", type=_positive_int, default=run["test_size"],
                   help="seeded stratified subset of the test split (default: all of it)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_positive_float, default=run["epochs"],
                        help=f"passes over the training set (default {DEFAULT_EPOCHS} if "
                        "neither this nor --iterations is given)")
    length.add_argument("--iterations", type=_positive_int, default=run["iterations"],
                        help=f"SGD updates in total (default: {DEFAULT_EPOCHS} epochs' worth)")
    p.add_argument("--batch-size", type=_positive_int, default=run["batch_size"],
                   help=f"minibatch size ({run['batch_size']})")
    p.add_argument("--p", type=_drop_probability, default=run["p"],
                   help=f"drop probability ({run['p']})")
    p.add_argument("--lr", type=_positive_float, default=run["lr"],
                   help=f"base learning rate of the inv schedule ({run['lr']})")
    # mutually exclusive: None here, and the run's default decay set in _cmd_train when
    # neither is given
    decay = p.add_mutually_exclusive_group()
    decay.add_argument("--weight-decay", type=_non_negative_float, default=None,
                       help=f"Caffe-style weight decay (default {run['weight_decay']:g})")
    decay.add_argument("--length-scale", type=_positive_float, default=None,
                       help="prior length-scale l instead of --weight-decay")
    p.add_argument("--members", type=_number(int, 1, MAX_MEMBERS + 1,
                                             f"a number of members from 1 to {MAX_MEMBERS}"),
                   default=run["members"],
                   help="K > 1: a deep ensemble of K networks from K seeds into one run folder "
                   "(member-<k>.npz), resumable member by member; evaluate and predict "
                   "average them (default 1)")
    p.add_argument("--eval-every", type=_positive_int, default=run["eval_every"],
                   help="evaluate and checkpoint every K iterations (default: at the end)")
    p.add_argument("--eval-samples", type=_eval_samples, default=run["eval_samples"],
                   help=f"MC samples in the evaluations during training ({run['eval_samples']}), "
                   f"at most {MAX_PREDICT_SAMPLES:,}; with --resume it may change (the "
                   "evaluations only, not the weights)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint; its config.json gives "
                   "every option except --iterations/--epochs, which set a new total, and "
                   "--eval-samples")
    _add_replace(p, "train afresh into --out, replacing the finished or interrupted run there")
    _add_common(p)
    p.set_defaults(func=_cmd_train)


def _add_evaluate(sub: Any) -> None:
    """``tinybcnn evaluate RUN_DIR``."""
    p = sub.add_parser("evaluate", help="standard and MC-dropout metrics -> RUN_DIR/metrics.json "
                       "(with --dataset D: RUN_DIR/metrics-D.json)")
    p.add_argument("run_dir", type=_existing_dir)
    _add_data(p, default=None)
    p.add_argument("--samples", type=_predict_samples, default=50,
                   help=f"MC samples T (50), at most {MAX_PREDICT_SAMPLES:,}")
    _add_common(p, out=False)
    p.set_defaults(func=_cmd_evaluate)


def _add_predict(sub: Any) -> None:
    """``tinybcnn predict RUN_DIR IMAGES``."""
    p = sub.add_parser("predict", help="classify images from an .npy or IDX file")
    p.add_argument("run_dir", type=_existing_dir)
    p.add_argument("images", type=_existing_file,
                   help=".npy (N,H,W) or (N,1,H,W), or an IDX file: uint8 pixels 0-255, or "
                   "floats scaled as in training, pixels / 256 (not / 255)")
    p.add_argument("--samples", type=_predict_samples, default=50,
                   help=f"MC samples T (50), at most {MAX_PREDICT_SAMPLES:,}; of a deep "
                   "ensemble (train --members K): T passes of each member, and 1 the deep "
                   "ensemble itself (each member's deterministic pass)")
    p.add_argument("--format", choices=("text", "csv", "json"), default="text",
                   help="text: a table (default); csv: one row per image with the probability "
                   "of every class, entropy, mutual_info, variation_ratio; json: the same, "
                   "one object")
    _add_common(p, out=False)
    p.set_defaults(func=_cmd_predict)


def _add_experiment(sub: Any) -> None:
    """``tinybcnn experiment NAME`` (the names: :data:`tinybcnn.choices.EXPERIMENT_NAMES`)."""
    from .choices import EXPERIMENT_NAMES

    p = sub.add_parser("experiment", help="the paper's experiments (see docs/results.md)")
    p.add_argument("name", choices=EXPERIMENT_NAMES)
    _add_data(p)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for CI (< 1 minute)")
    p.add_argument("--seeds", type=_positive_int, default=None, help="number of seeds")
    p.add_argument("--iterations", type=_positive_int, default=None,
                   help="training iterations per network (default: the experiment's own)")
    al = p.add_argument_group("active-learning", "the active-learning experiment's scale "
                              "(defaults: docs/results.md section 6)")
    al.add_argument("--rounds", type=_positive_int, default=None,
                    help="acquisition rounds of 10 images (25)")
    al.add_argument("--pool-subset", type=_positive_int, default=None,
                    help="pool images scored per round (1000; the paper: 2000)")
    al.add_argument("--samples", type=_predict_samples, default=None,
                    help="MC passes T for scoring (20)")
    al.add_argument("--acquisitions", default=None, metavar="A,B,...",
                    help="comma list of random, bald, max_entropy, variation_ratio, "
                         "variation_ratio_probs, mean_std, bald_standard")
    al.add_argument("--thresholds", default=None, metavar="E,...",
                    help="test errors for the labels-to-reach table (0.25,0.2)")
    p.add_argument("--resume", action="store_true",
                   help="reuse the finished runs in --out and continue interrupted ones "
                        "(active-learning: continue at the round it stopped); refused if "
                        "--out was made with another data set or --seed")
    _add_replace(p, "start afresh, replacing the runs, saved state and data set and seed "
                    "record in --out")
    _add_common(p)
    p.set_defaults(func=_cmd_experiment)


def _add_info(sub: Any) -> None:
    """``tinybcnn info``."""
    p = sub.add_parser("info", help="backend, versions, BLAS threads, GPU")
    p.add_argument("--backend", choices=BACKENDS, default=None)
    p.set_defaults(func=_cmd_info)


# -- the commands ----------------------------------------------------------------------------
def _set_backend(args: argparse.Namespace) -> None:
    from .backend import get_backend, set_backend

    if getattr(args, "backend", None):
        set_backend(args.backend)
    else:
        get_backend()  # validates $TINYBCNN_BACKEND


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    args.kept = f"the files written in {args.out} are kept"
    run_demo(out=args.out, seed=args.seed, train_size=args.train_size,
             test_size=args.test_size, iterations=args.iterations, samples=args.samples,
             quick=args.quick, progress=not args.quiet, replace=args.replace)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .runs import RunConfig, train_members

    if args.resume and args.replace:
        raise ValueError("give --resume or --replace, not both")
    if args.resume:
        config = None  # the run's own config.json, with a new total if one is given
        _check_resume_flags(args)
    else:
        weight_decay = args.weight_decay
        if weight_decay is None and args.length_scale is None:
            weight_decay = RunConfig.defaults()["weight_decay"]
        config = RunConfig(model=args.model, dataset=args.dataset, data_dir=args.data_dir,
                           train_size=args.train_size, test_size=args.test_size,
                           iterations=args.iterations, epochs=args.epochs,
                           batch_size=args.batch_size, p=args.p, lr=args.lr,
                           weight_decay=weight_decay, length_scale=args.length_scale,
                           eval_every=args.eval_every, eval_samples=args.eval_samples,
                           seed=args.seed, members=args.members).validate()
    eval_samples = args.eval_samples if args.resume and "--eval-samples" in args.given else None
    trained = train_members(config, args.out, resume=args.resume, progress=not args.quiet,
                            total=(args.iterations, args.epochs), replace=args.replace,
                            eval_samples=eval_samples)
    args.kept = f"the run in {args.out} is trained and kept"
    for k, (trainer, history) in enumerate(trained):
        last = history.rows[-1] if history.rows else {}
        summary = ", ".join(f"{key} {last[key]:.4f}" for key in ("std_error", "mc_error")
                            if last.get(key) is not None)
        who = "" if len(trained) == 1 else f"member {k}: "
        print(f"{who}trained {trainer.iteration} iterations into {args.out}" +
              (f" ({summary})" if summary else ""))
    return 0


#: ``train`` options that set the run's configuration: with ``--resume`` the run's config.json
#: gives them, so one given with another value is refused (the total, --iterations or --epochs,
#: and --eval-samples, which changes the evaluations but not the weights, are the ones a resume
#: may change; --quiet, --threads, --backend apply to this session only).
_RESUME_CONFIG = {"--model": "model", "--dataset": "dataset", "--data-dir": "data_dir",
                  "--train-size": "train_size", "--test-size": "test_size",
                  "--batch-size": "batch_size", "--p": "p", "--lr": "lr",
                  "--weight-decay": "weight_decay", "--length-scale": "length_scale",
                  "--eval-every": "eval_every", "--seed": "seed"}
_RESUME_CONFIG["--members"] = "members"  # a deep ensemble's K (train --members)


def _check_resume_flags(args: argparse.Namespace) -> None:
    """Refuse, in one line, configuration flags given with ``--resume`` whose value differs
    from the run's config.json; a flag that repeats the run's value is harmless and passes."""
    from .runs import CONFIG, RunConfig

    given = [o for o in (*_RESUME_CONFIG, "--backend") if o in getattr(args, "given", ())]
    path = Path(args.out) / CONFIG
    if not given or not path.is_file():
        return  # nothing given, or no run: train_run says what is missing
    config = RunConfig.load(path)
    clash = []
    for option in given:
        if option not in _RESUME_CONFIG:
            continue
        field = _RESUME_CONFIG[option]
        new, old = getattr(args, field), getattr(config, field)
        same = (new == old or (isinstance(new, float) and isinstance(old, int | float)
                               and math.isclose(new, old, rel_tol=1e-12)))
        if not same:
            clash.append(f"{option} {new} (the run has {old})")
    if "--backend" in getattr(args, "given", ()) and args.backend != config.backend:
        # build() switches to the run's backend: the asked one would be ignored in silence
        raise ValueError(f"--backend {args.backend}: the run in {args.out} trains on "
                         f"{config.backend} ({CONFIG}), and --resume continues it there (its "
                         "float32 sums round differently on another backend); drop --backend, "
                         "or train a new run in another --out")
    if clash:
        raise ValueError(f"{', '.join(clash)}: --resume continues the run in {args.out} as its "
                         f"{CONFIG} says; drop {'this flag' if len(clash) == 1 else 'these flags'}"
                         ", or train a new run in another --out (only --iterations/--epochs, "
                         "the total, and --eval-samples may change)")


def _given_options(parser: argparse.ArgumentParser, command: str | None,
                   argv: Sequence[str]) -> set[str]:
    """The long option strings of ``command`` that ``argv`` names (``--lr 0.1``, ``--lr=0.1``,
    or a prefix argparse accepts, ``--batch 32``)."""
    sub = next((a.choices[command] for a in parser._actions
                if isinstance(a, argparse._SubParsersAction) and command in a.choices), None)
    if sub is None:
        return set()
    options = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
    given = set()
    for token in argv:
        if token == "--":
            break
        name = token.split("=", 1)[0]
        if not name.startswith("--"):
            continue
        hits = [o for o in options if o == name] or [o for o in options if o.startswith(name)]
        if len(hits) == 1:
            given.add(hits[0])
    return given


def _chosen_backend(args: argparse.Namespace) -> str | None:
    """The backend the user asked for (``--backend``, else $TINYBCNN_BACKEND), or None."""
    return getattr(args, "backend", None) or os.environ.get("TINYBCNN_BACKEND") or None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .runs import evaluate_run, metrics_file

    result = evaluate_run(args.run_dir, dataset=args.dataset, samples=args.samples,
                          seed=args.seed, data_dir=args.data_dir, progress=not args.quiet,
                          backend=_chosen_backend(args))
    from .report import results_table, scored_line

    scored = scored_line(result.get("dataset", args.dataset or "the run's"), result["n_test"],
                         result["samples"])
    if result.get("iteration") is not None:
        scored += f"; checkpoint at iteration {result['iteration']:,}"
    if result.get("members", 1) > 1:
        k = result["members"]
        rows = [(f"ensemble (K={k})", result["standard"]),
                (f"MC ensemble (K={k}, T={result['samples']})", result["mc"])]
    else:
        rows = [("standard", result["standard"]),
                (f"MC (T={result['samples']})", result["mc"])]
    written = metrics_file(args.run_dir, args.dataset, args.data_dir)
    args.kept = f"{written} was written and is kept"
    print(results_table(rows, scored, [written]))
    return 0


def _read_images(path: str) -> Any:
    """Images from .npy or IDX as float32 (N, 1, H, W), scaled like the training data."""
    import numpy as np

    from .data import as_float, read_idx
    from .files.npyfile import load_npy, sniff

    if path.endswith(".npy") or sniff(path) in ("npy", "npz", "pickle", "empty"):
        images = load_npy(path)  # checks the kind and the declared size before loading
    else:
        images = read_idx(path)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3:
        raise ValueError(f"{path}: images must be (N, H, W) or (N, 1, H, W), "
                         f"got shape {images.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"{path} holds no images")
    if images.dtype == np.uint8:
        return as_float(images)
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{path}: images must be uint8 or floats in [0, 1], got {images.dtype}")
    bad = int(np.count_nonzero(~np.isfinite(images)))
    if bad:
        raise ValueError(f"{path}: {bad:,} pixel values are NaN or infinite; images must be "
                         "finite")
    if images.min() < 0 or images.max() > 1:
        raise ValueError(f"{path}: float images must lie in [0, 1] (pixels / 256, as the "
                         f"training data); got values in [{images.min()}, {images.max()}]. "
                         "Divide by 256 or save them as uint8")
    if images.max() == 1.0:
        # uint8 / 256 tops out at 255/256; an exact 1.0 is what pixels / 255 (torchvision's
        # ToTensor) gives: a small shift, so a warning, not an error
        warnings.warn(f"{path}: float pixels reach 1.0, which suggests pixels / 255; the model "
                      "was trained on pixels / 256 (at most 0.996): multiply by 255/256 or "
                      "save the images as uint8", stacklevel=2)
    return images[:, None].astype(np.float32)


def _cmd_predict(args: argparse.Namespace) -> int:
    from .data import class_names
    from .runs import load_members

    config, models = load_members(args.run_dir, backend=_chosen_backend(args))
    # one network, or a deep ensemble's members (a list), predicted alike below
    model = models[0] if len(models) == 1 else models
    x = _read_images(args.images)
    if tuple(x.shape[1:]) != tuple(models[0].in_shape):
        raise ValueError(f"{args.images}: the model takes images of shape "
                         f"{tuple(models[0].in_shape)[1:]}, got {tuple(x.shape[2:])}")
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is the one line below
        pred = _predict_with_progress(model, x, args.samples, args.seed, not args.quiet)
    _check_finite_prediction(pred, args.run_dir)
    names = class_names(config.dataset, int(pred.probs.shape[1]))
    if args.format != "text":
        from .report import write_predictions

        write_predictions(sys.stdout, pred, names, args.format, samples=args.samples,
                          seed=args.seed, images=args.images)
        return 0
    # the name last: names hold spaces ("Ankle boot"), the numbers stay in fixed columns
    print(f"{'image':>6s} {'class':>6s} {'prob':>6s} {'entropy':>8s} {'MI':>7s}  name")
    for i, (k, prob, h, mi) in enumerate(zip(pred.labels, pred.confidence, pred.entropy,
                                             pred.mutual_info, strict=True)):
        print(f"{i:6d} {int(k):6d} {prob:6.3f} {h:8.3f} {mi:7.3f}  {names[int(k)]}")
    return 0


def _check_finite_prediction(pred: Any, run_dir: str) -> None:
    """Refuse predictions that are not numbers: finite but huge weights overflow the logits
    and softmax gives NaN. Printed, they would read as class 0; as JSON, they are not JSON."""
    import numpy as np

    bad = int(np.count_nonzero(~np.all(np.isfinite(pred.probs), axis=1)))
    if bad:
        raise ValueError(f"{Path(run_dir) / 'checkpoint.npz'}: the model's outputs are not "
                         f"finite (NaN) for {bad:,} of {len(pred.probs):,} images: its weights "
                         "are so large that the logits overflow; nothing was written")


def _predict_with_progress(model: Any, x: Any, samples: int, seed: int, progress: bool,
                           work: int = 100_000) -> Any:
    """MC prediction in chunks of about ``work`` image-passes (at most 1,000 images) with a
    progress bar, so a large ``--samples`` shows how far it has got. Each chunk passes its
    images' offset (``first_image``), so the masks are per image and the result is exactly
    ``mc_predict(model, x, samples, seed)`` whatever the chunks (up to float rounding).

    ``model``: one network, or a deep ensemble's list of members (their passes averaged:
    :func:`tinybcnn.ensembles.ensemble_predict`, ``samples`` passes of each; with
    ``samples`` 1, each member's deterministic pass)."""
    import numpy as np

    from . import predict
    from .ensembles import ensemble_predict
    from .predict import Prediction
    from .progress import progress_bar

    def mc_predict(model: Any, x: Any, samples: int, seed: int,
                   first_image: int = 0) -> Prediction:
        """One network's MC prediction (looked up when called), or the ensemble's."""
        if isinstance(model, list):
            return ensemble_predict(model, x, samples=samples, seed=seed,
                                    first_image=first_image)
        return predict.mc_predict(model, x, samples=samples, seed=seed,
                                  first_image=first_image)

    chunk = max(1, min(1000, work // samples))
    if isinstance(model, list):  # K members: K times the passes per image
        chunk = max(1, chunk // len(model))
    if len(x) <= chunk:
        return mc_predict(model, x, samples=samples, seed=seed)
    bar = progress_bar(len(x), enabled=progress, desc=f"predict (T={samples})", unit="img")
    parts = []
    try:
        for start in range(0, len(x), chunk):
            parts.append(mc_predict(model, x[start:start + chunk], samples=samples, seed=seed,
                                    first_image=start))
            bar.update(len(parts[-1].probs))
    finally:
        bar.close()
    return Prediction(**{k: np.concatenate([getattr(p, k) for p in parts])
                         for k in ("probs", "entropy", "mutual_info", "variation_ratio")},
                      samples=parts[0].samples)


def _cmd_experiment(args: argparse.Namespace) -> int:
    from . import experiments

    # the active-learning flags, where given, are settings overrides (another experiment
    # refuses them in one line: "unknown setting(s) ...")
    overrides = {k: getattr(args, k) for k in ("rounds", "pool_subset", "samples",
                                               "acquisitions", "thresholds")
                 if getattr(args, k, None) is not None}
    args.kept = f"the files written in {args.out} are kept"
    result_path = experiments.run(args.name, out=args.out, dataset=args.dataset,
                                  data_dir=args.data_dir, quick=args.quick, seeds=args.seeds,
                                  iterations=args.iterations, seed=args.seed,
                                  progress=not args.quiet, resume=args.resume,
                                  replace=args.replace, **overrides)
    from .report import experiment_summary

    print(experiment_summary(result_path))  # its last line: "files: RESULTS.json, figures"
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .info import info_report

    print(json.dumps(info_report(), indent=2))
    return 0


def _figures_to_files() -> None:
    """Draw the figures with Agg: the command line only writes them to files, and must work
    with no display (over ssh, in CI) whatever a matplotlibrc says. A backend the user chose
    with ``MPLBACKEND``, or one already in use in this process (``main`` called from a
    notebook), is left alone. Sets the variable rather than importing matplotlib, so that
    commands that draw nothing stay light."""
    if "MPLBACKEND" not in os.environ and "matplotlib" not in sys.modules:
        os.environ["MPLBACKEND"] = "Agg"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Bare ``tinybcnn`` prints the help and exits 2 (no command was run)."""
    parser = build_parser()
    program = argv is None  # the tinybcnn program itself, not a caller in its own process
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help()
        return EXIT_BAD_INPUT
    args = parser.parse_args(argv)
    args.given = _given_options(parser, args.command, argv)  # what the user typed, not defaults
    _figures_to_files()
    if sys.stdout is None:  # started with stdout closed (>&-): the results would be lost
        say(f"tinybcnn: error: stdout is closed, so the results of {args.command} would be "
             "lost; nothing was done: run it with stdout open (> FILE, or > /dev/null to "
             "discard them)")
        return EXIT_BAD_INPUT
    args.kept = None  # what a command has written and keeps if its results cannot be printed
    # after parsing, so --help and argument errors import none of this
    from .backend import BackendError, NamespaceMismatch
    from .training.errors import TrainingDiverged, TrainingInterrupted

    previous_term = catch_signals()
    previous_show, warnings.showwarning = warnings.showwarning, show_warning
    previous_stdout, sys.stdout = sys.stdout, GuardedStdout(sys.stdout)
    try:
        _set_backend(args)
        if hasattr(args, "threads"):  # a command that trains or predicts
            from .threads import apply_threads

            apply_threads(args.threads)
        code = int(args.func(args))
        sys.stdout.flush()  # a full stdout fails here, not silently at exit
        return code
    except StdoutFailed as exc:
        silence_stdout()
        say(f"tinybcnn: error: cannot write the results of {args.command} to stdout "
             f"({exc.error.strerror or exc.error}); {args.kept or 'no file was written'}")
        return EXIT_FAILED
    except TrainingInterrupted as exc:
        where = getattr(exc, "checkpoint_path", None)
        again = ("run the same command again to continue" if args.command == "demo"
                 else "continue with --resume")
        say(f"\ntinybcnn: {stopped_by()}; checkpoint saved to {where}, {again}"
             if where else f"\ntinybcnn: {stopped_by()}")
        return interrupt_code()
    except KeyboardInterrupt:
        say(f"\ntinybcnn: {stopped_by()}")
        return interrupt_code()
    except BrokenPipeError:  # e.g. `tinybcnn info | head -1`: the reader left, nothing to say
        # point stdout at /dev/null so the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except TrainingDiverged as exc:
        say(f"tinybcnn: error: {exc}")
        return EXIT_FAILED
    except (ValueError, OSError, BackendError, NamespaceMismatch) as exc:
        # DataError, CheckpointError, NpyFileError and RunLocked are ValueErrors: one line;
        # NamespaceMismatch (a TypeError: host data met a device model) is bad input too
        say(f"tinybcnn: error: {error_line(exc, hasattr(args, 'out'))}")
        return EXIT_BAD_INPUT
    finally:
        sys.stdout = previous_stdout
        warnings.showwarning = previous_show
        restore_signals(previous_term, program)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
