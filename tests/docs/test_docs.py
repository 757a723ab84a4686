"""The derivation docs in ``docs/`` against the code.

Two kinds of test:

* every code block marked runnable in ``docs/*.md`` — a ```` ```python ```` fence directly
  after a ``<!-- runnable -->`` line — is executed, the blocks of one page in order in one
  fresh namespace, and must not raise;
* every formula the docs state for the objective and the predictive moments is computed
  here, with the docs' own numbers where they give some, and compared with what
  :class:`tinybcnn.objective.Objective` and :mod:`tinybcnn.predict` return. Each test names
  the doc section it checks.

The site itself (``mkdocs build --strict``) is built by the last test when the ``docs``
extra is installed.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

import tinybcnn as tb
from tinybcnn.functional import dropout_forward, softmax_cross_entropy_forward
from tinybcnn.nn import Dense, Dropout, ReLU, Sequential
from tinybcnn.objective import (
    Objective,
    dropout_keep_per_layer,
    length_scale_from_weight_decay,
    weight_decay_from_prior,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNNABLE = re.compile(r"^<!-- runnable -->[ \t]*\n```python[ \t]*\n(.*?)^```[ \t]*$",
                      re.MULTILINE | re.DOTALL)
PAGES = sorted(DOCS.glob("*.md"))


def runnable_blocks(page: Path) -> list[str]:
    """The runnable code blocks of a page, in order."""
    return [m.group(1) for m in RUNNABLE.finditer(page.read_text(encoding="utf-8"))]


# ---------------------------------------------------------------------------------------
# Runnable blocks
# ---------------------------------------------------------------------------------------


def test_docs_pages_exist():
    names = {p.name for p in PAGES}
    for required in ("index.md", "dropout-as-vi.md", "deep-gp-kl.md", "objective.md",
                     "im2col.md", "pooling.md", "patch-masking.md", "mc-prediction.md",
                     "metrics.md", "backend.md", "api.md", "tutorials.md"):
        assert required in names


def test_runnable_marker_is_always_followed_by_a_python_fence():
    # a marker with anything else after it would silently skip a block
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert text.count("<!-- runnable -->") == len(runnable_blocks(page)), page.name


def test_there_are_runnable_blocks():
    assert sum(len(runnable_blocks(p)) for p in PAGES) >= 12


@pytest.mark.parametrize("page", [p for p in PAGES if runnable_blocks(p)], ids=lambda p: p.name)
def test_runnable_blocks(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                # a block that writes files writes them here
    namespace: dict = {"__name__": f"docs.{page.stem}"}
    for i, code in enumerate(runnable_blocks(page)):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # one clear line naming the page and block, then the traceback
            raise AssertionError(
                f"{page.name}, runnable block {i} failed: {exc!r}\n{code}") from exc
    tb.backend.set_backend("numpy")


def test_every_page_links_the_code():
    # every derivation page links at least one object of the API reference
    for page in PAGES:
        if page.name in ("api.md", "tutorials.md"):
            continue
        assert "api.md#tinybcnn." in page.read_text(encoding="utf-8"), page.name


def test_tutorials_page_lists_every_tutorial():
    text = (DOCS / "tutorials.md").read_text(encoding="utf-8")
    for script in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py")):
        assert f"tutorials/{script.stem}.md" in text, script.name


# ---------------------------------------------------------------------------------------
# objective.md
# ---------------------------------------------------------------------------------------

N_PAPER, L_PAPER, TAU = 60_000, math.sqrt(15), 1.0   # objective.md "Numbers"


def _lam(l, n, tau, keep):
    """objective.md, "The objective in the code": λ_i = l² / (2 N τ keep_i)."""
    return l**2 / (2 * n * tau * keep)


@pytest.mark.parametrize("variant, keep", [
    # objective.md, "Which dropout belongs to which weight layer" (the table)
    ("all", {"conv1": 0.5, "conv2": 0.5, "ip1": 0.5, "ip2": 1.0}),
    ("ip", {"conv1": 1.0, "conv2": 1.0, "ip1": 0.5, "ip2": 1.0}),
    ("none", {"conv1": 1.0, "conv2": 1.0, "ip1": 1.0, "ip2": 1.0}),
])
def test_objective_decay_formula(variant, keep):
    # objective.md, "The objective in the code" and "Numbers"
    model = tb.models.lenet(variant, p=0.5)
    assert dropout_keep_per_layer(model) == keep
    obj = Objective.for_model(model, n_train=N_PAPER, length_scale=L_PAPER, tau=TAU)
    for name, lam in obj.decay.items():
        layer, _, kind = name.partition(".")
        if kind == "W":
            assert math.isclose(lam, _lam(L_PAPER, N_PAPER, TAU, keep[layer]), rel_tol=1e-12)
        else:  # objective.md, "Bias decay": λ_b = l²/(2Nτ), no keep
            assert math.isclose(lam, L_PAPER**2 / (2 * N_PAPER * TAU), rel_tol=1e-12)


def test_objective_numbers_table():
    # objective.md, "Numbers": 2.5e-4 for dropped kernels, 1.25e-4 for ip2.W and biases
    obj = Objective.for_model(tb.models.lenet("all", p=0.5), n_train=N_PAPER,
                              length_scale=L_PAPER, tau=TAU)
    for name in ("conv1.W", "conv2.W", "ip1.W"):
        assert math.isclose(obj.decay[name], 2.5e-4)
    for name in ("ip2.W", "conv1.b", "conv2.b", "ip1.b", "ip2.b"):
        assert math.isclose(obj.decay[name], 1.25e-4)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_inverted_dropout_penalty_equals_papers(p):
    # objective.md, "Inverted dropout: the 1/keep": same function, same penalty
    keep = 1 - p
    rng = np.random.default_rng(0)
    M = rng.standard_normal((7, 5))
    W = keep * M
    x = rng.standard_normal((3, 7))
    z = (rng.random((3, 5)) < keep).astype(float)
    inverted, _ = dropout_forward(x @ W, p, mask=z / keep)
    assert np.allclose((x @ M) * z, inverted)
    paper = keep * L_PAPER**2 / (2 * N_PAPER * TAU) * np.sum(M**2)
    ours = _lam(L_PAPER, N_PAPER, TAU, keep) * np.sum(W**2)
    assert math.isclose(paper, ours, rel_tol=1e-12)
    # ... and the code applies "ours" to a layer with that dropout
    net = Sequential([("ip1", Dense(7, 5, seed=0, dtype=np.float64)), ("d", Dropout(p))])
    obj = Objective.for_model(net, n_train=N_PAPER, length_scale=L_PAPER, tau=TAU)
    assert math.isclose(obj.decay["ip1.W"], _lam(L_PAPER, N_PAPER, TAU, keep), rel_tol=1e-12)


def test_caffe_weight_decay_conversions():
    # objective.md, "Caffe weight_decay ↔ (l, p, N, τ)"
    wd, p, n, tau = 5e-4, 0.5, N_PAPER, 1.0
    keep = 1 - p
    l_doc = length_scale_from_weight_decay(wd, p, n, tau)
    assert math.isclose(l_doc, math.sqrt(wd * n * tau * keep))
    assert math.isclose(l_doc, math.sqrt(15))                               # the doc's 3.873
    assert math.isclose(weight_decay_from_prior(math.sqrt(15), p, n, tau), 15 / (n * tau * keep))
    l = 2.0
    tau_implied = l**2 / (wd * n * keep)              # τ = l² / (wd N keep)
    assert math.isclose(weight_decay_from_prior(l, p, n, tau_implied), wd)
    caffe = Objective.for_model(tb.models.lenet("all", p=0.5), n_train=n, weight_decay=wd)
    assert all(math.isclose(lam, wd / 2) for lam in caffe.decay.values())   # wd = 2λ
    scales = caffe.implied_length_scales()
    assert math.isclose(scales["conv1"], math.sqrt(15))
    assert math.isclose(scales["ip2"], math.sqrt(30))                       # the doc's 5.477
    prior = Objective.for_model(tb.models.lenet("all", p=0.5), n_train=n,
                                length_scale=math.sqrt(15))
    assert {k: 2 * v for k, v in prior.decay.items()} == pytest.approx(prior.weight_decays())
    assert prior.weight_decays()["conv1.W"] == pytest.approx(wd)


def test_tau_scales_decay_and_classification_data_term():
    # objective.md, "The precision τ": λ ∝ 1/τ; the softmax data term is CE / τ
    model = tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, seed=0,
                            dtype=np.float64)
    o1 = Objective.for_model(model, n_train=100, length_scale=1.0, tau=1.0)
    o3 = Objective.for_model(model, n_train=100, length_scale=1.0, tau=3.0)
    for name in o1.decay:
        assert math.isclose(o3.decay[name], o1.decay[name] / 3)
    logits = np.random.default_rng(0).standard_normal((4, 3))
    y = np.array([0, 2, 1, 1])
    ce = float(softmax_cross_entropy_forward(logits, y)[0])
    assert math.isclose(o3.data_term(logits, y)[0], ce / 3)


def _gaussian_case(tau, d=1):
    net = tb.models.mlp((3, 8, d), p=0.5, seed=0, dtype=np.float64)
    obj = Objective.for_model(net, n_train=100, length_scale=1.0, tau=tau, likelihood="gaussian")
    rng = np.random.default_rng(0)
    pred, y = rng.standard_normal((6, d)), rng.standard_normal((6, d))
    # objective.md, "The precision τ": −log N(y; ŷ, 1/τ) / τ = ½‖y − ŷ‖² + (D/2τ) log(2π/τ)
    doc = float(np.mean(0.5 * np.sum((y - pred) ** 2, axis=1))
                + d / (2 * tau) * math.log(2 * math.pi / tau))
    return obj.data_term(pred, y)[0], doc


def test_gaussian_data_term_tau_one():
    got, doc = _gaussian_case(1.0)
    assert math.isclose(got, doc, rel_tol=1e-12)


@pytest.mark.parametrize("d", [1, 3])
def test_gaussian_data_term_divided_by_tau(d):
    got, doc = _gaussian_case(4.0, d)
    assert math.isclose(got, doc, rel_tol=1e-12)


def test_objective_value_and_penalty_gradient():
    # objective.md, "The objective in the code": L = data + Σ λ‖θ‖², gradient 2λθ
    model = tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=3, seed=0,
                            dtype=np.float64)
    obj = Objective.for_model(model, n_train=50, length_scale=1.5)
    x = np.random.default_rng(1).standard_normal((4, 1, 16, 16))
    y = np.array([0, 1, 2, 0])
    model.forward(x, rng=np.random.default_rng(2))
    masks = {n: layer.mask for n, layer in model.dropout_layers().items()}
    value = obj(model, x, y, masks=masks)
    with_decay = {k: v.copy() for k, v in model.grads.items()}
    logits = model.forward(x, masks=masks)
    data = float(softmax_cross_entropy_forward(logits, y)[0])
    penalty = sum(obj.decay[k] * float(np.sum(v**2)) for k, v in model.params.items())
    assert math.isclose(value, data + penalty, rel_tol=1e-12)
    model.backward(obj.data_term(logits, y)[1])           # data gradient alone
    for k, theta in model.params.items():
        assert np.allclose(with_decay[k] - model.grads[k], 2 * obj.decay[k] * theta)


def test_dropout_keep_edge_cases():
    # objective.md, "Which dropout belongs to which weight layer", the edge cases
    net = Sequential([("in_drop", Dropout(0.2)), ("ip1", Dense(4, 8, seed=0)), ("relu", ReLU()),
                      ("d0", Dropout(0.0)), ("d1", Dropout(0.3)), ("d2", Dropout(0.6)),
                      ("ip2", Dense(8, 2, seed=1))])
    # two inverted masks on the same units are one Bernoulli(0.7 * 0.4) mask
    assert dropout_keep_per_layer(net) == {"ip1": pytest.approx(0.28), "ip2": 1.0}
    assert dropout_keep_per_layer(net, mask_side="input") == {
        "ip1": pytest.approx(0.8), "ip2": pytest.approx(0.28)}


# ---------------------------------------------------------------------------------------
# mc-prediction.md
# ---------------------------------------------------------------------------------------


def _entropy(p):
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


@pytest.fixture(scope="module")
def small_model():
    return tb.models.lenet("all", p=0.5, in_shape=(1, 16, 16), n_classes=4, seed=0)


@pytest.mark.parametrize("T", [1, 3, 16])
def test_classification_moments(small_model, T):
    # mc-prediction.md, "Classification": p̄, H[p̄], MI, VR, standard error
    x = np.random.default_rng(0).random((7, 1, 16, 16), dtype=np.float32)
    pred = tb.predict.mc_predict(small_model, x, samples=T, seed=0, return_samples=True,
                                 std_error=True)
    P = pred.sample_probs
    assert P.shape == (T, 7, 4)
    p_bar = P.mean(axis=0)
    votes = np.stack([(P.argmax(-1) == k).sum(0) for k in range(4)], axis=1)
    assert np.allclose(pred.probs, p_bar)
    assert np.allclose(pred.entropy, _entropy(p_bar))
    assert np.allclose(pred.mutual_info, _entropy(p_bar) - _entropy(P).mean(axis=0))
    assert np.allclose(pred.variation_ratio, 1 - votes.max(axis=1) / T)
    sd = P.std(axis=0, ddof=1) if T > 1 else np.zeros_like(p_bar)
    assert np.allclose(pred.std_error, sd / np.sqrt(T), atol=1e-7)
    # the bounds the page states
    assert np.all(pred.mutual_info >= -1e-9)
    assert np.all(pred.mutual_info <= pred.entropy + 1e-9)
    assert np.all(pred.entropy <= np.log(4) + 1e-9)
    assert np.all(pred.variation_ratio <= 1 - math.ceil(T / 4) / T + 1e-12)


def test_standard_prediction_is_one_deterministic_pass(small_model):
    # mc-prediction.md, "Standard vs MC dropout": dropout off, MI = VR = 0
    x = np.random.default_rng(1).random((5, 1, 16, 16), dtype=np.float32)
    std = tb.predict.standard_predict(small_model, x)
    logits = small_model.forward(x).astype(np.float64)
    soft = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    assert np.allclose(std.probs, soft, atol=1e-6)
    assert np.all(std.mutual_info == 0) and np.all(std.variation_ratio == 0)
    assert std.samples == 1


@pytest.mark.parametrize("D", [1, 3])
def test_regression_moments_and_test_ll(D):
    # mc-prediction.md, "Regression" and "MC test log-likelihood"
    net = tb.models.mlp((3, 16, D), p=0.2, seed=0)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, D))
    tau, T = 4.0, 20
    r = tb.predict.mc_predict_regression(net, x, tau=tau, samples=T, seed=0, y=y)
    S = r.samples
    assert S.shape == (T, 5, D)
    assert np.allclose(r.mean, S.mean(0))
    assert np.allclose(r.variance, 1 / tau + (S**2).mean(0) - S.mean(0) ** 2)
    ll = (logsumexp(-tau / 2 * ((y[None] - S) ** 2).sum(-1), axis=0) - np.log(T)
          - D / 2 * np.log(2 * np.pi) + D / 2 * np.log(tau))
    assert math.isclose(r.test_ll, float(ll.mean()), rel_tol=1e-12)


def test_test_ll_with_one_sample_is_gaussian_ll():
    # mc-prediction.md, "MC test log-likelihood": T = 1 is the Gaussian LL with variance 1/τ
    rng = np.random.default_rng(2)
    s, y, tau = rng.standard_normal((1, 9)), rng.standard_normal(9), 2.5
    assert math.isclose(tb.metrics.mc_test_log_likelihood(s, y, tau),
                        tb.metrics.gaussian_log_likelihood(s[0], 1 / tau, y), rel_tol=1e-12)


# ---------------------------------------------------------------------------------------
# metrics.md
# ---------------------------------------------------------------------------------------


def test_ece_formula():
    # metrics.md, "Expected calibration error": Σ_b |B_b|/N |acc − conf|, bins (b/15, (b+1)/15]
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((400, 5)) * 2
    probs = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    labels = rng.integers(0, 5, 400)
    conf, correct = probs.max(1), probs.argmax(1) == labels
    b = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    doc = sum(np.sum(b == k) / 400 * abs(correct[b == k].mean() - conf[b == k].mean())
              for k in range(15) if np.any(b == k))
    assert math.isclose(tb.metrics.ece(probs, labels).ece, doc, rel_tol=1e-9)


def test_auroc_pairwise_definition():
    # metrics.md, "AUROC (ties count ½)"
    rng = np.random.default_rng(4)
    s = rng.integers(0, 6, 60).astype(float)        # many ties
    pos = rng.random(60) < 0.4
    sp, sn = s[pos][:, None], s[~pos][None, :]
    doc = (np.sum(sp > sn) + 0.5 * np.sum(sp == sn)) / (pos.sum() * (~pos).sum())
    assert math.isclose(tb.metrics.auroc(s, pos), doc, rel_tol=1e-12)


# ---------------------------------------------------------------------------------------
# The site
# ---------------------------------------------------------------------------------------


def test_rst_math_rewrite_for_api_pages():
    # docs/_hooks/griffe_rst_math.py turns the docstrings' reST math into arithmatex input
    pytest.importorskip("griffe")
    sys.path.insert(0, str(DOCS / "_hooks"))
    try:
        from griffe_rst_math import rst_math_to_markdown
    finally:
        sys.path.pop(0)
    text = ("Notes\n-----\n.. math::\n\n    a = b\n    + c\n\nwhere :math:`a` is x.\n"
            ".. math:: y = \\max_i x_i\n          + 1\nafter")
    assert rst_math_to_markdown(text).splitlines() == [
        "Notes", "-----", "", "$$", "a = b", "+ c", "$$", "", "where $a$ is x.", "",
        "$$", "y = \\max_i x_i", "+ 1", "$$", "", "after"]



@pytest.mark.slow
def test_mkdocs_build_strict(built_site):
    assert (built_site / "api" / "index.html").exists()


@pytest.mark.slow
def test_results_page_shows_the_json_tables(built_site):
    # docs/_hooks/results_tables.py renders them; tests/docs/test_docs_results.py checks each cell
    page = (built_site / "results" / "index.html").read_text("utf-8")
    assert "{{ table" not in page and page.count("<table>") >= 8
    assert "<td>26.70 ± 0.95%</td>" in page and "<td>−54.6</td>" in page
    assert (built_site / "results" / "small_data_fmnist.json").is_file()    # linked under it


@pytest.mark.slow
def test_tutorial_pages_show_outputs_and_figures(built_site):
    page = (built_site / "tutorials" / "01_im2col" / "index.html").read_text("utf-8")
    assert page.count('class="filename">output') >= 3            # printed output under cells
    assert "all checks passed" in page
    figures = list((built_site / "tutorials" / "01_im2col").glob("*.png"))
    assert figures and all(f.stat().st_size > 1000 for f in figures)
    assert f'src="{figures[0].name}"' in page
    # tutorial 05's Monte Carlo check of Prop. 1 prints its numbers on the page
    page05 = (built_site / "tutorials" / "05_objective" / "index.html").read_text("utf-8")
    assert re.search(r"Monte Carlo KL 19\d\.\d\d", page05)
    # a tutorial that was not run still has its page, without outputs
    page02 = (built_site / "tutorials" / "02_conv_backward" / "index.html").read_text("utf-8")
    assert 'class="filename">output' not in page02


# a resource the browser loads by itself: <script src>, <link href> (stylesheets, fonts,
# preconnects), <img src>, <iframe src>, <source src>; CSS url(...) and @import
RESOURCE = re.compile(r"<(?:script|link|img|iframe|source|embed)\b[^>]*?\b(?:src|href)\s*=\s*"
                      r"[\"']?((?:https?:)?//[^\"' >]+)", re.IGNORECASE)
CSS_URL = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])((?:https?:)?//[^\"')\s]+)", re.IGNORECASE)


@pytest.mark.slow
def test_site_loads_nothing_from_other_hosts(built_site):
    # the site, math included, must render with no network
    external = []
    for page in built_site.rglob("*.html"):
        external += [(page.name, url) for url in RESOURCE.findall(page.read_text("utf-8"))]
    for sheet in built_site.rglob("*.css"):
        external += [(sheet.name, url) for url in CSS_URL.findall(sheet.read_text("utf-8"))]
    assert not external, external[:10]
    # the math renderer is a file of the site, and every page with math loads it
    assert (built_site / "javascripts" / "vendor" / "mathjax" / "tex-svg-full.js").exists()
    page = (built_site / "objective" / "index.html").read_text("utf-8")
    assert 'src="../javascripts/vendor/mathjax/tex-svg-full.js"' in page
    assert (built_site / "javascripts" / "vendor" / "mathjax" / "LICENSE").exists()
    # our own scripts fetch nothing either
    own = (DOCS / "javascripts" / "mathjax.js").read_text("utf-8")
    assert not re.search(r"https?://", own)


def test_resource_scanner_finds_external_hosts():
    # the scanner of the test above, on snippets it must and must not flag
    html = ('<script src="https://unpkg.com/x.js"></script><link rel="preconnect" '
            'href="https://fonts.gstatic.com"><img src="//cdn.example/a.png">'
            '<script src="../js/a.js"></script><a href="https://arxiv.org/abs/1506.02142">x</a>')
    assert RESOURCE.findall(html) == ["https://unpkg.com/x.js", "https://fonts.gstatic.com",
                                      "//cdn.example/a.png"]
    assert CSS_URL.findall('@import "https://fonts.googleapis.com/css";'
                           ' a{background:url(../img/a.png)} b{src:url(https://x.org/f.woff)}') == [
        "https://fonts.googleapis.com/css", "https://x.org/f.woff"]


# ---------------------------------------------------------------------------------------
# Layout: equations that fit the page, headings without raw LaTeX
# ---------------------------------------------------------------------------------------

DISPLAY = re.compile(r"^\$\$[ \t]*\n(.*?)\n\$\$[ \t]*$", re.MULTILINE | re.DOTALL)
MAX_DISPLAY_WIDTH = 70     # rendered characters per line; ~70 fit the 1280 px content column


def rendered_width(tex: str) -> int:
    """Rough count of the characters a TeX line shows: commands count as one glyph, a
    fraction as its wider part, spacing and grouping as nothing."""
    t = re.sub(r"\\(?:begin|end)\{\w+\}", "", tex)
    t = re.sub(r"\\(?:mathrm|text|operatorname|mathbf|mathcal|mathbb)\{([^{}]*)\}", r"\1", t)
    t = re.sub(r"\\(?:left|right|bigg|Bigg|big|Big)[lr]?", "", t)
    for _ in range(3):
        t = re.sub(r"\\t?frac\{([^{}]*)\}\{([^{}]*)\}",
                   lambda m: max(m.group(1), m.group(2), key=len), t)
    t = t.replace(r"\qquad", "    ").replace(r"\quad", "  ")
    t = re.sub(r"\\[,;:! ]", " ", t)
    t = re.sub(r"\\[a-zA-Z]+", "x", t)
    t = re.sub(r"[{}^_&]", "", t)
    return len(" ".join(t.split()))


def display_lines(page: Path) -> list[str]:
    """Each rendered line of each display equation of a page (split at ``\\\\``)."""
    lines = []
    for block in DISPLAY.findall(page.read_text(encoding="utf-8")):
        lines += [" ".join(seg.split()) for seg in block.split("\\\\")]
    return lines


def test_rendered_width_counts_glyphs():
    assert rendered_width(r"\frac{a + b}{c} = \mathrm{err}") == len("a + b = err")
    assert rendered_width(r"\begin{aligned} &x") == 1


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_display_equations_fit_the_page(page):
    wide = [(rendered_width(line), line[:80]) for line in display_lines(page)
            if rendered_width(line) > MAX_DISPLAY_WIDTH]
    assert not wide, f"split these over lines (\\begin{{aligned}} ... \\\\): {wide}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_headings_have_no_latex(page):
    # headings become the table of contents and the browser tab title, where MathJax does
    # not run: raw $...$ or \( would show as source
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    headings = [line for line in text.splitlines() if re.match(r"#{1,6} ", line)]
    bad = [h for h in headings if re.search(r"\$|\\\(|\\\[|\\[a-zA-Z]+", h)]
    assert not bad, bad


def test_no_escaped_underscore_in_text_macro():
    # \text{weight\_decay} shows a literal backslash in MathJax: use \mathrm{...} or code
    for page in PAGES:
        assert not re.search(r"\\text\{[^}]*\\_", page.read_text(encoding="utf-8")), page.name


def test_rst_roles_become_links():
    # docs/_hooks/griffe_rst_math.py resolves :func:/:class:/:meth: the way Sphinx does
    griffe = pytest.importorskip("griffe")
    sys.path.insert(0, str(DOCS / "_hooks"))
    try:
        from griffe_rst_math import resolve_xref, xrefs_to_autorefs
    finally:
        sys.path.pop(0)
    pkg = griffe.load("tinybcnn", search_paths=[str(ROOT)])
    for_model = pkg["objective.Objective.for_model"]
    # relative to the class, the module, absolute, and with Sphinx's ~ (last part as title)
    obj = "tinybcnn.objective"
    assert resolve_xref("weight_decays", for_model, pkg) == f"{obj}.Objective.weight_decays"
    assert resolve_xref("dropout_keep_per_layer", for_model, pkg) == f"{obj}.dropout_keep_per_layer"
    assert resolve_xref(f"~{obj}.Objective", for_model, pkg) == f"{obj}.Objective"
    assert resolve_xref("numpy.argmax", for_model, pkg) == "numpy.argmax"   # left to autorefs
    out = xrefs_to_autorefs("see :meth:`weight_decays` and :class:`~tinybcnn.nn.Dense`.",
                            for_model, pkg)
    assert out == ('see <autoref identifier="tinybcnn.objective.Objective.weight_decays" optional>'
                   '<code>weight_decays</code></autoref> and <autoref identifier='
                   '"tinybcnn.nn.Dense" optional><code>Dense</code></autoref>.')


@pytest.mark.slow
def test_api_page_has_links_not_roles(built_site):
    html = (built_site / "api" / "index.html").read_text("utf-8")
    # the source listings (show_source) keep the docstrings verbatim; the rendered text not
    rendered = re.sub(r'<details class="quote">.*?</details>', "", html, flags=re.S)
    rendered = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", "", rendered, flags=re.S)
    roles = re.findall(r":(?:func|class|meth|mod|attr|data|exc):`", rendered)
    assert not roles, f"{len(roles)} reST roles shown as text"
    # Objective.for_model's docstring names :meth:`weight_decays`: now a link to it
    assert re.search(r'<a class="autorefs autorefs-internal"[^>]*href="#tinybcnn\.objective\.'
                     r'Objective\.weight_decays"', html)


def test_parameter_entries_with_different_defaults_are_split():
    # griffe gives every name of "kh, kw, stride, pad : int" the first one's default, so the
    # API page showed col2im's stride and pad as required; the hook splits such entries
    pytest.importorskip("griffe")
    sys.path.insert(0, str(DOCS / "_hooks"))
    try:
        from griffe_rst_math import split_parameter_entries
    finally:
        sys.path.pop(0)
    text = ("Fold.\n\nParameters\n----------\ncols : array\nkh, kw, stride, pad : int\n"
            "    As given to im2col.\n\nReturns\n-------\nx, y : array\n    Same defaults.")
    out = split_parameter_entries(text, {"cols": None, "kh": None, "kw": None,
                                         "stride": "1", "pad": "0"})
    assert out.split("\n") == [
        "Fold.", "", "Parameters", "----------", "cols : array",
        "kh : int", "    As given to im2col.", "kw : int", "    As given to im2col.",
        "stride : int", "    As given to im2col.", "pad : int", "    As given to im2col.",
        "", "Returns", "-------", "x, y : array", "    Same defaults."]
    same = "Parameters\n----------\nkh, kw : int\n    Kernel size."
    assert split_parameter_entries(same, {"kh": None, "kw": None}) == same


@pytest.mark.slow
def test_api_page_shows_col2im_defaults(built_site):
    html = (built_site / "api" / "index.html").read_text("utf-8")
    start = html.index('id="tinybcnn.functional.col2im"')
    table = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start:start + 8000]))
    assert re.search(r"stride int As given to .{0,40}? 1 pad int As given to .{0,40}? 0", table), \
        table[:800]
