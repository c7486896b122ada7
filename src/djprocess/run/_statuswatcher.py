"""The thread that keeps a supervised run in touch with its database row.

While a run child works, this thread (in the process supervising it) reads the row's
status every ``DJPROCESS_STATUS_POLL_SECONDS`` and writes a heartbeat every
``DJPROCESS_HEARTBEAT_SECONDS``. It never signals anything itself: it tells the
supervisor's loop (through a pipe) that the row left ``running`` (cancelled, timed out
by the supervisor, failed as lost) or was deleted. A database outage only delays what
it reports; the deadline is enforced without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections

from djprocess import _clock as clock
from djprocess import status as statuses
from djprocess.conf import settings
from djprocess.run._results import StopReason

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.run._statuswatcher")

#: What the watcher found, once it stops watching: the row's status, or this for a deleted row.
DELETED = StopReason.DELETED


class StatusWatcher(threading.Thread):
    """Polls ``process``'s status and heartbeats until :meth:`stop` or a change.

    ``found`` is None while the row is ``running``, then the status it left
    ``running`` for, or :data:`DELETED`. ``wake_fd`` gets one byte when that happens.
    """

    def __init__(self, process: BaseProcess, check_by: datetime, wake_fd: int) -> None:
        super().__init__(name=f"djprocess-watch-{process.pk}", daemon=True)
        self.process = process
        self.check_by = check_by
        self.wake_fd = wake_fd
        self.found: str | None = None
        self._kick = threading.Event()
        self._stopping = False
        self._timeout_due = False

    def stop(self) -> None:
        """Stop polling (returns at once; the thread ends after its current query)."""
        self._stopping = True
        self._kick.set()

    def decide_timeout(self) -> None:
        """Ask the thread to record ``timed_out`` now, so it shows while the kill goes on
        (the supervisor records it again once the run is gone, whatever happens here)."""
        self._timeout_due = True
        self._kick.set()

    def run(self) -> None:
        model = type(self.process)
        # The run this supervisor claimed: a row re-run since counts as gone for it.
        rows = model._base_manager.filter(pk=self.process.pk)
        if self.process.process_task_id:
            rows = rows.filter(process_task_id=self.process.process_task_id)
        poll = settings.STATUS_POLL_SECONDS
        beat = settings.HEARTBEAT_SECONDS
        stale = timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
        next_beat = clock.monotonic() + beat
        failing = False
        try:
            while True:
                self._kick.wait(poll)
                self._kick.clear()
                if self._stopping:
                    return
                try:
                    if self._timeout_due:
                        from djprocess.supervision.supervisor import decide_timeout

                        decide_timeout(self.process)
                        self._timeout_due = False
                    found = rows.values_list("status", flat=True).first()
                    if found != statuses.RUNNING:
                        self._report(DELETED if found is None else found)
                        return
                    if clock.monotonic() >= next_beat:
                        now = clock.utc_now()
                        rows.filter(status=statuses.RUNNING).update(
                            heartbeat_at=now, next_check_at=min(self.check_by, now + stale)
                        )
                        next_beat = clock.monotonic() + beat
                    if failing:
                        logger.warning(
                            "%s pk=%s: database back", model._meta.label, self.process.pk
                        )
                        failing = False
                except DatabaseError as exc:
                    if not failing:
                        logger.warning(
                            "%s pk=%s: cannot read its status (%s); the deadline is still "
                            "enforced, retrying",
                            model._meta.label,
                            self.process.pk,
                            exc,
                        )
                    failing = True
                    with contextlib.suppress(Exception):
                        connections[rows.db].close()
        finally:
            with contextlib.suppress(Exception):
                connections.close_all()

    def _report(self, found: str) -> None:
        if self.found is None:
            self.found = found
            with contextlib.suppress(OSError):
                os.write(self.wake_fd, b"!")
