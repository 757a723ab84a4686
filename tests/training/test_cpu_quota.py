"""``threads.available_cpus`` at the cgroup quota's limits (issue 35).

A quota restricts the process only when it is below the CPUs the process may use; a quota
equal to them (a container given exactly the machine's CPUs) leaves the machine whole, so the
machine-wide load still counts. The oracle is that rule written out over the three inputs
(the machine's CPUs, the affinity mask, the quota), which are all injected.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinybcnn import threads


def _machine(monkeypatch, total: int, affinity: int, quota: int | None) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: total)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(affinity)),
                        raising=False)
    monkeypatch.setattr(threads, "_cgroup_quota_cpus", lambda *a: quota)


@pytest.mark.parametrize("quota, expect", [(1, (1, False)), (2, (2, True)), (3, (2, True)),
                                           (None, (2, True))])
def test_a_quota_restricts_only_below_the_cpus(monkeypatch, quota, expect):
    """On a whole 2-CPU machine: a quota of 1 restricts, 2 (the limit) and 3 do not."""
    _machine(monkeypatch, 2, 2, quota)
    assert threads.available_cpus() == expect


def test_a_quota_equal_to_the_cpus_keeps_the_load_in_the_choice(monkeypatch):
    """What a user sees: one other busy process on a 2-CPU machine whose quota is 2 CPUs
    leaves one BLAS thread (the load is about our CPUs), not two."""
    _machine(monkeypatch, 2, 2, 2)
    choice = threads.choose_threads(load=1.2, environ={})
    assert choice.threads == 1 and choice.steps == 2


@given(total=st.integers(1, 64), data=st.data())
def test_available_cpus_around_the_quota(total, data):
    affinity = data.draw(st.integers(1, total), label="affinity")
    quota = data.draw(st.one_of(st.none(), st.sampled_from([affinity - 1, affinity,
                                                            affinity + 1]).filter(lambda q: q >= 1),
                                st.integers(1, 2 * total)), label="quota")
    with pytest.MonkeyPatch.context() as mp:
        _machine(mp, total, affinity, quota)
        got = threads.available_cpus()
    if quota is not None and quota < affinity:
        assert got == (quota, False)
    else:
        assert got == (affinity, affinity == total)
