"""CuPy as the backend for the device tests: the CuPy-rules double, or real CuPy on a GPU."""

from __future__ import annotations

import pytest

from tinybcnn import backend


@pytest.fixture
def cupy_double_backend(keep_backend):
    """The double installed as ``cupy``, wrapped by array_api_compat, as the backend
    (``keep_backend`` puts the test's backend back after)."""
    pytest.importorskip("array_api_compat")
    from support import cupy_double

    with cupy_double.installed() as cp:
        backend.set_backend("cupy")
        yield cp


@pytest.fixture
def cupy_gpu_backend(keep_backend):
    """Real CuPy as the backend; the test is skipped without CuPy and a GPU."""
    from support.gpu import cupy_with_gpu

    if not cupy_with_gpu():
        pytest.skip("needs CuPy and a GPU")
    import cupy

    backend.set_backend("cupy")
    yield cupy
