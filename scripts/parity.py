"""NumPy-vs-other-namespace parity of a whole LeNet-all step, with injected masks.

    python scripts/parity.py --namespace cupy              # on a machine with a GPU
    python scripts/parity.py --namespace array_api_strict  # anywhere (CI does this)

The same float64 model (weights copied), the same inputs and the same dropout masks (drawn once
with NumPy and injected, since NumPy and CuPy random streams differ) go through forward,
the objective's backward and three SGD steps on both namespaces; logits, loss, every gradient
and the final weights must agree to 1e-10 relative. Exits 1 with the worst mismatch otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

import tinybcnn as tb
from tinybcnn.backend import to_numpy


def namespace(name: str) -> Any:
    if name == "cupy":
        tb.backend.set_backend("cupy")  # clear error if CuPy or the GPU is missing
        import cupy

        return cupy
    import array_api_strict

    return array_api_strict


def run(xp: Any, model: Any, x: np.ndarray, y: np.ndarray, masks: list[dict[str, np.ndarray]],
        convert: Any) -> dict[str, np.ndarray]:
    """Three SGD steps with the given masks; every intermediate result on the host."""
    model.load_params({k: convert(v) for k, v in model.params.items()})
    obj = tb.objective.Objective.for_model(model, n_train=1000, length_scale=0.5)
    opt = tb.optim.SGD(model, lr=0.05, momentum=0.9)
    out: dict[str, np.ndarray] = {}
    xb, yb = convert(x), convert(y)
    for step, step_masks in enumerate(masks):
        injected = {k: convert(m) for k, m in step_masks.items()}
        out[f"logits{step}"] = to_numpy(model.forward(xb, masks=injected))
        out[f"loss{step}"] = np.asarray(obj(model, xb, yb, masks=injected))
        for k, g in model.grads.items():
            out[f"grad{step}/{k}"] = to_numpy(g)
        opt.step()
    for k, v in model.params.items():
        out[f"final/{k}"] = to_numpy(v)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", choices=("cupy", "array_api_strict"), default="cupy")
    args = parser.parse_args()
    xp = namespace(args.namespace)

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

    host = run(np, tb.models.lenet("all", seed=0, dtype=np.float64), x, y, masks, np.asarray)
    other = run(xp, tb.models.lenet("all", seed=0, dtype=np.float64), x, y, masks, xp.asarray)

    worst = max(((float(np.max(np.abs(host[k] - other[k]) / (np.abs(host[k]) + 1e-12))), k)
                 for k in host), key=lambda t: t[0])
    print(f"numpy vs {args.namespace}: {len(host)} arrays compared; worst relative "
          f"difference {worst[0]:.2e} ({worst[1]})")
    return 0 if worst[0] < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
