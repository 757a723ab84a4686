// MathJax 3 set-up for pymdownx.arithmatex (generic mode): \( \) inline, \[ \] display.
// The renderer is served from the site (javascripts/vendor/mathjax/tex-svg-full.js, SVG
// output with its own glyphs), so formulas render with no network.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  svg: {
    fontCache: "global"
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
    menuOptions: {
      settings: {
        explorer: false,   // the speech explorer would load its rules from a CDN
        assistiveMml: true
      }
    }
  }
};

// Material emits document$ for every page it shows. On a page's first load MathJax typesets
// it by itself (startup.promise settles after that); typesetting it again here doubled the
// work on every page a reader opened. Only a page Material swaps in without a reload (instant
// navigation, off in mkdocs.yml today) needs the re-typeset. Then mark what scrolls.
// The output here is SVG: its cache is cleared by clearFontCache (clearCache belongs to the
// CHTML output; calling it threw, and the calls after it never ran).
let pagesShown = 0;
document$.subscribe(() => {
  pagesShown += 1;
  const startup = window.MathJax && MathJax.startup;
  if (!startup || !startup.output || !startup.promise) {
    return;                          // MathJax not loaded yet: it typesets the page itself
  }
  const swappedIn = pagesShown > 1;
  startup.promise.then(() => {
    if (!swappedIn) {
      return null;                   // MathJax's own first typeset covered this page
    }
    const output = startup.output;
    if (typeof output.clearFontCache === "function") {
      output.clearFontCache();       // SVG output
    } else if (typeof output.clearCache === "function") {
      output.clearCache();           // CHTML output
    }
    MathJax.typesetClear();
    MathJax.texReset();
    return MathJax.typesetPromise();
  }).then(() => window.tinybcnnScrollCues && window.tinybcnnScrollCues());
});
