"""tinybcnn on CuPy against PyTorch CUDA, on a machine with an NVIDIA GPU.

    python benchmarks/bench_gpu.py [--quick] [--markdown FILE]
    python benchmarks/bench_gpu.py --namespace array_api_strict --quick   # CI: the same code path

Rows (medians, alternating the contenders in one process, with device synchronisation):

- LeNet-all training step, batch 64 and batch 512: tinybcnn's step (``Trainer.step``) and
  PyTorch (CUDA, same layers and dropout placement, SGD momentum 0.9 + weight decay). There
  is no CUDA-graph row: CuPy refuses cuBLAS calls during stream capture (``docs/backend.md``);
- MC dropout prediction, T = 50 over 10,000 images: image·samples per second for
  ``mc_predict`` with its default arguments, with the call once tuned by hand
  (``batch_size=1000, memory_budget=2 GiB``; since the tiles are fixed, tinybcnn/mc_tiles.py,
  both run the same products) and for PyTorch with the input repeated T times;
- host synchronisations per training step: on CuPy, three steps are queued behind long
  matrix products and must return while those still run (``Stream.done`` false: nothing
  waited for the device; ``cupyx.allow_synchronize`` is deprecated in CuPy 14 and saw only
  ``get()``); on array_api_strict, host conversions are counted.

The last lines are the markdown table for the README (also written to ``--markdown FILE``).
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
from tinybcnn.backend import namespace_name, to_namespace  # noqa: E402

MC_SAMPLES = 50


# -- timing --------------------------------------------------------------------------------
def _torch_cuda() -> Any:
    """PyTorch if it sees a GPU, else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _sync(xp: Any) -> None:
    """Wait for the device (CuPy and PyTorch CUDA); nothing to wait for on a CPU."""
    if namespace_name(xp) == "cupy":
        import cupy

        cupy.cuda.Device().synchronize()
    torch = _torch_cuda()
    if torch is not None:
        torch.cuda.synchronize()


def alternate(fns: dict[str, Callable[[], Any]], repeats: int, xp: Any) -> dict[str, float]:
    """Median seconds of each function, the contenders taking turns (warmed up first)."""
    for fn in fns.values():
        fn()
        fn()
    _sync(xp)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            _sync(xp)
            start = time.perf_counter()
            fn()
            _sync(xp)
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


# -- contenders ----------------------------------------------------------------------------
def _trainer(xp: Any) -> tb.train.Trainer:
    model = tb.models.lenet("all", seed=0)
    obj = tb.objective.Objective.for_model(model, n_train=60000, weight_decay=5e-4)
    opt = tb.optim.SGD(model, lr=0.01, momentum=0.9, schedule=tb.optim.inv())
    trainer = tb.train.Trainer(model, obj, opt, seed=0)
    assert trainer.xp is xp or namespace_name(trainer.xp) == namespace_name(xp)
    return trainer


def _batch(xp: Any, batch: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    return (to_namespace(rng.random((batch, 1, 28, 28), dtype=np.float32), xp),
            to_namespace(rng.integers(0, 10, batch), xp))


def tiny_step(xp: Any, batch: int) -> Callable[[], Any]:
    trainer = _trainer(xp)
    x, y = _batch(xp, batch)
    return lambda: trainer.step(x, y)


def torch_step(batch: int) -> Callable[[], Any] | None:
    torch = _torch_cuda()
    if torch is None:
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


def torch_mc(x_host: np.ndarray, samples: int) -> Callable[[], Any] | None:
    torch = _torch_cuda()
    if torch is None:
        return None
    model = torch_lenet_all().cuda().train()
    tx = torch.as_tensor(x_host, device="cuda")
    n = tx.shape[0]

    def run() -> None:
        with torch.no_grad():
            for s in range(0, n, 200):
                xb = tx[s:s + 200]
                p = torch.softmax(model(xb.repeat(samples, 1, 1, 1)), 1)
                p.view(samples, xb.shape[0], 10).mean(0).cpu()

    return run


# -- host synchronisations -----------------------------------------------------------------
def syncs_per_step(xp: Any, steps: int = 3) -> str:
    """Host synchronisations in ``steps`` training steps after a warm-up, per step."""
    step = tiny_step(xp, 64)
    step()
    name = namespace_name(xp)
    if name == "cupy":
        import cupy

        a = cupy.ones((8192, 8192), dtype=cupy.float32)
        stream = cupy.cuda.get_current_stream()
        stream.synchronize()
        for _ in range(30):          # hundreds of ms of queued GPU work
            a @ a
        for _ in range(steps):
            step()
        waited = stream.done         # a read or a synchronisation would have waited for it
        stream.synchronize()
        return ">= 1 (a step waited for the GPU)" if waited else "0"
    if name == "array_api_strict":
        counts = _count_strict(xp, lambda: [step() for _ in range(steps)])
        return f"{sum(counts.values()) / steps:g}" + (f" {counts}" if counts else "")
    return "n/a (NumPy: no device)"


def _count_strict(xps: Any, fn: Callable[[], Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    cls = type(xps.asarray(0.0))
    saved = {}
    for name in ("__bool__", "__float__", "__int__", "__index__", "__array__", "__dlpack__"):
        original = getattr(cls, name, None)
        if original is None:
            continue
        saved[name] = original

        def counted(self: Any, *a: Any, _n: str = name, _o: Any = original, **k: Any) -> Any:
            counts[_n] = counts.get(_n, 0) + 1
            return _o(self, *a, **k)

        setattr(cls, name, counted)
    try:
        fn()
    finally:
        for name, original in saved.items():
            setattr(cls, name, original)
    return counts


def _rate(r: float) -> str:
    return f"{r / 1e6:.2f}M" if r >= 1e6 else f"{r / 1e3:.1f}k"


# -- the run -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, fewer images")
    parser.add_argument("--namespace", default="cupy",
                        choices=("cupy", "array_api_strict", "numpy"))
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    try:
        tb.backend.set_backend(args.namespace)
    except tb.backend.BackendError as exc:
        print(f"bench_gpu: {exc}", file=sys.stderr)
        return 2
    xp = tb.backend.array_namespace()
    cpu = args.namespace != "cupy"
    if args.namespace == "cupy":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        machine = f"{props['name'].decode()}, CuPy {cupy.__version__}"
    else:
        machine = f"{args.namespace} on the CPU (code-path check, not a speed figure)"
    torch = _torch_cuda()
    machine += f", PyTorch {torch.__version__} CUDA" if torch is not None else ", no PyTorch CUDA"
    print("machine:", machine)
    repeats = 2 if cpu else (10 if args.quick else 50)
    rows: list[str] = []

    def ratio(a: float, b: float | None) -> str:
        return f"{a / b:.2f}×" if b else "n/a"

    for batch in ((8,) if cpu else (64, 512)):
        fns: dict[str, Callable[[], Any]] = {"readable": tiny_step(xp, batch)}
        fn = torch_step(batch)
        if fn is not None:
            fns["torch"] = fn
        med = alternate(fns, repeats, xp)
        t_torch = med.get("torch")
        torch_ms = f"{1e3 * t_torch:.2f} ms" if t_torch else "n/a"
        rows.append(f"| LeNet-all step, batch {batch} | {1e3 * med['readable']:.2f} ms "
                    f"({ratio(med['readable'], t_torch)}) | {torch_ms} |")
        print(rows[-1])

    n = 64 if cpu else (2000 if args.quick else 10_000)
    samples = 5 if cpu else MC_SAMPLES
    x_host = np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32)
    x = to_namespace(x_host, xp)
    model = tb.models.lenet("all", seed=0)
    fns = {"default": lambda: tb.predict.mc_predict(model, x, samples=samples, seed=0),
           "tuned": lambda: tb.predict.mc_predict(model, x, samples=samples, seed=0,
                                                  batch_size=1000, memory_budget=2 * 2**30)}
    fn = torch_mc(x_host, samples)
    if fn is not None:
        fns["torch"] = fn
    med = alternate(fns, 1 if cpu else 3, xp)
    rate = {k: n * samples / t for k, t in med.items()}
    torch_rate = _rate(rate["torch"]) if "torch" in rate else "n/a"
    rows.append(f"| MC T = {samples}, {n:,} images (image·samples/s) | "
                f"{_rate(rate['default'])} default, {_rate(rate['tuned'])} tuned "
                f"(default/tuned {rate['default'] / rate['tuned']:.2f}) | {torch_rate} |")
    print(rows[-1])
    budget = tb.predict.default_memory_budget(xp)
    rows.append(f"| host syncs per training step | {syncs_per_step(xp)} | |")
    print(rows[-1])

    table = "\n".join([
        f"GPU benchmark ({machine}); medians, contenders alternating; "
        f"mc_predict default budget {budget / 2**20:.0f} MiB",
        "",
        "| | tinybcnn (step / MC) | PyTorch (CUDA) |",
        "|---|---|---|",
        *rows,
    ])
    print("\n" + table)
    if args.markdown is not None:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
