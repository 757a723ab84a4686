# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · The same code on a GPU (CuPy)
#
# *Full mode (no options): 29 s on AMD EPYC (2 CPUs), measured 2026-12-07 by
# `scripts/time_tutorials.py`. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*
#
# Every function in `tinybcnn.functional` takes its array namespace from its inputs
# (`xp = xp_of(x)`), so the code that ran on NumPy in tutorials 01–07 runs unchanged on
# CuPy arrays. `tb.backend.set_backend(...)` only decides where *new* arrays live: model
# parameters, data moved with `to_backend`, and the random generators. There are three
# backends:
#
# * `"numpy"`: the CPU (the default);
# * `"cupy"`: an NVIDIA GPU;
# * `"array_api_strict"`: the CPU again, through a namespace that allows nothing outside the
#   array API standard and no mixing with NumPy. It is the **CI stand-in for CuPy**: the
#   trainer and MC prediction take exactly their GPU code path on it.
#
# This tutorial uses CuPy if it finds a GPU, else `array_api_strict`, else NumPy. What
# differs from NumPy, and what this shows:
#
# * **random streams**: on a device, masks come from a counter-based generator that runs on
#   the device (`CounterRNG`); NumPy's generator is another algorithm, so NumPy-vs-device
#   comparisons inject the *same* masks instead of the same seed;
# * **no waiting for the device**: a training step never reads a device array back; the
#   loss is read when it is logged;
# * **rounding**: GPU GEMMs sum in another order, so results agree to float32 precision.
#
# Details: `docs/backend.md`.

# %%
import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import numpy as np

import tinybcnn as tb
from tinybcnn.backend import (
    BackendError,
    NamespaceMismatch,
    get_backend,
    set_backend,
    to_backend,
    to_numpy,
    xp_of,
)
from tinybcnn.data import as_float, load_dataset
from tinybcnn.envflags import quick_mode
from tinybcnn.functional import conv2d_backward, conv2d_forward, maxpool2d_forward
from tinybcnn.random import CounterRNG, bernoulli_mask, make_rng, step_rng

QUICK = quick_mode()  # TINYBCNN_QUICK=1 (or true/yes/on): small sizes; 0/unset: full
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Choosing the backend
#
# Without CuPy or a GPU, `set_backend("cupy")` raises `BackendError` with the fix in its
# message (which extra to install for your CUDA version).

# %%
for name in ("cupy", "array_api_strict", "numpy"):
    try:
        set_backend(name)
        break
    except BackendError as exc:
        print(f"{name}: not here ({exc})")
BACKEND = get_backend()
ON_DEVICE = BACKEND != "numpy"
if BACKEND == "cupy":
    import cupy

    print("running on the GPU:", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
    if os.environ.get("CUPY_TF32") == "1":
        # TF32 keeps 10 of float32's 23 mantissa bits in matrix products: errors near 1e-3
        print("NOTE: CUPY_TF32=1 is set, so float32 matrix products round to TF32 and the "
              "1e-4 checks below can fail; unset CUPY_TF32 to run this tutorial as written")
print("backend:", BACKEND)

# %% [markdown]
# ## The functional core, NumPy vs the backend, with injected masks
#
# Inputs and a patch-layout dropout mask are made on the host; the same numbers are moved
# to the backend with `to_backend`. The outputs come back with `to_numpy`.

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
W = rng.standard_normal((8, 3, 5, 5)).astype(np.float32)
b = rng.standard_normal(8).astype(np.float32)
mask = bernoulli_mask(rng, (4 * 8 * 8, 8), p=0.5)                   # host mask, drawn once
dy = rng.standard_normal((4, 8, 8, 8)).astype(np.float32)

y_cpu, cache_cpu = conv2d_forward(x, W, b, mask=mask)
y_dev, cache_dev = conv2d_forward(to_backend(x), to_backend(W), to_backend(b),
                                  mask=to_backend(mask))
grads_cpu = conv2d_backward(dy, cache_cpu)
grads_dev = conv2d_backward(to_backend(dy), cache_dev)
print("output array type on the backend:", type(y_dev).__module__ + "." + type(y_dev).__name__)
np.testing.assert_allclose(to_numpy(y_dev), y_cpu, rtol=1e-4, atol=1e-4)
for g_cpu, g_dev, name in zip(grads_cpu, grads_dev, ("dx", "dW", "db"), strict=True):
    np.testing.assert_allclose(to_numpy(g_dev), g_cpu, rtol=1e-4, atol=1e-3, err_msg=name)
pooled = to_numpy(maxpool2d_forward(y_dev, 2)[0])
np.testing.assert_array_equal(pooled, maxpool2d_forward(to_numpy(y_dev), 2)[0])   # max is exact
print("conv forward/backward and max-pool agree with NumPy on the same masks  ✓")

# %% [markdown]
# ## Masks are drawn on the device
#
# `make_rng(seed)` gives a NumPy generator on the NumPy backend and a `CounterRNG` on a
# device. The counter generator computes random word `i` as `splitmix64(key + i·φ)` with
# elementwise array operations, so it runs as device kernels and nothing comes back to the
# host. Same seed, same backend: the same masks, bit for bit. Its words are the same on every
# namespace, which is what lets CI check the GPU's generator on the CPU.

# %%
m1 = to_numpy(bernoulli_mask(make_rng(7), (1000,), 0.5))
m2 = to_numpy(bernoulli_mask(make_rng(7), (1000,), 0.5))
m_np = bernoulli_mask(make_rng(7, backend="numpy"), (1000,), 0.5)
assert np.array_equal(m1, m2)
print(f"same seed on '{BACKEND}' twice: identical; "
      f"vs NumPy's PCG64 stream: {np.mean(m1 != m_np):.0%} of entries differ")
words_host = CounterRNG(7, np).uint32(8)
words_dev = to_numpy(CounterRNG(7, tb.backend.array_namespace()).uint32(8))
assert np.array_equal(words_host, words_dev)
print("CounterRNG words, host vs backend:", words_host[:4], "... identical  ✓")

# %% [markdown]
# A NumPy generator would draw each mask on the host and copy it to the device, every
# pass; it is refused for device arrays rather than silently slow. Likewise a model refuses
# inputs from another namespace: mixing host and device arrays is an error, not a copy.

# %%
if ON_DEVICE:
    try:
        bernoulli_mask(np.random.default_rng(0), (4,), 0.5, xp=xp_of(y_dev))
    except TypeError as exc:
        print("refused:", exc)
    probe = tb.models.lenet("all", in_shape=(1, 16, 16), n_classes=3, seed=0)
    try:
        probe.forward(np.zeros((1, 1, 16, 16), dtype=np.float32))
    except NamespaceMismatch as exc:
        print("refused:", exc)

# %% [markdown]
# ## A whole model on the backend
#
# Build the model *after* choosing the backend: its parameters are created there.
# `Trainer.fit` moves the training data once; each step takes its minibatch with device
# indices, draws its masks from `step_rng(seed, iteration)` (so a resumed run draws exactly
# the masks of an uninterrupted one) and keeps the loss on the device until a row of the
# history reads it. `mc_predict` runs its products on tiles fixed by the model, T and the
# kind of namespace (never the device's free memory), so its bits follow no other work.

# %%
# full size on a GPU; the CPU stand-ins (array_api_strict is several times slower than NumPy)
# take the same code path at a fifth of the work, which is all they are here to show
SIZE = "quick" if QUICK else ("gpu" if BACKEND == "cupy" else "cpu")
n_train, n_test, iterations, T = {"quick": (500, 200, 20, 10), "cpu": (2000, 500, 100, 20),
                                  "gpu": (2000, 1000, 500, 50)}[SIZE]
data = load_dataset("embedded").subset(n_train, n_test, seed=0)
model = tb.models.lenet("all", p=0.5, in_shape=data.image_shape, seed=0)
objective = tb.objective.Objective.for_model(model, n_train=len(data.y_train), weight_decay=5e-4)
trainer = tb.train.Trainer(model, objective, tb.optim.SGD(model, lr=0.01, momentum=0.9), seed=0)
# the first step pays for CUDA's start-up and for compiling its kernels: timed apart
start = time.perf_counter()
trainer.fit(as_float(data.x_train), data.y_train, iterations=1, batch_size=64, progress=False)
first_ms = 1000 * (time.perf_counter() - start)
start = time.perf_counter()
trainer.fit(as_float(data.x_train), data.y_train, iterations=iterations, batch_size=64,
            progress=False)                       # on to `iterations` in all
step_ms = 1000 * (time.perf_counter() - start) / (iterations - 1)
print(f"{iterations} training steps on '{BACKEND}': the first {first_ms:.0f} ms (start-up), "
      f"then {step_ms:.1f} ms per step (batch 64)")
print("the generator of step 12:", step_rng(trainer.seed, 12, next(iter(model.params.values()))))

x_test = as_float(data.x_test)
xp = xp_of(next(iter(model.params.values())))
print(f"the budget mc_predict's tiles are planned for here: "
      f"{tb.predict.default_memory_budget(xp) / 2**20:.0f} MiB, "
      f"batch {tb.predict.default_batch_size(xp)}")
tb.predict.mc_predict(model, x_test[:8], samples=2, seed=0)    # warm-up: kernels compiled
start = time.perf_counter()
mc = tb.predict.mc_predict(model, x_test, samples=T, seed=0)
print(f"MC prediction ({mc.samples} passes, {len(x_test)} images): "
      f"{time.perf_counter() - start:.2f} s, error {tb.metrics.error(mc.probs, data.y_test):.3f}")

# the same weights on NumPy, the same masks: the same logits up to float32 rounding
set_backend("numpy")
twin = tb.models.lenet("all", p=0.5, in_shape=data.image_shape, seed=0)
twin.load_params({k: to_numpy(v) for k, v in model.params.items()})
set_backend(BACKEND)
xb = x_test[:16]
model.forward(to_backend(xb), rng=make_rng(3))
masks = {n: layer.mask for n, layer in model.dropout_layers().items()}
logits_dev = to_numpy(model.forward(to_backend(xb), masks=masks))
logits_cpu = twin.forward(xb, masks={n: to_numpy(m) for n, m in masks.items()})
np.testing.assert_allclose(logits_dev, logits_cpu, rtol=1e-3, atol=1e-3)
print("lenet-all logits on the backend == NumPy, same weights and masks  ✓")

# %% [markdown]
# ## Why there is no captured (CUDA-graph) step
#
# A LeNet step is a few hundred small kernels; on a GPU, launching them from Python can cost
# more than running them. Replaying a captured CUDA graph would launch them at once, but
# CuPy 14 refuses every cuBLAS call (each matrix product) while a stream is capturing
# (CuPy issue #6290), so tinybcnn has no graph step: it cuts the number of kernels per step
# instead (`docs/backend.md`, "Launches per step").

# %% [markdown]
# ## Checks

# %%
assert get_backend() == BACKEND
assert np.isfinite(trainer.history.column("train_loss")).all()
assert np.allclose(mc.probs.sum(1), 1.0)
set_backend("numpy")
print("all checks passed")

# %% [markdown]
# ## Summary
#
# You ran the same functional core and a whole lenet-all on the NumPy backend and on the
# selected one, with injected masks: the numbers agree to float32 rounding, and masks drawn
# on the device by the counter generator never come back to the host.

# %% [markdown]
# ## Exercises
#
# 1. **Inverted dropout on any backend.** Write `inverted_dropout(x, z, p)`: `x` times a 0/1
#    mask `z` of the same shape, scaled so that the expected output is `x` (drop probability
#    `p`). The result must stay in `x`'s namespace (NumPy, CuPy, array_api_strict): no
#    `np.` calls on `x`.
# 2. **A mask from counter words, on the device.** The counter generator hands out uniform
#    32-bit words `u` (`CounterRNG(seed, xp).uint32(n)`, above). Write
#    `mask_from_words(words, p)`: the inverted dropout mask of drop probability `p`, a unit
#    kept where `u < round(keep · 2³²)` (probability `keep`, to within 2⁻³²), as `float32`
#    in the namespace of `words`. Three things a device asks of it: compare *integers* (the
#    array API refuses an integer array divided by a Python float, and drawing floats costs
#    more), stay `float32` (a float64 mask doubles the memory and, on most GPUs, runs many
#    times slower), and keep every unit at `p = 0` (`2³²` does not fit in a `uint32`). The
#    check compares your masks with `bernoulli_mask(CounterRNG(seed, xp), ...)` on NumPy and
#    on `array_api_strict`.
#
# Write your answers in the next cell, in place of each `raise NotImplementedError`, then
# run the check cell after it: it grades each answer on its own, says why a wrong one is
# wrong, and ends with an `AssertionError` that lists those not yet right.
# The solutions are in `tutorials/solutions/08_gpu.py`; try first.

# %% Exercises: your answers
def inverted_dropout(x, z, p):
    """x ⊙ z / keep, in the namespace of x."""
    raise NotImplementedError("exercise 1")


def mask_from_words(words, p):
    """Inverted float32 dropout mask from uint32 ``words``, in their namespace."""
    raise NotImplementedError("exercise 2")

# %% Exercise checks
# the checks import what they need, so they run after the stub cell alone
import numpy as np


def check_1():
    from tinybcnn.functional import dropout_forward

    g = np.random.default_rng(3)
    x = g.standard_normal((4, 6))
    z = (g.random((4, 6)) < 0.7).astype(np.float64)
    got = np.asarray(inverted_dropout(x, z, 0.3), dtype=float)
    assert not np.allclose(got, x * z * 0.7), (
        "x · z · keep is the old, non-inverted test-time scaling; inverted dropout divides by "
        "keep while training, so that no scaling is needed at test time")
    assert not np.allclose(got, x * z / 0.3), "divide by keep = 1 − p = 0.7, not by p"
    assert np.allclose(got, x * z / 0.7), "expected x ⊙ z / (1 − p)"
    assert np.allclose(got, dropout_forward(x, 0.3, mask=z / 0.7)[0]), (
        "differs from tinybcnn.functional.dropout_forward(x, p, mask=z / keep)")
    try:
        import array_api_strict as xps
    except ImportError:
        return
    xs, zs = xps.asarray(x), xps.asarray(z)
    out = inverted_dropout(xs, zs, 0.3)
    assert type(out) is type(xs), (
        f"the result left the backend ({type(out).__module__}): on a GPU that is a copy to "
        "the host, or an error. Use operators (x * z / keep) or tinybcnn.backend.xp_of(x)")
    assert np.allclose(np.asarray(out), x * z / 0.7), "on array_api_strict: expected x ⊙ z / keep"


def check_2():
    from tinybcnn.backend import namespace_name
    from tinybcnn.random import CounterRNG, bernoulli_mask

    namespaces = [np]
    try:
        import array_api_strict as xps

        namespaces.append(xps)
    except ImportError:
        pass
    for xp in namespaces:
        name = namespace_name(xp)
        for p in (0.3, 0.5, 0.0):
            words = CounterRNG(11, xp).uint32(4000)
            try:
                mine = mask_from_words(words, p)
            except TypeError as error:
                raise AssertionError(
                    f"on {name}, p = {p}: {error}. An integer array divided by (or compared "
                    "with) a Python float is refused by the array API: compare the words with "
                    "an integer threshold, round(keep · 2**32)") from None
            except OverflowError as error:
                raise AssertionError(
                    f"on {name}, p = 0: {error}. At keep = 1 the threshold 2³² does not fit "
                    "in a uint32: keep every unit (xp.ones) without comparing") from None
            if type(mine) is not type(words):
                raise AssertionError(
                    f"on {name}: the mask left the namespace of the words "
                    f"({type(mine).__module__}); on a GPU that is a copy to the host every "
                    "pass. Use tinybcnn.backend.xp_of(words) and its functions")
            if mine.dtype != xp.float32:
                raise AssertionError(
                    f"on {name}: dtype {mine.dtype}, not float32: a silent upcast (a float64 "
                    "constant, or astype(float64)); the mask then doubles the memory of every "
                    "activation it touches, and most GPUs run float64 many times slower")
            got = np.asarray(mine)
            right = np.asarray(bernoulli_mask(CounterRNG(11, xp), (4000,), p, dtype=xp.float32))
            if np.allclose(got, right, rtol=1e-6):
                continue
            kept = float(np.mean(got > 0))
            if p and abs(kept - p) < 0.03:
                raise AssertionError(
                    f"on {name}: {kept:.2f} of the units kept at p = {p}: p is the *drop* "
                    "probability, so a unit is kept where u < keep · 2³², keep = 1 − p")
            if p and np.allclose(got, right * (1 - p)):
                raise AssertionError(f"on {name}: a 0/1 mask: an inverted mask holds "
                                     "1 / keep where a unit is kept, so E[mask] = 1")
            if not p:
                raise AssertionError(f"on {name}, p = 0: {kept:.4f} of the units kept, not all")
            raise AssertionError(f"on {name}, p = {p}: differs from bernoulli_mask on a "
                                 "CounterRNG with the same seed")

# each exercise is graded on its own: a wrong answer says why, and the others are still checked
# (tinybcnn/exercises.py)
from tinybcnn.exercises import grade

grade(check_1, check_2)
