// A visible cue under every display equation and table that is wider than the screen.
// Phones hide scrollbars until one scrolls, so a wide formula or table looks cut off, and
// the cut part is often the result. Each such box gets the class `tinybcnn-scrolls` (a
// fading right edge, extra.css) and a caption after it saying it scrolls sideways.
// Checked at 400 and 1280 px by tests/docs/test_docs_browser.py.
(function () {
  const BOXES = "div.arithmatex, .md-typeset__scrollwrap";
  const HINT = "tinybcnn-scroll-hint";

  function mark() {
    document.querySelectorAll(BOXES).forEach((box) => {
      const wide = box.scrollWidth > box.clientWidth + 1;
      box.classList.toggle("tinybcnn-scrolls", wide);
      const next = box.nextElementSibling;
      const hasHint = next && next.classList.contains(HINT);
      if (wide && !hasHint) {
        const hint = document.createElement("p");
        hint.className = HINT;
        hint.setAttribute("aria-hidden", "true");
        hint.textContent = box.matches("div.arithmatex")
          ? "\u21c6 the formula continues: scroll it sideways"
          : "\u21c6 the table continues: scroll it sideways";
        box.after(hint);
      } else if (!wide && hasHint) {
        next.remove();
      }
    });
  }

  window.tinybcnnScrollCues = mark;
  window.addEventListener("load", () => {
    const ready = window.MathJax && MathJax.startup && MathJax.startup.promise;
    (ready || Promise.resolve()).then(mark);
  });
  let timer;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(mark, 150);
  });
})();
