"""Bayesian active learning with image data (after Gal, Islam & Ghahramani, ICML 2017).

Start from a small balanced labelled set; each round, train lenet-all from scratch on it,
measure the test error, score a random subset of the unlabelled pool with an *acquisition
function* and label its top ``k``. The acquisition functions read the MC-dropout sample
probabilities ``p[t, n, k] = softmax(f(x_n; ω̂_t))_k``, shape ``(T, N, K)``:

``max_entropy``
    ``H[p̄]`` with ``p̄ = mean_t p_t``: the predictive entropy.
``bald``
    ``H[p̄] − mean_t H[p_t]``: the mutual information between the prediction and the weights
    (Houlsby et al. 2011), high where the passes disagree confidently.
``variation_ratio``
    ``1 − f_mode / T``, ``f_mode`` the number of passes whose argmax is the modal class: the
    vote count (Freeman 1965; Gal's thesis, section 3.3.1).
``variation_ratio_probs``
    ``1 − max_y p̄_y``: the form the active-learning paper writes (Gal, Islam & Ghahramani
    2017, eq. 3). Not the same statistic: if every pass gives ``(0.6, 0.4)`` the vote form is
    0 (all passes agree) and this one 0.4.
``mean_std``
    ``mean_k std_t(p_tk)``: the mean over classes of the standard deviation of the passes.
``random``
    Uniform: no model at all.
``bald_standard``
    The non-Bayesian control: BALD computed from standard dropout, i.e. from the single
    deterministic pass of the weight-averaged network (``T = 1``). With one pass there is no
    disagreement to measure: the score is exactly 0 for every image, so the ``k`` labelled
    are the first ``k`` of the (randomly ordered) scored subset. It shows that BALD's gain
    comes from the spread of the MC passes, not from the network itself.

Ties (common for the variation ratio with small ``T``) go to the earlier image of the scored
subset, which is itself in random order. The derivation of BALD is in
``docs/uncertainty-at-work.md``.

The paper reports the labels each function needs to reach a test error
(:func:`labels_to_reach_per_seed`, here per seed with the spread). A long run saves its
state after every round in ``OUT/active_learning_state.json`` (atomically); ``resume=True``
continues each curve at the round it stopped, with the same results as a run never stopped
(the round-``r`` network, the pool subsets and the MC masks are all keyed by the seed and
the round, and the two generators' states are saved).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..data import Dataset, as_float, load_dataset, stratified_indices
from ..files.identity import check_identity, identity, record_identity
from ..files.jsonfile import JSONFileError, read_json
from ..functional.checks import positive_int
from ..models import lenet
from ..objective import Objective
from ..optim import Adam
from ..predict import entropy, mc_predict, standard_predict
from ..random import stream
from ..runs import dataset_key
from ..threads import small_work_threads
from ..train import Trainer
from . import figures
from .common import machine_info, progress_bar, write_json
from .outdir import identity_path
from .runner import Request

__all__ = ["main", "ActiveLearningSettings", "FULL", "QUICK", "ACQUISITIONS", "max_entropy", "bald",
           "variation_ratio", "variation_ratio_probs", "mean_std", "random_scores", "acquire",
           "train_model", "test_error", "active_learning", "labels_to_reach",
           "labels_to_reach_per_seed", "last_half_mean_error", "report_table",
           "run_active_learning", "STATE_NAME"]

#: The state file of a run in progress (in the output folder; see :func:`run_active_learning`).
STATE_NAME = "active_learning_state.json"


# ---------------------------------------------------------------------------------------
# The acquisition functions: (T, N, K) sample probabilities -> (N,) scores, higher = label it
# ---------------------------------------------------------------------------------------

def _check_samples(probs: np.ndarray) -> np.ndarray:
    """``probs`` as float64 ``(T, N, K)``, or one clear error."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3 or 0 in probs.shape:
        raise ValueError(f"sample probabilities must have shape (T, N, K), got {probs.shape}")
    return probs


def max_entropy(probs: np.ndarray) -> np.ndarray:
    """Predictive entropy ``H[p̄]``, ``p̄ = mean_t p_t`` (nats), shape (N,)."""
    return entropy(_check_samples(probs).mean(axis=0))


def bald(probs: np.ndarray) -> np.ndarray:
    """Mutual information ``H[p̄] − mean_t H[p_t]`` between prediction and weights, shape (N,).

    Always ``>= 0`` (entropy is concave); 0 when every pass gives the same distribution.
    """
    probs = _check_samples(probs)
    return entropy(probs.mean(axis=0)) - entropy(probs).mean(axis=0)


def variation_ratio(probs: np.ndarray) -> np.ndarray:
    """``1 − f_mode / T``: the fraction of passes that do not vote for the modal class, (N,)."""
    probs = _check_samples(probs)
    t, _, k = probs.shape
    votes = np.argmax(probs, axis=2)                                       # (T, N)
    counts = np.stack([(votes == c).sum(axis=0) for c in range(k)], axis=1)  # (N, K)
    return 1.0 - counts.max(axis=1) / t


def variation_ratio_probs(probs: np.ndarray) -> np.ndarray:
    """``1 − max_y p̄_y`` with ``p̄ = mean_t p_t``: the paper's form of the variation ratio, (N,).

    Unlike :func:`variation_ratio` (the vote count) it sees how confident each pass is.
    """
    return 1.0 - _check_samples(probs).mean(axis=0).max(axis=1)


def mean_std(probs: np.ndarray) -> np.ndarray:
    """Mean over classes of the standard deviation over passes, ``mean_k std_t(p_tk)``, (N,)."""
    return _check_samples(probs).std(axis=0).mean(axis=1)


def random_scores(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform random scores, shape (N,): random acquisition (``probs`` only gives N)."""
    return rng.random(_check_samples(probs).shape[1])


#: Acquisition name -> (function of the (T, N, K) probabilities, how many passes it needs:
#: "mc" for T MC-dropout passes, "standard" for the one deterministic pass, None for none).
ACQUISITIONS: dict[str, tuple[Callable[..., np.ndarray], str | None]] = {
    "random": (random_scores, None),
    "max_entropy": (max_entropy, "mc"),
    "bald": (bald, "mc"),
    "variation_ratio": (variation_ratio, "mc"),
    "variation_ratio_probs": (variation_ratio_probs, "mc"),
    "mean_std": (mean_std, "mc"),
    "bald_standard": (bald, "standard"),
}


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ActiveLearningSettings:
    """Settings of the active-learning experiment (the defaults: see :data:`FULL`)."""

    acquisitions: tuple[str, ...] = ("random", "bald", "max_entropy", "variation_ratio",
                                     "variation_ratio_probs", "mean_std")
    initial: int = 20                   # balanced initial labelled set
    per_round: int = 10                 # images labelled per round (the paper's k)
    rounds: int = 25                    # acquisition rounds (labels: initial .. + rounds·k)
    pool_subset: int = 1000             # random pool images scored per round (paper: 2000)
    samples: int = 20                   # MC passes T for scoring (paper: 20)
    iterations: int = 300               # Adam updates per training from scratch
    batch_size: int = 32
    lr: float = 1e-3
    p: float = 0.5
    length_scale: float = 1.0           # prior length-scale: decay l²/(2 N keep) shrinks as N grows
    test_size: int | None = 2000        # stratified test subset (None: the whole test split)
    test_samples: int = 10              # MC passes for the test error
    seeds: int = 3
    thresholds: tuple[float, ...] = (0.25, 0.20)   # test errors for labels_to_reach (report)

    def __post_init__(self) -> None:
        """One clear error for a setting out of range."""
        unknown = [a for a in self.acquisitions if a not in ACQUISITIONS]
        if unknown or not self.acquisitions:
            raise ValueError(f"acquisitions must be among {', '.join(ACQUISITIONS)}, "
                             f"got {self.acquisitions}")
        for name in ("initial", "per_round", "pool_subset", "samples", "iterations",
                     "batch_size", "test_samples", "seeds"):
            positive_int(getattr(self, name), name)
        if self.test_size is not None:
            positive_int(self.test_size, "test_size")
        positive_int(self.rounds, "rounds", minimum=0)
        if self.per_round > self.pool_subset:
            raise ValueError(f"per_round ({self.per_round}) cannot exceed pool_subset "
                             f"({self.pool_subset})")
        if not 0 <= self.p < 1:
            raise ValueError(f"p is a drop probability and must lie in [0, 1), got {self.p!r}")
        if not 0 < self.lr < float("inf") or not 0 < self.length_scale < float("inf"):
            raise ValueError("lr and length_scale must be positive and finite")
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < 1
                   for t in self.thresholds):
            raise ValueError(f"thresholds are test errors in (0, 1), got {self.thresholds!r}")


#: The scale of docs/results.md section 6: every network trained long enough to be useful
#: from 20 labels on (300 Adam updates), 1,000 pool images scored with T = 20 (the paper: 2,000
#: with T = 20), 25 rounds to 270 labels, the error on a fixed stratified 2,000-image test
#: subset (standard error at most 1.1 points, and the same images for every function) with
#: T = 10. 8 to 11 s a round on one core of a 2-vCPU AMD EPYC (idle to loaded), so the six
#: functions for 3 seeds take 1 to 1.5 hours (random and BALD alone 28 minutes, loaded).
#: QUICK is for tests and tutorials (17 to 28 s for all seven functions, loaded).
FULL = ActiveLearningSettings()
QUICK = ActiveLearningSettings(acquisitions=tuple(ACQUISITIONS), rounds=2, pool_subset=100,
                               samples=5, iterations=30, test_size=200, test_samples=3, seeds=1)


def settings_for(quick: bool = False, **overrides: Any) -> ActiveLearningSettings:
    """Full or quick settings with fields replaced by keyword (lists become tuples)."""
    base = QUICK if quick else FULL
    if isinstance(overrides.get("acquisitions"), str):   # "random,bald" from a command line
        overrides["acquisitions"] = [a.strip().replace("-", "_")
                                     for a in overrides["acquisitions"].split(",") if a.strip()]
    if isinstance(overrides.get("thresholds"), str):     # "0.25,0.2" likewise
        try:
            overrides["thresholds"] = [float(t) for t in overrides["thresholds"].split(",")]
        except ValueError:
            raise ValueError(f"thresholds must be a comma list of test errors in (0, 1), got "
                             f"{overrides['thresholds']!r}") from None
    unknown = sorted(set(overrides) - {f.name for f in fields(base)})
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} for experiment "
                         "active_learning")
    return replace(base, **{k: tuple(v) if isinstance(v, list) else v
                            for k, v in overrides.items()})


# ---------------------------------------------------------------------------------------
# One round's pieces: train, evaluate, acquire
# ---------------------------------------------------------------------------------------

def train_model(x: np.ndarray, y: np.ndarray, n_classes: int,
                settings: ActiveLearningSettings = FULL, seed: int = 0) -> Any:
    """Train lenet-all from scratch on float images ``x`` (N, 1, H, W) and labels ``y``.

    The weight decay comes from the prior length-scale and the *current* labelled-set size
    ``N`` (``λ = l²/(2 N keep)``, ``docs/objective.md``): a small set is held close to the
    prior, as in the paper, whose decay also scaled with ``1/N``.
    """
    model = lenet("all", p=settings.p, in_shape=x.shape[1:], n_classes=n_classes, seed=seed)
    objective = Objective.for_model(model, n_train=len(y), length_scale=settings.length_scale)
    trainer = Trainer(model, objective, Adam(model, lr=settings.lr), seed=seed)
    with small_work_threads():
        trainer.fit(x, y, iterations=settings.iterations,
                    batch_size=min(settings.batch_size, len(y)), mc_samples=0, progress=False)
    return model


def test_error(model: Any, x: np.ndarray, y: np.ndarray, samples: int, seed: int = 0) -> float:
    """MC-dropout test error (a fraction) with ``samples`` passes."""
    with small_work_threads():
        pred = mc_predict(model, x, samples=samples, seed=seed)
    return metrics.error(pred.probs, y)


def acquire(name: str, model: Any, x_pool: np.ndarray, k: int, samples: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` pool images acquisition ``name`` labels next, and every pool image's score.

    Parameters
    ----------
    name : str
        A key of :data:`ACQUISITIONS`.
    model : Sequential
    x_pool : ndarray (M, 1, H, W)
        The (random subset of the) pool to score, floats.
    k : int
    samples : int
        MC passes ``T`` for the acquisitions that need them.
    rng : Generator
        Draws the MC masks and the random scores.

    Returns
    -------
    chosen : ndarray (k,) of int
        Positions in ``x_pool``, best first (ties: the earlier position).
    scores : ndarray (M,)
    """
    function, passes = ACQUISITIONS[name]
    with small_work_threads():
        if passes == "mc":
            # the masks are keyed by one draw of rng, the same on every backend
            probs = mc_predict(model, x_pool, samples=samples, rng=rng,
                               return_samples=True).sample_probs
        elif passes == "standard":
            probs = standard_predict(model, x_pool).probs[None]              # (1, M, K)
        else:
            probs = np.empty((1, len(x_pool), 1))                            # N is all it needs
    scores = function(probs, rng) if name == "random" else function(probs)
    return np.argsort(-scores, kind="stable")[:k], scores


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------

def active_learning(data: Dataset, acquisition: str, settings: ActiveLearningSettings = FULL,
                    seed: int = 0, progress: bool = False, state: dict[str, Any] | None = None,
                    on_round: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run one active-learning curve: ``rounds`` acquisitions of ``per_round`` images.

    The initial labelled set (``initial`` images, balanced over classes) and the random pool
    subsets depend on ``seed`` only, so every acquisition function starts from the same set;
    the network of round ``r`` is trained from scratch with seed ``seed · 1000 + r``, and the
    test error is measured on the same stratified test subset with MC seed ``seed``.

    Parameters
    ----------
    state : dict, optional
        A snapshot ``on_round`` was given: the curve continues at its ``next_round`` (and is
        returned as it is when ``done``), with the same results as if it had not stopped.
    on_round : callable, optional
        Called after every round with the snapshot to continue from: ``{"next_round",
        "done", "labelled", "pool_rng", "score_rng", "record"}`` (JSON-ready).

    Returns
    -------
    dict
        ``labels`` (labelled-set size per evaluation, ``rounds + 1`` of them), ``error`` (test
        error after each training), ``picked`` (train-split indices labelled, per round),
        ``train_seconds``, ``test_seconds`` and ``score_seconds`` per round.
    """
    if acquisition not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition {acquisition!r}; choose one of "
                         f"{', '.join(ACQUISITIONS)}")
    s = settings
    x_test, y_test = data.x_test, data.y_test
    if s.test_size is not None and s.test_size < len(y_test):
        keep = stratified_indices(y_test, s.test_size, seed)
        x_test, y_test = x_test[keep], y_test[keep]
    x_test = as_float(x_test)
    labelled = [int(i) for i in stratified_indices(data.y_train, s.initial, seed)]
    pool_rng = stream(seed, "pool")     # pool subsets: the same for every function
    score_rng = stream(seed, "score")   # MC masks and random scores
    record: dict[str, Any] = {"labels": [], "error": [], "picked": [], "train_seconds": [],
                              "test_seconds": [], "score_seconds": []}
    first = 0
    if state is not None:
        if state.get("done"):
            return state["record"]
        first, labelled = int(state["next_round"]), [int(i) for i in state["labelled"]]
        pool_rng.bit_generator.state = state["pool_rng"]
        score_rng.bit_generator.state = state["score_rng"]
        record = {k: list(v) for k, v in state["record"].items()}
    bar = progress_bar(s.rounds + 1, f"{acquisition} seed {seed}", progress, unit="round")
    bar.update(first)
    try:
        for r in range(first, s.rounds + 1):
            start = time.perf_counter()
            model = train_model(as_float(data.x_train[labelled]), data.y_train[labelled],
                                data.n_classes, s, seed * 1000 + r)
            trained = time.perf_counter()
            record["labels"].append(len(labelled))
            record["error"].append(test_error(model, x_test, y_test, s.test_samples, seed))
            record["train_seconds"].append(trained - start)
            record["test_seconds"].append(time.perf_counter() - trained)
            bar.set_postfix_str(f"{len(labelled)} labels, error {record['error'][-1]:.3f}")
            bar.update(1)
            if r < s.rounds:
                start = time.perf_counter()
                unlabelled = np.setdiff1d(np.arange(len(data.y_train)), labelled)
                scored = pool_rng.choice(unlabelled, min(s.pool_subset, len(unlabelled)),
                                         replace=False)
                chosen, _ = acquire(acquisition, model, as_float(data.x_train[scored]),
                                    s.per_round, s.samples, score_rng)
                picked = [int(i) for i in scored[chosen]]
                record["picked"].append(picked)
                labelled += picked
                record["score_seconds"].append(time.perf_counter() - start)
            if on_round is not None:
                on_round({"next_round": r + 1, "done": r == s.rounds, "labelled": labelled,
                          "pool_rng": pool_rng.bit_generator.state,
                          "score_rng": score_rng.bit_generator.state, "record": record})
    finally:
        bar.close()
    return record


# ---------------------------------------------------------------------------------------
# The paper's report: labels needed to reach a test error
# ---------------------------------------------------------------------------------------

def labels_to_reach(labels: list[int], errors: list[list[float]], target: float) -> int | None:
    """The first labelled-set size at which the mean error over seeds is ``<= target``."""
    mean = np.mean(np.asarray(errors, dtype=float), axis=0)
    hits = np.flatnonzero(mean <= target)
    return int(labels[hits[0]]) if hits.size else None


def labels_to_reach_per_seed(labels: list[int], errors: list[list[float]],
                             target: float) -> list[int | None]:
    """Per seed, the first labelled-set size whose test error is ``<= target`` (None: never).

    Parameters
    ----------
    labels : (R,) labelled-set sizes
    errors : (seeds, R) test errors as fractions
    target : float
    """
    out: list[int | None] = []
    for curve in np.asarray(errors, dtype=float).reshape(-1, len(labels)):
        hits = np.flatnonzero(curve <= target)
        out.append(int(labels[hits[0]]) if hits.size else None)
    return out


def last_half_mean_error(errors: list[list[float]]) -> list[float]:
    """Per seed, the mean test error over the last half of the evaluations (the issue's bar)."""
    errors = np.asarray(errors, dtype=float)
    return [float(v) for v in errors[:, errors.shape[1] // 2:].mean(axis=1)]


def _reach_cell(reached: list[int | None], most: int) -> str:
    """``"150 (120–190) 3/3"``: median, min–max of the seeds that reached, and how many did;
    a seed that never reached counts as more than ``most`` labels in the median."""
    got = sorted(v for v in reached if v is not None)
    ranked = [float(v) if v is not None else math.inf for v in reached]
    median = float(np.median(ranked)) if ranked else math.inf
    mid = f"> {most}" if not math.isfinite(median) else f"{median:g}"
    spread = (f" ({got[0]}–{got[-1]})" if len(got) > 1 else
              f" ({got[0]})" if got and len(reached) > 1 else "")   # the one seed's count
    return f"{mid}{spread} {len(got)}/{len(reached)}"


def report_table(curves: dict[str, dict[str, Any]], thresholds: tuple[float, ...]) -> str:
    """The paper's table as Markdown: per function, labels to reach each error (median over
    seeds, min–max, seeds that reached it) and the mean error over the last half of rounds."""
    head = ["acquisition", *[f"labels to {100 * t:g}% error" for t in thresholds],
            "last-half mean error (per seed)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, c in curves.items():
        most = int(c["labels"][-1])
        cells = [_reach_cell(labels_to_reach_per_seed(c["labels"], c["error"], t), most)
                 for t in thresholds]
        half = ", ".join(f"{100 * v:.1f}" for v in last_half_mean_error(c["error"]))
        rows.append("| " + " | ".join([name, *cells, half + " %"]) + " |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------
# The whole experiment, resumable
# ---------------------------------------------------------------------------------------

#: Settings a resumed run may change: which curves to run and how the report reads them.
_FREE_ON_RESUME = ("acquisitions", "seeds", "thresholds")


def _run_key(dataset: str, settings: ActiveLearningSettings) -> dict[str, Any]:
    """What a saved state must match to be continued: the data set and the curves' settings."""
    fixed = {k: v for k, v in asdict(settings).items() if k not in _FREE_ON_RESUME}
    return {"dataset": dataset, "settings": json.loads(json.dumps(fixed))}


def _load_state(path: Path, key: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The saved curves of ``path`` (``{name: {seed: snapshot}}``), or one clear error."""
    try:
        state = read_json(path)
    except JSONFileError as exc:
        raise ValueError(f"cannot resume from {path}: {exc}") from None
    if not isinstance(state, dict) or state.get("experiment") != "active_learning" \
            or not isinstance(state.get("curves"), dict):
        raise ValueError(f"cannot resume from {path}: not an active-learning state file")
    for field in ("dataset", "settings"):
        if state.get(field) != key[field]:
            theirs, ours = state.get(field), key[field]
            if field == "settings" and isinstance(theirs, dict):
                diff = [f"{k} {theirs.get(k)!r} there, {v!r} here" for k, v in ours.items()
                        if theirs.get(k) != v]
                what = "; ".join(diff) or "other settings"
            else:
                what = f"{field} {theirs!r} there, {ours!r} here"
            raise ValueError(f"cannot resume from {path}: it was written for another run "
                             f"({what}); give the same settings or a new --out")
    return state["curves"]


_RECORD_KEYS = ("labels", "error", "picked", "train_seconds", "test_seconds", "score_seconds")


def _check_snapshots(path: Path, curves: Any, s: ActiveLearningSettings, n_train: int) -> None:
    """Check every saved curve against what :func:`active_learning` writes, before one is
    continued: a checksum-free JSON file can say anything, and believed, labelled indices
    -1...-30 trained on the last 30 images and ``next_round`` 99 cut a curve short. One line
    names the file and the field (``curves.bald.0.labelled``)."""
    def bad(where: str, what: str) -> ValueError:
        return ValueError(f"cannot resume from {path}: {where} {what}; the file was damaged "
                          "or edited: start afresh with --replace")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(curves, dict):
        raise bad("curves", "must be an object")
    for name, per_seed in curves.items():
        if name not in ACQUISITIONS or not isinstance(per_seed, dict):
            raise bad(f"curves.{name}", "is not an acquisition function's curves")
        for seed, snap in per_seed.items():
            at = f"curves.{name}.{seed}"
            if not isinstance(snap, dict):
                raise bad(at, "must be an object")
            nxt = snap.get("next_round")
            if not is_int(nxt) or not 1 <= nxt <= s.rounds + 1:
                raise bad(f"{at}.next_round", f"must be an integer from 1 to {s.rounds + 1}, "
                          f"got {nxt!r:.40}")
            if snap.get("done") is not (nxt == s.rounds + 1):
                raise bad(f"{at}.done", f"must be {nxt == s.rounds + 1} at next_round {nxt}")
            labelled = snap.get("labelled")
            most = s.initial + s.per_round * min(nxt, s.rounds)
            if not isinstance(labelled, list) or not all(
                    is_int(i) and 0 <= i < n_train for i in labelled):
                raise bad(f"{at}.labelled", f"must be a list of training-image indices from 0 "
                          f"to {n_train - 1}")
            if len(set(labelled)) != len(labelled) or not s.initial <= len(labelled) <= most:
                raise bad(f"{at}.labelled", f"must hold {s.initial} to {most} distinct indices "
                          f"at next_round {nxt}, got {len(labelled)}")
            record = snap.get("record")
            if not isinstance(record, dict) or not all(
                    isinstance(record.get(k), list) for k in _RECORD_KEYS):
                raise bad(f"{at}.record", f"must hold the lists {', '.join(_RECORD_KEYS)}")
            if len(record["error"]) != nxt or len(record["labels"]) != nxt or not all(
                    isinstance(e, int | float) and not isinstance(e, bool) and 0 <= e <= 1
                    for e in record["error"]):
                raise bad(f"{at}.record.error", f"must hold {nxt} errors in [0, 1] at "
                          f"next_round {nxt}")
            for rng in ("pool_rng", "score_rng"):
                try:
                    # a PCG64 like the one run_curve restores it into checks the state
                    stream(0, "pool").bit_generator.state = snap.get(rng)
                except (TypeError, ValueError, KeyError) as exc:
                    raise bad(f"{at}.{rng}", f"is not a generator state ({exc})") from None


def run_active_learning(out: str | Path, dataset: str = "embedded", data_dir: str | None = None,
                        quick: bool = False, seed: int = 0, progress: bool = True,
                        resume: bool = False, replace: bool = False,
                        **overrides: Any) -> Path:
    """Run every acquisition function for every seed; write JSON and figures to ``out``.

    ``out/active_learning.json`` is ``{"dataset": str, "acquisitions": {name: {"labels":
    [n_0, n_1, ...], "error": [[per round] per seed], "labels_to_reach": {threshold:
    [per seed, None where never reached]}, "last_half_mean_error": [per seed]}}}`` (errors
    as fractions; the first two fields per function are the file's fixed schema, the others
    are added: ``docs/results.md``, "Active learning with BALD");
    ``out/active_learning_details.json`` holds the settings, seeds, the images picked, the
    timings, the table and the machine; ``active_learning_curves.png`` and
    ``active_learning_picks.png`` are the figures.

    After every round the state of every curve goes to ``out/active_learning_state.json``
    (atomically); ``resume=True`` continues from it (finished curves are not run again).
    Without ``resume`` a saved state is refused (one line, the file left as it is) unless
    ``replace=True`` discards it; call this holding ``out``'s lock, as
    :func:`tinybcnn.experiments.run` does. Ctrl-C (or SIGTERM through the CLI) stops with
    :class:`~tinybcnn.training.errors.TrainingInterrupted` naming that file.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    settings = settings_for(quick, **overrides)
    out = Path(out)
    state_path = out / STATE_NAME
    key = _run_key(dataset, settings)
    saved = _saved_state(out, state_path, key, resume, replace)   # before the data is loaded
    data = load_dataset(dataset, data_dir=data_dir, progress=progress)
    seeds = [seed + i for i in range(settings.seeds)]
    _check_snapshots(state_path, saved, settings, len(data.y_train))
    _claim(out, state_path, dataset, seed, data, replace)
    # a copy: the saves below add to it, and "resumed" is about what was there before
    state = {"experiment": "active_learning", **key, "curves": dict(saved)}

    def save_round(name: str, s: int) -> Callable[[dict[str, Any]], None]:
        def save(snapshot: dict[str, Any]) -> None:
            state["curves"].setdefault(name, {})[str(s)] = snapshot
            write_json(state_path, state)
        return save

    curves: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {}
    path = out / "active_learning.json"
    try:
        for name in settings.acquisitions:
            runs = [active_learning(data, name, settings, s, progress,
                                    state=saved.get(name, {}).get(str(s)),
                                    on_round=save_round(name, s)) for s in seeds]
            curves[name] = _curve(runs, settings.thresholds)
            details[name] = [{k: v for k, v in r.items() if k not in ("labels", "error")}
                             for r in runs]
            # rewritten after each function, so a long run that is stopped keeps what it
            # finished
            write_json(path, {"dataset": dataset, "acquisitions": curves})
    except KeyboardInterrupt as exc:
        from ..training.errors import TrainingInterrupted

        done = sum(len(v) for v in state["curves"].values())
        raise TrainingInterrupted(done, state_path if done else None) from exc
    _draw(out, dataset, seeds, curves, details, data, settings)
    table = report_table(curves, settings.thresholds)
    if progress:
        print(table, flush=True)
    round_seconds = [sum(r[k][i] for k in ("train_seconds", "test_seconds", "score_seconds")
                         if i < len(r[k]))
                     for runs_ in details.values() for r in runs_
                     for i in range(len(r["train_seconds"]))]
    write_json(out / "active_learning_details.json", {
        "experiment": "active_learning", "dataset": dataset, "settings": asdict(settings),
        "seeds": seeds, "per_acquisition": details, "table": table,
        "mean_round_seconds": float(np.mean(round_seconds)) if round_seconds else None,
        "machine": machine_info(), "started": started, "resumed": bool(saved),
        "wall_seconds": time.perf_counter() - t0,
        "figures": ["active_learning_curves.png", "active_learning_picks.png"]})
    return path


def _saved_state(out: Path, state_path: Path, key: dict[str, Any], resume: bool,
                 replace: bool) -> dict[str, dict[str, Any]]:
    """The curves saved in ``state_path`` to continue (``resume``), checked against ``key``;
    else none. A saved state without ``resume`` is refused unless ``replace`` (the caller
    removes it once every check has passed, holding ``out``'s lock)."""
    if resume and state_path.exists():
        return _load_state(state_path, key)
    if not resume and os.path.lexists(state_path) and not replace:
        raise ValueError(f"{out} holds an active-learning run ({state_path}): continue it "
                         "with --resume, or start afresh with --replace (its saved rounds "
                         "are then discarded)")
    return {}


def _claim(out: Path, state_path: Path, dataset: str, seed: int, data: Dataset,
           replace: bool) -> None:
    """Check the folder's identity (the data set's content, the seed: a saved state's indices
    mean nothing on other data), then, every check passed, discard a state ``replace`` asked
    to and record the identity if it is new."""
    wanted = identity("active_learning", dataset_key(dataset), seed, data.x_train,
                      data.y_train, data.x_test, data.y_test)
    new_identity = check_identity(identity_path(out, "active_learning"), wanted, replace)
    if replace and os.path.lexists(state_path):
        os.unlink(state_path)
    out.mkdir(parents=True, exist_ok=True)
    if new_identity:
        record_identity(identity_path(out, "active_learning"), wanted)


def _draw(out: Path, dataset: str, seeds: list[int], curves: dict[str, dict[str, Any]],
          details: dict[str, Any], data: Dataset, settings: ActiveLearningSettings) -> None:
    """The two figures: the error curves, and the first images each function picked."""
    title = (f"Active learning on {dataset}: mean of {len(seeds)} seed"
             f"{'s' if len(seeds) > 1 else ''}" + (", band min–max" if len(seeds) > 1 else ""))
    figures.active_learning_curves(curves, path=out / "active_learning_curves.png", title=title,
                                   thresholds=settings.thresholds)
    first_picks = {name: data.x_train[runs_[0]["picked"][0]] if runs_[0]["picked"] else
                   data.x_train[:0] for name, runs_ in details.items()}
    figures.active_learning_picks(first_picks, path=out / "active_learning_picks.png")


def _curve(runs: list[dict[str, Any]], thresholds: tuple[float, ...]) -> dict[str, Any]:
    """One function's entry of ``active_learning.json`` from its per-seed records."""
    labels, errors = runs[0]["labels"], [r["error"] for r in runs]
    return {"labels": labels, "error": errors,
            "labels_to_reach": {f"{t:g}": labels_to_reach_per_seed(labels, errors, t)
                                for t in thresholds},
            "last_half_mean_error": last_half_mean_error(errors)}


def main(request: Request) -> Path:
    """The registry's entry point: :func:`run_active_learning` for ``request``."""
    overrides = request.overrides
    if request.iterations is not None:
        overrides["iterations"] = request.iterations
    if request.seeds is not None:
        overrides["seeds"] = request.seeds
    request.refuse_run_dir()
    return run_active_learning(request.out, dataset=request.dataset,
                               data_dir=request.data_dir, quick=request.quick,
                               seed=int(request.seed), progress=request.progress,
                               resume=request.resume, replace=request.replace, **overrides)
