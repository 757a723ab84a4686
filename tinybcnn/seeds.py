"""Where every seed comes from: the streams of a run, each derived from its seed by purpose.

A run draws random numbers for several purposes (initial weights, data subsets, the order of
the examples, the dropout masks, ...). Each purpose's stream is derived from the run's seed
here, by :func:`seed_sequence` with a named purpose (:data:`PURPOSES` lists them all), so two
purposes never share a stream by accident and a test can list every one. The generators and
masks built on these seeds are in :mod:`tinybcnn.random`, which re-exports these names.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["Purpose", "PURPOSES", "SHARED_PURPOSES", "seed_sequence", "stream", "seed_word",
           "fresh_seed", "restore_rng"]



class Purpose(NamedTuple):
    """How one purpose's stream is derived from a seed: ``SeedSequence(entropy=[seed, *tail],
    spawn_key=(*spawn, *index))``; ``index`` names what numbers its streams ("" if nothing)."""

    why: str
    tail: tuple[int, ...] = ()
    spawn: tuple[int, ...] = ()
    index: str = ""


def _tag(name: str) -> int:
    """A 4-letter name as one 32-bit spawn key (``"data"`` -> 0x64617461), far from 0, 1, 2."""
    return int.from_bytes(name.encode("ascii"), "big")


PURPOSES: dict[str, Purpose] = {
    "init": Purpose("a model's initial weights (models, nn layers given an int seed)"),
    "subset": Purpose("stratified subsets of a data set (data.stratified_indices)"),
    "dropout": Purpose("the key of training's per-step mask generators (step_rng)", spawn=(0,)),
    "shuffle": Purpose("the order in which training visits the examples", spawn=(1,)),
    "eval": Purpose("the MC seed of training's evaluation rows", spawn=(2,)),
    "pool": Purpose("active learning's pool subsets", tail=(1,)),
    "score": Purpose("active learning's MC masks and random scores", tail=(2,)),
    "member": Purpose("the run seed of ensemble member k", spawn=(_tag("memb"),), index="member k"),
    "data": Purpose("synthetic data (the regression experiment's)", spawn=(_tag("data"),)),
    "split": Purpose("an experiment's train/validation permutation (regression, rivals)",
                     spawn=(_tag("splt"),)),
    "jitter": Purpose("where a figure scatters its points", spawn=(_tag("jitr"),)),
}
"""Every purpose a stream is drawn for. The first seven keep the derivations the shipped results
were drawn with (the training children are NumPy's ``spawn(3)``, active learning's ``[seed, 1]``
and ``[seed, 2]``); later ones take a spawn key of their own name."""

SHARED_PURPOSES: tuple[frozenset[str], ...] = (frozenset({"init", "subset"}),)
"""Purposes that share one stream: subsets and initial weights are both drawn from
``default_rng(seed)``, as the demo table and every shipped result were (separating them would
change all of those numbers)."""


def seed_sequence(seed: Any, purpose: str, *index: int) -> np.random.SeedSequence:
    """The ``SeedSequence`` of ``purpose``'s stream for ``seed``: the one place streams are derived.

    Parameters
    ----------
    seed : int, sequence of int or None
        The run's (or experiment's) seed; None draws fresh entropy.
    purpose : str
        A key of :data:`PURPOSES`.
    *index : int
        One number for a purpose with an ``index`` (member ``k``), appended to its spawn key.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown random purpose {purpose!r}: add it to tinybcnn.seeds.PURPOSES")
    rule = PURPOSES[purpose]
    if len(index) != bool(rule.index):
        raise ValueError(f"purpose {purpose!r} takes {rule.index or 'no index'}, got {index}")
    words = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    entropy = fresh_seed() if seed is None else [*(int(w) for w in words), *rule.tail]
    return np.random.SeedSequence(entropy, spawn_key=(*rule.spawn, *(int(i) for i in index)))


def stream(seed: Any, purpose: str, *index: int) -> np.random.Generator:
    """A NumPy generator (PCG64) on ``purpose``'s stream for ``seed`` (:func:`seed_sequence`)."""
    return np.random.default_rng(seed_sequence(seed, purpose, *index))


def seed_word(seed: Any, purpose: str, *index: int, bits: int = 64) -> int:
    """The first ``bits``-bit word (64 or 63) of ``purpose``'s stream: a seed for a generator
    that is keyed further (a step's, an MC prediction's) or for a whole run (a member's)."""
    word = int(seed_sequence(seed, purpose, *index).generate_state(1, np.uint64)[0])
    return word >> (64 - bits)


def fresh_seed() -> int:
    """A seed from the operating system's entropy (128 bits), to be recorded and reused."""
    return int(np.random.SeedSequence().entropy)


# Bit generators a saved state may name (looked up in np.random: only these are instantiated)
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


def restore_rng(state: Any) -> np.random.Generator:
    """A NumPy generator in exactly the saved ``state`` (``bit_generator.state``, as JSON);
    ValueError if ``state`` names no known bit generator or does not fit it."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"cannot restore a random generator of type {name!r}")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = state
    return np.random.Generator(bit_generator)
