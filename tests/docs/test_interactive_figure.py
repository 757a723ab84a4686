"""The interactive MC-dropout regression figure (docs/interactive-regression.md).

Two parts:

* the samples the docs build makes (docs/_hooks/interactive_regression.py): their layout,
  and every claim the page makes about them ("things to try"), recomputed here with NumPy
  from the passes;
* the page in headless Chromium: the script loads from the built site (no server), draws on
  its canvas, and the numbers it prints for a slider setting equal NumPy's moments of the
  same passes (mean over the first T, population variance, plus 1/τ). Skipped when no
  Chromium is installed, like tests/docs/test_docs_browser.py.
"""

from __future__ import annotations

import html as html_text
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.browser import find_browser

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "docs" / "_hooks" / "interactive_regression.py"


def load_hook():
    spec = importlib.util.spec_from_file_location("interactive_regression", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def moments(passes: np.ndarray, T: int, tau: float):
    """Mean, epistemic std and ±2σ half-width of the first T passes, per grid point."""
    first = passes[:T]
    var = first.var(axis=0)
    return first.mean(axis=0), np.sqrt(var), 2 * np.sqrt(var + 1 / tau)


def regions(x: np.ndarray, gap) -> np.ndarray:
    return np.where((x < -2) | (x > 2), "outside",
                    np.where((x > gap[0]) & (x < gap[1]), "gap", "data"))


def test_small_run_has_the_layout_the_page_reads():
    hook = load_hook()
    data = hook.compute(ps=(0.1,), gaps=((-0.5, 1.0),), t_max=4, grid=(-4.0, 4.0, 9),
                        iterations=5, hidden=(8,), n_train=20)
    assert data["x"] == np.round(np.linspace(-4, 4, 9), 4).tolist()
    assert data["ps"] == [0.1] and data["gaps"] == [[-0.5, 1.0]] and data["t_max"] == 4
    passes = np.array(data["passes"]["0.1|-0.5,1"])
    assert passes.shape == (4, 9) and np.isfinite(passes).all()
    assert passes.std(axis=0).max() > 0                   # the passes differ: masks are drawn
    train = data["train"]["-0.5,1"]
    assert len(train["x"]) == len(train["y"]) == 20
    assert not any(-0.5 < x < 1.0 for x in train["x"])    # no training point in the gap


@pytest.fixture(scope="module")
def full_data(built_site):
    """The samples the site build wrote (the hook's ``compute()``, rounded to its decimals)."""
    text = (built_site / "javascripts" / "mc_regression_data.js").read_text("utf-8")
    return json.loads(text[text.index("=") + 1:].strip().rstrip(";"))


@pytest.mark.slow
def test_the_pages_claims_hold_for_the_built_samples(full_data):
    data, tau = full_data, full_data["tau"]
    x = np.array(data["x"])
    truth = np.sin(2.5 * x) + 0.4 * x
    spread = {}
    for gap in data["gaps"]:
        where = regions(x, gap)
        for p in data["ps"]:
            passes = np.array(data["passes"][f"{p:g}|{gap[0]:g},{gap[1]:g}"])
            mean, epi, half = moments(passes, data["t_max"], tau)
            spread[p, tuple(gap)] = {r: epi[where == r].mean() for r in ("data", "gap")}
            # "in every setting the passes spread more in the gap than in the data"
            assert epi[where == "gap"].mean() > epi[where == "data"].mean(), (p, gap)
            # "beyond the data ... a band far too narrow for its error"
            assert np.abs(mean - truth)[where == "outside"].mean() > \
                2 * half[where == "outside"].mean(), (p, gap)
            # "T = 1: the light band is the noise alone, ±2/sqrt(tau) = ±0.2"
            assert np.allclose(moments(passes, 1, tau)[2], 0.2)
    narrow, wide = tuple(data["gaps"][0]), tuple(data["gaps"][-1])
    for gap in data["gaps"]:
        data_spread = [spread[p, tuple(gap)]["data"] for p in data["ps"]]
        # "more dropout widens the spread everywhere, in the data too"
        assert data_spread == sorted(data_spread), gap
    for p in data["ps"]:
        # "the widest gap has the smallest spread inside it, at every p"
        assert spread[p, wide]["gap"] < spread[p, narrow]["gap"], p


PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message)));
window.addEventListener("load", () => {
  let report;
  try {
    const settings = [[1, 1, 1], [20, 1, 1], [50, 2, 0], [7, 0, 2]];
    const summaries = settings.map(s => window.mcRegression.set(...s));
    const canvas = document.querySelector("#mc-regression canvas");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
    report = {settings, summaries, painted, total: pixels.length / 4,
              readout: document.querySelector("#mcr-readout").textContent,
              width: canvas.getBoundingClientRect().width, viewport: window.innerWidth,
              errors: window.__errors};
  } catch (e) {
    report = {error: String(e), errors: window.__errors};
  }
  const pre = document.createElement("pre");
  pre.id = "figure-report";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.slow
def test_the_page_draws_and_prints_the_moments_of_the_passes(built_site, tmp_path):
    browser = find_browser()
    if browser is None:
        pytest.skip("no Chromium or Chrome installed (Debian: apt-get install chromium)")
    out = tmp_path / "site"     # a copy: the probe page written below stays out of the shared site
    shutil.copytree(built_site, out)
    page = out / "interactive-regression" / "index.html"
    html = page.read_text("utf-8")
    assert 'src="../javascripts/mc_regression_data.js"' in html
    probe = page.with_name("probe.html")
    probe.write_text(html.replace("</body>", PROBE + "</body>"), "utf-8")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--allow-file-access-from-files", "--window-size=420,1600",
           "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout
    found = re.search(r'<pre id="figure-report">(.*?)</pre>', dom, flags=re.DOTALL)
    assert found, "the probe did not report (the page's script did not load?)"
    report = json.loads(html_text.unescape(found.group(1)))
    assert "error" not in report and report["errors"] == [], report
    assert report["painted"] > 0.05 * report["total"], "nothing drawn on the canvas"
    # headless Chromium's window is at least 500 px wide; the canvas must fit whatever it is
    assert report["width"] <= report["viewport"], "the canvas is wider than the screen"
    assert "in the gap" in report["readout"]

    text = (out / "javascripts" / "mc_regression_data.js").read_text("utf-8")
    data = json.loads(text[text.index("=") + 1:].strip().rstrip(";"))
    x = np.array(data["x"])
    for (T, p_index, gap_index), shown in zip(report["settings"], report["summaries"],
                                              strict=True):
        p, gap = data["ps"][p_index], data["gaps"][gap_index]
        passes = np.array(data["passes"][f"{p:g}|{gap[0]:g},{gap[1]:g}"])
        _, epi, half = moments(passes, T, data["tau"])
        where = regions(x, gap)
        assert shown["T"] == T and shown["p"] == p and shown["gap"] == gap
        for name, values, region in [("band_gap", half, "gap"), ("band_data", half, "data"),
                                     ("band_outside", half, "outside"),
                                     ("epistemic_gap", epi, "gap"),
                                     ("epistemic_data", epi, "data")]:
            assert np.isclose(shown[name], values[where == region].mean(), rtol=1e-9), name
    assert np.isclose(report["summaries"][0]["band_gap"], 0.2)      # T = 1: the noise alone
