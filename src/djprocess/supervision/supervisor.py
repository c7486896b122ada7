"""The supervisor's decisions about one process, independent of any task queue.

The database is the source of truth: every process that needs watching has
``next_check_at`` set (an indexed UTC time), and :func:`check` is what happens when that
time comes. The sweeper (:mod:`djprocess.supervision.sweeper`) runs it for every due row, and the
per-process watchdog task a backend schedules at ``start()`` runs it for its own row;
either way the work per process is bounded, whatever its time in the queue.

A run is normally stopped by the process supervising it, on its own clock
(:mod:`djprocess.run.localsupervisor`); the supervisor is the second, independent path: it
decides ``timed_out`` if the deadline passed unseen, fails a process whose task was
never picked up, notices a run whose heartbeat stopped, and finishes a stop nobody
confirmed (asking the backend to kill, retrying until it is confirmed).
"""

from __future__ import annotations

import enum
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils import timezone

from djprocess import _clock as clock
from djprocess import status
from djprocess._transitions import compare_and_set, finish, same_run, stopped
from djprocess.backends import get_backend
from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness
from djprocess.conf import settings
from djprocess.exceptions import BackendError
from djprocess.run.host import is_this_host, pid_namespace, pid_running
from djprocess.status import Stopper

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.supervision.supervisor")

__all__ = [
    "STOP_GIVE_UP_SECONDS",
    "STOP_RETRY_SECONDS",
    "Outcome",
    "Stopper",
    "check",
    "finish_stop",
    "fire_watchdog",
    "kill_and_record",
    "stop_budget",
]

#: Seconds until a stop that was not confirmed is tried again.
STOP_RETRY_SECONDS = 5.0
#: After this many seconds of unconfirmed stop with the worker silent, give up and record
#: the run as finished.
STOP_GIVE_UP_SECONDS = 600.0


#: What :func:`kill_and_record` records for a backend with ``supports_kill = False``.
CANNOT_KILL = "the backend cannot stop a run (supports_kill is False)"

#: ``stopped_by`` values whose stop the supervisor completes.
STOPPERS = frozenset({Stopper.CANCEL, Stopper.WATCHDOG, Stopper.WORKER})


class Outcome(enum.StrEnum):
    """What :func:`check` did."""

    NOOP = "noop"
    RESCHEDULED = "rescheduled"
    TIMED_OUT = "timed_out"
    WORKER_LOST = "worker_lost"
    QUEUE_EXPIRED = "queue_expired"
    STOP_FINISHED = "stop_finished"
    STOP_RETRIED = "stop_retried"
    SKIPPED_EAGER = "skipped_eager"


# Old names of the outcomes, kept for code that compared with them.
NOOP, TIMED_OUT, WORKER_LOST, SKIPPED_EAGER = (
    Outcome.NOOP,
    Outcome.TIMED_OUT,
    Outcome.WORKER_LOST,
    Outcome.SKIPPED_EAGER,
)
STOP_FINISHED, STOP_RETRIED = Outcome.STOP_FINISHED, Outcome.STOP_RETRIED


def stop_budget() -> float:
    """Seconds a stop may take before the supervisor steps in (``retries x wait + 10``)."""
    return settings.STOP_BUDGET_SECONDS


def _in(seconds: float) -> Any:
    return clock.utc_now() + timedelta(seconds=seconds)


def decide_timeout(process: BaseProcess) -> bool:
    """Move a ``running`` process to ``timed_out`` (``stopped_by="watchdog"``), with
    ``next_check_at`` at the end of the stop budget. Returns True if this call won."""
    return compare_and_set(
        process,
        [status.RUNNING],
        status.TIMED_OUT,
        where=same_run(process),
        stopped_by=Stopper.WATCHDOG.value,
        next_check_at=_in(stop_budget()),
    )


def check(process: BaseProcess, backend: BaseWorkerBackend | None = None) -> Outcome:
    """Do what is due for ``process`` now (re-read from the database). Never raises for
    a process that already ended; ``DoesNotExist`` if the row is gone."""
    backend = backend or get_backend()
    process.refresh_from_db()
    now = clock.utc_now()
    found = process.status
    if found in status.TERMINAL:
        if process.finished_at is None and process.stopped_by in STOPPERS:
            return finish_stop(process, backend)
        _clear(process)
        return Outcome.NOOP
    if found == status.PENDING:
        return _check_pending(process, backend, now)
    return _check_running(process, backend, now)


def _clear(process: BaseProcess) -> None:
    if process.next_check_at is not None:
        _reschedule(process, None)


def _reschedule(process: BaseProcess, when: Any) -> None:
    """Set ``next_check_at`` only if the row is still as this check found it (same status
    and finish): a cancel or a stop recorded meanwhile keeps its own time."""
    if process.finished_at is None:
        unchanged = Q(finished_at__isnull=True)
    else:
        unchanged = Q(finished_at=process.finished_at)
    rows = type(process)._base_manager.filter(unchanged, pk=process.pk, status=process.status)
    if rows.update(next_check_at=when):
        process.next_check_at = when


def _check_pending(process: BaseProcess, backend: BaseWorkerBackend, now: Any) -> Outcome:
    if process.dispatched_at is None or process.next_check_at is None:
        _clear(process)
        return Outcome.NOOP
    if process.next_check_at > now:
        return Outcome.NOOP
    waited = f"{settings.QUEUE_TIMEOUT_SECONDS:g}s"
    won = fail_pending(
        process,
        Stopper.WATCHDOG,
        where=Q(dispatched_at__isnull=False, next_check_at__lte=now),
        exception=f"QueueTimeout: not started within {waited} of start()",
    )
    if not won:
        return Outcome.NOOP
    process.log(
        f"failed: not started within {waited} of start(): its task was lost or never "
        "picked up (DJPROCESS_QUEUE_TIMEOUT_SECONDS)",
        level="ERROR",
    )
    if process.process_task_id:
        try:
            backend.revoke_scheduled(process.process_task_id)
        except Exception:
            logger.warning("could not revoke task %s", process.process_task_id, exc_info=True)
    return Outcome.QUEUE_EXPIRED


def _check_running(process: BaseProcess, backend: BaseWorkerBackend, now: Any) -> Outcome:
    label = f"{process._meta.label} pk={process.pk}"
    if process.deadline_at is not None and process.deadline_at <= now:
        lost = _lost_at_deadline(process, backend, now)
        if lost:
            mark_worker_lost(process, lost, finished=True)
            return Outcome.WORKER_LOST
        if not decide_timeout(process):
            return Outcome.NOOP
        logger.warning(
            "%s: deadline %s passed, timed out by the supervisor", label, process.deadline_at
        )
        if not backend.stops_runs_locally:
            started = process.deadline_at - process.timeout
            after = timedelta(seconds=round((now - started).total_seconds()))
            kill_and_record(process, backend, f"timed out after {after}")
        # Otherwise the process supervising the run stops it and records how; if it
        # does not within the stop budget, finish_stop() takes over.
        return Outcome.TIMED_OUT
    stale = timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS)
    if process.heartbeat_at is not None and process.heartbeat_at + stale <= now:
        silent = now - process.heartbeat_at
        liveness = _probe(process, backend)
        worker = process.worker_hostname or "?"
        if liveness is Liveness.NOT_RUNNING or (
            liveness is Liveness.UNREACHABLE and _local_run_is_dead(process)
        ):
            reason = f"no heartbeat for {silent}, worker {worker} is not running it"
            mark_worker_lost(process, reason, finished=True)
            return Outcome.WORKER_LOST
        if liveness is Liveness.UNREACHABLE and silent > 2 * stale:
            reason = f"no heartbeat for {silent}, worker {worker} does not answer"
            mark_worker_lost(process, reason, finished=False)
            return Outcome.WORKER_LOST
        logger.warning(
            "%s: no heartbeat for %s (worker: %s); checking again", label, silent, liveness.value
        )
        _reschedule(process, _in(settings.HEARTBEAT_STALE_SECONDS))
        return Outcome.RESCHEDULED
    due = [process.deadline_at] if process.deadline_at else []
    if process.heartbeat_at is not None:
        due.append(process.heartbeat_at + stale)
    _reschedule(process, min(due) if due else None)
    return Outcome.RESCHEDULED


def _lost_at_deadline(process: BaseProcess, backend: BaseWorkerBackend, now: Any) -> str:
    """Why the run is known to be gone already (its worker lost), or "" if it is not.

    A supervising process that is gone from this host (same pid namespace: a cheap look),
    or, when its heartbeat is late, a worker that says it does not run the task. Otherwise
    the deadline is decided as a timeout and the run's own supervisor stops it."""
    worker = process.worker_hostname or "?"
    if _local_run_is_dead(process):
        return f"worker {worker}: its process {process.worker_pid} is gone"
    late = timedelta(seconds=2 * settings.HEARTBEAT_SECONDS)
    if process.heartbeat_at is not None and process.heartbeat_at + late > now:
        return ""
    if _probe(process, backend) is Liveness.NOT_RUNNING:
        return f"worker {worker} is not running the task any more"
    return ""


def _probe(process: BaseProcess, backend: BaseWorkerBackend) -> Liveness:
    if not backend.supports_probe:
        return Liveness.UNKNOWN
    try:
        return backend.probe(
            process.process_task_id, hostname=process.worker_hostname, pid=process.worker_pid
        )
    except BackendError:
        return Liveness.UNREACHABLE


def _local_run_is_dead(process: BaseProcess) -> bool:
    """True if the run's supervising process was on this host, in this pid namespace (two
    containers may share a host name and even a pid), and no longer exists."""
    host = get_backend().host_of(process.worker_hostname)
    if not process.worker_pid or not is_this_host(host):
        return False
    if not process.worker_pidns or process.worker_pidns != pid_namespace():
        return False
    return not pid_running(process.worker_pid)


def _gave_up(process: BaseProcess) -> bool:
    age = (timezone.now() - process.status_changed).total_seconds()
    return age > STOP_GIVE_UP_SECONDS


def kill_and_record(process: BaseProcess, backend: BaseWorkerBackend, why: str) -> KillResult:
    """Kill the run of ``process`` (already in a terminal status) through ``backend`` and
    record how: ``stop_signal``, ``termination`` and a log line ``"<why>: <how>"``.

    ``finished_at`` is set only when the backend confirmed the run is gone; otherwise
    ``next_check_at`` is set :data:`STOP_RETRY_SECONDS` ahead, so the supervisor tries
    again. A backend error is never read as "not running". A backend with
    ``supports_kill = False`` is not asked: the process is finished at once, its line
    saying the run could not be stopped.
    """
    process.refresh_from_db(fields=["process_task_id", "worker_hostname", "worker_pid"])
    if not backend.supports_kill:
        result = KillResult(found=False, gone=False, error=CANNOT_KILL)
    else:
        try:
            result = backend.kill(
                process.process_task_id, hostname=process.worker_hostname, pid=process.worker_pid
            )
        except BackendError as exc:
            result = KillResult(found=True, gone=False, error=str(exc))
    how = result.describe()
    values: dict[str, Any] = {"stop_signal": result.signal_name, "termination": how[:255]}
    if result.gone or not result.found:
        finish(process, f"{why}: {how}", level="WARNING", **values)
    elif _gave_up(process):
        how += f"; gave up after {STOP_GIVE_UP_SECONDS:g}s, the run may still be alive"
        finish(process, f"{why}: {how}", level="ERROR", **values)
    elif compare_and_set(
        process,
        status.TERMINAL,
        where=Q(finished_at__isnull=True),
        next_check_at=_in(STOP_RETRY_SECONDS),
        **values,
    ):
        process.log(f"{why}: {how}; retrying in {STOP_RETRY_SECONDS:g}s", level="ERROR")
    return result


def fail_pending(
    process: BaseProcess, stopper: Stopper, *, where: Q, exception: str, termination: str = ""
) -> bool:
    """Move a dispatched ``pending`` process (matching ``where`` too) to ``failed``,
    finished at once: it never ran. ``exception`` and ``termination`` are stored (cut to
    their field sizes). Returns True if this call recorded it."""
    values = {"termination": termination[:255]} if termination else {}
    return compare_and_set(
        process,
        [status.PENDING],
        status.FAILED,
        where=where,
        finished_at=timezone.now(),
        next_check_at=None,
        stopped_by=stopper.value,
        exception=exception[:10_000],
        **values,
    )


def mark_worker_lost(process: BaseProcess, reason: str, *, finished: bool = True) -> bool:
    """Move a ``running`` process to ``failed`` because its worker is gone. Returns True
    if this call recorded it. With ``finished=False`` (the worker only stopped answering)
    ``finished_at`` stays empty and the supervisor checks again: if the worker comes
    back, the run is stopped then."""
    from django.db import router, transaction

    with transaction.atomic(using=router.db_for_write(type(process))):
        won = compare_and_set(
            process,
            [status.RUNNING],
            status.FAILED,
            stopped_by=Stopper.WORKER.value,
            termination=f"worker lost: {reason}"[:255],
            exception=f"WorkerLost: {reason}"[:10_000],
            finished_at=timezone.now() if finished else None,
            next_check_at=None if finished else _in(STOP_RETRY_SECONDS),
        )
        if won:
            process.log(f"failed: worker lost: {reason}", level="ERROR")
            if finished:
                stopped(process)
    return won


def finish_stop(process: BaseProcess, backend: BaseWorkerBackend) -> Outcome:
    """Complete the stop of a process that is terminal but not ``finished_at``: whoever
    was stopping it died or got no answer. Returns ``stop_finished`` or ``stop_retried``."""
    now = clock.utc_now()
    if process.next_check_at is not None and process.next_check_at > now:
        return Outcome.NOOP  # its stopper still has time
    liveness = _probe(process, backend)
    if liveness is Liveness.NOT_RUNNING or (
        liveness is Liveness.UNREACHABLE and _local_run_is_dead(process)
    ):
        finish(process, f"{process.status}: the run is over")
        return Outcome.STOP_FINISHED
    if liveness is Liveness.UNREACHABLE:
        if _gave_up(process):
            finish(process, f"{process.status}: gave up, worker still silent", level="ERROR")
            return Outcome.STOP_FINISHED
        _reschedule(process, _in(STOP_RETRY_SECONDS))
        return Outcome.STOP_RETRIED
    result = kill_and_record(process, backend, f"{process.status} (stop retried)")
    return Outcome.STOP_FINISHED if result.gone or not result.found else Outcome.STOP_RETRIED


def fire_watchdog(
    process: BaseProcess,
    *,
    eager: bool = False,
    backend: BaseWorkerBackend | None = None,
    **legacy: Any,
) -> Outcome:
    """What a watchdog task does when it fires: :func:`check` once (eager mode: nothing,
    everything ran inline). It never re-arms itself: a process still queued is watched
    through ``next_check_at``. Returns the :class:`Outcome`."""
    if eager:
        logger.info(
            "watchdog for %s pk=%s: eager mode, not enforcing", process._meta.label, process.pk
        )
        return Outcome.SKIPPED_EAGER
    return check(process, backend)
