"""Shared test set-up: the hypothesis profile and the array-namespace fixtures.

Hypothesis is optional here (a bare GPU machine may lack it): its profiles are registered
only where it is installed. Profiles (choose with ``HYPOTHESIS_PROFILE=...``):

* ``tinybcnn`` (default): no deadline (the reference loops are slow by design, and timing
  on a shared 2-core machine is noisy) and a moderate number of examples, so the suite
  stays well under the time budget.
* ``thorough``: ten times the examples, for a nightly or pre-release run.
* ``ci`` (the default when ``CI`` is true, as on GitHub Actions): derandomised, so a
  planted bug is killed or not the same way on every run (``scripts/plant_bugs.py`` sets it).
* ``gpu-check``: five fixed examples (``scripts/gpu_check.sh``: new shapes compile kernels).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

import numpy as np
import pytest
from support.gpu import cupy_with_gpu

# On a bare GPU machine (scripts/gpu_check.sh) some dependencies of the CPU suite may be
# missing. Then no test may die for it: a test file or test that imports one of these
# (directly or through tinybcnn.plots, demo, experiments or threads) is skipped, saying
# why, by the finder below; without threadpoolctl the thread-count fixture does nothing,
# and without hypothesis there are no profiles to register (the files that draw examples
# are skipped).
_OPTIONAL_HERE = ("matplotlib", "threadpoolctl", "hypothesis")
_MISSING = tuple(name for name in _OPTIONAL_HERE if importlib.util.find_spec(name) is None)
_HAVE_THREADPOOLCTL = "threadpoolctl" not in _MISSING


def _register_hypothesis_profiles() -> None:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "tinybcnn",
        deadline=None,
        max_examples=50,
        # the `xp` fixture does not change between examples, so sharing it is intended
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        print_blob=True,
    )
    settings.register_profile("thorough", parent=settings.get_profile("tinybcnn"),
                              max_examples=250)
    # CI: the same examples on every run (derandomize), so whether a test kills a planted bug
    # never depends on the draw; twice the default examples make up for the fixed seed
    settings.register_profile("ci", parent=settings.get_profile("tinybcnn"), derandomize=True,
                              max_examples=100, database=None)
    # the GPU check: a few fixed examples, since each new shape may compile CUDA kernels
    settings.register_profile("gpu-check", parent=settings.get_profile("tinybcnn"),
                              derandomize=True, max_examples=5, database=None)
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if ci else "tinybcnn"))


if "hypothesis" not in _MISSING:
    _register_hypothesis_profiles()


def _namespace(name: str):
    if name == "numpy":
        return np
    if name == "array_api_strict":
        return pytest.importorskip("array_api_strict")
    if not cupy_with_gpu():
        pytest.skip("needs CuPy and a GPU")
    if os.environ.get("CUPY_TF32") == "1":
        # TF32 keeps 10 of float32's 23 mantissa bits in GEMMs: errors near 1e-3, while these
        # tests compare float32 results with NumPy's at 1e-5 (test_array_api.py) to 1e-4
        pytest.skip("CUPY_TF32=1 rounds CuPy's float32 matrix products to TF32, beyond these "
                    "tests' 1e-5 tolerances: unset CUPY_TF32 to run them")
    import cupy

    return cupy


_GPU = pytest.param("cupy", marks=pytest.mark.gpu)


@pytest.fixture(params=["numpy", "array_api_strict", _GPU])
def xp(request):
    """An array namespace the functional core must run on: NumPy, array_api_strict, CuPy."""
    return _namespace(request.param)


@pytest.fixture(params=["array_api_strict", _GPU])
def other_xp(request):
    """A non-NumPy namespace, to compare against NumPy on the same inputs."""
    return _namespace(request.param)


class _SkipMissing(importlib.abc.MetaPathFinder):
    """Turns ``import X`` into a pytest skip for the packages of ``_MISSING``."""

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in _MISSING:
            pytest.skip(f"needs {top}, which is not installed (pip install {top})",
                        allow_module_level=True)
        return None


if _MISSING:
    sys.meta_path.insert(0, _SkipMissing())


def _blas_threads_at_start() -> int:
    if not _HAVE_THREADPOOLCTL:
        return 0
    from tinybcnn import threads

    return threads.blas_threads_now()


_BLAS_AT_START = _blas_threads_at_start()


@pytest.fixture(autouse=True)
def _threads_as_they_were(monkeypatch):
    """Every test starts and ends with the BLAS thread count the session started with.

    The CLI's ``apply_threads`` sets the count for the whole process (in a test, or in a
    module-scoped fixture that trains a run), and the count decides how prediction's products
    round and whether a training step runs its two halves side by side
    (``tinybcnn/training/split.py``): without this, a test would run one way or the other
    depending on the tests before it."""
    if not _HAVE_THREADPOOLCTL:
        yield
        return
    from threadpoolctl import threadpool_limits

    from tinybcnn import threads

    def restore() -> None:
        if _BLAS_AT_START and threads.blas_threads_now() != _BLAS_AT_START:
            threadpool_limits(limits=_BLAS_AT_START, user_api="blas")

    restore()
    monkeypatch.setattr(threads, "_applied", None)   # as at the start: nobody chose a count
    monkeypatch.setattr(threads, "_step_threads", None)  # steps follow the BLAS count
    monkeypatch.setattr(threads, "_limiter", threads._limiter)
    yield
    restore()


@pytest.fixture
def keep_backend():
    """Put the array backend back after the test: in-process CLI calls and run loading set it
    for the whole process. Test files that call the CLI use it for every test
    (``pytestmark = pytest.mark.usefixtures("keep_backend")``)."""
    from tinybcnn.backend import get_backend, set_backend

    before = get_backend()
    yield
    set_backend(before)


@pytest.hookimpl(tryfirst=True)    # before xdist's worker reads the marker
def pytest_collection_modifyitems(config, items):
    """Group the tests for pytest-xdist's ``--dist loadgroup`` (the default run, pyproject.toml):
    the tests of one file run on one worker, so a module-scoped fixture (a trained run, a
    built folder) is made once, as in a serial run; and every file that reads the built site
    (tests/docs/conftest.py) joins one group, so the site is built once per session. Without
    xdist (``-p no:xdist``, ``-n 0``, a bare GPU box) the marker does nothing.

    With pytest 9.2.0 and xdist 3.8.0 the groups do not hold (the test ids lose xdist's
    ``@group`` suffix and tests are spread one by one), hence ``pytest<9.2`` in the dev extra;
    the suite passes either way, only its time differs."""
    files_reading_the_site = {item.path for item in items
                              if "built_site" in getattr(item, "fixturenames", ())}
    for item in items:
        group = "site" if item.path in files_reading_the_site else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
