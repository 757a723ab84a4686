"""A command's process at its edges: where its output goes, what a signal does, how it exits.

- **Streams.** Results go to stdout only; warnings, errors and interruptions to stderr only,
  one line each, and are dropped (never sent into stdout) when stderr is closed. A failed
  write of the results (``> /dev/full``) is :class:`StdoutFailed`, so the command can say
  which files it wrote and keeps, and exit 1.
- **Signals.** SIGTERM raises like Ctrl-C (:class:`Terminated`), so training saves a
  checkpoint first; only the first of either is raised: a second one, sent while the first
  saves and exits, is ignored (no traceback, the first one's exit code).
- **Exit codes.** 2 for bad input, 1 for a failure, 130 for Ctrl-C, 143 for SIGTERM.

:func:`tinybcnn.cli.main` uses these; nothing here imports the rest of the package.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "Terminated",
           "say", "show_warning", "StdoutFailed", "GuardedStdout", "silence_stdout",
           "error_line", "catch_signals", "restore_signals", "stopped_by", "interrupt_code"]

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 1, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so training saves a checkpoint first."""



def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings as one line each on stderr, like the errors: no source path, no code line."""
    say(f"tinybcnn: warning: {message}", file)


def say(line: str, file: Any = None) -> None:
    """Print a message line (warning, error, interruption) on stderr, or drop it: a closed
    stderr (``2>&-``, ``sys.stderr`` None) or a full one never sends it into stdout, which
    holds the results, and never turns a finished command into a failed one."""
    stream = file if file is not None else sys.stderr
    if stream is None:
        return
    try:
        print(line, file=stream, flush=True)
    except (OSError, ValueError):  # full, or closed after start-up
        pass


class StdoutFailed(Exception):
    """Writing the results to stdout failed (``> /dev/full``, a closed pipe end); not an
    OSError, so that no handler of file errors mistakes it for one of the run's files."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class GuardedStdout:
    """``sys.stdout`` while a command runs: a failed write or flush is :class:`StdoutFailed`
    (a reader that left, BrokenPipeError, stays itself: that is no failure)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutFailed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutFailed(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so that the interpreter's final flush of what
    could not be written does not fail again (a second message, exit code 120)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def error_line(exc: BaseException, has_out: bool = True) -> str:
    """The one error line: a full disk names the file and the fix (``[Errno 28] No space left
    on device`` alone does not say what to do); another ``--out`` is offered only to a command
    that has one."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        other = ", or choose an --out on another disk," if has_out else ""
        return (f"the disk is full{where} ([Errno {exc.errno}] {exc.strerror}); free some "
                f"space there{other} and run the command again")
    return str(exc)


_sigterm_seen = False
_stopping = False  # the first Ctrl-C or SIGTERM was raised: the command is on its way out


def catch_signals() -> Any:
    """Make SIGTERM raise like Ctrl-C, and only the first of either raise (main thread only);
    return the SIGTERM handler it replaces (the SIGINT one is put back beside it)."""
    global _sigterm_seen, _stopping
    _sigterm_seen = _stopping = False
    if _in_main_thread():  # signal handlers can only be set there
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_sigint)
        return previous
    return None


def _on_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_seen
    if _first_stop():
        _sigterm_seen = True
        raise Terminated


def _on_sigint(signum: int, frame: Any) -> None:
    if _first_stop():
        raise KeyboardInterrupt


def _first_stop() -> bool:
    """True for the first Ctrl-C or SIGTERM. A second one, sent while the first saves the
    checkpoint and exits (a second ``kill``, an impatient Ctrl-C, a scheduler's repeated
    TERM), is ignored: raised there it would cut the save short and end in a traceback, and
    the exit code must stay the first one's."""
    global _stopping
    if _stopping:
        return False
    _stopping = True
    return True


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def stopped_by() -> str:
    return "terminated (SIGTERM)" if _sigterm_seen else "interrupted"


def interrupt_code() -> int:
    """130 for Ctrl-C, 143 (128 + SIGTERM) for a termination request: the shells' codes."""
    return EXIT_TERMINATED if _sigterm_seen else EXIT_INTERRUPTED


def restore_signals(previous_term: Any, program: bool) -> None:
    """Undo :func:`catch_signals` when a command ends. The ``tinybcnn`` program itself (not a
    caller of ``main`` in its own process) that was stopped by a signal ignores further ones:
    on its way out a signal more must not kill the interpreter (SIG_DFL, exit code -15) nor
    print a traceback."""
    if previous_term is None:
        return
    if program and _stopping:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return
    signal.signal(signal.SIGTERM, previous_term)
    if signal.getsignal(signal.SIGINT) is _on_sigint:
        signal.signal(signal.SIGINT, signal.default_int_handler)
