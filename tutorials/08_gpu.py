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
# Every function in `tinybcnn.functional` takes its array namespace from its inputs
# (`xp = xp_of(x)`), so the code that ran on NumPy in tutorials 01–07 runs unchanged on
# CuPy arrays. `tb.backend.set_backend("cupy")` only decides where *new* arrays live:
# model parameters, data moved with `to_backend`, and the random generators.
#
# Two things differ from NumPy, and this tutorial shows both:
#
# * **random streams**: the same seed gives different masks on NumPy and CuPy, so a
#   NumPy-vs-CuPy comparison injects the *same* masks instead of the same seed;
# * **rounding**: GPU GEMMs sum in another order, so results agree to float32 precision,
#   not bit for bit.
#
# Without CuPy or a GPU, `set_backend("cupy")` raises `BackendError` with the fix in its
# message; this tutorial says so and runs everything on the CPU instead. Details:
# `docs/backend.md`.

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
from tinybcnn.backend import BackendError, get_backend, set_backend, to_backend, to_numpy
from tinybcnn.data import as_float, load_dataset
from tinybcnn.functional import conv2d_backward, conv2d_forward, maxpool2d_forward
from tinybcnn.random import bernoulli_mask, make_rng

QUICK = os.environ.get("TINYBCNN_QUICK") == "1"
OUT = Path(os.environ.get("TINYBCNN_TUTORIAL_OUT") or tempfile.mkdtemp(prefix="tinybcnn-"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Choosing the backend

# %%
try:
    set_backend("cupy")
    import cupy

    print("running on the GPU:", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
except BackendError as exc:
    print(f"no GPU backend here ({exc})\n-> running on the CPU with NumPy instead")
    set_backend("numpy")
BACKEND = get_backend()
print("backend:", BACKEND)

# %% [markdown]
# ## The functional core, NumPy vs the backend, with injected masks
#
# Inputs and a patch-layout dropout mask are made on the host; the same numbers are
# moved to the backend with `to_backend`. The outputs come back with `to_numpy`.

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
# The array-API test namespace (`array_api_strict`, in the `dev` extra) stands in for
# CuPy where there is no GPU: it allows nothing outside the standard, so running the core
# on it shows that no NumPy-only call is left. (Skipped if it is not installed.)

# %%
try:
    import array_api_strict as xps
except ImportError:
    xps = None
    print("array_api_strict not installed; skipping")
if xps is not None:
    y_s, _ = conv2d_forward(xps.asarray(x), xps.asarray(W), xps.asarray(b), mask=xps.asarray(mask))
    np.testing.assert_allclose(to_numpy(y_s), y_cpu, rtol=1e-5, atol=1e-5)
    print("the same conv on array_api_strict agrees  ✓")

# %% [markdown]
# ## Random streams differ between backends
#
# `make_rng(seed)` gives a NumPy generator on the NumPy backend and a CuPy one on the
# CuPy backend. Same seed, same backend: the same masks, bit for bit. Different backends:
# different masks. That is why parity tests inject masks.

# %%
m1 = to_numpy(bernoulli_mask(make_rng(7), (1000,), 0.5))
m2 = to_numpy(bernoulli_mask(make_rng(7), (1000,), 0.5))
m_np = bernoulli_mask(make_rng(7, backend="numpy"), (1000,), 0.5)
assert np.array_equal(m1, m2)
print(f"same seed on '{BACKEND}' twice: identical; "
      f"vs NumPy's stream: {np.mean(m1 != m_np):.0%} of entries differ")

# %% [markdown]
# ## A whole model on the backend
#
# Build the model *after* choosing the backend: its parameters are created there. The
# training data is moved once by `Trainer.fit`; the masks are drawn on the backend.
# Then compare one pass with injected masks against a NumPy copy of the same weights.

# %%
data = load_dataset("embedded").subset(500 if QUICK else 2000, 200 if QUICK else 1000, seed=0)
model = tb.models.lenet("all", p=0.5, in_shape=data.image_shape, seed=0)
objective = tb.objective.Objective.for_model(model, n_train=len(data.y_train), weight_decay=5e-4)
trainer = tb.train.Trainer(model, objective, tb.optim.SGD(model, lr=0.01, momentum=0.9), seed=0)
iterations = 30 if QUICK else 500
start = time.perf_counter()
trainer.fit(as_float(data.x_train), data.y_train, iterations=iterations, batch_size=64,
            progress=False)
step_ms = 1000 * (time.perf_counter() - start) / iterations
print(f"{iterations} training steps on '{BACKEND}': {step_ms:.1f} ms per step (batch 64)")

x_test = as_float(data.x_test)
start = time.perf_counter()
mc = tb.predict.mc_predict(model, x_test, samples=10 if QUICK else 50, seed=0)
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
# ## Checks

# %%
assert get_backend() == BACKEND
assert np.isfinite(trainer.history.column("train_loss")).all()
assert np.allclose(mc.probs.sum(1), 1.0)
set_backend("numpy")
print("all checks passed")
