"""Where the numbers come from: the machine and GPU report of ``tinybcnn info`` and of every
results file.

Two views of one machine. :func:`info_report` is what ``tinybcnn info`` prints: versions, the
backend, the thread choice, CuPy and the GPU, and the memory budget MC prediction would use.
:func:`machine_info` is what an experiment's results file records beside its numbers: CPU,
operating system, versions, backend and BLAS threads (and the GPU on the CuPy backend).

This module sits above the numerical core (it asks :mod:`tinybcnn.predict` for its budget
rules and :mod:`tinybcnn.threads` for the thread choice), so the core never imports it:
:mod:`tinybcnn.backend` only probes CuPy (:func:`tinybcnn.backend.describe_cupy`). Nothing
here raises for a missing GPU or driver: a report must still come out, and a results file
must not lose its numbers.
"""

from __future__ import annotations

import os
import platform
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import __version__
from .backend import describe_cupy, device_memory, get_backend
from .threads import blas_threads, describe

__all__ = ["describe_gpu", "cpu_model", "machine_info", "info_report"]

# stands for CuPy's namespace where only its name matters (the budget rules)
_CupyName = SimpleNamespace(__name__="cupy")


def describe_gpu(memory: Any = None) -> dict[str, Any]:
    """What ``tinybcnn info`` says about CuPy, the GPU, and the budget MC prediction plans for.

    Never raises: without CuPy or a GPU it says so. ``memory`` stands in for
    :func:`tinybcnn.backend.device_memory` in tests.
    """
    # predict loads metrics and so SciPy, whose BLAS `threads.describe` would then list: import it
    # only once the thread report of `info_report` is written, as `tinybcnn info` always has
    from .predict import default_batch_size, default_memory_budget

    out = describe_cupy()
    info = (memory or device_memory)()
    if info is not None:
        free, total = info
        out["gpu_memory"] = f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"
    name = get_backend()
    xp = _CupyName if name == "cupy" else np
    out["mc_predict_defaults"] = {
        "backend": name,
        "memory_budget_mib": round(default_memory_budget(xp) / 2**20),
        "batch_size": default_batch_size(xp)}
    if info is not None and name != "cupy":
        gpu_budget = default_memory_budget(_CupyName)
        out["mc_predict_defaults"]["on_gpu_memory_budget_mib"] = round(gpu_budget / 2**20)
    return out


def cpu_model() -> str | None:
    """The CPU's marketing name (Linux /proc/cpuinfo; platform.processor() is often empty)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> dict[str, Any]:
    """Where the numbers came from: CPU, OS, versions, backend, BLAS library and threads.

    What every experiment's results file records under ``"machine"``.
    """
    import scipy  # here, not at import: `tinybcnn info` stays without SciPy

    info: dict[str, Any] = {
        "processor": platform.processor(),
        "cpu_model": cpu_model(),
        "uname": dict(platform.uname()._asdict()),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "tinybcnn": __version__,
        "backend": get_backend(),
    }
    info["blas"] = blas_threads()
    if info["backend"] == "cupy":  # never raises: a driver problem should not lose the results
        gpu = describe_gpu()
        info.update({k: gpu[k] for k in ("gpu", "cupy") if k in gpu})
    return info


def info_report() -> dict[str, Any]:
    """What ``tinybcnn info`` prints (as JSON): versions, backend, threads, CuPy and the GPU."""
    info: dict[str, Any] = {"tinybcnn": __version__, "python": platform.python_version(),
                            "numpy": np.__version__, "backend": get_backend()}
    info["threads"] = describe()
    info.update(describe_gpu())  # CuPy version, GPU name and memory, the MC budget in use
    return info
