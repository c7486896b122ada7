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
import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import psutil
from django.db import router, transaction
from django.utils import timezone

from djprocess import status
from djprocess.backends import get_backend
from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness
from djprocess.conf import settings
from djprocess.exceptions import BackendError
from djprocess.signals import send_stopped
from djprocess.transitions import compare_and_set, current_status, record

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.supervisor")

#: Seconds until a stop that was not confirmed is tried again.
STOP_RETRY_SECONDS = 5.0
#: Seconds beyond ``retries x wait`` a stop (SIGKILL and its confirmation) may take.
STOP_GRACE_SECONDS = 15.0
#: After this many seconds of unconfirmed stop, give up and record the run as finished.
STOP_GIVE_UP_SECONDS = 600.0
#: ``stopped_by`` values whose stop :func:`finish_stop` completes.
STOPPERS = frozenset({"cancel", "watchdog", "worker"})

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
STOP_FINISHED, STOP_RETRIED = "stop_finished", "stop_retried"


def kill_and_record(process: BaseProcess, backend: BaseWorkerBackend, why: str) -> KillResult:
    """Kill the run of ``process`` (already moved to a terminal status by the caller)
    and record how: ``stop_signal``, ``termination`` and a log line ``"<why>: <how>"``.

    ``finished_at`` is set only when the backend confirmed the run is gone. Otherwise (the
    worker did not answer, the kill was not confirmed) another watchdog is scheduled in
    :data:`STOP_RETRY_SECONDS` to finish the stop (see :func:`fire_watchdog`).
    """
    process.refresh_from_db(fields=["process_task_id", "worker_hostname", "worker_pid"])
    try:
        result = backend.kill(
            process.process_task_id, hostname=process.worker_hostname, pid=process.worker_pid
        )
    except BackendError as exc:
        result = KillResult(found=True, gone=False, error=str(exc))
    how = result.describe()
    confirmed = result.gone or not result.found
    values: dict[str, Any] = {"stop_signal": result.signal_name, "termination": how[:255]}
    if confirmed:
        values["finished_at"] = timezone.now()
    elif _gave_up(process):
        values["finished_at"] = timezone.now()
        how += f"; gave up after {STOP_GIVE_UP_SECONDS:g}s, the run may still be alive"
        confirmed = True
    else:
        how += f"; retrying in {STOP_RETRY_SECONDS:g}s"
    # finished_at commits together with the final log line: whoever waits for
    # is_finished then also sees how the run ended.
    with transaction.atomic(using=router.db_for_write(type(process))):
        record(process, **values)
        process.log(
            f"{why}: {how}", level="WARNING" if result.gone or not result.found else "ERROR"
        )
        if confirmed:
            send_stopped(process)
    if not confirmed:
        _schedule_retry(process, backend)
    return result


def _gave_up(process: BaseProcess) -> bool:
    process.refresh_from_db(fields=["status_changed"])
    age = (timezone.now() - process.status_changed).total_seconds()
    return age > STOP_GIVE_UP_SECONDS


def stop_budget() -> float:
    """Seconds a stop may take before it counts as abandoned: ``DJPROCESS_KILL_TERM_RETRIES``
    times ``DJPROCESS_KILL_TERM_WAIT_SECONDS``, plus :data:`STOP_GRACE_SECONDS`."""
    return settings.KILL_TERM_RETRIES * settings.KILL_TERM_WAIT_SECONDS + STOP_GRACE_SECONDS


def _schedule_retry(
    process: BaseProcess, backend: BaseWorkerBackend, countdown: float = STOP_RETRY_SECONDS
) -> None:
    task_id = backend.schedule_watchdog(process, countdown)
    if task_id:
        record(process, watchdog_task_id=task_id)
    else:
        logger.error(
            "%s pk=%s: cannot schedule a retry of its stop", process._meta.label, process.pk
        )


def _local_run_is_dead(process: BaseProcess) -> bool:
    """True if the run's pool child was on this host and no longer exists."""
    host = process.worker_hostname.rpartition("@")[2]
    if not process.worker_pid or host not in (socket.gethostname(), os.uname().nodename):
        return False
    try:
        return psutil.Process(process.worker_pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _finish(process: BaseProcess, line: str, level: str = "INFO") -> None:
    with transaction.atomic(using=router.db_for_write(type(process))):
        record(process, finished_at=timezone.now())
        process.log(line, level=level)
        send_stopped(process)


def mark_worker_lost(
    process: BaseProcess,
    reason: str,
    *,
    finished: bool = True,
    backend: BaseWorkerBackend | None = None,
) -> bool:
    """Move a ``running`` process to ``failed`` because its worker is gone. Returns True
    if this call recorded it. With ``finished=False`` (the worker only stopped answering)
    ``finished_at`` stays empty and a retry is scheduled: if the worker comes back, the
    run is killed then."""
    with transaction.atomic(using=router.db_for_write(type(process))):
        won = compare_and_set(
            process,
            [status.RUNNING],
            status.FAILED,
            stopped_by="worker",
            termination=f"worker lost: {reason}"[:255],
            exception=f"WorkerLost: {reason}"[:10_000],
            finished_at=timezone.now() if finished else None,
        )
        if won:
            process.log(f"failed: worker lost: {reason}", level="ERROR")
        if won and finished:
            send_stopped(process)
    if won and not finished:
        _schedule_retry(process, backend or get_backend())
    return won


def finish_stop(process: BaseProcess, backend: BaseWorkerBackend) -> str:
    """Complete the stop of a process that is terminal but not ``finished_at``: whoever
    was stopping it died or got no answer. Returns ``"stop_finished"`` or ``"stop_retried"``.
    """
    process.refresh_from_db()
    # Whoever decided the status may still be killing: leave it its time first.
    left = stop_budget() - (timezone.now() - process.status_changed).total_seconds()
    if left > 0:
        _schedule_retry(process, backend, left)
        return STOP_RETRIED
    liveness = Liveness.UNKNOWN
    if backend.supports_probe:
        liveness = backend.probe(
            process.process_task_id, hostname=process.worker_hostname, pid=process.worker_pid
        )
    if liveness is Liveness.NOT_RUNNING or (
        liveness is Liveness.UNREACHABLE and _local_run_is_dead(process)
    ):
        _finish(process, f"{process.status}: the run is over")
        return STOP_FINISHED
    if liveness is Liveness.UNREACHABLE:
        if _gave_up(process):
            _finish(process, f"{process.status}: gave up, worker still silent", level="ERROR")
            return STOP_FINISHED
        _schedule_retry(process, backend)
        return STOP_RETRIED
    kill_and_record(process, backend, f"{process.status} (stop retried)")
    return STOP_RETRIED


def fire_watchdog(
    process: BaseProcess,
    *,
    rearm: Callable[[float], None],
    eager: bool = False,
    backend: BaseWorkerBackend | None = None,
) -> str:
    """Enforce ``process.timeout``. ``rearm(seconds)`` must schedule this again.

    Returns one of ``"noop"``, ``"rearmed"``, ``"timed_out"``, ``"worker_lost"``,
    ``"skipped_eager"``, ``"stop_finished"``, ``"stop_retried"``. Never raises for a
    process that already ended. A process that is terminal but not finished (its stop was
    never confirmed: the killer died, the worker did not answer) has its stop completed
    (:func:`finish_stop`). A kill that gets no answer is logged (``"kill failed: …"``) and
    retried every :data:`STOP_RETRY_SECONDS`; the status stays final.
    """
    backend = backend or get_backend()
    found = current_status(process)
    label = f"{process._meta.label} pk={process.pk}"
    if found in status.TERMINAL:
        process.refresh_from_db(fields=["finished_at", "stopped_by"])
        if process.finished_at is None and process.stopped_by in STOPPERS and not eager:
            return finish_stop(process, backend)
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
            finished = liveness is Liveness.NOT_RUNNING or _local_run_is_dead(process)
            if mark_worker_lost(process, reason, finished=finished, backend=backend):
                return WORKER_LOST
            return NOOP
    won = compare_and_set(process, [status.RUNNING], status.TIMED_OUT, stopped_by="watchdog")
    if not won:
        logger.info("watchdog for %s: lost the race, now %s", label, current_status(process))
        return NOOP
    elapsed = timedelta(seconds=round((now - process.started_at).total_seconds()))
    kill_and_record(process, backend, f"timed out after {elapsed}")
    return TIMED_OUT
