"""MC dropout masks depend on (seed, pass, image, layer) only: not on the batch size, the
memory budget, the chunk plan, the caller's own chunking or the backend.

The oracle for the masks is a pure-Python rebuild of the stream from its definition
(:func:`tinybcnn.random.splitmix64` on host integers, lanes cut with Python shifts). The
oracle for the predictions is the textbook T-pass loop :func:`tinybcnn.predict.mc_predict_loop`
and, for bit-identity across plans, a network whose arithmetic is exact (dyadic weights and
inputs, float64): any summation order then gives the same bits, so a difference can only
come from different masks.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from support import cupy_double
from support.splitmix_oracle import word

import tinybcnn as tb
from tinybcnn import backend, mc_tiles
from tinybcnn.backend import to_numpy
from tinybcnn.mc_tiles import Reference
from tinybcnn.predict import mc_predict, mc_predict_loop
from tinybcnn.random import MCStream, _key_from_seed, mc_stream, splitmix64

BACKENDS = ["numpy", "array_api_strict", "double"]


@contextlib.contextmanager
def on(name):
    """The backend ``name`` for the block; ``double`` is tests/support/cupy_double.py as CuPy."""
    before = backend.get_backend()
    with contextlib.ExitStack() as stack:
        if name == "double":
            pytest.importorskip("array_api_compat")
            stack.enter_context(cupy_double.installed())
            backend.set_backend("cupy")
        else:
            if name == "array_api_strict":
                pytest.importorskip("array_api_strict")
            backend.set_backend(name)
        try:
            yield backend.array_namespace(backend.get_backend())
        finally:
            backend.set_backend(before)


def dyadic_lenet(seed=0):
    """LeNet-all (16×16 inputs, 4 classes, float64) with weights in {-2..2}/2^k: with
    inputs in {0, 1/4, 1/2, 3/4} and masks 0 or 2 every sum is exact, in any order."""
    model = tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=4, seed=seed,
                            dtype=np.float64)
    rng = np.random.default_rng(seed)
    scale = {"conv1": 4, "conv2": 16, "ip1": 32, "ip2": 64}
    model.load_params({k: tb.backend.to_backend(rng.integers(-2, 3, size=v.shape)
                                                / scale[k.split(".")[0]], np.float64)
                       for k, v in model.params.items()})
    return model


def dyadic_images(n, seed=1):
    return np.random.default_rng(seed).integers(0, 4, size=(n, 1, 16, 16)) / 4.0


# --- the stream against its definition -----------------------------------------------------

def oracle_mask(seed, layer, t, i, per_row, keep):
    """Mask row of pass ``t``, image ``i`` at dropout layer ``layer``, from the definition:
    element ``j`` is lane ``j % L`` of word ``t·2**40 + i·W + j // L`` of the stream keyed
    by ``(seed, 0x4D43, layer)``; one-bit lanes for keep 1/2, else 8/16/32-bit lanes."""
    golden = 0x9E3779B97F4A7C15
    key = _key_from_seed([seed, 0x4D43, layer])
    if keep == 0.5:
        bits, threshold = 1, 1
    elif keep * 256 == round(keep * 256):
        bits, threshold = 8, round(keep * 256)
    elif keep * 65536 == round(keep * 65536):
        bits, threshold = 16, round(keep * 65536)
    else:
        bits, threshold = 32, round(keep * 2**32)
    lanes = 64 // bits
    words_per_image = -(-per_row // lanes)
    out = np.empty(per_row)
    for j in range(per_row):
        c = (t << 40) + i * words_per_image + j // lanes
        word = splitmix64(key + c * golden)
        u = (word >> (bits * (j % lanes))) & ((1 << bits) - 1)
        out[j] = 1.0 / keep if u < threshold else 0.0
    return out


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("p", [0.5, 0.25, 0.3])
def test_block_masks_equal_the_definition_on_every_backend(name, p):
    keep = 1.0 - p
    with on(name) as xp:
        x = xp.zeros((1,), dtype=xp.float32)
        stream = mc_stream(11, like=x)
        block = stream.block(3, 2, 5, 3)                      # passes 3, 4 × images 5, 6, 7
        shapes = [(6, 2, 3, 5), (6, 70)]                     # two dropout layers
        masks = [to_numpy(tb.random.bernoulli_mask(block, s, p, dtype=np.float32, xp=xp))
                 for s in shapes]
    for layer, (shape, mask) in enumerate(zip(shapes, masks, strict=True)):
        per_row = int(np.prod(shape[1:]))
        for row in range(6):
            t, i = 3 + row // 3, 5 + row % 3
            expected = oracle_mask(11, layer, t, i, per_row, keep).astype(np.float32)
            np.testing.assert_array_equal(mask[row].reshape(-1), expected)


@pytest.mark.parametrize("p", [0.5, 0.25, 0.3])
def test_masks_keep_the_right_fraction(p):
    mask = tb.random.bernoulli_mask(MCStream(0).block(0, 4, 0, 50), (200, 1000), p)
    kept = np.mean(mask > 0)
    assert abs(kept - (1 - p)) < 4 * np.sqrt(p * (1 - p) / mask.size)
    assert np.all((mask == 0) | (mask == np.float32(1 / (1 - p))))


def test_a_block_is_the_rows_of_a_larger_block():
    stream = MCStream(4)
    big = stream.block(0, 5, 0, 9)
    small = stream.block(2, 2, 3, 4)
    for shape in [(45, 7, 3), (45, 200)]:        # the first and the second dropout layer
        a = tb.random.bernoulli_mask(big, shape, 0.5).reshape(5, 9, -1)
        b = tb.random.bernoulli_mask(small, (8, *shape[1:]), 0.5).reshape(2, 4, -1)
        np.testing.assert_array_equal(b, a[2:4, 3:7])


def test_a_block_refuses_a_mask_of_the_wrong_rows():
    with pytest.raises(ValueError, match="6 rows, not 5"):
        tb.random.bernoulli_mask(MCStream(0).block(0, 2, 0, 3), (5, 4), 0.5)


# --- predictions: the same bits whatever the plan ------------------------------------------

# the tiles are fixed by the model, T and the namespace kind (tinybcnn.mc_tiles); here their
# reference is replaced, so that inputs and passes share products in other ways
REFERENCES = [Reference(b, m) for b in (3, 7, 200) for m in (2**20, 2**22, 2**40)]
PLANS = [dict(batch_size=b, memory_budget=m) for b in (3, 7, 200)
         for m in (None, 2**40)] + [dict(stacked=False)]


def tiled(monkeypatch, ref):
    """Plan every kind's tiles for ``ref`` (CPU and device alike)."""
    monkeypatch.setattr(mc_tiles, "HOST", ref)
    monkeypatch.setattr(mc_tiles, "DEVICE", ref)


@pytest.mark.parametrize("name", BACKENDS)
def test_mc_predict_is_bit_identical_across_plans_and_equals_the_loop(name, monkeypatch):
    x = dyadic_images(10)
    with on(name):
        model = dyadic_lenet()
        loop = mc_predict_loop(model, x, samples=6, seed=3)
        preds = [mc_predict(model, x, samples=6, seed=3, return_samples=True, **plan)
                 for plan in PLANS]
        for ref in REFERENCES:
            tiled(monkeypatch, ref)
            preds.append(mc_predict(model, x, samples=6, seed=3, return_samples=True))
    ref = preds[0]
    for plan, pred in zip(PLANS + REFERENCES, preds, strict=True):
        for field in ("probs", "entropy", "mutual_info", "variation_ratio", "sample_probs"):
            np.testing.assert_array_equal(getattr(pred, field), getattr(ref, field),
                                          err_msg=f"{field} {plan}")
    np.testing.assert_array_equal(ref.sample_probs, loop.sample_probs)
    np.testing.assert_allclose(ref.probs, loop.probs, rtol=1e-13)
    np.testing.assert_allclose(ref.mutual_info, loop.mutual_info, atol=1e-12)
    np.testing.assert_array_equal(ref.variation_ratio, loop.variation_ratio)
    # the passes differ (the masks are not all the same)
    assert not np.allclose(ref.sample_probs[0], ref.sample_probs[1])


def test_the_same_bits_on_every_backend():
    x = dyadic_images(8)
    results = {}
    for name in BACKENDS:
        with on(name):
            results[name] = mc_predict(dyadic_lenet(), x, samples=5, seed=9,
                                       return_samples=True, batch_size=3)
    for name in BACKENDS[1:]:
        np.testing.assert_array_equal(results[name].sample_probs,
                                      results["numpy"].sample_probs, err_msg=name)


def test_float32_predictions_agree_across_tiles_up_to_rounding(monkeypatch):
    """With real weights the GEMMs round differently for different row counts (OpenBLAS's
    kernels depend on M), so float32 results on other tiles (another reference) agree to
    rounding, not bit for bit; masks that differed would move probabilities by 1e-2 (issue
    32 measured up to 0.09)."""
    model = tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=4, seed=0)
    x = np.random.default_rng(0).random((40, 1, 16, 16), dtype=np.float32)
    a = mc_predict(model, x, samples=8, seed=2)
    c = mc_predict(model, x, samples=8, seed=3)
    tiled(monkeypatch, Reference(9, 1))
    b = mc_predict(model, x, samples=8, seed=2)
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    assert np.abs(a.probs - c.probs).max() > 1e-3        # another seed: other masks


@pytest.mark.parametrize("name", ["numpy", "double"])
def test_predicting_a_slice_with_its_first_image_gives_those_rows(name):
    x = dyadic_images(12)
    with on(name):
        model = dyadic_lenet()
        whole = mc_predict(model, x, samples=4, seed=1, return_samples=True)
        part = mc_predict(model, x[5:9], samples=4, seed=1, first_image=5,
                          return_samples=True, batch_size=2)
        unshifted = mc_predict(model, x[5:9], samples=4, seed=1, return_samples=True)
    np.testing.assert_array_equal(part.sample_probs, whole.sample_probs[:, 5:9])
    assert not np.array_equal(unshifted.sample_probs, whole.sample_probs[:, 5:9])


def test_a_numpy_generator_keys_the_same_masks_on_every_backend():
    x = dyadic_images(6)
    results, states = {}, {}
    for name in ("numpy", "double"):
        rng = np.random.default_rng(5)
        with on(name):
            results[name] = mc_predict(dyadic_lenet(), x, samples=3, rng=rng,
                                       return_samples=True, batch_size=4)
        states[name] = rng.integers(2**62)      # the caller's stream moved on alike
    np.testing.assert_array_equal(results["double"].sample_probs,
                                  results["numpy"].sample_probs)
    assert states["double"] == states["numpy"]


def test_first_image_must_be_a_nonnegative_integer():
    model = dyadic_lenet()
    with pytest.raises(ValueError, match="first_image"):
        mc_predict(model, dyadic_images(2), samples=2, first_image=-1)


def test_callers_that_chunk_the_images_get_the_unchunked_result():
    """The CLI's progress-bar prediction and the demo split the images themselves; each chunk
    passes its offset, so the result is mc_predict's on all the images."""
    from tinybcnn.cli import _predict_with_progress
    from tinybcnn.demo import _predict

    model = dyadic_lenet()
    x = dyadic_images(11)
    whole = mc_predict(model, x, samples=4, seed=6)
    chunked = _predict_with_progress(model, x, samples=4, seed=6, progress=False, work=12)
    _, demo = _predict(model, x, samples=4, seed=6, desc="", progress=False, chunk=4)
    for pred in (chunked, demo):
        np.testing.assert_array_equal(pred.probs, whole.probs)
        np.testing.assert_array_equal(pred.variation_ratio, whole.variation_ratio)


# -- found by mutation testing (scripts/mutation.py) -----------------------------------------


def test_block_uniform_noise_is_the_high_bits_of_each_elements_word():
    """MCBlock.uniform (a Concrete mask's noise): (2k + 1) / 2**(bits + 1) with k the high
    ``bits`` bits of the element's word of its layer, one layer per call, the rows checked."""
    from tinybcnn.random import MCStream

    stream = MCStream(7)
    block = stream.block(1, 2, 3, 4)
    for layer in (0, 1):
        got = block.uniform((8, 2, 3), 8, np.float64)
        words = stream.words(layer, 1, 2, 3, 4, 6)
        want = ((words >> np.uint64(56)).astype(np.float64) * 2 + 1) / 2**9
        np.testing.assert_array_equal(got, want.reshape(8, 2, 3))
    assert block.layer == 2
    with pytest.raises(ValueError) as info:
        block.uniform((7, 2), 8, np.float64)
    assert str(info.value) == ("an MC block of 2 passes over 4 images draws noise of 8 rows, "
                               "not 7")
    assert repr(MCStream(3, pytest.importorskip("array_api_strict"))) == \
        "MCStream(seed=[3], xp=array_api_strict)"


@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
def test_block_uniform_noise_keeps_the_asked_dtype(namespace):
    """A float32 network gets float32 noise (a float64 one would upcast the layer it
    scales), with the same values as the float64 oracle rounded once: ``(2k + 1) / 2**9``
    for 8 bits is exact in float32."""
    from tinybcnn.random import MCStream

    xp = np if namespace == "numpy" else pytest.importorskip("array_api_strict")
    stream = MCStream(5, xp)
    got = stream.block(0, 2, 0, 3).uniform((6, 4), 8, np.float32)
    assert got.dtype == (np.float32 if xp is np else xp.float32)
    words = np.asarray(MCStream(5).words(0, 0, 2, 0, 3, 4))
    want = ((words >> np.uint64(56)).astype(np.float64) * 2 + 1) / 2**9
    np.testing.assert_array_equal(np.asarray(got), want.astype(np.float32).reshape(6, 4))


@pytest.mark.parametrize("keep", [0.5, 0.75, 0.3])
def test_block_mask_on_numpy_is_the_generic_lanes_in_the_asked_shape_and_dtype(keep):
    """NumPy's fast lanes (``_mask_from_lanes``) against the generic shift-and-compare path
    of array_api_strict on the same stream: a float32 mask of the 4-d shape asked for."""
    strict = pytest.importorskip("array_api_strict")
    from tinybcnn.random import MCStream

    shape = (6, 3, 5, 7)
    got = MCStream(9).block(0, 2, 0, 3).mask(shape, keep, np.float32)
    want = MCStream(9, strict).block(0, 2, 0, 3).mask(shape, keep, strict.float32)
    assert got.shape == shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.asarray(want))


# -- the stream's bounds (found by mutation testing) -------------------------------------------
@pytest.mark.parametrize("first_pass, passes, first_image", [
    (-1, 1, 0), (2**24 - 1, 2, 0), (0, 1, -1), (2**24 - 2, 1, -1)])
def test_a_block_outside_the_streams_passes_or_images_is_refused(first_pass, passes,
                                                                 first_image):
    with pytest.raises(ValueError) as refused:
        MCStream(0).block(first_pass, passes, first_image, 2)
    assert str(refused.value) == (f"passes {first_pass}+{passes} or first image {first_image} "
                                  "out of the MC stream's range (passes < 16777216)")
    MCStream(0).block(2**24 - 1, 1, 0, 2)   # the last pass is inside


def test_a_pass_holds_2_to_the_40_words_and_not_one_more():
    """Each pass owns 2**40 counters (pass t starts at t · 2**40): images · words per image
    may fill them exactly, one word more would run into the next pass's."""
    stream = MCStream(0)
    last = stream.words(0, 0, 1, 2**39 - 1, 1, 2)       # the pass's last two words
    want = [word(stream.key(0), c) for c in (2**40 - 2, 2**40 - 1)]
    np.testing.assert_array_equal(last, np.array(want, dtype=np.uint64).reshape(1, 2))
    with pytest.raises(ValueError) as refused:
        stream.words(0, 0, 1, 2**39, 1, 2)
    assert str(refused.value) == ("549755813889 images of 2 words each overflow the MC "
                                  "stream's 2**40 words per pass")
