"""MkDocs hook: long identifiers in table cells break between their parts, not mid-name.

Browsers break a long ``<code>`` anywhere when a table column is narrow (Material sets
``word-break: break-word``), so ``tinybcnn.objective.dropout_keep_per_layer`` could end a
line with ``dropout_ke``. In every table this hook marks each code span that is a single
identifier (no spaces: a dotted name, a path, a test id) with the class ``tinybcnn-id`` and
puts a ``<wbr>`` (a line-break opportunity) after each ``.``, ``/``, ``::``, ``_`` and ``-``;
``docs/stylesheets/extra.css`` forbids breaks anywhere else. ``tests/docs/test_docs_browser.py``
checks, at 400 and 1280 px, that no part between two such points is split over lines.

On the paper-to-code map (:data:`WIDE_PAGES`) the tables also get ``data-tinybcnn-wide``: on
a phone they keep a desktop's width and scroll sideways (with the scroll cue of
``javascripts/scroll-cues.js``) rather than squeeze four columns of names into a page some
ten thousand pixels tall.
"""

from __future__ import annotations

import re
from typing import Any

TABLE = re.compile(r"<table>.*?</table>", re.DOTALL)
IDENTIFIER = re.compile(r"<code>([^<\s]{12,})</code>")
BREAK_AFTER = re.compile(r"(::|[./_-])(?=[^<])")
WIDE_PAGES = {"paper-to-code.md"}


def break_identifiers(html: str) -> str:
    """``html`` with the identifiers in its tables given break points (idempotent)."""
    def code(m: re.Match) -> str:
        return '<code class="tinybcnn-id">' + BREAK_AFTER.sub(r"\1<wbr>", m.group(1)) + "</code>"

    return TABLE.sub(lambda t: IDENTIFIER.sub(code, t.group(0)), html)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    html = break_identifiers(html)
    if page.file.src_uri in WIDE_PAGES:
        html = html.replace("<table>", "<table data-tinybcnn-wide>")
    return html
