"""A log write is not cut in half by a signal handler that raises.

While ``run()`` executes, SIGTERM raises :class:`~djprocess.exceptions.ProcessTerminated`
wherever the main thread happens to be (and SIGINT raises ``KeyboardInterrupt``). Raised in the
middle of a log write, between sending a statement and reading its answer, it would lose the
line and leave the connection mid-protocol. So in the main thread, when a Python handler is
installed for SIGTERM or SIGINT, those signals are blocked (``pthread_sigmask``) for the
duration of the write and delivered as soon as it has ended: a line whose write started is
stored, and the exception is raised right after, with a note naming the stored sequences.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

#: The signals whose handler may raise in the middle of a write.
DEFERRED = (signal.SIGTERM, signal.SIGINT)


def _to_defer() -> list[signal.Signals]:
    if threading.current_thread() is not threading.main_thread():
        return []  # Python runs signal handlers in the main thread only
    return [signum for signum in DEFERRED if callable(signal.getsignal(signum))]


def deferring_signals(write: Callable[[], list[int]]) -> list[int]:
    """Call ``write`` (returning stored sequences) with SIGTERM/SIGINT held back.

    An exception a deferred signal's handler raises once they are let through again
    (``ProcessTerminated``, ``KeyboardInterrupt``) carries the note
    ``"djprocess: raised after log line(s) … were stored"``.
    """
    signums = _to_defer()
    if not signums:
        return write()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        sequences = write()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        raise
    try:
        # A signal that arrived meanwhile is delivered here, its handler runs here.
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    except BaseException as exc:
        exc.add_note(f"djprocess: raised after log line(s) {sequences} were stored")
        raise
    return sequences
