"""MkDocs hook: publish ``tutorials/NN_*.py`` (Jupytext percent scripts) as pages of the site.

For every tutorial it generates ``tutorials/NN_name.md`` — markdown cells as text, code
cells as ``python`` blocks, each followed by what it printed and the figures it drew — plus
a copy of the script to download, and lists the pages under "Tutorials" in the navigation.
The scripts stay the single source: nothing is written into ``docs/``.

The outputs come from running the tutorials in quick mode (``TINYBCNN_QUICK=1``) while the
site builds, in order and in one output folder (07 reuses the model 06 saved), each in its
own process (``run_tutorial.py``). A tutorial that fails fails the build.
``TINYBCNN_DOCS_EXECUTE`` chooses: unset or ``1`` runs them all, ``0`` none (fast rebuilds
with ``mkdocs serve``), ``01,05`` only those.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
PATTERN = re.compile(r"^\d\d_\w+\.py$")
RUNNER = Path(__file__).with_name("run_tutorial.py")
MAX_OUTPUT_LINES = 40

sys.path.insert(0, str(Path(__file__).parent))
from run_tutorial import cells as _cells  # noqa: E402

sys.path.pop(0)


def tutorial_scripts() -> list[Path]:
    """The numbered tutorial scripts, in order."""
    return sorted(p for p in TUTORIALS.glob("*.py") if PATTERN.match(p.name))


def selected(script: Path) -> bool:
    """Whether ``TINYBCNN_DOCS_EXECUTE`` asks for this tutorial to be run."""
    choice = os.environ.get("TINYBCNN_DOCS_EXECUTE", "1").strip()
    if choice in ("", "1"):
        return True
    if choice == "0":
        return False
    return script.name[:2] in {c.strip().zfill(2) for c in choice.split(",")}


def execute(scripts: list[Path]) -> dict[str, list[dict]]:
    """Run the chosen tutorials in quick mode; script name -> outputs per code cell."""
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="tinybcnn-docs-") as tmp:
        env = {**os.environ, "TINYBCNN_QUICK": "1", "TINYBCNN_TUTORIAL_OUT": tmp,
               "TINYBCNN_BACKEND": "numpy", "MPLBACKEND": "Agg",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        for script in scripts:
            out = Path(tmp) / f"{script.stem}.json"
            proc = subprocess.run([sys.executable, str(RUNNER), str(script), str(out)],
                                  cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=900)
            if proc.returncode != 0:
                raise PluginError(f"tutorial {script.name} failed while building the docs:\n"
                                  f"{(proc.stdout + proc.stderr)[-3000:]}")
            cells = json.loads(out.read_text(encoding="utf-8"))
            # the page shows where figures go for a reader, not this build's temporary folder
            for cell in cells:
                cell["stdout"] = cell["stdout"].replace(tmp, "$TINYBCNN_TUTORIAL_OUT")
            results[script.name] = cells
    return results


def _shorten(text: str) -> str:
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= MAX_OUTPUT_LINES:
        return "\n".join(lines)
    head, tail = lines[:25], lines[-10:]
    return "\n".join([*head, f"... ({len(lines) - 35} lines not shown) ...", *tail])


def title_of(script: Path) -> str:
    """The first markdown heading of a tutorial (its title)."""
    for kind, body in _cells(script.read_text(encoding="utf-8")):
        if kind == "markdown":
            for line in body:
                text = line.removeprefix("#").strip()
                if text.startswith("# "):
                    return text.removeprefix("# ").replace("`", "").strip()
    return script.stem


def to_markdown(script: Path, outputs: list[dict] | None = None) -> tuple[str, dict[str, bytes]]:
    """The tutorial as a Markdown page, and the figure files it links (path -> PNG bytes).

    ``outputs`` (from :func:`execute`) puts each code cell's printed text and figures under it.
    """
    out: list[str] = []
    figures: dict[str, bytes] = {}
    code_index = -1
    for i, (kind, body) in enumerate(_cells(script.read_text(encoding="utf-8"))):
        if kind == "markdown":
            text = "\n".join(re.sub(r"^# ?", "", line) for line in body).strip()
            # `docs/page.md` in a script becomes a link on the site
            text = re.sub(r"`docs/([\w-]+)\.md`", r"[\1](../\1.md)", text)
            out.append(text)
            if i == 0:
                ran = ("The output under each cell comes from a quick run "
                       "(`TINYBCNN_QUICK=1`: small sizes, so the numbers are only a smoke "
                       "test) made when this site was built. " if outputs else "")
                out.append(
                    f'!!! note "Run it"\n'
                    f"    This page is the script [`tutorials/{script.name}`]({script.name}), "
                    f"a Jupytext percent file. Run it with `python tutorials/{script.name}` "
                    f"(`TINYBCNN_QUICK=1` for small sizes; figures go to "
                    f"`$TINYBCNN_TUTORIAL_OUT` or a temporary folder), or open it as a "
                    f"notebook with `jupytext --to notebook tutorials/{script.name}`. {ran}"
                )
            continue
        code_index += 1
        code = "\n".join(body).strip("\n")
        if code.strip():
            out.append(f"```python\n{code}\n```")
        if outputs is None or code_index >= len(outputs):
            continue
        cell = outputs[code_index]
        if cell["stdout"].strip():
            out.append(f'```text title="output"\n{_shorten(cell["stdout"])}\n```')
        for k, png in enumerate(cell["figures"]):
            name = f"{script.stem}/cell{code_index:02d}_fig{k}.png"
            figures[f"tutorials/{name}"] = base64.b64decode(png)
            out.append(f"![Figure drawn by this cell]({name})")
    return "\n\n".join(out) + "\n", figures


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
    """Add the generated pages, their figures and the downloadable scripts."""
    scripts = tutorial_scripts()
    results = execute([s for s in scripts if selected(s)])
    for script in scripts:
        page, figures = to_markdown(script, results.get(script.name))
        files.append(File.generated(config, f"tutorials/{script.stem}.md", content=page))
        for path, png in figures.items():
            files.append(File.generated(config, path, content=png))
        files.append(File.generated(config, f"tutorials/{script.name}",
                                    abs_src_path=str(script)))
    return files
