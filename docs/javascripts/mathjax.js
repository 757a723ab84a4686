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

document$.subscribe(() => {
  MathJax.startup.output.clearCache()
  MathJax.typesetClear()
  MathJax.texReset()
  MathJax.typesetPromise()
})
