"""Standard and MC-dropout prediction against direct computations: entropies and variation
ratio from the per-pass probabilities (SciPy, bincount), a dense layer whose predictive mean and
variance are known in closed form, stacked sampling against T separate passes with the same
masks (exact arithmetic), and Gal's MC test log-likelihood against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tinybcnn import mc_tiles
from tinybcnn.functional import log_softmax
from tinybcnn.models import lenet, mlp
from tinybcnn.nn import Dense, Dropout, Sequential
from tinybcnn.predict import inputs_for, mc_predict, mc_predict_regression, standard_predict
from tinybcnn.random import make_rng

F64 = np.float64
BIG = 2**40  # a memory budget above any tile here: it changes nothing (tinybcnn.mc_tiles)


def small_lenet(p=0.5, dtype=np.float32, seed=0, n_classes=4):
    return lenet("all", p=p, in_shape=(1, 16, 16), n_classes=n_classes, seed=seed, dtype=dtype)


def images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 1, 16, 16))


# --- p -> 0: MC is standard ------------------------------------------------------------------

def _zero_p(model):
    for layer in model.dropout_layers().values():
        layer.p = 0.0
    return model


@pytest.mark.parametrize("make", [lambda: small_lenet(p=0.0, dtype=F64),
                                  lambda: _zero_p(small_lenet(p=0.5, dtype=F64)),
                                  lambda: mlp((5, 7, 3), p=0.0, dtype=F64)],
                         ids=["lenet-p0", "lenet-p-set-to-0", "mlp-p0"])
@pytest.mark.parametrize("stacked", [True, False])
def test_mc_with_p_zero_equals_standard_exactly(make, stacked):
    model = make()
    x = images(5) if model.in_shape is not None else np.random.default_rng(0).standard_normal(
        (5, 5))
    std = standard_predict(model, x)
    # T = 2: the mean of two equal numbers is exact
    mc = mc_predict(model, x, samples=2, seed=3, stacked=stacked)
    assert np.array_equal(mc.probs, std.probs)
    assert np.array_equal(mc.entropy, std.entropy)
    assert np.array_equal(mc.mutual_info, np.zeros(5))
    assert np.array_equal(mc.variation_ratio, np.zeros(5))
    assert std.samples == 1 and mc.samples == 2


def test_mc_with_p_zero_close_to_standard_float32():
    model = small_lenet(p=0.0)
    x = images(5)
    std, mc = standard_predict(model, x), mc_predict(model, x, samples=2)
    np.testing.assert_allclose(mc.probs, std.probs, rtol=1e-6, atol=1e-7)


def test_mc_with_p_zero_equals_standard_exactly_float32():
    model = small_lenet(p=0.0)
    x = images(5)
    assert np.array_equal(mc_predict(model, x, samples=2).probs,
                          standard_predict(model, x).probs)


# --- uncertainty measures against direct computations ----------------------------------------

@pytest.fixture(scope="module")
def mc_result():
    # float64, so the per-pass probabilities sum to 1 to round-off (scipy.stats.entropy
    # renormalises its input, which would otherwise blur a 1e-12 comparison)
    model = small_lenet(p=0.5, seed=2, n_classes=5, dtype=F64)
    x = images(7, seed=1)
    pred = mc_predict(model, x, samples=40, seed=0, return_samples=True, std_error=True,
                      batch_size=3)
    return model, x, pred


def test_shapes_and_probabilities(mc_result):
    _, _, pred = mc_result
    assert pred.probs.shape == (7, 5) and pred.sample_probs.shape == (40, 7, 5)
    assert pred.probs.dtype == F64
    for a in (pred.entropy, pred.mutual_info, pred.variation_ratio):
        assert a.shape == (7,)
    np.testing.assert_allclose(pred.sample_probs.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(pred.probs, pred.sample_probs.mean(axis=0), rtol=1e-12)
    assert np.array_equal(pred.labels, pred.probs.argmax(axis=1))
    assert np.array_equal(pred.confidence, pred.probs.max(axis=1))


def test_entropy_is_mutual_info_plus_expected_entropy(mc_result):
    _, _, pred = mc_result
    sp = pred.sample_probs
    expected_entropy = np.mean([stats.entropy(sp[t], axis=-1) for t in range(sp.shape[0])],
                               axis=0)
    np.testing.assert_allclose(pred.entropy, stats.entropy(pred.probs, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(pred.mutual_info + expected_entropy, pred.entropy, rtol=1e-10,
                               atol=1e-12)
    # MI is a Jensen gap: non-negative (up to round-off), and non-trivial for lenet-all
    assert np.all(pred.mutual_info > -1e-12)
    assert np.any(pred.mutual_info > 1e-4)


def test_variation_ratio_from_votes(mc_result):
    _, _, pred = mc_result
    t, n, k = pred.sample_probs.shape
    for b in range(n):
        votes = np.bincount(pred.sample_probs[:, b].argmax(axis=-1), minlength=k)
        assert pred.variation_ratio[b] == pytest.approx(1 - votes.max() / t, abs=1e-15)
    assert np.all((pred.variation_ratio >= 0) & (pred.variation_ratio <= 1 - 1 / k))


def test_std_error_is_std_of_samples_over_sqrt_t(mc_result):
    _, _, pred = mc_result
    sp = pred.sample_probs
    direct = np.std(sp, axis=0, ddof=1) / math.sqrt(sp.shape[0])
    np.testing.assert_allclose(pred.std_error, direct, rtol=1e-6, atol=1e-9)


def test_seed_and_rng_give_the_same_passes(mc_result):
    model, x, pred = mc_result
    again = mc_predict(model, x, samples=40, seed=0, return_samples=True, batch_size=3)
    assert np.array_equal(again.sample_probs, pred.sample_probs)
    # a generator keys the masks by one 63-bit draw: the same passes as that draw as seed
    drawn = int(make_rng(0).integers(2**63))
    by_rng = mc_predict(model, x, samples=40, rng=make_rng(0), return_samples=True)
    by_seed = mc_predict(model, x, samples=40, seed=drawn, return_samples=True)
    assert np.array_equal(by_rng.sample_probs, by_seed.sample_probs)
    other = mc_predict(model, x, samples=40, seed=1, return_samples=True, batch_size=3)
    assert not np.array_equal(other.sample_probs, pred.sample_probs)


# --- closed form: one dense layer with dropout on its input ----------------------------------

def dropout_dense(p, d, seed=0):
    model = Sequential([("drop", Dropout(p)), ("fc", Dense(d, 1, seed=seed, dtype=F64))])
    rng = np.random.default_rng(seed)
    model.params["fc.W"][...] = rng.standard_normal((d, 1))
    model.params["fc.b"][...] = rng.standard_normal(1)
    return model


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_dropout_dense_predictive_moments_closed_form(p):
    d, n, T, tau = 10, 4, 20_000, 4.0
    model = dropout_dense(p, d)
    assert model.first_stochastic() == 0
    keep = 1 - p
    x = np.random.default_rng(7).standard_normal((n, d))
    w, b = model.params["fc.W"][:, 0], model.params["fc.b"][0]
    mean_exact = x @ w + b
    var_exact = (1 - keep) / keep * (x**2 @ w**2)

    res = mc_predict_regression(model, x, tau=tau, samples=T, seed=0)
    assert res.samples.shape == (T, n, 1)
    assert res.mean.shape == res.variance.shape == (n, 1)
    y = res.samples[:, :, 0]
    var_t = y.var(axis=0)
    np.testing.assert_allclose(res.variance[:, 0], 1 / tau + var_t, rtol=1e-14)
    np.testing.assert_allclose(res.mean[:, 0], y.mean(axis=0), rtol=1e-12)
    # within 5 Monte Carlo standard errors
    se_mean = np.sqrt(var_exact / T)
    assert np.all(np.abs(res.mean[:, 0] - mean_exact) < 5 * se_mean)
    m4 = np.mean((y - mean_exact) ** 4, axis=0)
    se_var = np.sqrt((m4 - var_exact**2) / T)
    assert np.all(np.abs(var_t - var_exact) < 5 * se_var)


# --- stacked sampling equals T separate passes with the same masks ----------------------------

def dyadic_lenet(seed=0):
    """lenet-all whose weights are small multiples of powers of 1/2: with inputs of the same
    kind and p = 0.5 (masks 0 or 2) every sum is exact in float64, whatever its order."""
    model = small_lenet(p=0.5, dtype=F64, seed=seed, n_classes=4)
    rng = np.random.default_rng(seed)
    scale = {"conv1": 4, "conv2": 16, "ip1": 32, "ip2": 64}
    for k, v in model.params.items():
        v[...] = rng.integers(-2, 3, size=v.shape) / scale[k.split(".")[0]]
    return model


@pytest.mark.parametrize("batch_size", [4, 2, 3])
def test_stacked_passes_equal_separate_passes_with_same_masks(batch_size, monkeypatch):
    # tiles of batch_size inputs and all T passes (planned for a huge budget)
    monkeypatch.setattr(mc_tiles, "HOST", mc_tiles.Reference(batch_size, BIG))
    model = dyadic_lenet()
    n, T = 4, 6
    x = np.random.default_rng(1).integers(0, 4, size=(n, 1, 16, 16)) / 4.0
    pred = mc_predict(model, x, samples=T, seed=5, return_samples=True)
    # the masks of the last tile's single chunk: row t·B + b is pass t on input b
    rows = slice((n - 1) // batch_size * batch_size, n)
    xb = x[rows]
    bsz = xb.shape[0]
    masks = {name: layer.mask for name, layer in model.dropout_layers().items()}
    assert set(masks) == {"drop1", "drop2", "drop3"}
    assert all(m.shape[0] == T * bsz for m in masks.values())
    per_pass = []
    for t in range(T):
        mt = {name: m[t * bsz:(t + 1) * bsz] for name, m in masks.items()}
        per_pass.append(mt)
        logits = model.forward(xb, masks=mt)
        probs = np.exp(log_softmax(logits))
        assert np.array_equal(probs, pred.sample_probs[t, rows]), t
    # the passes really differ
    assert not np.array_equal(per_pass[0]["drop3"], per_pass[1]["drop3"])
    assert not np.allclose(pred.sample_probs[0], pred.sample_probs[1])


# --- memory budget ---------------------------------------------------------------------------

def test_tiny_memory_budget_is_refused_and_a_huge_one_changes_nothing():
    """A budget only refuses a tile it cannot hold: a smaller tile would give other bits."""
    model = small_lenet(p=0.5, seed=3)
    x = images(5, seed=2)
    kw = dict(samples=6, seed=4, return_samples=True, std_error=True, batch_size=5)
    with pytest.raises(ValueError, match="below the"):
        mc_predict(model, x, memory_budget=1, **kw)
    passes = mc_tiles.tile_for(model, inputs_for(model, x), model.first_stochastic(), 6).passes
    default = mc_predict(model, x, **kw)
    huge = mc_predict(model, x, memory_budget=BIG, **kw)
    last_chunk = 6 - (6 - 1) // passes * passes           # passes in the last chunk
    assert model.dropout_layers()["drop1"].mask.shape[0] == last_chunk * 5   # 5 inputs, 1 tile
    for pred in (default, huge):
        assert pred.probs.shape == (5, 4) and pred.sample_probs.shape == (6, 5, 4)
        np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, rtol=1e-6)
        assert np.all(np.isfinite(pred.std_error)) and np.all(pred.std_error >= 0)
    for field in ("probs", "entropy", "mutual_info", "variation_ratio", "sample_probs",
                  "std_error"):
        assert np.array_equal(getattr(default, field), getattr(huge, field)), field


def test_unstacked_passes_are_valid_and_reproducible():
    model = small_lenet(p=0.5, seed=3)
    x = images(4, seed=2)
    a = mc_predict(model, x, samples=5, seed=1, stacked=False, return_samples=True)
    b = mc_predict(model, x, samples=5, seed=1, stacked=False, return_samples=True)
    assert a.sample_probs.shape == (5, 4, 4)
    assert np.array_equal(a.sample_probs, b.sample_probs)
    np.testing.assert_allclose(a.probs.sum(axis=1), 1.0, rtol=1e-6)


# --- MC test log-likelihood ------------------------------------------------------------------

@pytest.mark.parametrize("d_out", [1, 2])
def test_mc_test_log_likelihood_against_loop(d_out):
    d, n, T, tau = 3, 5, 30, 2.5
    model = Sequential([("drop", Dropout(0.5)), ("fc", Dense(d, d_out, seed=1, dtype=F64))])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal((n, d_out))
    res = mc_predict_regression(model, x, tau=tau, samples=T, seed=2, y=y)
    s = res.samples.reshape(T, n, d_out)
    total = 0.0
    for i in range(n):
        logs = [-tau / 2 * sum((y[i, j] - s[t, i, j]) ** 2 for j in range(d_out))
                for t in range(T)]
        top = max(logs)
        lse = top + math.log(sum(math.exp(v - top) for v in logs))
        total += (lse - math.log(T) - d_out / 2 * math.log(2 * math.pi)
                  + d_out / 2 * math.log(tau))
    assert res.test_ll == pytest.approx(total / n, rel=1e-12)
    assert mc_predict_regression(model, x, tau=tau, samples=T, seed=2).test_ll is None


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("samples", [0, -1, 2.5, True])
def test_bad_samples(samples):
    model = small_lenet()
    with pytest.raises(ValueError):
        mc_predict(model, images(2), samples=samples)
    with pytest.raises(ValueError):
        mc_predict_regression(dropout_dense(0.5, 3), np.zeros((2, 3)), tau=1.0, samples=samples)


@pytest.mark.parametrize("shape", [(2, 1, 15, 16), (2, 3, 16, 16), (1, 16, 16), (16,)])
def test_wrong_input_shape(shape):
    model = small_lenet()
    x = np.zeros(shape)
    with pytest.raises(ValueError):
        mc_predict(model, x, samples=2)
    with pytest.raises(ValueError):
        standard_predict(model, x)


def test_regression_bad_tau_and_1d_input():
    model = dropout_dense(0.5, 3)
    with pytest.raises(ValueError):
        mc_predict_regression(model, np.zeros((2, 3)), tau=0.0)
    with pytest.raises(ValueError):
        mc_predict_regression(model, np.zeros(3), tau=1.0)


def test_traced_peak_memory_stays_within_what_one_tile_needs():
    """The tile's bytes (the least budget accepted) bound the memory a prediction holds."""
    import tracemalloc

    model = lenet("all", seed=0)
    x = np.random.default_rng(0).random((120, 1, 28, 28), dtype=np.float32)
    mc_predict(model, x[:4], samples=2)  # warm up outside the measurement
    budget = mc_tiles.tile_for(model, x, model.first_stochastic(), 4).nbytes
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        mc_predict(model, x, samples=4, seed=0, memory_budget=budget)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak <= budget, (peak / 2**20, budget / 2**20)
