"""MC prediction gives the same bits for any batch size, memory budget or free GPU memory.

Issue 32 (item 3): the products of a prediction took their shapes from ``batch_size`` and
``memory_budget`` (and on CuPy from the GPU's free memory), and a BLAS rounds a row by the
shape of its product, so float32 probabilities moved in their last bits with each. Now every
product runs on a tile fixed by the model, ``T`` and the namespace kind
(:mod:`tinybcnn.mc_tiles`). The oracle is the same prediction under other knobs, on a
float32 LeNet-all with real (untrained) weights, where a product of another shape does round
otherwise: on the code before the tiles, these tests fail.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_mc_masks import on

import tinybcnn as tb
from tinybcnn import mc_tiles
from tinybcnn.predict import (
    default_memory_budget,
    mc_predict,
    mc_predict_regression,
    standard_predict,
)

N, T, SEED = 60, 7, 3
BATCHES = (1, 7, 37, 200)
FIELDS = ("probs", "entropy", "mutual_info", "variation_ratio")


def lenet_and_images():
    """Untrained float32 LeNet-all on 16×16 inputs (cheap) and N random images."""
    model = tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=4, seed=0)
    x = np.random.default_rng(1).random((N, 1, 16, 16), dtype=np.float32)
    return model, x


def tile_of(model, x, samples=T):
    xx = tb.backend.to_backend(x)
    return mc_tiles.tile_for(model, xx, model.first_stochastic(), samples)


def assert_same_bits(got, ref, fields=FIELDS, what=""):
    for field in fields:
        np.testing.assert_array_equal(getattr(got, field), getattr(ref, field),
                                      err_msg=f"{field} {what}")


@pytest.mark.parametrize("name", ["numpy", "array_api_strict", "double"])
def test_probabilities_are_bit_identical_over_batch_sizes_and_budgets(name):
    x = lenet_and_images()[1]
    with on(name):
        model = lenet_and_images()[0]
        need = tile_of(model, x).nbytes
        ref = mc_predict(model, x, samples=T, seed=SEED)
        preds = {(b, m): mc_predict(model, x, samples=T, seed=SEED, batch_size=b,
                                    memory_budget=m)
                 for b in BATCHES for m in (None, need, 256 * 2**20)}
    for plan, pred in preds.items():
        assert_same_bits(pred, ref, what=f"{name} batch_size, budget = {plan}")
    assert 0 < need <= 256 * 2**20
    other = mc_predict(lenet_and_images()[0], x, samples=T, seed=SEED + 1)
    assert np.abs(other.probs - ref.probs).max() > 1e-3      # the masks do matter


def test_regression_and_standard_predictions_do_not_follow_the_batch_size():
    model = tb.models.mlp((6, 64, 1), p=0.2, seed=0)
    x = np.random.default_rng(2).random((50, 6), dtype=np.float32)
    need = tile_of(model, x, samples=5).nbytes
    ref = mc_predict_regression(model, x, tau=4.0, samples=5, seed=2).samples
    for b in BATCHES:
        got = mc_predict_regression(model, x, tau=4.0, samples=5, seed=2, batch_size=b,
                                    memory_budget=need).samples
        np.testing.assert_array_equal(got, ref, err_msg=f"batch {b}")
    lenet, images = lenet_and_images()
    std = standard_predict(lenet, images).probs
    for b in BATCHES:
        np.testing.assert_array_equal(standard_predict(lenet, images, batch_size=b).probs, std,
                                      err_msg=f"standard, batch {b}")


def test_a_budget_below_one_tile_is_refused_in_one_line():
    model, x = lenet_and_images()
    tile = tile_of(model, x)
    for predict in (lambda m: mc_predict(model, x, samples=T, memory_budget=m),
                    lambda m: mc_predict_regression(model, x, tau=1.0, samples=T,
                                                    memory_budget=m)):
        with pytest.raises(ValueError, match=r"below the .* MiB one tile") as err:
            predict(tile.nbytes - 1)
        assert "\n" not in str(err.value)
        assert f"{tile.images} inputs x {tile.passes} passes" in str(err.value)


def test_steps_are_whole_tiles_and_on_batch_counts_every_input():
    model, x = lenet_and_images()
    images = tile_of(model, x).images
    counts = []
    mc_predict(model, x, samples=T, batch_size=7, on_batch=counts.append)
    assert sum(counts) == N
    assert all(c % images == 0 for c in counts[:-1]) and counts[-1] <= images * len(counts)
    assert [s.stop - s.start for s in mc_tiles.steps(10, 4, 5)] == [8, 2]


def test_the_device_reference_reads_no_free_memory(monkeypatch):
    """On the CuPy double: a GPU with 1 MiB free and one with 8 GiB free give the same bits
    (before, the default budget was half the free memory, and the plan shrank with it)."""
    model_x = lenet_and_images()
    with on("double"):
        cupy = sys.modules["cupy"]
        model = lenet_and_images()[0]
        runs = []
        for free in (8 * 2**30, 2**20):
            monkeypatch.setattr(cupy.cuda.Device, "mem_info", (free, 16 * 2**30))
            runs.append(mc_predict(model, model_x[1], samples=T, seed=SEED))
        budget = default_memory_budget(tb.backend.array_namespace("cupy"))
    assert_same_bits(runs[1], runs[0], what="1 MiB free against 8 GiB free")
    assert budget == mc_tiles.DEVICE.memory_budget == 2 * 2**30
