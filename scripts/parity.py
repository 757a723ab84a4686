"""NumPy-vs-other-namespace parity of a whole LeNet-all step, with injected masks.

    python scripts/parity.py --namespace cupy              # on a machine with a GPU
    python scripts/parity.py --namespace array_api_strict  # anywhere (CI does this)

The same float64 model (weights copied), the same inputs and the same dropout masks (drawn once
with NumPy and injected, since the training streams of NumPy and CuPy differ) go through
forward, the objective's backward and three SGD steps on both namespaces; logits, loss, every
gradient and the final weights must agree to ``TOLERANCE`` in each array's own scale (see
:func:`worst_difference` for why that measure and that number). On the other namespace the
loss comes from ``Objective.loss_and_grads`` (the trainer's device path, no read-back). The
training generator (:class:`tinybcnn.random.CounterRNG`) and the MC-dropout masks
(:class:`tinybcnn.random.MCStream`) must be the same there as on NumPy, bit for bit.
Exits 1 with the worst mismatch otherwise.

The models are built on NumPy whatever ``TINYBCNN_BACKEND`` says and moved explicitly: a
model's inputs must live where its parameters do.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

import tinybcnn as tb
from tinybcnn.backend import to_namespace, to_numpy


def namespace(name: str) -> Any:
    """The namespace to compare with NumPy (a clear BackendError if CuPy or its GPU is missing)."""
    return tb.backend.array_namespace(name)


def run(model: Any, x: np.ndarray, y: np.ndarray, masks: list[dict[str, np.ndarray]],
        xp: Any) -> dict[str, np.ndarray]:
    """Three SGD steps with the given masks on ``xp``; every intermediate result on the host."""
    def convert(a: np.ndarray) -> Any:
        return to_namespace(a, xp)

    model.load_params({k: convert(v) for k, v in model.params.items()})
    obj = tb.objective.Objective.for_model(model, n_train=1000, length_scale=0.5)
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9)
    out: dict[str, np.ndarray] = {}
    xb, yb = convert(x), convert(y)
    for step, step_masks in enumerate(masks):
        injected = {k: convert(m) for k, m in step_masks.items()}
        out[f"logits{step}"] = to_numpy(model.forward(xb, masks=injected))
        if xp is np:
            loss = obj(model, xb, yb, masks=injected)
        else:  # the trainer's device path: the loss stays on the device until read here
            loss = obj.loss_and_grads(model, xb, yb, masks=injected, check_labels=False)
        out[f"loss{step}"] = np.asarray(float(loss))
        for k, g in model.grads.items():
            out[f"grad{step}/{k}"] = to_numpy(g)
        opt.step()
    for k, v in model.params.items():
        out[f"final/{k}"] = to_numpy(v)
    return out


def counter_words(xp: Any) -> np.ndarray:
    """Words of the device generator computed on ``xp`` (two draws, to cover the counter)."""
    rng = tb.random.CounterRNG([3, 1], xp)
    first = to_numpy(rng.uint32(1000))
    return np.concatenate([first, to_numpy(rng.uint32(17))])


# The agreement required of every array, relative to its scale (see worst_difference).
TOLERANCE = 1e-10


def worst_difference(host: dict[str, np.ndarray],
                     other: dict[str, np.ndarray]) -> tuple[float, str]:
    """The largest ``max|h − o| / max|h|`` over the arrays, and the array that has it.

    Why each array's own scale, not each element's value: both sides compute in float64
    (unit roundoff ``u = 2**-53 ≈ 1.1e-16``) but a GPU adds the same products in another
    order (cuBLAS tiles and split-K, CUB's tree reductions). Any order of a sum of ``n``
    terms errs by at most ``(n − 1)·u·Σ|terms|`` (Higham, *Accuracy and Stability of
    Numerical Algorithms*, §4.2), so what is bounded is the error against the size of the
    terms, which for every array here is within a small factor of its largest entry. An
    element that is a small difference of large terms (a gradient entry near zero) can
    change by 100% of its own value between two correct orders: NumPy against
    array_api_strict in reverse order gave 1.7e-10 element-wise at ``grad1/ip1.W[621,445]
    = 6.5e-8`` (an absolute difference of 4.4e-18 in an array whose largest entry is 0.22),
    while every array agreed to 3e-15 of its largest entry. This is the normwise relative
    error LAPACK's tests use (``‖H − O‖_max / ‖H‖_max``).

    Why 1e-10: the longest sum in a step is conv1's weight gradient, 8·24·24 = 4,608 terms,
    so one operation errs by at most 4,608·u ≈ 5e-13 of its scale; three SGD steps chain a
    few dozen such operations through a well-conditioned network, and the measured
    differences are 2–3e-15. 1e-10 leaves two hundred times the worst case of one sum,
    and still fails on every real defect: float32 arithmetic where float64 was meant
    (≈ 6e-8), one wrong mask element or gradient term (≳ 1e-4 of the scale).
    An array that is zero on both sides agrees; zero on one side only does not.
    """
    worst = (0.0, "")
    for k, h in host.items():
        o = other[k]
        scale = float(np.max(np.abs(h), initial=0.0))
        diff = float(np.max(np.abs(h - o), initial=0.0))
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        if not rel <= worst[0]:          # also takes NaN, which must fail
            worst = (rel, k)
    return worst


def mc_masks(xp: Any) -> np.ndarray:
    """MC-dropout masks computed on ``xp``: passes 1–2 over images 5–7 at LeNet-all's three
    dropout shapes, with p = 0.5 (one-bit lanes) and p = 0.3 (32-bit lanes)."""
    block = tb.random.MCStream([3, 1], xp).block(1, 2, 5, 3)
    shapes = [(6, 20, 24, 24), (6, 50, 8, 8), (6, 500)]
    masks = [tb.random.bernoulli_mask(block, s, p, np.float32, xp=xp)
             for p in (0.5, 0.3) for s in shapes]
    return np.concatenate([to_numpy(m).reshape(-1) for m in masks])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", choices=("cupy", "array_api_strict"), default="cupy")
    args = parser.parse_args()
    try:
        xp = namespace(args.namespace)
    except tb.backend.BackendError as exc:
        print(f"parity: {exc}", file=sys.stderr)
        return 2
    tb.backend.set_backend("numpy")   # build on the host; run() moves the copies explicitly

    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 28, 28))
    y = rng.integers(0, 10, 8)
    reference = tb.models.lenet("all", seed=0, dtype=np.float64)
    shapes = {}
    h = x
    for name, layer in reference:  # the shape each dropout layer sees
        if isinstance(layer, tb.nn.Dropout):
            shapes[name] = h.shape
        h = layer.forward(h)
    mask_rng = tb.random.make_rng(1, backend="numpy")
    masks = [{k: tb.random.bernoulli_mask(mask_rng, s, 0.5, np.float64)
              for k, s in shapes.items()} for _ in range(3)]

    host = run(tb.models.lenet("all", seed=0, dtype=np.float64), x, y, masks, np)
    other = run(tb.models.lenet("all", seed=0, dtype=np.float64), x, y, masks, xp)
    words_host, words_other = counter_words(np), counter_words(xp)
    if not np.array_equal(words_host, words_other):
        print(f"device generator: {int(np.sum(words_host != words_other))} of "
              f"{words_host.size} words differ between numpy and {args.namespace}")
        return 1
    mc_host, mc_other = mc_masks(np), mc_masks(xp)
    if not np.array_equal(mc_host, mc_other):
        print(f"MC masks: {int(np.sum(mc_host != mc_other))} of {mc_host.size} values differ "
              f"between numpy and {args.namespace}")
        return 1

    worst = worst_difference(host, other)
    print(f"numpy vs {args.namespace}: {len(host)} arrays compared; worst difference "
          f"{worst[0]:.2e} of the array's scale ({worst[1]}; tolerance {TOLERANCE:.0e}); "
          f"device generator: {words_host.size} words identical; MC masks: {mc_host.size} "
          f"values identical")
    return 0 if worst[0] <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
