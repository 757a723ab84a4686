"""An update is applied completely or not at all, even under Ctrl-C.

Two guards, one at each scale:

* :func:`deferred_signals` holds Ctrl-C (and a handled SIGTERM) while the optimiser writes the
  parameters, one array at a time;
* :func:`rewound_on_failure` puts the shuffle stream back if a minibatch step stops before its
  update (an interrupt or a divergence in the forward pass), so the trainer is exactly in the
  state after the last completed iteration and saving it resumes the same run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["deferred_signals", "rewound_on_failure"]


def _deferrable_signals() -> list[int]:
    """Ctrl-C, and SIGTERM where a Python handler turns it into an exception (the CLI's)."""
    signals = [signal.SIGINT]
    if callable(signal.getsignal(signal.SIGTERM)):
        signals.append(signal.SIGTERM)
    return signals


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold Ctrl-C (and a handled SIGTERM) until the block ends, so an update is applied
    completely or not at all.

    The optimiser changes parameters one array at a time; an interrupt in the middle would
    leave a state that no uninterrupted run ever passes through. Signals can only be
    handled in the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _deferrable_signals()}
    previous = {s: h for s, h in previous.items() if h is not None}  # None: set from C
    caught: list[tuple[int, Any]] = []
    for s in previous:
        signal.signal(s, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            signum, frame = caught[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)  # default_int_handler raises KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                raise KeyboardInterrupt


@contextlib.contextmanager
def rewound_on_failure(state: Any) -> Iterator[None]:
    """Restore everything a minibatch step draws from if the block raises before an update.

    ``state`` is the trainer's :class:`~tinybcnn.training.state.TrainerState`. The shuffle
    stream, the epoch's permutation and the position in it are put back; the dropout stream is
    keyed by the iteration, so it rewinds with it. A step whose update was applied (the
    iteration moved on) is kept.
    """
    saved = state.stream_position()
    done = state.iteration
    try:
        yield
    except BaseException:
        if state.iteration == done:
            state.rewind_stream(saved)
        raise
