"""Griffe extension: render the package's reST markup in docstrings as site markup.

The numpydoc docstrings write equations as ``.. math::`` directives and ``:math:`x``` roles,
and cross-references as ``:func:`x```, ``:class:`~a.b.C```, ``:meth:`.C.m``` (so they read
well in a terminal and in Sphinx). mkdocstrings renders docstrings as Markdown, where those
would show as literal text; this rewrites them, in the docs build only:

* math to ``$$ ... $$`` blocks and ``$...$`` spans, which ``pymdownx.arithmatex`` turns into
  MathJax;
* a numpydoc entry naming several parameters (``kh, kw, stride, pad : int``) whose
  defaults differ is split into one entry per parameter, so that each shows its own
  default (griffe gives them all the first one's: ``stride`` and ``pad`` showed as
  required);
* cross-reference roles to mkdocs-autorefs links (``<autoref identifier=... optional>``),
  with the target resolved the way Sphinx does: an absolute path, or a name relative to the
  documented object, its class, its module or the package. An ``optional`` autoref that
  finds no page renders as plain code instead of failing the build.

The package's source is not touched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":math:`([^`]+)`")
XREF = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):`([^`]+)`")


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


def _exists(pkg: Any, path: str) -> bool:
    """Whether ``path`` (dotted, from the package name) names an object of ``pkg``."""
    if path == pkg.path:
        return True
    if not path.startswith(pkg.path + "."):
        return False
    try:
        pkg[path[len(pkg.path) + 1:]]
    except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError,
            griffe.CyclicAliasError):
        return False
    return True


def _scopes(obj: Any) -> list[str]:
    """Paths a relative name in ``obj``'s docstring is looked up in, nearest first."""
    scopes, node = [], obj
    while node is not None:
        scopes.append(node.path)
        node = node.parent
    return scopes


def resolve_xref(target: str, obj: Any, pkg: Any) -> str:
    """The full path a reST cross-reference target means in ``obj``'s docstring."""
    name = target.lstrip("~").lstrip(".").removesuffix("()")
    for scope in ["", *_scopes(obj)]:
        path = f"{scope}.{name}" if scope else name
        if _exists(pkg, path):
            # a module named after its one public function (functional.im2col.im2col):
            # the reader means the function
            last = path.rsplit(".", 1)[-1]
            if _exists(pkg, f"{path}.{last}") and pkg[path[len(pkg.path) + 1:]].is_module:
                return f"{path}.{last}"
            return path
    return name


def xrefs_to_autorefs(text: str, obj: Any, pkg: Any) -> str:
    """``:func:`~a.b.f``` and friends to ``<autoref identifier="a.b.f" optional>`` links."""

    def link(match: re.Match) -> str:
        target = match.group(1).strip()
        title = target.lstrip("~").lstrip(".")
        if target.startswith("~"):
            title = title.rsplit(".", 1)[-1]
        identifier = resolve_xref(target, obj, pkg)
        return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'

    return XREF.sub(link, text)


_MULTI = re.compile(r"^(?P<indent>\s*)(?P<names>\w+(?:\s*,\s*\w+)+)\s*:\s*(?P<type>.*)$")


def split_parameter_entries(text: str, defaults: dict[str, Any]) -> str:
    """Split ``a, b : T`` in the Parameters section where ``a`` and ``b`` default differently.

    ``defaults`` maps each parameter name to its default in the signature (``None`` for
    none). Entries of parameters with equal defaults are left as they are.
    """
    lines = text.split("\n")
    out: list[str] = []
    in_params = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and re.fullmatch(r"\s*-{3,}\s*", lines[i + 1]):
            in_params = line.strip() == "Parameters"
        match = _MULTI.match(line) if in_params else None
        if match is None:
            out.append(line)
            i += 1
            continue
        names = [n.strip() for n in match["names"].split(",")]
        body, j = [], i + 1
        while j < len(lines) and (not lines[j].strip() or
                                  _indent(lines[j]) > len(match["indent"])):
            body.append(lines[j])
            j += 1
        while body and not body[-1].strip():
            j -= 1
            body.pop()
        if len({repr(defaults.get(n)) for n in names}) == 1:
            out += [line, *body]
        else:
            for name in names:
                out += [f"{match['indent']}{name} : {match['type']}", *body]
        i = j
    return "\n".join(out)


def _signature_defaults(obj: Any) -> dict[str, Any]:
    try:
        return {p.name: p.default for p in obj.parameters}
    except AttributeError:
        return {}


class RstMath(griffe.Extension):
    """Rewrite every docstring of the loaded package once it is complete."""

    def _rewrite(self, obj: Any, pkg: Any, seen: set[int]) -> None:
        if id(obj) in seen or getattr(obj, "is_alias", False):
            return
        seen.add(id(obj))
        if obj.docstring is not None:
            value = obj.docstring.value
            if "math:" in value:
                value = rst_math_to_markdown(value)
            if XREF.search(value):
                value = xrefs_to_autorefs(value, obj, pkg)
            if getattr(obj, "is_function", False):
                value = split_parameter_entries(value, _signature_defaults(obj))
            obj.docstring.value = value
        for member in obj.members.values():
            self._rewrite(member, pkg, seen)

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:  # griffe >= 2
        self._rewrite(pkg, pkg, set())

    def on_package_loaded(self, *, pkg: Any, **kwargs: Any) -> None:  # griffe 1.x
        self._rewrite(pkg, pkg, set())
