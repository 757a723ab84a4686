"""Every page of the built site, read in headless Chromium on a phone (400 px) and on a
desktop (1280 px).

For each page and width the test checks what a reader would notice:

* no error in the console (an exception, a rejected promise, ``console.error``);
* every display equation has a size (below Material's 45em breakpoint its rules once
  collapsed them to 1x1 px, docs/stylesheets/extra.css), and one wider than its box has a
  visible scroll cue (``javascripts/scroll-cues.js``: the class ``tinybcnn-scrolls`` and a
  caption after it), so a result cut at the screen's edge never looks like the end;
* the same for tables, and no table reaches past the screen outside a scrolling box;
* the page itself does not scroll sideways;
* every image has loaded;
* an identifier in a table (``docs/_hooks/identifier_breaks.py``) is never split inside a
  part, only after a ``.``, ``/``, ``::``, ``_`` or ``-``.

The site is the one built for all the docs tests (tests/docs/conftest.py). A headless Chromium
window is at least 500 px wide, so each page is shown in an ``<iframe>`` of the width under
test; a script added at the top of the page records errors, and one at the bottom waits for
MathJax, measures, and posts a report to the outer page, whose DOM Chromium prints
(``--dump-dom``). Set ``TINYBCNN_SCREENSHOT_DIR`` to also keep a screenshot of each page at
each width. Skipped when no Chromium (or Chrome) is installed.
"""

from __future__ import annotations

import html as html_text
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from support.browser import BROWSERS, find_browser

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (400, 1280)
COLLAPSED_PX = 2.0  # the bug left 1x1 px SVGs; a real equation is tens of pixels
# the derivation pages whose long results were broken into lines: every display equation
# fits a phone's screen there, with no scrolling at all
FIT_AT_400 = ("objective", "uncertainty-at-work", "deep-gp-kl")


def pages() -> list[str]:
    """The site's pages as paths relative to the site root ('' is the home page)."""
    docs = ROOT / "docs"
    names = [p.stem for p in docs.glob("*.md")]
    names += [f"tutorials/{p.stem}" for p in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))]
    return sorted("" if n == "index" else n for n in names)


ERRORS = """<script>
window.__errors = [];
window.addEventListener("error", e => __errors.push("error: " + (e.message || e.target.src
  || e.target.href || e.type)), true);
window.addEventListener("unhandledrejection", e => __errors.push("rejection: " + e.reason));
(() => { const c = console.error.bind(console);
  console.error = (...a) => { __errors.push("console.error: " + a.join(" ")); c(...a); }; })();
</script>"""

PROBE = """<script>
window.addEventListener("load", async () => {
  let report;
  try {
    if (window.MathJax && MathJax.startup) {
      await MathJax.startup.promise;   // the page's own typeset, as a reader gets it
    }
    await new Promise(r => setTimeout(r, 1500));  // then its scroll cues
    const width = window.innerWidth;
    const cue = box => {
      const next = box.nextElementSibling;
      const style = getComputedStyle(box);
      return box.classList.contains("tinybcnn-scrolls")
        && ["auto", "scroll"].includes(style.overflowX)
        && !!next && next.classList.contains("tinybcnn-scroll-hint") && next.offsetHeight > 0;
    };
    const boxes = sel => [...document.querySelectorAll(sel)].map(box => ({
      text: box.textContent.trim().slice(0, 60),
      overflow: box.scrollWidth > box.clientWidth + 1,
      right: box.getBoundingClientRect().right,
      cue: cue(box)}));
    const equations = [...document.querySelectorAll("div.arithmatex")].map(d => {
      const svg = d.querySelector("mjx-container svg");
      const r = svg ? svg.getBoundingClientRect() : {width: -1, height: -1};
      return {w: r.width, h: r.height, tex: d.textContent.trim().slice(0, 60),
              overflow: d.scrollWidth > d.clientWidth + 1, cue: cue(d)};
    });
    const tables = [...document.querySelectorAll("article table")].map(t => {
      const wrap = t.closest(".md-typeset__scrollwrap");
      return {text: t.textContent.trim().slice(0, 60),
              right: t.getBoundingClientRect().right,
              wrapped: !!wrap,
              overflow: wrap ? wrap.scrollWidth > wrap.clientWidth + 1 : false,
              cue: wrap ? cue(wrap) : false};
    });
    const images = [...document.querySelectorAll("article img")].map(i => ({
      src: (i.getAttribute("src") || "").slice(0, 80), ok: i.complete && i.naturalWidth > 0}));
    const split = [];
    document.querySelectorAll("code.tinybcnn-id").forEach(code => {
      code.childNodes.forEach(node => {
        if (node.nodeType !== Node.TEXT_NODE || !node.textContent) return;
        const range = document.createRange();
        range.selectNodeContents(node);
        const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (tops.size > 1) split.push(code.textContent + " at " + node.textContent);
      });
    });
    report = {width, errors: window.__errors, equations, tables, images, split,
              pageWidth: document.documentElement.scrollWidth};
  } catch (e) {
    report = {error: String(e) + " " + (e.stack || "")};
  }
  window.parent.postMessage(JSON.stringify(report), "*");
});
</script>"""

FRAME = """<!doctype html><html><body style="margin:0">
<iframe src="{src}" style="width:{width}px;height:2400px;border:0"></iframe>
<script>
window.addEventListener("message", e => {{
  const pre = document.createElement("pre");
  pre.id = "page-report";
  pre.textContent = e.data;
  document.body.appendChild(pre);
}});
</script></body></html>"""


# many frames on one page: each posts its report; the outer page prints them all, by frame
FRAMES = """<!doctype html><html><body style="margin:0">
{frames}
<script>
const reports = {{}};
window.addEventListener("message", e => {{
  const frame = [...document.querySelectorAll("iframe")].find(f => f.contentWindow === e.source);
  if (!frame) return;
  reports[frame.dataset.key] = JSON.parse(e.data);
  let pre = document.getElementById("page-report");
  if (!pre) {{
    pre = document.createElement("pre");
    pre.id = "page-report";
    document.body.appendChild(pre);
  }}
  pre.textContent = JSON.stringify(reports);
}});
</script></body></html>"""
# every page at every width fits one run (2 x 34 frames): Chromium's start-up costs more than
# a page (one run of 34 pages took 30% less CPU than three of 12), and memory is no concern
FRAMES_PER_RUN = 80


def chromium(browser: str, url: str, width: int, *extra: str) -> str:
    window = f"{max(width, 500) + 20},2400"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--allow-file-access-from-files", f"--window-size={window}",
           "--virtual-time-budget=60000", *extra, url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return result.stdout


@pytest.fixture(scope="module")
def site(built_site):
    """Chromium and the site built once for the docs tests (tests/docs/conftest.py)."""
    browser = find_browser()
    if browser is None:
        pytest.skip("no Chromium or Chrome installed (Debian: apt-get install chromium)")
    return browser, built_site


def write_probe(out: Path, page: str) -> str:
    """Write the page with the error recorder and the probe added; its URL relative to ``out``."""
    folder = out / page if page else out
    html = (folder / "index.html").read_text("utf-8")
    probe = re.sub(r"<head>", "<head>" + ERRORS, html, count=1).replace(
        "</body>", PROBE + "</body>")
    (folder / "probe.html").write_text(probe, "utf-8")
    return f"{page}/probe.html" if page else "probe.html"


def reports_at(site, widths: tuple[int, ...], names: list[str]) -> dict[int, dict[str, dict]]:
    """Width -> page -> the probe's report, for each page of ``names`` at each of ``widths``.

    Starting Chromium costs more than reading a page, so the pages are read side by side:
    one ``<iframe>`` per page and width, up to :data:`FRAMES_PER_RUN` on one outer page,
    which collects the reports that the frames post (each frame is known by its window) and
    prints them all. A frame's width is its own, whatever the window's (at least the widest
    frame's), so the pages see the viewport of the width under test."""
    browser, out = site
    reports: dict[int, dict[str, dict]] = {width: {} for width in widths}
    keys = [(width, page) for width in widths for page in names]
    for start in range(0, len(keys), FRAMES_PER_RUN):
        group = keys[start:start + FRAMES_PER_RUN]
        frames = "\n".join(
            f'<iframe data-key="{width} {page}" src="{write_probe(out, page)}" '
            f'style="width:{width}px;height:2400px;border:0;display:block"></iframe>'
            for width, page in group)
        outer = out / f"frames_{start}.html"
        outer.write_text(FRAMES.format(frames=frames), "utf-8")
        dom = chromium(browser, outer.as_uri(), max(w for w, _ in group), "--dump-dom")
        found = re.search(r'<pre id="page-report">(.*?)</pre>', dom, flags=re.DOTALL)
        posted = json.loads(html_text.unescape(found.group(1))) if found else {}
        for key, report in posted.items():
            width, _, page = key.partition(" ")
            reports[int(width)][page] = report
    shots = os.environ.get("TINYBCNN_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        for width, page in keys:
            frame = out / "frame_shot.html"
            frame.write_text(FRAME.format(src=write_probe(out, page), width=width), "utf-8")
            shot = Path(shots) / f"{(page or 'home').replace('/', '_')}_{width}.png"
            chromium(browser, frame.as_uri(), width, f"--screenshot={shot}")
    return reports


@pytest.fixture(scope="module")
def all_reports(site):
    """Width -> page -> the probe's report, for every page of the site."""
    return reports_at(site, WIDTHS, pages())


def report_of(all_reports, page: str, width: int) -> dict:
    report = all_reports[width].get(page)
    assert report is not None, f"{page or 'home'} at {width} px: the probe did not report"
    return report


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", pages())
def test_page_renders(all_reports, page, width):
    where = f"{page or 'home'} at {width} px"
    report = report_of(all_reports, page, width)
    assert "error" not in report, f"{where}: {report}"
    assert report["width"] == width
    assert not report["errors"], f"{where}: console errors {report['errors']}"
    small = [e for e in report["equations"] if e["w"] <= COLLAPSED_PX or e["h"] <= COLLAPSED_PX]
    assert not small, f"{where}: display equations of no size: {small}"
    cut = [e["tex"] for e in report["equations"] if e["overflow"] and not e["cue"]]
    assert not cut, f"{where}: equations wider than the screen with no scroll cue: {cut}"
    if width == 400 and page in FIT_AT_400:
        wide = [e["tex"] for e in report["equations"] if e["overflow"]]
        assert not wide, f"{where}: break these into lines that fit a phone: {wide}"
    hidden = [t["text"] for t in report["tables"] if t["overflow"] and not t["cue"]]
    assert not hidden, f"{where}: tables wider than the screen with no scroll cue: {hidden}"
    loose = [t["text"] for t in report["tables"] if not t["wrapped"] and t["right"] > width + 1]
    assert not loose, f"{where}: tables past the screen's edge: {loose}"
    assert report["pageWidth"] <= width + 1, f"{where}: the page scrolls sideways"
    broken = [i["src"] for i in report["images"] if not i["ok"]]
    assert not broken, f"{where}: images not loaded: {broken}"
    assert not report["split"], f"{where}: identifiers split mid-name: {report['split']}"


def test_every_page_is_checked():
    assert len(pages()) == len(list((ROOT / "docs").glob("*.md"))) + len(
        list((ROOT / "tutorials").glob("[0-9][0-9]_*.py")))
    assert "" in pages() and "tutorials/07_mc_dropout" in pages()


def test_browser_finder_knows_debian_and_chrome_names():
    assert "chromium" in BROWSERS and "google-chrome" in BROWSERS
