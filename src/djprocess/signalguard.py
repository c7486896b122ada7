"""Signal handling around one run.

While ``run()`` executes, SIGTERM raises :class:`~djprocess.exceptions.ProcessTerminated`
so ``finally`` blocks run. Outside ``run()`` (claiming the row, writing the final
status) a SIGTERM is only remembered: raising in the middle of a database call
would leave the connection half-read. On exit every handler the run installed is
put back, because a worker's pool process runs the next task with whatever
handlers the previous one left (see the celery kill facts in the docs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from djprocess import runmarker
from djprocess.exceptions import ProcessTerminated

_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}


def _catchable_signals() -> list[signal.Signals]:
    return [
        s for s in signal.valid_signals() if isinstance(s, signal.Signals) and s not in _UNCATCHABLE
    ]


class SignalGuard:
    """Saves and restores signal handlers; turns SIGTERM into an exception when armed."""

    def __init__(self, task_id: str = "") -> None:
        self.active = threading.current_thread() is threading.main_thread()
        # Marker files only matter in a worker's pool child (see runmarker).
        self.task_id = task_id if runmarker.enabled else ""
        self.armed = False
        self.received: int | None = None
        self._saved: dict[signal.Signals, Any] = {}
        self._mask: set[int | signal.Signals] = set()
        self._timer: tuple[float, float] = (0.0, 0.0)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        meant_for = runmarker.take_kill_request() if self.task_id else None
        if meant_for is not None and meant_for != self.task_id:
            return  # a late kill aimed at an earlier run of this pool child
        self.received = signum
        if self.armed:
            raise ProcessTerminated(signum)

    def __enter__(self) -> SignalGuard:
        if self.task_id:
            runmarker.mark_running(self.task_id)
        if self.active:
            # signal.signal() only works in the main thread; elsewhere (eager
            # mode in a thread, threads pool) nothing can deliver our SIGTERM anyway.
            for signum in _catchable_signals():
                self._saved[signum] = signal.getsignal(signum)
            # A blocked-signal mask or a pending alarm() outlives handlers: save both too.
            self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
            self._timer = signal.getitimer(signal.ITIMER_REAL)
            signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()
        if self.task_id:
            runmarker.mark_done(self.task_id)
            # A request left by a SIGTERM the run ignored must not make the stray
            # filter swallow a later, genuine SIGTERM (a cold shutdown).
            runmarker.take_kill_request()

    def restore(self) -> None:
        """Put back every handler, the signal mask and the real-time timer as they were
        on entry (idempotent)."""
        if self._saved:
            signal.setitimer(signal.ITIMER_REAL, *self._timer)
            signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        for signum, handler in self._saved.items():
            if signal.getsignal(signum) is not handler and handler is not None:
                with contextlib.suppress(OSError, ValueError, TypeError):
                    signal.signal(signum, handler)
        self._saved.clear()

    @contextmanager
    def arm(self) -> Iterator[None]:
        """Within this block SIGTERM raises ``ProcessTerminated``; each new SIGTERM
        raises again (so a ``finally`` that hangs is interrupted by the next try)."""
        self.armed = True
        try:
            yield
        finally:
            self.armed = False
            if self.active and self._saved:
                # run() may have replaced our handler (even with SIG_IGN).
                signal.signal(signal.SIGTERM, self._on_sigterm)


def install_stray_kill_filter() -> None:
    """In a worker's pool child: ignore a djprocess SIGTERM that arrives between runs.

    The run it was meant for has ended (the worker's main process had not heard
    yet). Any other SIGTERM (a cold shutdown) still gets the handler that was
    installed before, or the default action.
    """
    runmarker.enabled = True
    runmarker.forget_process()
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if runmarker.take_kill_request() is not None:
            return
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
