"""The built site's display equations have a size, on a phone and on a desktop.

Below Material's 45em breakpoint (~720 px) its rules once collapsed every display equation's
SVG to 1x1 px while inline maths still showed (docs/stylesheets/extra.css says why). This test
builds the site (tutorials not run: ``TINYBCNN_DOCS_EXECUTE=0``), opens derivation pages in
headless Chromium at 400 px and 1280 px, waits for MathJax, and measures every display
equation's SVG.

A headless Chromium window is at least 500 px wide, so each page is shown in an ``<iframe>``
of the width under test; a script added to the page posts the sizes to the outer page, whose
DOM Chromium prints (``--dump-dom``). Set ``TINYBCNN_SCREENSHOT_DIR`` to also keep a
screenshot of each page at each width. Skipped when no Chromium (or Chrome) is installed.
"""

from __future__ import annotations

import html as html_text
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
WIDTHS = (400, 1280)
PAGES = ("objective", "deep-gp-kl", "uncertainty-at-work")
COLLAPSED_PX = 2.0  # the bug left 1x1 px SVGs; a real equation is tens of pixels

PROBE = """<script>
window.addEventListener("load", async () => {
  let report;
  try {
    await MathJax.startup.promise;
    await MathJax.typesetPromise();
    const sizes = [...document.querySelectorAll("div.arithmatex")].map(d => {
      const svg = d.querySelector("mjx-container svg");
      if (!svg) return [-1, -1];
      const r = svg.getBoundingClientRect();
      return [r.width, r.height];
    });
    report = {width: window.innerWidth, sizes};
  } catch (e) {
    report = {error: String(e)};
  }
  window.parent.postMessage(JSON.stringify(report), "*");
});
</script>"""

FRAME = """<!doctype html><html><body style="margin:0">
<iframe src="{src}" style="width:{width}px;height:2400px;border:0"></iframe>
<script>
window.addEventListener("message", e => {{
  const pre = document.createElement("pre");
  pre.id = "equation-sizes";
  pre.textContent = e.data;
  document.body.appendChild(pre);
}});
</script></body></html>"""


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(browser: str, url: str, width: int, *extra: str) -> str:
    window = f"{max(width, 500) + 20},2400"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--allow-file-access-from-files", f"--window-size={window}",
           "--virtual-time-budget=30000", *extra, url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    return result.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    browser = find_browser()
    if browser is None:
        pytest.skip("no Chromium or Chrome installed (Debian: apt-get install chromium)")
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    out = tmp_path_factory.mktemp("site_browser")
    result = subprocess.run(
        # not strict: a broken link elsewhere is tests/test_docs.py's to report; this test is
        # about how the equations render
        [sys.executable, "-m", "mkdocs", "build", "--no-strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "TINYBCNN_DOCS_EXECUTE": "0"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    yield browser, out
    shutil.rmtree(out, ignore_errors=True)


def display_equations(html: str) -> int:
    return len(re.findall(r'<div class="arithmatex">', html))


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES)
def test_display_equations_have_a_size(site, page, width):
    browser, out = site
    html = (out / page / "index.html").read_text("utf-8")
    n = display_equations(html)
    assert n >= 3, f"{page}: expected display equations, found {n}"
    (out / page / "probe.html").write_text(html.replace("</body>", PROBE + "</body>"), "utf-8")
    frame = out / f"frame_{page}_{width}.html"
    frame.write_text(FRAME.format(src=f"{page}/probe.html", width=width), "utf-8")
    dom = chromium(browser, frame.as_uri(), width, "--dump-dom")
    found = re.search(r'<pre id="equation-sizes">(.*?)</pre>', dom, flags=re.DOTALL)
    assert found, f"{page} at {width} px: the probe did not report (MathJax not loaded?)"
    report = json.loads(html_text.unescape(found.group(1)))
    assert "error" not in report, report
    assert report["width"] == width
    sizes = report["sizes"]
    assert len(sizes) == n
    small = [(i, w, h) for i, (w, h) in enumerate(sizes) if w <= COLLAPSED_PX or h <= COLLAPSED_PX]
    assert not small, f"{page} at {width} px: display equations of no size (index, w, h): {small}"
    shots = os.environ.get("TINYBCNN_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        chromium(browser, frame.as_uri(), width,
                 f"--screenshot={Path(shots) / f'{page}_{width}.png'}")


def test_browser_finder_knows_debian_and_chrome_names():
    assert "chromium" in BROWSERS and "google-chrome" in BROWSERS
