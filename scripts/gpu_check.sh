#!/usr/bin/env bash
# The GPU check: one command, on a machine with an NVIDIA GPU, CuPy, PyTorch (CUDA), NumPy,
# SciPy, pytest and hypothesis; no internet needed, tinybcnn need not be installed.
#
#   bash scripts/gpu_check.sh            # about 5 minutes; every step has its own time limit
#   QUICK=1 bash scripts/gpu_check.sh    # shorter benchmark (fewer repeats, 2,000 images)
#   ENV_ONLY=1 bash scripts/gpu_check.sh # step 0 only: what is installed, what is missing
#
# Steps (each one runs even if an earlier one failed; a summary says which passed):
#   0. environment: GPU, driver, versions; missing packages installed from ./wheels if there,
#      else named one per line with how to carry them (pip download here, pip install
#      --no-index --find-links there);
#   1. the GPU tests (pytest -m gpu: CuPy-parametrised cases, parity, ...);
#   2. NumPy-vs-CuPy parity of a whole LeNet-all training step (scripts/parity.py);
#   3. the GPU benchmark vs PyTorch CUDA (benchmarks/bench_gpu.py), its table saved;
#   4. `tinybcnn demo --quick` on CuPy, timed (then the full demo if time is left);
#   5. a short `tinybcnn train` + `evaluate` on CuPy, and a resumed run that must end
#      bit-identical to the straight one;
#   6. the summary and the markdown table for the README.
# Outputs go to $GPU_CHECK_OUT (default: $OUT if set, else ./gpu-check-out).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
RESULTS=${GPU_CHECK_OUT:-${OUT:-$ROOT/gpu-check-out}}
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_check.log"
: > "$LOG"
START=$(date +%s)
SUMMARY=()
FAILED=0
LAST_RC=0

# run_step NAME SECONDS COMMAND...: run with a time limit, tee to the log, record the verdict
run_step() {
    local name=$1 limit=$2
    shift 2
    echo
    echo "=== $name (limit ${limit}s) ===" | tee -a "$LOG"
    local t0 rc
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    local took=$(( $(date +%s) - t0 ))
    LAST_RC=$rc
    if [ "$rc" -eq 0 ]; then
        SUMMARY+=("PASS  $name (${took}s)")
    else
        [ "$rc" -eq 124 ] && echo "!!! $name: TIMED OUT after ${limit}s" | tee -a "$LOG"
        echo "!!! $name: FAILED (exit $rc)" | tee -a "$LOG"
        SUMMARY+=("FAIL  $name (exit $rc, ${took}s)")
        FAILED=$((FAILED + 1))
    fi
    return 0
}

echo "=== 0. environment ===" | tee -a "$LOG"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG"
nvidia-smi 2>/dev/null | grep -o "CUDA Version: [0-9.]*" | tee -a "$LOG"
# What the check needs, and what is missing here. A GPU machine often has no internet: a
# missing package is carried as wheels. If $WHEELS (default ./wheels) holds them, they are
# installed from there first (pip install --no-index --find-links); whatever is still missing
# is named on one line each, with the two commands that carry it.
WHEELS=${WHEELS:-$ROOT/wheels}
NEEDS=$(cat <<'LIST'
numpy numpy everything
scipy scipy tinybcnn
matplotlib matplotlib figures (demo, experiments; the CLI imports it)
tqdm tqdm progress bars
threadpoolctl threadpoolctl CPU thread counts (train, predict; conftest)
cupy cupy-cuda12x the GPU backend (cupy-cuda13x for CUDA 13: nvidia-smi shows which)
array_api_compat array-api-compat the GPU backend (backend 'cupy' requires it)
pytest pytest step 1
hypothesis hypothesis step 1
torch torch step 3 (PyTorch CUDA)
LIST
)
missing_pips() {
    echo "$NEEDS" | while read -r module pip _; do
        $PY -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" \
            2>/dev/null || echo "$pip"
    done
}
MISSING=$(missing_pips | tr '\n' ' ')
if [ -n "${MISSING// /}" ] && [ -d "$WHEELS" ]; then
    echo "installing from $WHEELS: $MISSING" | tee -a "$LOG"
    # shellcheck disable=SC2086
    $PY -m pip install --no-index --find-links "$WHEELS" $MISSING 2>&1 | tail -3 | tee -a "$LOG"
fi
PYVER=$($PY -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
echo "$NEEDS" | while read -r module pip why; do
    if $PY -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$module') is None)" \
            2>/dev/null; then
        version=$($PY -c "import $module; print(getattr($module, '__version__', '?'))" 2>&1 \
                  | tail -1)
        printf '%-17s %s\n' "$module" "$version"
    else
        echo "MISSING $module (for: $why): with internet, pip download $pip -d wheels" \
             "--only-binary=:all: --python-version $PYVER --platform manylinux2014_x86_64;" \
             "carry wheels/ here, then: $PY -m pip install --no-index --find-links wheels $pip" \
             "(or rerun this script: it installs from ./wheels itself)"
    fi
done 2>&1 | tee -a "$LOG"
[ "${ENV_ONLY:-0}" = "1" ] && exit 0   # step 0 alone (tests/test_gpu_check_env.py)
run_step "0. CuPy backend usable" 60 $PY -m tinybcnn info --backend cupy

run_step "1. GPU tests (pytest -m gpu)" 240 \
    $PY -m pytest -m gpu -q -p no:cacheprovider -o addopts="" tests

run_step "2. NumPy vs CuPy parity" 120 $PY scripts/parity.py --namespace cupy

BENCH_ARGS=(--markdown "$RESULTS/bench_gpu.md")
[ "${QUICK:-0}" = "1" ] && BENCH_ARGS+=(--quick)
run_step "3. GPU benchmark vs PyTorch CUDA" 300 $PY benchmarks/bench_gpu.py "${BENCH_ARGS[@]}"

DEMO_T0=$(date +%s)
run_step "4a. tinybcnn demo --quick on CuPy" 150 \
    $PY -m tinybcnn demo --backend cupy --quick --quiet --out "$RESULTS/demo-quick"
DEMO_QUICK_S="$(( $(date +%s) - DEMO_T0 )) s"
[ "$LAST_RC" -eq 0 ] || DEMO_QUICK_S="failed"
ELAPSED=$(( $(date +%s) - START ))
DEMO_FULL_S="not run (time budget)"
if [ "$ELAPSED" -lt 270 ]; then
    DEMO_T0=$(date +%s)
    run_step "4b. tinybcnn demo (full) on CuPy" 150 \
        $PY -m tinybcnn demo --backend cupy --quiet --out "$RESULTS/demo"
    DEMO_FULL_S="$(( $(date +%s) - DEMO_T0 )) s"
    [ "$LAST_RC" -eq 0 ] || DEMO_FULL_S="failed"
fi

TRAIN=(--backend cupy --train-size 2000 --test-size 1000 --batch-size 64 --quiet)
run_step "5a. tinybcnn train (300 iterations) on CuPy" 120 \
    $PY -m tinybcnn train "${TRAIN[@]}" --iterations 300 --out "$RESULTS/run"
run_step "5b. tinybcnn evaluate on CuPy" 120 \
    $PY -m tinybcnn evaluate "$RESULTS/run" --samples 50
run_step "5c. train 150 then resume to 300: same weights, bit for bit" 180 bash -c "
    $PY -m tinybcnn train ${TRAIN[*]} --iterations 150 --out '$RESULTS/run-resumed' &&
    $PY -m tinybcnn train --resume --iterations 300 --quiet --out '$RESULTS/run-resumed' &&
    $PY - '$RESULTS/run/checkpoint.npz' '$RESULTS/run-resumed/checkpoint.npz' <<'EOF'
import sys
import numpy as np
from tinybcnn.checkpoint import read_checkpoint
a, b = (read_checkpoint(p) for p in sys.argv[1:3])
assert a.trainer['iteration'] == b.trainer['iteration'] == 300
bad = [k for k in a.params if not np.array_equal(a.params[k], b.params[k])]
print('resumed run:', 'bit-identical to the straight run' if not bad else f'DIFFERS in {bad}')
sys.exit(1 if bad else 0)
EOF"

echo
echo "=== 6. summary ($(( $(date +%s) - START )) s in all) ===" | tee -a "$LOG"
for line in "${SUMMARY[@]}"; do echo "$line" | tee -a "$LOG"; done
echo
echo "=== README table (paste into README.md, GPU section) ===" | tee -a "$LOG"
if [ -f "$RESULTS/bench_gpu.md" ]; then
    cat "$RESULTS/bench_gpu.md" | tee -a "$LOG"
else
    echo "(no benchmark table: step 3 failed)" | tee -a "$LOG"
fi
{
    echo "| tinybcnn demo on CuPy | --quick: ${DEMO_QUICK_S}; full: ${DEMO_FULL_S} | |"
    if [ -f "$RESULTS/run/metrics.json" ]; then
        $PY -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"| train 300 it + evaluate (T=50) | error: standard {m['standard']['error']:.4f}, MC {m['mc']['error']:.4f} | |\")" "$RESULTS/run/metrics.json"
    fi
} | tee -a "$LOG"
echo
echo "log and outputs: $RESULTS"
if [ "$FAILED" -gt 0 ]; then
    echo "GPU CHECK: $FAILED step(s) FAILED" | tee -a "$LOG"
    exit 1
fi
echo "GPU CHECK: all steps passed" | tee -a "$LOG"
