"""Whether this machine can run the GPU tests."""


def cupy_with_gpu() -> bool:
    """True if CuPy imports and sees at least one GPU."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or CUDA driver errors of CuPy's own types
        return False
