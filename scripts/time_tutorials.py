"""Time every tutorial in full mode and write the time, with the CPU, at the top of each.

    python scripts/time_tutorials.py               # all of them, in order; rewrites the lines
    python scripts/time_tutorials.py --only 06,07  # some of them
    python scripts/time_tutorials.py --dry-run     # print the lines, change nothing
    python scripts/time_tutorials.py --quick --dry-run --only 01   # check this script fast

Each tutorial runs as a reader runs it: ``python tutorials/NN_name.py`` with no options (no
``TINYBCNN_QUICK``, the default backend and BLAS threads), in order, in one temporary output
folder, so tutorial 07 reuses the model tutorial 06 saved there (its line says so). A run
must exit 0 and print "all checks passed". The wall time then replaces the paragraph
``# *Full mode ... *`` of the tutorial's first cell (or is put under its title). Run it on an
otherwise idle machine: the time is what the tutorial tells its reader to expect, and each
tutorial is sized to take at most 3 minutes on 2 cores. The script warns when the load
average says other work is running, and never rewrites a line from a quick-mode run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
LIMIT_S = 180                       # each tutorial's budget on a 2-core machine
# the time paragraph: from "# *Full mode" to the first line that ends with "*"
TIME_LINE = re.compile(r"^# \*Full mode(?:.|\n)*?\*$", re.MULTILINE)
TITLE = re.compile(r"^# # \d\d .*\n#\n", re.MULTILINE)


def tutorials(only: str | None = None) -> list[Path]:
    """The numbered tutorials, in order; ``only``: a comma-separated list of numbers."""
    scripts = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
    if only:
        wanted = {n.strip().zfill(2) for n in only.split(",") if n.strip()}
        scripts = [s for s in scripts if s.name[:2] in wanted]
    return scripts


def duration(seconds: float) -> str:
    """``42 s`` or ``2 min 5 s``."""
    s = round(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"


def cpu_description() -> str:
    """The CPU's name and how many CPUs this process may use."""
    from tinybcnn.info import cpu_model

    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_model() or 'an unnamed CPU'} ({n} CPUs)"


def time_paragraph(what: str) -> str:
    """``*Full mode (no options): <what>. Quick mode ...*`` as comment lines of <= 100."""
    text = f"*Full mode (no options): {what}. Quick mode (`TINYBCNN_QUICK=1`): under a minute.*"
    return textwrap.fill(text, width=100, initial_indent="# ", subsequent_indent="# ",
                         break_on_hyphens=False, break_long_words=False)


def time_line(seconds: float, cpu: str, day: datetime.date, note: str = "") -> str:
    """The paragraph a tutorial's first cell shows: its full-mode wall time and where."""
    note = f", {note}" if note else ""
    return time_paragraph(f"{duration(seconds)} on {cpu}{note}, measured {day.isoformat()} "
                          "by `scripts/time_tutorials.py`")


def rewrite(text: str, line: str) -> str:
    """``text`` with its time line replaced by ``line``, or ``line`` put under the title."""
    if TIME_LINE.search(text):
        return TIME_LINE.sub(lambda _: line, text, count=1)
    title = TITLE.search(text)
    if title is None:
        raise ValueError("no '# # NN title' line followed by '#' to put the time line under")
    return text[:title.end()] + line + "\n#\n" + text[title.end():]


def run(script: Path, out: Path, quick: bool) -> float:
    """Run ``script`` as a reader would, in ``out``; its wall time. Fails loudly."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TINYBCNN_QUICK", "TINYBCNN_BACKEND", "MPLBACKEND")}
    if quick:
        env["TINYBCNN_QUICK"] = "1"
    env["TINYBCNN_TUTORIAL_OUT"] = str(out)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script)], cwd=out, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or "all checks passed" not in proc.stdout:
        raise SystemExit(f"{script.name} failed (exit {proc.returncode}):\n"
                         f"{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="tutorial numbers, e.g. 06,07 (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="print the lines only")
    parser.add_argument("--quick", action="store_true",
                        help="quick mode, to check this script (never rewrites)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        print(f"warning: load average {load:.1f}: other work is running, so the times are "
              "longer than a reader's")
    cpu, day, over = cpu_description(), datetime.date.today(), []
    with tempfile.TemporaryDirectory(prefix="tinybcnn-time-") as tmp:
        out = Path(tmp)
        for script in tutorials(args.only):
            reuses = script.name.startswith("07") and (out / "06_lenet_all.npz").exists()
            seconds = run(script, out, args.quick)
            line = time_line(seconds, cpu, day,
                             "with tutorial 06's model in its output folder" if reuses else "")
            print(f"{script.name}: {duration(seconds)}{' (quick mode)' if args.quick else ''}")
            print(textwrap.indent(line, "  "))
            if seconds > LIMIT_S and not args.quick:
                over.append(script.name)
            if not (args.dry_run or args.quick):
                text = script.read_text(encoding="utf-8")
                script.write_text(rewrite(text, line), encoding="utf-8")
    if over:
        print(f"over {LIMIT_S} s: {', '.join(over)}: shrink their full-mode sizes")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
