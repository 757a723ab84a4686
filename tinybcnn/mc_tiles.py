"""The tiles of an MC prediction: the shapes of its products, fixed before it runs.

A BLAS rounds a row of a product by where it falls in the product (OpenBLAS computes rows
12 at a time on its Haswell kernels, and rounds the leftover rows otherwise; cuBLAS picks
its tiling and split-K by the shape), so a prediction whose products took their shapes
from the caller's ``batch_size`` or ``memory_budget``, or from the GPU's free memory, would
give other last bits for each. :func:`tinybcnn.predict.mc_predict` therefore runs every
product on a *tile*: ``images`` inputs × ``passes`` stacked passes, planned by :func:`plan`
for a fixed reference batch size and budget per namespace kind (:data:`HOST` on a CPU,
:data:`DEVICE` on CuPy), so that the tile depends on the model, ``T`` and the kind only.
Tiles are cut from ``x[0]``: images ``[0, I), [I, 2I), …`` and passes ``[0, P), [P, 2P), …``
(the last of each may be shorter: that depends on ``N`` and ``T`` alone).

The caller's ``memory_budget`` shapes nothing: a budget below what one tile needs is refused
(:func:`check_budget`), a larger one changes no bit. Its ``batch_size`` is how many inputs
one step summarises, rounded up to whole tiles (:func:`steps`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .backend import namespace_name, xp_of
from .random import make_rng

__all__ = ["Reference", "Tile", "HOST", "DEVICE", "reference", "tile_for", "plan",
           "check_budget", "steps", "bytes_per_row", "stack_passes"]


@dataclass(frozen=True)
class Reference:
    """The batch size and memory budget (bytes) a namespace kind's tiles are planned for."""

    batch_size: int
    memory_budget: int


#: A CPU (NumPy, array_api_strict): 200 inputs, 64 MiB. Moderate chunks stay in cache and avoid
#: page faults on huge temporaries: on 2 CPU cores, budgets of tens of MiB ran about twice as
#: fast as 512 MiB. These were the CPU's defaults before the tile was fixed, so a default
#: prediction runs the very same products as then (and gives the same bits).
HOST = Reference(batch_size=200, memory_budget=64 * 2**20)
#: A GPU (CuPy): 1000 inputs per tile, since each tile costs kernel launches, and 2 GiB, the
#: budget of the one GPU measurement (benchmarks/bench_gpu.py's tuned run, 784k
#: image·samples/s on an H100). A constant, not a share of the free memory: a GPU with less
#: free refuses (CuPy's out-of-memory error) rather than predicting other bits, and 2 GiB
#: leaves room beside the model on any GPU of 4 GiB or more.
DEVICE = Reference(batch_size=1000, memory_budget=2 * 2**30)


def reference(xp: Any) -> Reference:
    """The reference of namespace ``xp``'s kind: :data:`DEVICE` for CuPy, else :data:`HOST`."""
    return DEVICE if namespace_name(xp) == "cupy" else HOST


@dataclass(frozen=True)
class Tile:
    """The shape every product of one MC prediction runs on, and the bytes it holds.

    Attributes
    ----------
    images : int
        Inputs per tile ``I`` (at most ``N``: cut from ``x[0]``, so clipping moves no cut).
    passes : int
        Stacked passes per chunk ``P`` (at most ``T``).
    prefix, suffix : int
        Bytes one input costs before the first dropout layer, and one stacked row after it.
    """

    images: int
    passes: int
    prefix: int
    suffix: int

    @property
    def nbytes(self) -> int:
        """Bytes one tile may hold: twice ``I·prefix + P·I·suffix`` (see :func:`plan`)."""
        return 2 * (self.images * self.prefix + self.passes * self.images * self.suffix)


def tile_for(model: Any, x: Any, start: int, samples: int) -> Tile:
    """The tile of an MC prediction of ``x`` (N, ...) with ``samples`` passes.

    ``start`` is the first stochastic layer (``model.first_stochastic()``). Planned by
    :func:`plan` for the :func:`reference` of ``x``'s namespace: nothing of the caller's or
    the machine's enters.
    """
    ref = reference(xp_of(x))
    images, passes, prefix, suffix = _plan(model, x, start, samples, ref.batch_size,
                                           ref.memory_budget)
    return Tile(min(images, x.shape[0]), passes, prefix, suffix)


def check_budget(tile: Tile, memory_budget: Any) -> None:
    """Refuse a ``memory_budget`` (bytes; None: no limit) below what ``tile`` needs.

    A smaller tile would give other bits, so the budget only refuses, never reshapes.
    """
    if memory_budget is not None and tile.nbytes > memory_budget:
        raise ValueError(
            f"memory_budget {memory_budget / 2**20:.3g} MiB is below the "
            f"{tile.nbytes / 2**20:.3g} MiB one tile of this prediction needs ({tile.images} "
            f"inputs x {tile.passes} passes, fixed by the model and T: tinybcnn.mc_tiles)")


def steps(n: int, images: int, batch_size: int) -> Iterator[slice]:
    """The inputs ``range(n)`` in steps of ``batch_size`` rounded up to whole tiles of
    ``images``, so that no step cuts a tile."""
    size = math.ceil(batch_size / images) * images
    for begin in range(0, n, size):
        yield slice(begin, min(begin + size, n))


def plan(model: Any, x: Any, start: int, samples: int, batch_size: int,
         memory_budget: int) -> tuple[int, int]:
    """Inputs per tile and stacked passes per chunk that keep MC prediction in a budget.

    A chunk of ``t`` passes over ``B`` inputs holds about ``B·prefix + t·B·suffix`` bytes,
    ``prefix`` and ``suffix`` being what one row costs before and after the first dropout.
    Twice that is allowed for, for the temporaries inside a layer and the caches of the
    previous chunk that a layer drops only when it runs again. The batch shrinks only when
    even one pass over it would not fit. :func:`tile_for` calls it with a reference's values.
    """
    return _plan(model, x, start, samples, batch_size, memory_budget)[:2]


def _plan(model: Any, x: Any, start: int, samples: int, batch_size: int,
          memory_budget: int) -> tuple[int, int, int, int]:
    """:func:`plan` and the bytes per row it measured: ``(batch, passes, prefix, suffix)``."""
    h1 = model.forward(x[:1, ...], stop=start)
    prefix = bytes_per_row(model, x[:1, ...], 0, start) if start > 0 else 0
    suffix = bytes_per_row(model, h1, start, len(model))
    usable = memory_budget // 2
    batch = max(1, min(batch_size, usable // (prefix + suffix)))
    passes = max(1, min(samples, (usable - batch * prefix) // (batch * suffix)))
    return batch, passes, prefix, suffix


def stack_passes(h: Any, samples: int) -> Any:
    """``samples`` copies of ``h`` on the batch axis; row ``t·B + b`` is copy ``t`` of ``b``."""
    xp = xp_of(h)
    return xp.reshape(xp.broadcast_to(h[None, ...], (samples, *h.shape)),
                      (samples * h.shape[0], *h.shape[1:]))


def _nbytes(a: Any) -> int:
    """Bytes of an array of any namespace (array_api_strict arrays have no ``nbytes``)."""
    xp = xp_of(a)
    if xp.isdtype(a.dtype, "bool"):
        bits = 8
    elif xp.isdtype(a.dtype, "integral"):
        bits = xp.iinfo(a.dtype).bits
    else:
        bits = xp.finfo(a.dtype).bits
    return math.prod(a.shape) * bits // 8


def _is_array(v: Any) -> bool:
    # cupy.ndarray (14.2) has no __array_namespace__: known by its module, as xp_of knows it
    return hasattr(v, "shape") and hasattr(v, "dtype") and (
        hasattr(v, "__array_namespace__") or type(v).__module__.startswith("cupy"))


def _held_bytes(layer: Any) -> int:
    """Bytes of the arrays a layer holds after a forward pass (its cache, its mask)."""
    total = 0
    for value in vars(layer).values():
        items = value.values() if isinstance(value, dict) else (value,)
        total += sum(_nbytes(v) for v in items if _is_array(v))
    return total


def bytes_per_row(model: Any, rows: Any, start: int, stop: int) -> int:
    """Bytes one more row costs in layers ``start:stop``: outputs plus what the layers keep.

    Measured, not modelled: run 1 and 2 rows through the layers and take the difference, so
    the parameters (held either way) cancel. A throwaway generator keeps the caller's stream.
    """
    probe_rng = make_rng(0, like=rows)
    layers = list(model.layers.values())

    def held(n: int) -> int:
        out, total = stack_passes(rows[:1, ...], n), 0
        for i in range(start, stop):
            out = model.forward(out, rng=probe_rng, start=i, stop=i + 1)
            total += _nbytes(out) + _held_bytes(layers[i])
        return total

    return max(held(2) - held(1), 1)
