"""Deep ensembles (Lakshminarayanan, Pritzel & Blundell 2017) and MC-dropout ensembles.

``K`` networks trained from different seeds (initial weights and data order) are ``K`` draws
of a very rough posterior over weights; their predictions are averaged::

    p̄(y | x) = (1/K) Σ_k softmax(f_k(x))

and the spread between members is the uncertainty, through the same statistics as MC
dropout's (:mod:`tinybcnn.predict`): predictive entropy ``H[p̄]``, mutual information
``H[p̄] − mean_k H[p_k]`` (across members) and the variation ratio ``1 − f_mode / K`` (votes).

With ``samples = T > 1`` every member runs ``T`` MC-dropout passes instead of one
deterministic pass: an ensemble of MC-dropout networks, ``K · T`` samples whose statistics are
taken over all of them together (the mixture of the members' dropout posteriors).

Training the members is :func:`tinybcnn.ensemble_training.train_ensemble`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .functional.checks import positive_int
from .predict import Prediction, entropy, mc_predict, standard_predict
from .random import seed_word

__all__ = ["ensemble_predict", "member_seeds", "summarise_samples"]


def member_seeds(seed: int, members: int) -> list[int]:
    """``members`` independent 63-bit seeds derived from ``seed`` (purpose ``member``).

    Member ``k``'s seed depends on ``(seed, k)`` only, so an ensemble of 5 and one of 10
    from the same ``seed`` share their first five members.
    """
    members = positive_int(members, "members")
    return [seed_word(seed, "member", k, bits=63) for k in range(members)]


def ensemble_predict(models: Sequence[Any], x: Any, samples: int = 1, seed: int | None = 0,
                     batch_size: int | None = None, memory_budget: int | None = None,
                     return_samples: bool = False, first_image: int = 0) -> Prediction:
    """Average the members' predictions; their spread is the uncertainty.

    Parameters
    ----------
    models : sequence of Sequential
        The ``K`` members (same input shape and classes).
    x : array (N, C, H, W) or (N, D)
    samples : int
        ``T``: 1 runs each member once, dropout off (a deep ensemble); ``T > 1`` runs ``T``
        MC-dropout passes per member (an MC-dropout ensemble, ``K · T`` samples).
    seed : int, optional
        With ``T > 1``, member ``k``'s masks come from :func:`member_seeds` ``(seed, K)[k]``.
    batch_size, memory_budget : int, optional
        As in :func:`tinybcnn.predict.mc_predict`.
    return_samples : bool
        Also return the per-sample probabilities, (K·T, N, classes), member by member.
    first_image : int
        With ``T > 1``: the index of ``x[0]`` in the mask stream, as in
        :func:`~tinybcnn.predict.mc_predict` (a caller that splits the images gets the rows
        of predicting them all at once).

    Returns
    -------
    Prediction
        ``samples`` is ``K · T``; ``mutual_info`` and ``variation_ratio`` are over all
        ``K · T`` samples (across members, and passes).

    Notes
    -----
    With ``S = K · T`` samples ``p_s``: ``p̄ = (1/S) Σ_s p_s``, ``H[p̄]``,
    ``MI = H[p̄] − (1/S) Σ_s H[p_s]``, ``variation ratio = 1 − f_mode / S`` where ``f_mode``
    counts the samples voting for the modal class.
    """
    models = list(models)
    if not models:
        raise ValueError("an ensemble needs at least one member")
    samples = positive_int(samples, "samples")
    seeds = member_seeds(0 if seed is None else seed, len(models))
    # running sums over the members, so that memory holds one member's T passes at a time
    # (K·T·N·classes floats at once would be 1 GB for K = 5, T = 50 and a 10,000-image test set)
    sum_p = sum_h = votes = shape = None
    kept = []
    for model, member_seed in zip(models, seeds, strict=True):
        if samples == 1:
            p = standard_predict(model, x, batch_size=batch_size).probs[None]  # (1, N, classes)
        else:
            p = mc_predict(model, x, samples=samples, seed=member_seed, batch_size=batch_size,
                           memory_budget=memory_budget, return_samples=True,
                           first_image=first_image).sample_probs
        p = np.asarray(p, dtype=np.float64)
        if shape is not None and p.shape[1:] != shape:
            raise ValueError(f"the members disagree: predictions of shape {p.shape[1:]} and "
                             f"{shape}")
        shape = p.shape[1:]
        member_votes = (p.argmax(axis=-1)[..., None] == np.arange(shape[-1])).sum(axis=0)
        sum_p = p.sum(axis=0) + (0 if sum_p is None else sum_p)
        sum_h = entropy(p).sum(axis=0) + (0 if sum_h is None else sum_h)
        votes = member_votes + (0 if votes is None else votes)
        if return_samples:
            kept.append(p)
    s = len(models) * samples
    probs = sum_p / s
    h_mean = entropy(probs)
    return Prediction(probs=probs, entropy=h_mean, mutual_info=h_mean - sum_h / s,
                      variation_ratio=1.0 - votes.max(axis=1) / s, samples=s,
                      sample_probs=np.concatenate(kept) if return_samples else None)


def summarise_samples(p_s: np.ndarray, return_samples: bool = False) -> Prediction:
    """The :class:`~tinybcnn.predict.Prediction` of ``S`` sampled predictive distributions.

    Parameters
    ----------
    p_s : ndarray (S, N, classes)
        One softmax output per sample (member, or member and pass).
    return_samples : bool
        Keep ``p_s`` as ``sample_probs``.
    """
    s, _, k = p_s.shape
    probs = p_s.mean(axis=0)
    h_mean = entropy(probs)
    # votes[n, c]: how many samples put input n in class c (argmax: first maximum on ties,
    # as mc_predict counts them)
    votes = (p_s.argmax(axis=-1)[..., None] == np.arange(k)).sum(axis=0)
    return Prediction(probs=probs, entropy=h_mean,
                      mutual_info=h_mean - entropy(p_s).mean(axis=0),
                      variation_ratio=1.0 - votes.max(axis=1) / s, samples=s,
                      sample_probs=p_s if return_samples else None)
