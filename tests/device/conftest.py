"""The CuPy-rules double as a fixture for the device tests that run on it."""

from __future__ import annotations

import pytest

from tinybcnn import backend


@pytest.fixture
def cupy_double_backend():
    """The double installed as ``cupy``, wrapped by array_api_compat, as the backend."""
    pytest.importorskip("array_api_compat")
    from support import cupy_double

    with cupy_double.installed() as cp:
        before = backend.get_backend()
        backend.set_backend("cupy")
        try:
            yield cp
        finally:
            backend.set_backend(before)
