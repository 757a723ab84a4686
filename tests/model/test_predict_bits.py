"""The machine's load changes a prediction's speed, never its numbers.

The BLAS thread count follows the load (tinybcnn/threads.py), and OpenBLAS rounds a row of a
product differently on another count. Standard and MC prediction must give the same bits
whatever it is: every product on one BLAS thread, each tile cut in the same two parts by
its shapes alone, the count deciding only whether the parts run side by side. The oracle is
the prediction on another count (on the code before this rule, 1 and 2 threads differed in
the 8th digit); the parts' assembly is checked against the textbook T-pass loop on a network
whose arithmetic is exact (tests/model/test_mc_masks.py), where any order gives the same bits.
"""

from __future__ import annotations

import numpy as np
import pytest
import threadpoolctl  # a dependency of the package (pyproject.toml)
from test_mc_masks import dyadic_images, dyadic_lenet

import tinybcnn as tb
from tinybcnn import predict, threads
from tinybcnn.predict import mc_predict, mc_predict_loop, mc_predict_regression, standard_predict

pytestmark = pytest.mark.skipif(not threads.blas_threads(), reason="no BLAS library loaded")

FIELDS = ("probs", "entropy", "mutual_info", "variation_ratio", "sample_probs")


def count_workers(monkeypatch) -> list[int]:
    """Each use of prediction's worker thread (a second part run side by side) appends 1."""
    used: list[int] = []
    real = predict._executor
    monkeypatch.setattr(predict, "_executor", lambda: used.append(1) or real())
    return used


def predictions(model, x, plan):
    """Standard and MC (with the passes) predictions of ``x`` under ``plan``."""
    return (standard_predict(model, x, batch_size=plan.get("batch_size", 1000)),
            mc_predict(model, x, samples=6, seed=4, return_samples=True, **plan))


# the knobs shape no product (tests/model/test_mc_tiles.py); the second checks that they
# leave the threads' rule alone too
PLANS = [{}, dict(batch_size=16, memory_budget=2**28)]


@pytest.mark.parametrize("plan", PLANS)
def test_one_two_and_three_blas_threads_predict_the_same_bits(monkeypatch, plan):
    """Float32 LeNet-all on 28×28 inputs (big enough to be cut in parts): 1 thread (the parts
    one after the other) against 2 and 3 (side by side), standard and MC, bit for bit."""
    model = tb.models.lenet("all", seed=0)
    x = np.random.default_rng(3).random((30, 1, 28, 28), dtype=np.float32)
    used = count_workers(monkeypatch)
    results, side_by_side = {}, {}
    for count in (1, 2, 3):
        del used[:]
        with threadpoolctl.threadpool_limits(limits=count, user_api="blas"):
            results[count] = predictions(model, x, plan)
        side_by_side[count] = bool(used)
    for count in (2, 3):
        std, mc = results[count]
        np.testing.assert_array_equal(std.probs, results[1][0].probs, err_msg=f"{count}")
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(mc, field), getattr(results[1][1], field),
                                          err_msg=f"{field}, {count} threads")
    assert side_by_side == {1: False, 2: True, 3: True}    # side by side only where it may


def test_every_product_of_a_prediction_runs_on_one_blas_thread(monkeypatch):
    """Whatever count is in force, the layers see one BLAS thread, in both parts, and the
    count in force is back afterwards."""
    model = tb.models.lenet("all", seed=0)
    seen = []
    layer = model.layers["ip1"]
    real = layer.forward
    monkeypatch.setattr(layer, "forward", lambda *a, **k: seen.append(
        threads.blas_threads_now()) or real(*a, **k))
    x = np.random.default_rng(0).random((12, 1, 28, 28), dtype=np.float32)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        standard_predict(model, x)
        mc_predict(model, x, samples=3, seed=0)
        assert threads.blas_threads_now() == 2
    assert seen and set(seen) == {1}


def test_the_parts_side_by_side_assemble_the_loops_result(monkeypatch):
    """Exact arithmetic (dyadic weights, float64): the two parts of each batch, side by side,
    each with its own copy of the mask stream, give the textbook loop's passes bit for bit,
    for any batch size (40 images × 6 passes: cut in two)."""
    model, x = dyadic_lenet(), dyadic_images(40)
    loop = mc_predict_loop(model, x, samples=6, seed=3)
    used = count_workers(monkeypatch)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        for plan in ({}, dict(batch_size=9), dict(batch_size=40, memory_budget=2**30)):
            pred = mc_predict(model, x, samples=6, seed=3, return_samples=True, **plan)
            np.testing.assert_array_equal(pred.sample_probs, loop.sample_probs, str(plan))
            np.testing.assert_array_equal(pred.variation_ratio, loop.variation_ratio)
        std = standard_predict(model, x, batch_size=13)
    assert used
    direct = np.exp(tb.functional.log_softmax(model.forward(x)))    # one pass, exact
    np.testing.assert_array_equal(std.probs, direct)


def test_a_prediction_too_small_to_cut_runs_whole_on_one_blas_thread(monkeypatch):
    """The regression MLP (below the parts' work threshold): one part, never side by side,
    the same bits on 1 and 2 threads."""
    model = tb.models.mlp((6, 64, 1), p=0.2, seed=0)
    x = np.random.default_rng(1).random((50, 6), dtype=np.float32)
    used = count_workers(monkeypatch)
    runs = []
    for count in (1, 2):
        with threadpoolctl.threadpool_limits(limits=count, user_api="blas"):
            runs.append(mc_predict_regression(model, x, tau=4.0, samples=5, seed=2).samples)
    assert not used
    np.testing.assert_array_equal(runs[1], runs[0])
