"""tinybcnn on CuPy against PyTorch CUDA, on a machine with an NVIDIA GPU.

    python benchmarks/bench_gpu.py [--quick]

Rows (medians, alternating the contenders in one process, with device synchronisation):
- LeNet-all training step, batch 64 and batch 512: tinybcnn (CuPy) vs PyTorch (CUDA);
- MC dropout prediction, T = 50 over 10,000 images: image·samples per second for tinybcnn's
  stacked sampling and for PyTorch with the input repeated T times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import torch_lenet_all  # noqa: E402

import tinybcnn as tb  # noqa: E402


def _sync() -> None:
    import cupy

    cupy.cuda.Device().synchronize()
    try:
        import torch

        torch.cuda.synchronize()
    except (ImportError, AssertionError, RuntimeError):
        pass


def alternate(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    for fn in fns.values():
        fn()
    _sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            _sync()
            start = time.perf_counter()
            fn()
            _sync()
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def tiny_step(batch: int) -> Callable[[], Any]:
    import cupy

    rng = np.random.default_rng(0)
    x = cupy.asarray(rng.random((batch, 1, 28, 28), dtype=np.float32))
    y = cupy.asarray(rng.integers(0, 10, batch))
    model = tb.models.lenet("all", seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=60000, weight_decay=5e-4)
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
    trainer = tb.train.Trainer(model, obj, opt, seed=0)
    return lambda: trainer.step(x, y)


def torch_step(batch: int) -> Callable[[], Any] | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((batch, 1, 28, 28), dtype=np.float32)).to(dev)
    y = torch.from_numpy(rng.integers(0, 10, batch)).to(dev)
    model = torch_lenet_all().to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    tb.backend.set_backend("cupy")
    import cupy

    print("GPU:", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(),
          "| CuPy", cupy.__version__)
    repeats = 10 if args.quick else 50
    print("\n| training step | tinybcnn (CuPy) ms | PyTorch (CUDA) ms | ratio |")
    print("|---|---|---|---|")
    for batch in (64, 512):
        fns = {"tinybcnn": tiny_step(batch)}
        torch_fn = torch_step(batch)
        if torch_fn is not None:
            fns["torch"] = torch_fn
        med = alternate(fns, repeats)
        t_torch = med.get("torch", float("nan"))
        print(f"| batch {batch} | {1e3 * med['tinybcnn']:.2f} | {1e3 * t_torch:.2f} "
              f"| {med['tinybcnn'] / t_torch:.2f} |")

    n, samples = (2000 if args.quick else 10_000), 50
    x = cupy.asarray(np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32))
    model = tb.models.lenet("all", seed=0)
    fns = {"tinybcnn": lambda: tb.predict.mc_predict(model, x, samples=samples, seed=0,
                                                     batch_size=1000,
                                                     memory_budget=2 * 2**30)}
    try:
        import torch

        if torch.cuda.is_available():
            tmodel = torch_lenet_all().cuda().train()
            tx = torch.as_tensor(x, device="cuda")

            def torch_mc() -> None:
                with torch.no_grad():
                    for s in range(0, n, 200):
                        xb = tx[s:s + 200]
                        p = torch.softmax(tmodel(xb.repeat(samples, 1, 1, 1)), 1)
                        p.view(samples, xb.shape[0], 10).mean(0).cpu()

            fns["torch"] = torch_mc
    except ImportError:
        pass
    med = alternate(fns, 3)
    print(f"\n| MC prediction, T = {samples}, {n} images | seconds | image·samples/s |")
    print("|---|---|---|")
    for k, t in med.items():
        print(f"| {k} | {t:.2f} | {n * samples / t:.0f} |")


if __name__ == "__main__":
    main()
