"""The watchdog and the kill path, independent of any task queue.

A backend schedules :func:`fire_watchdog` ``timeout_seconds()`` after
``start()``. When it fires it either does nothing (the process already ended),
re-arms (the run started late, so its deadline is ``started_at + timeout``),
records a lost worker, or decides ``timed_out`` and then kills the run.
The status is decided *before* the kill, by compare-and-set: from then on no
write from the dying run can change it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import router, transaction
from django.utils import timezone

from djprocess import status
from djprocess.backends import get_backend
from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness
from djprocess.exceptions import BackendError
from djprocess.transitions import compare_and_set, current_status, record

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.supervisor")

#: A deadline closer than this is waited for inline instead of re-arming.
INLINE_WAIT_SECONDS = 1.0

#: Outcomes returned by :func:`fire_watchdog`.
NOOP, REARMED, TIMED_OUT, WORKER_LOST, SKIPPED_EAGER = (
    "noop",
    "rearmed",
    "timed_out",
    "worker_lost",
    "skipped_eager",
)


def kill_and_record(process: BaseProcess, backend: BaseWorkerBackend, why: str) -> KillResult:
    """Kill the run of ``process`` (already moved to a terminal status by the caller)
    and record how: ``stop_signal``, ``termination``, ``finished_at`` (now: the run is
    over) and a log line ``"<why>: <how>"``."""
    process.refresh_from_db(fields=["process_task_id", "worker_hostname", "worker_pid"])
    try:
        result = backend.kill(
            process.process_task_id, hostname=process.worker_hostname, pid=process.worker_pid
        )
    except BackendError as exc:
        # The status is already final; say loudly that the run may still be alive.
        result = KillResult(found=True, gone=False, error=str(exc))
    how = result.describe()
    # finished_at marks the moment the run was really over, not when it was decided.
    # It commits together with the final log line: whoever waits for is_finished
    # then also sees how the run ended.
    with transaction.atomic(using=router.db_for_write(type(process))):
        record(
            process,
            stop_signal=result.signal_name,
            termination=how[:255],
            finished_at=timezone.now(),
        )
        process.log(
            f"{why}: {how}", level="WARNING" if result.gone or not result.found else "ERROR"
        )
    return result


def mark_worker_lost(process: BaseProcess, reason: str) -> bool:
    """Move a ``running`` (or claimed-but-never-started) process to ``failed`` because
    its worker is gone. Returns True if this call recorded it."""
    with transaction.atomic(using=router.db_for_write(type(process))):
        won = compare_and_set(
            process,
            [status.RUNNING],
            status.FAILED,
            finished_at=timezone.now(),
            stopped_by="worker",
            termination=f"worker lost: {reason}"[:255],
            exception=f"WorkerLost: {reason}"[:10_000],
        )
        if won:
            process.log(f"failed: worker lost: {reason}", level="ERROR")
    return won


def fire_watchdog(
    process: BaseProcess,
    *,
    rearm: Callable[[float], None],
    eager: bool = False,
    backend: BaseWorkerBackend | None = None,
) -> str:
    """Enforce ``process.timeout``. ``rearm(seconds)`` must schedule this again.

    Returns one of ``"noop"``, ``"rearmed"``, ``"timed_out"``, ``"worker_lost"``,
    ``"skipped_eager"``. Never raises for a process that already ended. A kill that gets no
    answer from the worker (the backend re-sends control commands at once) is recorded as
    ``"kill failed: …"`` in ``termination`` and an ERROR log line; the status stays final.
    """
    backend = backend or get_backend()
    found = current_status(process)
    label = f"{process._meta.label} pk={process.pk}"
    if found in status.TERMINAL:
        logger.info("watchdog for %s: already %s, nothing to do", label, found)
        return NOOP
    if eager:
        # Eager mode runs everything inline in the caller: nothing to kill, and
        # re-arming would recurse at once.
        logger.info("watchdog for %s: eager mode, not enforcing (%s)", label, found)
        return SKIPPED_EAGER
    process.refresh_from_db(fields=["timeout", "started_at", "dispatched_at"])
    now = timezone.now()
    if found == status.PENDING and process.dispatched_at is None:
        logger.info("watchdog for %s: never dispatched, nothing to watch", label)
        return NOOP
    if found == status.PENDING or process.started_at is None:
        # Still queued behind other work: its clock has not started.
        rearm(process.timeout_seconds())
        logger.info("watchdog for %s: not started yet, re-armed", label)
        return REARMED
    deadline = process.started_at + process.timeout
    remaining = (deadline - now).total_seconds()
    if remaining > INLINE_WAIT_SECONDS:
        rearm(remaining)
        logger.info("watchdog for %s: started late, re-armed until %s", label, deadline)
        return REARMED
    if remaining > 0:
        # A countdown this short would be late by the worker's timer precision.
        time.sleep(remaining)
        now = timezone.now()
        if current_status(process) != status.RUNNING:
            return NOOP
    if backend.supports_probe:
        process.refresh_from_db(fields=["process_task_id", "worker_hostname", "worker_pid"])
        liveness = backend.probe(
            process.process_task_id, hostname=process.worker_hostname, pid=process.worker_pid
        )
        if liveness in (Liveness.NOT_RUNNING, Liveness.UNREACHABLE):
            reason = (
                f"worker {process.worker_hostname or '?'} is not running the task any more"
                if liveness is Liveness.NOT_RUNNING
                else f"worker {process.worker_hostname or '?'} does not answer"
            )
            if mark_worker_lost(process, reason):
                return WORKER_LOST
            return NOOP
    won = compare_and_set(process, [status.RUNNING], status.TIMED_OUT, stopped_by="watchdog")
    if not won:
        logger.info("watchdog for %s: lost the race, now %s", label, current_status(process))
        return NOOP
    elapsed = timedelta(seconds=round((now - process.started_at).total_seconds()))
    kill_and_record(process, backend, f"timed out after {elapsed}")
    return TIMED_OUT
