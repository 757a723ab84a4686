"""Claims the docs make in words, each recomputed from first principles or from the shipped
data, so that a page cannot say something its own numbers contradict.

Each test names the page and the claim; where a claim is a number, the number is computed
here (closed forms, direct draws of masks, the shipped ``docs/results/*.json``) and the
page's text is searched for it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tinybcnn.functional import dropout_forward
from tinybcnn.models import mlp
from tinybcnn.nn import Dense, Dropout, ReLU, Sequential
from tinybcnn.objective import Objective, dropout_keep_per_layer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def flat(text: str) -> str:
    """A page's text with its line breaks and runs of spaces made single spaces."""
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------
# E1: Gal's regression code against this package's decay
# ---------------------------------------------------------------------------------------


def ridge(x, y, data_scale, decay):
    """Minimiser of ``data_scale · mean_n (y_n − x_n w)² + decay · ‖w‖²`` (normal equations)."""
    n = x.shape[0]
    return np.linalg.solve(data_scale * x.T @ x / n + decay * np.eye(x.shape[1]),
                           data_scale * x.T @ y / n)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_gal_keras_decay_is_keep_squared_over_two_of_ours(p):
    """uncertainty-at-work.md, "Three ways": Keras' ``mean_squared_error`` has no ½ and
    ``l2(reg)`` adds ``reg·‖W‖²``; with ``reg = l²(1 − p)/(2Nτ)`` that is the decay
    ``keep·l²/(4Nτ)`` on a ½-squared-error data term, ``keep²/2`` times tinybcnn's."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    l, n, tau, keep = 0.7, 40, 3.0, 1.0 - p
    reg = l**2 * (1 - p) / (2.0 * n * tau)                       # Gal's net.py, as printed
    keras = ridge(x, y, data_scale=1.0, decay=reg)               # mean (y − ŷ)² + reg ‖w‖²
    # the same minimiser with the data term of this package, ½ (y − ŷ)², needs decay reg/2
    assert np.allclose(ridge(x, y, data_scale=0.5, decay=reg / 2), keras)
    assert not np.allclose(ridge(x, y, data_scale=0.5, decay=reg), keras)
    gal = reg / 2
    # tinybcnn's decay on an input-side dropout layer (Gal's dropouts sit before each Dense)
    ours = Objective.for_model(mlp((3, 8, 1), p=p), n_train=n, length_scale=l, tau=tau,
                               likelihood="gaussian", mask_side="input").decay["ip2.W"]
    assert ours == pytest.approx(l**2 / (2 * n * tau * keep))
    assert gal / ours == pytest.approx(keep**2 / 2)
    assert gal == pytest.approx(keep * l**2 / (4 * n * tau))


def test_pages_state_the_keep_squared_over_two_factor():
    """The factor is keep²/2 (8 at p = 0.5), and the table's λ for Gal's code has 4Nτ."""
    at_work = flat(page("uncertainty-at-work.md"))
    assert r"$\lambda = \text{keep}\, l^2/(4N\tau)$ |" in at_work
    assert r"is $\text{keep}^2/2$ times this package's" in at_work
    assert "8 times less" in at_work
    assert "only the $\\text{keep}$ differs" not in at_work
    for name in ("paper-to-code.md", "objective.md"):
        text = flat(page(name))
        assert r"$\text{keep}^2/2$" in text and "8" in text, name


# ---------------------------------------------------------------------------------------
# E2: two inverted masks are one Bernoulli(keep1 keep2) mask
# ---------------------------------------------------------------------------------------


def test_two_inverted_masks_are_one_bernoulli_mask_of_the_product():
    """objective.md, "Other rules": drawn masks, not the code's bookkeeping."""
    k1, k2 = 0.7, 0.4
    rng = np.random.default_rng(1)
    x = np.ones(400_000)
    y, _ = dropout_forward(x, 1 - k1, rng=rng)
    y, _ = dropout_forward(y, 1 - k2, rng=rng)
    kept = y != 0
    # every kept unit is scaled by exactly 1/(k1 k2): one inverted mask
    assert np.allclose(y[kept], 1 / (k1 * k2))
    se = np.sqrt(k1 * k2 * (1 - k1 * k2) / x.size)
    assert abs(kept.mean() - k1 * k2) < 5 * se
    assert abs(kept.mean() - k1) > 100 * se      # not the first mask's keep
    net = Sequential([("ip1", Dense(4, 8, seed=0)), ("relu", ReLU()),
                      ("d1", Dropout(1 - k1)), ("d2", Dropout(1 - k2)),
                      ("ip2", Dense(8, 2, seed=1))])
    assert dropout_keep_per_layer(net)["ip1"] == pytest.approx(k1 * k2)
    assert dropout_keep_per_layer(net, mask_side="input")["ip2"] == pytest.approx(k1 * k2)
    assert "0.7 · 0.4 = 0.28" in flat(page("objective.md"))


# ---------------------------------------------------------------------------------------
# E6: start-here's install lines name the extras that hold what they say
# ---------------------------------------------------------------------------------------


def test_start_here_install_lines_match_the_extras():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"]
    lines = re.findall(r'^pip install -e "?\.\[(\w+)\]"?\s+# (.*)$', page("start-here.md"),
                       flags=re.MULTILINE)
    assert lines, "start-here.md: no install lines found"
    for extra, comment in lines:
        assert extra in extras, extra
        deps = " ".join(extras[extra]).lower()
        for tool in re.findall(r"\b(pytest|mkdocs|jupytext|nbconvert|ipykernel|hypothesis)\b",
                               comment.split("(", 1)[-1]):
            assert tool in deps, f"start-here.md says .[{extra}] installs {tool}; it does not"


# ---------------------------------------------------------------------------------------
# E9: tutorial 07 quotes no single full run as what "the full run prints"
# ---------------------------------------------------------------------------------------


def test_tutorial_07_says_what_varies_in_its_full_run_numbers():
    text = flat((ROOT / "tutorials" / "07_mc_dropout.py").read_text("utf-8").replace("# ", " "))
    assert "actually prints" not in text            # one machine's run presented as the result
    assert "varies between machines" in text and "Your run prints its own" in text
    # both full runs that were measured are quoted, not only the one that fits the story
    assert "0.04" in text and "0.32" in text and "75° and 90°" in text


# ---------------------------------------------------------------------------------------
# E10: deep-gp-kl.md's rescaled KL, with the constant C it now states
# ---------------------------------------------------------------------------------------


def test_rescaled_kl_and_its_constant_match_monte_carlo():
    """deep-gp-kl.md, "Rescaling to the prior": KL(q(w) ‖ N(0, l⁻² I)) of the smeared
    Bernoulli column ≈ keep·l²/2 ‖M_k‖² + C(σ, l, D) − H(keep), with
    C = D/2 (l²σ² − 1 − log(l²σ²)); estimated here by sampling q, in float64."""
    from scipy.special import logsumexp

    rng = np.random.default_rng(0)
    d, keep, l, sigma, n = 200, 0.6, 2.0, 0.05, 20_000
    m = 0.3 * rng.normal(size=d)
    on = rng.random(n) < keep
    w = np.where(on[:, None], m, 0.0) + sigma * rng.normal(size=(n, d))

    def log_normal(x, mu, var):
        return -0.5 * np.sum((x - mu) ** 2, axis=1) / var - 0.5 * d * np.log(2 * np.pi * var)

    log_q = logsumexp([np.log(keep) + log_normal(w, m, sigma**2),
                       np.log(1 - keep) + log_normal(w, 0.0, sigma**2)], axis=0)
    ratio = log_q - log_normal(w, 0.0, l**-2)
    entropy = -(keep * np.log(keep) + (1 - keep) * np.log(1 - keep))
    c = d / 2 * (l**2 * sigma**2 - 1 - np.log(l**2 * sigma**2))
    formula = keep * l**2 / 2 * m @ m + c - entropy
    assert abs(ratio.mean() - formula) < 4 * ratio.std() / np.sqrt(n)
    assert r"C(\sigma, l, D) = \frac{D}{2}\big(l^2\sigma^2 - 1 - \log(l^2\sigma^2)\big)" in page(
        "deep-gp-kl.md")


# ---------------------------------------------------------------------------------------
# E10: the glossary defines every symbol the pages use
# ---------------------------------------------------------------------------------------

GREEK = re.compile(r"\\(alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|iota|kappa|"
                   r"lambda|mu|nu|xi|pi|rho|sigma|tau|phi|varphi|chi|psi|omega|Gamma|Delta|"
                   r"Theta|Lambda|Sigma|Phi|Omega|Pi|Psi)(?![a-zA-Z])")


def test_glossary_defines_every_greek_letter_the_pages_use():
    glossary = page("glossary.md")
    used = {m for p in DOCS.glob("*.md") if p.name != "glossary.md"
            for m in GREEK.findall(p.read_text("utf-8"))}
    missing = sorted(g for g in used if not re.search(rf"\\{g}(?![a-zA-Z])", glossary))
    assert not missing, f"glossary.md does not define: {missing}"


@pytest.mark.parametrize("symbol", [r"q_\theta", r"\hat\omega_t", r"m_i", r"\pi_c", r"\mu_c",
                                    r"\Sigma_c", r"\Delta^K", r"\tilde x", "$OH$", "$OW$",
                                    "$|B|$", "$z_n$", r"f_{\text{mode}}"])
def test_glossary_names_the_symbols_issue_readers_missed(symbol):
    assert symbol in page("glossary.md")


def test_deep_gp_page_uses_one_letter_per_meaning():
    text = page("deep-gp-kl.md")
    assert r"\sigma(w" not in text and r"\sigma(x" not in text      # σ is the smearing std only
    assert "K(x, y)" not in text and r"\tfrac{1}{K}" not in text    # K is the classes only
    assert "m_{i,k}" not in text                                      # columns are M_{i,k}


# ---------------------------------------------------------------------------------------
# Student pages carry no editorial history
# ---------------------------------------------------------------------------------------

HISTORY = re.compile(r"\(issue \d+\)|issue \d+'s|the issue's|this session|the session that"
                     r"|\bissue \d+\b|shared/", flags=re.IGNORECASE)


@pytest.mark.parametrize("name", sorted(str(p.relative_to(DOCS))
                                          for p in [*DOCS.glob("*.md"), *DOCS.glob("*/*.md")]))
def test_pages_carry_no_editorial_history(name):
    found = HISTORY.findall(page(name))
    assert not found, f"{name}: {found} (say what the reader needs, not how the page came to be)"


def test_no_combining_accents_in_code_spans():
    """``ω̂_t`` in a code span rendered as "ω^t" (the combining hat of U+0302 drifts off its
    letter in a monospace font); such symbols are written as math ($\\hat\\omega_t$)."""
    sources = [*DOCS.glob("*.md"), *(ROOT / "tutorials").glob("[0-9][0-9]_*.py")]
    bad = [(p.name, span) for p in sources
           for span in re.findall(r"`[^`\n]*`", p.read_text("utf-8")) if "\u0302" in span]
    assert not bad, bad
