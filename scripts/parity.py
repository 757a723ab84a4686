"""NumPy-vs-other-namespace parity of a whole LeNet-all step, with injected masks.

    python scripts/parity.py --namespace cupy              # on a machine with a GPU
    python scripts/parity.py --namespace array_api_strict  # anywhere (CI does this)

The same float64 model (weights copied), the same inputs and the same dropout masks (drawn once
with NumPy and injected, since NumPy and CuPy random streams differ) go through forward,
the objective's backward and three SGD steps on both namespaces; logits, loss, every gradient
and the final weights must agree to 1e-10 relative. On the other namespace the loss comes from
``Objective.loss_and_grads`` (the trainer's device path, no read-back). The device generator
(:class:`tinybcnn.random.CounterRNG`) must give the same words there as on NumPy, bit for bit.
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

    worst = max(((float(np.max(np.abs(host[k] - other[k]) / (np.abs(host[k]) + 1e-12))), k)
                 for k in host), key=lambda t: t[0])
    print(f"numpy vs {args.namespace}: {len(host)} arrays compared; worst relative "
          f"difference {worst[0]:.2e} ({worst[1]}); device generator: "
          f"{words_host.size} words identical")
    return 0 if worst[0] < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
