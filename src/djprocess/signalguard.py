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
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from djprocess.exceptions import ProcessTerminated

_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}


def _catchable_signals() -> list[signal.Signals]:
    return [
        s for s in signal.valid_signals() if isinstance(s, signal.Signals) and s not in _UNCATCHABLE
    ]


class SignalGuard:
    """Saves and restores signal handlers; turns SIGTERM into an exception when armed."""

    def __init__(self) -> None:
        self.active = threading.current_thread() is threading.main_thread()
        self.armed = False
        self.received: int | None = None
        self._saved: dict[signal.Signals, Any] = {}

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if self.armed:
            raise ProcessTerminated(signum)

    def __enter__(self) -> SignalGuard:
        if self.active:
            # signal.signal() only works in the main thread; elsewhere (eager
            # mode in a thread, threads pool) nothing can deliver our SIGTERM anyway.
            for signum in _catchable_signals():
                self._saved[signum] = signal.getsignal(signum)
            signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def restore(self) -> None:
        """Put back every handler as it was on entry (idempotent)."""
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
