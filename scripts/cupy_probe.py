"""Can CuPy compute on this machine? One line saying so, or saying what is missing.

    python scripts/cupy_probe.py      # exit 0: usable; 1: not, with the reason on stderr

Step 1 of ``scripts/gpu_check.sh``. Importing CuPy and counting GPUs needs only the NVIDIA
driver, but the first kernel needs NVRTC and the first matrix product cuBLAS: libraries of
the CUDA toolkit. ``pip install cupy-cuda12x`` assumes a system CUDA toolkit;
``cupy-cuda12x[ctk]`` installs it as wheels (``cuda-toolkit[cudart,nvrtc,cublas,...]``,
CuPy's ``setup.py`` ``optional_dependencies["ctk"]``; ``docs/source/install.rst``, "By
default, the above command only installs CuPy itself, assuming a CUDA Toolkit is already
installed"). Without either, the failure mentions a library name (``libnvrtc.so.12``,
``DynamicLibNotFoundError``) that does not say what to do: :func:`explain` does.
"""

from __future__ import annotations

import re
import sys

# words in an error that mean a CUDA toolkit library could not be found or loaded
_TOOLKIT = re.compile(r"nvrtc|cublas|curand|cufft|cusolver|cusparse|libcudart|"
                      r"DynamicLibNotFound|cannot open shared object|CUDA_PATH|cuda-pathfinder",
                      re.IGNORECASE)
_DRIVER = re.compile(r"cudaErrorInsufficientDriver|cudaErrorNoDevice|CUDA driver version|"
                     r"no CUDA-capable device|libcuda\.so", re.IGNORECASE)


def explain(error: str, cupy_package: str = "cupy-cuda12x") -> str:
    """What to do about ``error`` (the text of an exception CuPy raised), in one line."""
    if _DRIVER.search(error):
        return (f"CuPy cannot reach the GPU through the NVIDIA driver ({error.strip()[:160]}): "
                "check `nvidia-smi`, and that the driver supports CUDA 12 (or install "
                "cupy-cuda13x for a CUDA 13 driver)")
    if _TOOLKIT.search(error):
        return (f"CuPy sees the GPU but not the CUDA toolkit ({error.strip()[:160]}): "
                f"{cupy_package} without [ctk] needs a system CUDA 12 toolkit. Install "
                f"'{cupy_package}[ctk]' (its toolkit as wheels: pip download "
                f"'{cupy_package}[ctk]' -d wheels where there is internet, then pip install "
                f"--no-index --find-links wheels '{cupy_package}[ctk]' here), or a CUDA 12 "
                "toolkit with CUDA_PATH pointing at it")
    return f"CuPy failed: {error.strip()[:300]}"


def probe() -> str:
    """Run a kernel, a reduction and a GEMM on the GPU; the versions as one line."""
    import cupy

    n = cupy.cuda.runtime.getDeviceCount()
    if n < 1:
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    a = cupy.arange(12, dtype=cupy.float32).reshape(3, 4)
    b = (a * 2 + 1).sum()                     # elementwise + reduction kernels: NVRTC
    c = a @ a.T                               # cuBLAS
    ok = float(b) == 144.0 and float(c[0, 0]) == 14.0
    if not ok:
        raise RuntimeError(f"wrong results on the GPU: {float(b)}, {float(c[0, 0])}")
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return (f"CuPy {cupy.__version__} computes on {name} ({n} GPU(s)); CUDA runtime "
            f"{cupy.cuda.runtime.runtimeGetVersion()}")


def main() -> int:
    try:
        print(probe())
    except ImportError as exc:
        print(f"CuPy is not installed ({exc}): pip install 'cupy-cuda12x[ctk]' (or carry "
              "its wheels: see scripts/gpu_check.sh)", file=sys.stderr)
        return 1
    except Exception as exc:  # CuPy's own error types, OSError, RuntimeError
        print(explain(f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
