"""Ship a critique run to the docs: its tables to ``docs/results/critique.json`` and its figure
to ``docs/figures/critique_mutual_info.png``, where docs/critique.md shows them.

    python scripts/ship_critique.py RUN_DIR --note "at commit abc1234; load 2 to 5"
    python scripts/ship_critique.py RUN_DIR --docs /tmp/docs     # somewhere else

``RUN_DIR`` is the experiment's ``--out`` folder (``tinybcnn experiment critique --out DIR``
or ``tb.experiments.run("critique", DIR, ...)``) holding ``critique.json``. The tables are
:func:`tinybcnn.experiments.critique.docs_table`'s. The figure is redrawn from the record's
curves by :func:`tinybcnn.experiments.critique.draw_figure`, the experiment's own figure code,
so it shows the numbers of the tables with the figure code as it is now (the run folder's
``critique_mutual_info.png`` may predate a fix to it). The provenance says what ran (the
experiment and its overrides, the settings, the wall time and the machine, all read from the
record); ``--note`` adds what the record cannot know (the commit, the machine's load). A
``--quick`` record is refused: its numbers check the code, not the claim.
Once shipped, docs/critique.md's ``shipped: critique`` blocks appear; the build then refuses
to run until their ``TODO-INTEGRATOR`` notes are replaced by prose.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tinybcnn.experiments.critique import docs_table, draw_figure, trained_iterations

ROOT = Path(__file__).resolve().parents[1]
FIGURE = "critique_mutual_info.png"


def provenance(record: dict[str, Any], note: str = "") -> str:
    """One paragraph: what ran, with which settings, how long, on what."""
    s, r = record["settings"], record["results"]
    command = record["arguments"]
    overrides = ", ".join(f"{k}={v!r}" for k, v in command.get("overrides", {}).items())
    iterations = trained_iterations(record)
    its = "iterations following the size" if iterations is None else (
        f"{iterations:,} iterations of batch {s['batch_size']} per network")
    machine = record.get("machine") or {}
    threads = sorted({b.get("num_threads") for b in machine.get("blas", [])} - {None})
    text = (f"The critique run: experiment critique on the {record['dataset']['name']} data set"
            f"{' (overrides: ' + overrides + ')' if overrides else ''}, started "
            f"{record.get('started', '?')}: training sizes {', '.join(map(str, r['sizes']))}, "
            f"seeds {', '.join(map(str, r['seeds']))}, {its}, T = {r['samples']}, "
            f"K = {r['members']}, {r['n_test']:,} test images.")
    if record.get("wall_seconds") is not None:
        text += (f" Wall time {record['wall_seconds']:,.0f} s "
                 f"({record['wall_seconds'] / 60:.0f} minutes) on a "
                 f"{machine.get('cpu_count', '?')}-CPU {machine.get('cpu_model') or 'machine'}"
                 f"{', BLAS threads ' + '/'.join(map(str, threads)) if threads else ''}.")
    return f"{text} {note}".strip()


def ship(run_dir: Path, docs: Path, note: str = "", allow_quick: bool = False) -> list[Path]:
    """Write ``docs/results/critique.json`` and draw the figure; return the two paths."""
    record = json.loads((run_dir / "critique.json").read_text(encoding="utf-8"))
    if record.get("experiment") != "critique":
        raise SystemExit(f"{run_dir / 'critique.json'}: not a critique record")
    if record["arguments"].get("quick") and not allow_quick:
        raise SystemExit(f"{run_dir}: a --quick run (its numbers check the code, not the "
                         "claim); pass --allow-quick to ship it anyway")
    table = docs_table(record, provenance(record, note))
    (docs / "results").mkdir(parents=True, exist_ok=True)
    out = docs / "results" / "critique.json"
    out.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    draw_figure(record["results"], record["settings"]["p"], docs / "figures" / FIGURE)
    return [out, docs / "figures" / FIGURE]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="the experiment's --out folder")
    parser.add_argument("--note", default="", help="appended to the provenance (commit, load)")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="the docs folder")
    parser.add_argument("--allow-quick", action="store_true", help="ship a --quick run")
    args = parser.parse_args(argv)
    for path in ship(args.run_dir, args.docs, args.note, args.allow_quick):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
