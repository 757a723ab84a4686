"""MkDocs hook: publish ``tutorials/NN_*.py`` (Jupytext percent scripts) as pages of the site.

For every tutorial it generates ``tutorials/NN_name.md`` — markdown cells as text, code
cells as ``python`` blocks — plus a copy of the script to download, and lists the pages
under "Tutorials" in the navigation. The scripts stay the single source: nothing is
written into ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
PATTERN = re.compile(r"^\d\d_\w+\.py$")


def tutorial_scripts() -> list[Path]:
    """The numbered tutorial scripts, in order."""
    return sorted(p for p in TUTORIALS.glob("*.py") if PATTERN.match(p.name))


def _strip_header(lines: list[str]) -> list[str]:
    """Drop the Jupytext YAML header (a comment block between two ``# ---`` lines)."""
    if lines and lines[0].strip() == "# ---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "# ---":
                return lines[i + 1:]
    return lines


def _cells(source: str) -> list[tuple[str, list[str]]]:
    """``(kind, lines)`` for each ``# %%`` cell; kind is ``"markdown"`` or ``"code"``."""
    cells: list[tuple[str, list[str]]] = []
    kind, body = None, []
    for line in _strip_header(source.splitlines()):
        if line.startswith("# %%"):
            if kind is not None:
                cells.append((kind, body))
            kind, body = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            body.append(line)
    if kind is not None:
        cells.append((kind, body))
    return cells


def title_of(script: Path) -> str:
    """The first markdown heading of a tutorial (its title)."""
    for kind, body in _cells(script.read_text(encoding="utf-8")):
        if kind == "markdown":
            for line in body:
                text = line.removeprefix("#").strip()
                if text.startswith("# "):
                    return text.removeprefix("# ").replace("`", "").strip()
    return script.stem


def to_markdown(script: Path) -> str:
    """The tutorial as a Markdown page."""
    out: list[str] = []
    for i, (kind, body) in enumerate(_cells(script.read_text(encoding="utf-8"))):
        if kind == "markdown":
            text = "\n".join(re.sub(r"^# ?", "", line) for line in body).strip()
            # `docs/page.md` in a script becomes a link on the site
            text = re.sub(r"`docs/([\w-]+)\.md`", r"[\1](../\1.md)", text)
            out.append(text)
            if i == 0:
                out.append(
                    f'!!! note "Run it"\n'
                    f"    This page is the script [`tutorials/{script.name}`]({script.name}), "
                    f"a Jupytext percent file. Run it with `python tutorials/{script.name}` "
                    f"(`TINYBCNN_QUICK=1` for small sizes; figures go to "
                    f"`$TINYBCNN_TUTORIAL_OUT` or a temporary folder), or open it as a "
                    f"notebook with `jupytext --to notebook tutorials/{script.name}`."
                )
        else:
            code = "\n".join(body).strip("\n")
            if code.strip():
                out.append(f"```python\n{code}\n```")
    return "\n\n".join(out) + "\n"


def on_config(config: Any) -> Any:
    """Put one nav entry per tutorial under the "Tutorials" section."""
    pages = [{"Overview": "tutorials.md"}] + [
        {title_of(s): f"tutorials/{s.stem}.md"} for s in tutorial_scripts()]
    nav = config["nav"] or []
    for i, entry in enumerate(nav):
        if isinstance(entry, dict) and "Tutorials" in entry:
            nav[i] = {"Tutorials": pages}
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add the generated pages and the downloadable scripts."""
    for script in tutorial_scripts():
        files.append(File.generated(config, f"tutorials/{script.stem}.md",
                                    content=to_markdown(script)))
        files.append(File.generated(config, f"tutorials/{script.name}",
                                    abs_src_path=str(script)))
    return files
