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

// Material calls this on every page it shows. Re-typeset the page and mark what scrolls.
// The output here is SVG: its cache is cleared by clearFontCache (clearCache belongs to the
// CHTML output; calling it threw, and the calls after it never ran).
document$.subscribe(() => {
  const startup = window.MathJax && MathJax.startup;
  if (!startup || !startup.output || !startup.promise) {
    return;                          // MathJax not loaded yet: it typesets the page itself
  }
  startup.promise.then(() => {
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
