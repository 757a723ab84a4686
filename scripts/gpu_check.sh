#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: run it once and keep its output.
#   1. the test suite, with the CuPy-parametrised tests enabled (they skip without a GPU);
#   2. NumPy-vs-CuPy parity of a whole LeNet-all training step with injected masks;
#   3. the GPU benchmark: tinybcnn on CuPy vs PyTorch CUDA (training step, MC throughput).
# Usage: bash scripts/gpu_check.sh [--install]   (--install: pip install CuPy + the dev extra)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "${1:-}" = "--install" ]; then
    $PY -m pip install -q -e ".[dev,gpu]"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import tinybcnn; tinybcnn.backend.set_backend('cupy'); print('cupy backend OK')"

echo "== 1. test suite (CuPy cases included) =="
$PY -m pytest -q -x -p no:cacheprovider

echo "== 2. NumPy vs CuPy parity =="
$PY scripts/parity.py --namespace cupy

echo "== 3. GPU benchmark =="
$PY benchmarks/bench_gpu.py
