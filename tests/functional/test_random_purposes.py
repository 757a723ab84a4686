"""Random streams by purpose (tinybcnn.random.PURPOSES): every generator of the package is made
in random.py, each purpose's stream is its own, and the derivations kept from before the
registry give the numbers they gave (oracle: NumPy's SeedSequence called directly)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from tinybcnn.random import PURPOSES, SHARED_PURPOSES, seed_sequence, seed_word, stream

PACKAGE = Path(__file__).resolve().parents[2] / "tinybcnn"
# seeds.py derives the streams and random.py makes the generators on them; gradcheck.py is an
# oracle that imports nothing of ours (pyproject's "oracles" contract), so its fixed default
# generator is its own
MAY_MAKE_GENERATORS = {"seeds.py", "random.py", "gradcheck.py"}
MAKES_A_GENERATOR = re.compile(
    r"(default_rng|SeedSequence|Generator|PCG64|PCG64DXSM|Philox|SFC64|MT19937|RandomState)\s*\("
    r"|getattr\(\s*np\.random|np\.random\.(seed|rand|randn|randint|random|normal|uniform"
    r"|choice|permutation|shuffle)\(|^\s*(import random|from random import)")
SEEDS = (0, 1, 12345, 2**40 + 7)


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """The lines of ``path`` outside docstrings and comments (a docstring may name a call)."""
    out, in_doc = [], False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        quotes = line.count('"""') + line.count("'''")
        if in_doc or (quotes and line.lstrip().startswith(('"""', "'''", 'r"""'))):
            in_doc = in_doc != (quotes % 2 == 1)
            continue
        out.append((number, line.split("#", 1)[0]))
    return out


def test_no_generator_is_made_outside_random_py():
    found = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py")) if path.name not in MAY_MAKE_GENERATORS
             or path.parent != PACKAGE
             for n, line in _code_lines(path) if MAKES_A_GENERATOR.search(line)]
    assert not found, "make generators through tinybcnn.random.stream / seed_word:\n" + \
        "\n".join(found)


def test_the_check_finds_a_planted_generator(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('"""default_rng(0) in a docstring is fine."""\n'
                       "x = 1  # so is default_rng(0) in a comment\n"
                       "rng = np.random.default_rng(seed)\n")
    assert [n for n, line in _code_lines(planted) if MAKES_A_GENERATOR.search(line)] == [3]


def _state(seed: int, purpose: str, k: int | None) -> tuple[int, ...]:
    index = () if k is None else (k,)
    return tuple(int(w) for w in seed_sequence(seed, purpose, *index).generate_state(4))


@pytest.mark.parametrize("seed", SEEDS)
def test_purposes_share_a_stream_only_where_the_registry_says_so(seed):
    streams = {}
    for name, rule in PURPOSES.items():
        for k in (range(4) if rule.index else [None]):
            streams.setdefault(_state(seed, name, k), set()).add(name)
    shared = sorted(sorted(names) for names in streams.values() if len(names) > 1)
    assert shared == sorted(sorted(group) for group in SHARED_PURPOSES)


def test_purposes_differ_from_seed_to_seed_and_member_to_member():
    for name, rule in PURPOSES.items():
        ks = range(4) if rule.index else [None]
        states = {_state(s, name, k) for s, k in itertools.product(SEEDS, ks)}
        assert len(states) == len(SEEDS) * len(ks), name


@pytest.mark.parametrize("seed", SEEDS)
def test_kept_derivations_give_the_numbers_they_gave(seed):
    ss = np.random.SeedSequence
    root = np.random.default_rng(seed).random(5)
    for purpose in ("init", "subset"):
        np.testing.assert_array_equal(stream(seed, purpose).random(5), root)
    children = [int(c.generate_state(1, np.uint64)[0]) for c in ss(seed).spawn(3)]
    assert [seed_word(seed, p) for p in ("dropout", "shuffle", "eval")] == children
    for purpose, word in (("pool", 1), ("score", 2)):
        np.testing.assert_array_equal(stream(seed, purpose).random(5),
                                      np.random.default_rng([seed, word]).random(5))


def test_a_purpose_must_be_registered_and_take_its_index():
    with pytest.raises(ValueError, match="unknown random purpose 'noise'"):
        stream(0, "noise")
    with pytest.raises(ValueError, match="takes member k"):
        seed_word(0, "member")
    with pytest.raises(ValueError, match="takes no index"):
        stream(0, "init", 3)


def test_no_seed_draws_fresh_entropy():
    assert seed_word(None, "init") != seed_word(None, "init")


def test_regression_draws_data_split_and_weights_from_three_streams(monkeypatch):
    from tinybcnn.experiments import regression as reg  # noqa: PLC0415 (the experiment's own)

    s, seed = reg.QUICK, 4
    data = reg.make_gap_data(s, seed)

    def drawn(spawn_key):   # the settings' uniform inputs, on the stream of ``spawn_key``
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))
        (lo, hi), (g0, g1) = s.x_range, s.gap
        u = rng.uniform(lo, hi - (g1 - g0), s.n_train)
        return np.sort(np.where(u < g0, u, u + (g1 - g0))).astype(np.float32)

    np.testing.assert_array_equal(data.x_train[:, 0], drawn((0x64617461,)))   # "data"
    assert not np.array_equal(data.x_train[:, 0], drawn(()))                  # not init's
    fits = []

    def record_and_stop(x, *args):
        fits.append(x)
        raise StopIteration

    monkeypatch.setattr(reg, "train_regression", record_and_stop)
    with pytest.raises(StopIteration):
        reg.grid_search(data, s, seed)
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x73706C74,))
                                  ).permutation(len(data.x_train))              # "splt"
    n_val = max(1, round(s.val_fraction * len(order)))
    np.testing.assert_array_equal(fits[0], data.x_train[order[:-n_val]])


def test_ensemble_members_are_seeded_apart_from_training_children():
    from tinybcnn.ensembles import member_seeds  # noqa: PLC0415

    ss = np.random.SeedSequence
    expected = [int(ss(7, spawn_key=(0x6D656D62, k)).generate_state(1, np.uint64)[0]) >> 1
                for k in range(3)]                                                  # "memb"
    assert member_seeds(7, 3) == expected
    children = {int(c.generate_state(1, np.uint64)[0]) >> 1 for c in ss(7).spawn(3)}
    assert not children & set(expected)
