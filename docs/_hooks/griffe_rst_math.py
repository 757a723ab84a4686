"""Griffe extension: render the package's reST math in docstrings as site math.

The numpydoc docstrings write equations as ``.. math::`` directives and ``:math:`x``` roles
(so they read well in a terminal and in Sphinx). mkdocstrings renders docstrings as
Markdown, where those would show as literal text; this rewrites them, in the docs build
only, to ``$$ ... $$`` blocks and ``$...$`` spans, which ``pymdownx.arithmatex`` turns
into MathJax. The package's source is not touched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":math:`([^`]+)`")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def rst_math_to_markdown(text: str) -> str:
    """``.. math::`` blocks to ``$$`` blocks and ``:math:`x``` to ``$x$``."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped.startswith(".. math::"):
            out.append(_ROLE.sub(r"$\1$", line))
            i += 1
            continue
        base = _indent(line)
        body = [stripped[len(".. math::"):].strip()]
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
            body.append(lines[i].strip())
            i += 1
        tex = [b for b in body if b]                 # a blank line would end the block
        pad = " " * base
        if out and out[-1].strip():
            out.append("")
        out += [pad + "$$", *(pad + t for t in tex), pad + "$$", ""]
    return "\n".join(out).rstrip("\n")


class RstMath(griffe.Extension):
    """Rewrite every docstring of the loaded package once it is complete."""

    def _rewrite(self, obj: Any, seen: set[int]) -> None:
        if id(obj) in seen or getattr(obj, "is_alias", False):
            return
        seen.add(id(obj))
        if obj.docstring is not None and "math:" in obj.docstring.value:
            obj.docstring.value = rst_math_to_markdown(obj.docstring.value)
        for member in obj.members.values():
            self._rewrite(member, seen)

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:  # griffe >= 2
        self._rewrite(pkg, set())

    def on_package_loaded(self, *, pkg: Any, **kwargs: Any) -> None:  # griffe 1.x
        self._rewrite(pkg, set())
