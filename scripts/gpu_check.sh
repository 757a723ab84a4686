#!/usr/bin/env bash
# The GPU check: one command on a machine with an NVIDIA GPU and its driver; no internet
# needed, tinybcnn need not be installed. Its step limits add up to 450 s (7.5 minutes;
# a step past its limit is stopped, killed 2 s later), so it ends within 8 minutes.
#
#   bash scripts/gpu_check.sh            # every step
#   STEPS="1 2" bash scripts/gpu_check.sh  # only these steps (0 always runs)
#   ENV_ONLY=1 bash scripts/gpu_check.sh # step 0 only: what is installed, what is missing
# (TRAIN_ITERATIONS, TRAIN_SIZE, TEST_SIZE and LIMIT_SCALE, a multiplier of every limit, let
# tests/device/test_gpu_check_env.py run steps on a CPU with the CuPy double; leave them unset.)
#
# A bare GPU box lacks packages. Carry them as wheels in ./wheels (or $WHEELS), made where
# there is internet with the same Python version (3.X below):
#   pip download 'cupy-cuda12x[ctk]' array-api-compat numpy scipy pytest hypothesis tqdm \
#       threadpoolctl matplotlib torch -d wheels --only-binary=:all: \
#       --python-version 3.X --platform manylinux2014_x86_64
# Step 0 installs whatever is missing from there (pip install --no-index --find-links).
# cupy-cuda12x without [ctk] needs a system CUDA 12 toolkit; step 1 says so if it is absent.
#
# Steps (each runs even if an earlier one failed; the summary table says which passed):
#   0. environment: GPU, driver, versions; missing packages installed from the wheels;
#   1. CuPy computes (a kernel, a reduction, a GEMM; scripts/cupy_probe.py) + tinybcnn info;
#   2. NumPy-vs-CuPy parity of a whole LeNet-all training step and of the MC masks;
#   3. tinybcnn train (300 iterations) on CuPy;  4. evaluate (T = 50);
#   5. train 150 then resume to 300: the weights must equal step 3's bit for bit;
#   6. the GPU tests (pytest -m gpu; hypothesis's "gpu-check" profile: 5 examples each);
#   7. the GPU benchmark vs PyTorch CUDA (benchmarks/bench_gpu.py --quick);
#   8. `tinybcnn demo --quick` on CuPy, timed after steps 2-7 filled CuPy's kernel cache
#      (its time still includes Python and CUDA start-up).
# Each run writes into a new folder $GPU_CHECK_OUT/attempt-<UTC time> (default GPU_CHECK_OUT:
# $OUT if set, else ./gpu-check-out), so running it again never meets an earlier run.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-gpu-check}
OUTDIR=${GPU_CHECK_OUT:-${OUT:-$ROOT/gpu-check-out}}
RESULTS="$OUTDIR/attempt-$(date -u +%Y%m%dT%H%M%SZ)-$$"
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_check.log"
: > "$LOG"
START=$(date +%s)
ROWS=()          # the summary table's rows
FAILED=0
LAST_RC=0
ITER=${TRAIN_ITERATIONS:-300}
HALF=$(( ITER / 2 ))
SCALE=${LIMIT_SCALE:-1}

wanted() { [ -z "${STEPS:-}" ] || [[ " $STEPS " == *" $1 "* ]]; }

# run_step NUMBER NAME SECONDS COMMAND...: run with a time limit, tee to the log, record it
run_step() {
    local number=$1 name=$2 limit=$(( $3 * SCALE ))
    shift 3
    wanted "$number" || return 0
    echo
    echo "=== $number. $name (limit ${limit}s) ===" | tee -a "$LOG"
    local t0 rc took
    t0=$(date +%s)
    timeout --kill-after=2 "$limit" "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    took=$(( $(date +%s) - t0 ))
    LAST_RC=$rc
    if [ "$rc" -eq 0 ]; then
        ROWS+=("| $number. $name | PASS | ${took} s of ${limit} s |")
    else
        local why="exit $rc"
        [ "$rc" -eq 124 ] && why="TIMED OUT"
        echo "!!! $number. $name: FAILED ($why)" | tee -a "$LOG"
        ROWS+=("| $number. $name | **FAIL** ($why) | ${took} s of ${limit} s |")
        FAILED=$((FAILED + 1))
    fi
    return 0
}

echo "=== 0. environment ===" | tee -a "$LOG"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG"
nvidia-smi 2>/dev/null | grep -o "CUDA Version: [0-9.]*" | tee -a "$LOG"
WHEELS=${WHEELS:-$ROOT/wheels}
NEEDS=$(cat <<'LIST'
numpy numpy everything
scipy scipy tinybcnn
array_api_compat array-api-compat the GPU backend (backend 'cupy' requires it)
cupy cupy-cuda12x the GPU backend (cupy-cuda13x for CUDA 13: nvidia-smi shows which)
pytest pytest step 6
hypothesis hypothesis step 6 (without it the files that draw examples are skipped)
tqdm tqdm progress bars
threadpoolctl threadpoolctl CPU thread counts (train, predict; conftest)
matplotlib matplotlib figures (step 8: the demo)
torch torch step 7 (PyTorch CUDA)
LIST
)
have() { $PY -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" \
             2>/dev/null; }
missing_pips() {
    echo "$NEEDS" | while read -r module pip _; do
        have "$module" || echo "$pip"
    done
}
MISSING=$(missing_pips | tr '\n' ' ')
if [ -n "${MISSING// /}" ] && [ -d "$WHEELS" ]; then
    # CuPy with its CUDA toolkit as wheels where they were carried ([ctk]), else CuPy alone
    if ls "$WHEELS" | grep -qiE '^(cuda_toolkit|nvidia_cuda_nvrtc)'; then
        MISSING=${MISSING/cupy-cuda12x/cupy-cuda12x[ctk]}
    fi
    echo "installing from $WHEELS: $MISSING" | tee -a "$LOG"
    t0=$(date +%s)
    # one at a time: a wheel that was not carried must not stop the others
    for pip in $MISSING; do
        timeout --kill-after=2 60 $PY -m pip install -q --no-index --find-links "$WHEELS" \
            "$pip" 2>&1 | tail -2 | tee -a "$LOG"
        [ $(( $(date +%s) - t0 )) -lt 60 ] || { echo "installing: out of time" | tee -a "$LOG"; break; }
    done
fi
PYVER=$($PY -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
echo "$NEEDS" | while read -r module pip why; do
    if have "$module"; then
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
[ "${ENV_ONLY:-0}" = "1" ] && exit 0   # step 0 alone (tests/device/test_gpu_check_env.py)
TF32_NOTE=""
if [ "${CUPY_TF32:-0}" = "1" ]; then
    TF32_NOTE="CUPY_TF32=1: float32 GEMMs round to TF32 (10-bit mantissa); tutorial 08's 1e-3/1e-4 and test_array_api.py's 1e-5 tolerances may fail. Unset it for this check."
    echo "WARNING: $TF32_NOTE" | tee -a "$LOG"
fi

run_step 1 "CuPy computes on the GPU" 20 bash -c \
    "$PY scripts/cupy_probe.py && $PY -m tinybcnn info --backend cupy"
run_step 2 "NumPy vs CuPy parity (training step, MC masks)" 30 \
    $PY scripts/parity.py --namespace cupy
TRAIN=(--backend cupy --train-size "${TRAIN_SIZE:-2000}" --test-size "${TEST_SIZE:-1000}"
       --batch-size 64 --quiet)
run_step 3 "tinybcnn train ($ITER iterations) on CuPy" 40 \
    $PY -m tinybcnn train "${TRAIN[@]}" --iterations "$ITER" --out "$RESULTS/run"
run_step 4 "tinybcnn evaluate (T = 50) on CuPy" 25 \
    $PY -m tinybcnn evaluate "$RESULTS/run" --samples 50
run_step 5 "train $HALF, resume to $ITER: same weights as step 3" 55 bash -c "
    $PY -m tinybcnn train ${TRAIN[*]} --iterations $HALF --out '$RESULTS/run-resumed' &&
    $PY -m tinybcnn train --resume --iterations $ITER --quiet --out '$RESULTS/run-resumed' &&
    $PY - '$RESULTS/run/checkpoint.npz' '$RESULTS/run-resumed/checkpoint.npz' $ITER <<'EOF'
import sys
import numpy as np
from tinybcnn.checkpoint import read_checkpoint
a, b = (read_checkpoint(p) for p in sys.argv[1:3])
assert a.trainer['iteration'] == b.trainer['iteration'] == int(sys.argv[3])
bad = [k for k in a.params if not np.array_equal(a.params[k], b.params[k])]
print('resumed run:', 'bit-identical to the straight run' if not bad else f'DIFFERS in {bad}')
sys.exit(1 if bad else 0)
EOF"
run_step 6 "GPU tests (pytest -m gpu)" 90 \
    $PY -m pytest -m gpu -q -p no:cacheprovider -o addopts="" tests
run_step 7 "GPU benchmark vs PyTorch CUDA" 75 \
    $PY benchmarks/bench_gpu.py --quick --markdown "$RESULTS/bench_gpu.md"
DEMO_S=""
if wanted 8; then
    t0=$(date +%s)
    run_step 8 "tinybcnn demo --quick on CuPy" 55 \
        $PY -m tinybcnn demo --backend cupy --quick --quiet --out "$RESULTS/demo-quick"
    [ "$LAST_RC" -eq 0 ] && DEMO_S="$(( $(date +%s) - t0 )) s"
fi

# the one summary table: every step's verdict, then the figures
{
    echo
    echo "=== summary ($(( $(date +%s) - START )) s in all; outputs in $RESULTS) ==="
    echo
    echo "| GPU check | result | time / PyTorch (CUDA) |"
    echo "|---|---|---|"
    for row in "${ROWS[@]}"; do echo "$row"; done
    GPU=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
    [ -n "$GPU" ] && echo "| GPU, driver | $GPU | |"
    [ -n "$TF32_NOTE" ] && echo "| **CUPY_TF32=1** | $TF32_NOTE | |"
    if [ -f "$RESULTS/bench_gpu.md" ]; then
        grep '^| [^|-]' "$RESULTS/bench_gpu.md" | grep -v '^| | tinybcnn'
    fi
    [ -n "$DEMO_S" ] && echo "| tinybcnn demo --quick on CuPy (warm kernel cache) | $DEMO_S | |"
    if [ -f "$RESULTS/run/metrics.json" ]; then
        $PY -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"| train $ITER it + evaluate (T=50), test error | standard {m['standard']['error']:.4f}, MC {m['mc']['error']:.4f} | |\")" "$RESULTS/run/metrics.json"
    fi
    echo
    if [ "$FAILED" -gt 0 ]; then
        echo "GPU CHECK: $FAILED step(s) FAILED"
    else
        echo "GPU CHECK: all steps passed"
    fi
} 2>&1 | tee -a "$LOG"
[ "$FAILED" -eq 0 ]
