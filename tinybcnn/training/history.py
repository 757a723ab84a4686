"""The evaluation rows of a run (:class:`History`) and the log file that mirrors them."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files.atomic import atomic_write_text

__all__ = ["COLUMNS", "History", "EvalLog", "log_format"]

#: Columns of an evaluation row, in log order.
COLUMNS = ("iteration", "epoch", "train_loss", "lr", "std_error", "std_nll", "mc_error",
           "mc_nll", "time")


@dataclass
class History:
    """Evaluation rows, one dict per evaluation with the keys of :data:`COLUMNS`.

    ``train_loss`` is the mean minibatch loss since the previous row; ``lr`` the learning rate
    at the row's iteration; ``std_*`` and ``mc_*`` the validation error (fraction) and NLL
    (nats) of standard and MC-dropout prediction (``None`` without validation data);
    ``time`` the seconds spent in :meth:`Trainer.fit` so far (summed over resumes).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def column(self, name: str) -> np.ndarray:
        """One column as a float array, ``None`` as NaN (e.g. ``history.column("mc_error")``)."""
        if name not in COLUMNS:
            raise KeyError(f"unknown column {name!r}; columns are {COLUMNS}")
        return np.array([np.nan if r[name] is None else r[name] for r in self.rows], dtype=float)


def log_format(path: Path) -> str:
    """``"csv"`` or ``"jsonl"`` from the suffix of ``path``; anything else is an error."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ValueError(f"log_path must end in .csv or .jsonl, got {path}")


class EvalLog:
    """The history as CSV or JSON lines, one row per evaluation, rewritten atomically each time.

    Opening it rewrites the file from the history so far, so after a resume the file holds
    exactly the rows of the restored run (rows logged after the checkpoint, by the run that
    was interrupted, are dropped because they are evaluated again). The file is small (one
    row per evaluation), so each row rewrites it whole: a crash never leaves half a row.
    """

    def __init__(self, path: str | os.PathLike[str], history: History) -> None:
        self.path = Path(path)
        self.format = log_format(self.path)
        self.rows = [dict(row) for row in history]
        self._flush()

    def _flush(self) -> None:
        f = io.StringIO(newline="")
        if self.format == "csv":
            csv.writer(f).writerow(COLUMNS)
            for row in self.rows:
                csv.writer(f).writerow(["" if row[c] is None else row[c] for c in COLUMNS])
        else:
            for row in self.rows:
                f.write(json.dumps({c: row[c] for c in COLUMNS}) + "\n")
        atomic_write_text(self.path, f.getvalue())

    def append(self, row: dict[str, Any]) -> None:
        """Add one row and rewrite the file."""
        self.rows.append(dict(row))
        self._flush()
