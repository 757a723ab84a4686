"""Progress reports for long work: a tqdm bar on a terminal, a log line now and then elsewhere.

Under a redirect, ``nohup`` or a job scheduler, stderr is not a terminal and a bar would be
either hidden or a mess of carriage returns; a line every few seconds says the same thing and
reads well in a log file.
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["progress_bar", "LineProgress", "LOG_EVERY_S"]

#: Seconds between two progress lines when stderr is not a terminal.
LOG_EVERY_S = 10.0


class LineProgress:
    """A tqdm look-alike (``update``, ``set_postfix``, ``set_description_str``, ``write``,
    ``close``) that prints ``label: n/total unit (x%), key value, ..., elapsed`` to stderr at
    most every ``every`` seconds, and at the end (unless the last line already said it)."""

    disable = False  # tqdm's flag: this progress is shown (as lines), so worth updating

    def __init__(self, total: int, initial: int = 0, desc: str = "", unit: str = "it",
                 every: float = LOG_EVERY_S, file: Any = None) -> None:
        self.total, self.n, self.desc, self.unit, self.every = total, initial, desc, unit, every
        self.file = file if file is not None else sys.stderr
        self.postfix: dict[str, Any] = {}
        self._start = self._last = time.monotonic()
        self._closed = False
        self._shown = -1  # n at the last line printed

    def _line(self, now: float) -> str:
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        return (f"{self.desc}: {self.n}/{self.total} {self.unit}{pct}{extra}, "
                f"{now - self._start:.0f} s")

    def write(self, text: str) -> None:
        """Print one line now (e.g. an evaluation's result); a stderr that cannot take it
        (closed, full) loses the line, not the work."""
        if self.file is None:
            return
        try:
            print(text, file=self.file, flush=True)
        except (OSError, ValueError):
            pass

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last, self._shown = now, self.n
            self.write(self._line(now))

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self.postfix = dict(values)

    def set_description_str(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n != self._shown:  # the final count, unless it was just printed
                self.write(self._line(time.monotonic()))


class _Silent:
    """The bar when progress is off: every method does nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def progress_bar(total: int, initial: int = 0, enabled: bool = True, desc: str = "",
                 unit: str = "it", terminal_only: bool = False) -> Any:
    """A tqdm bar on a terminal, a :class:`LineProgress` off one (nothing there with
    ``terminal_only``: work short enough that a log needs no lines), nothing if not
    ``enabled``."""
    if not enabled or sys.stderr is None:  # stderr closed (2>&-): progress is dropped, never
        return _Silent()                     # written to stdout, where the results go
    if not _stderr_is_terminal():
        if terminal_only:
            return _Silent()
        return LineProgress(total, initial, desc=desc, unit=unit)
    return _stderr_tqdm()(total=total, initial=min(initial, total), unit=unit, desc=desc,
                          dynamic_ncols=True)


def _stderr_tqdm() -> Any:
    """tqdm whose ``write`` (a line printed above the bar) goes to stderr, as the bar does;
    tqdm's own writes to stdout, which holds the results."""
    from tqdm.auto import tqdm  # imported here: importing tinybcnn stays light

    class StderrTqdm(tqdm):  # type: ignore[misc, valid-type]
        @classmethod
        def write(cls, s: str, file: Any = None, end: str = "\n", nolock: bool = False) -> None:
            super().write(s, file=file if file is not None else sys.stderr, end=end,
                          nolock=nolock)

    return StderrTqdm


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False
