"""Running a process: the guarded ``pending → running`` claim, ``run()``, and its ending.

Two ways to run, one way to claim and record:

* :func:`execute` runs ``run()`` inline, in the calling process and thread (a direct
  call in tests, Celery's eager mode, the immediate backend). It installs no signal
  handler and touches no process it did not start: the host stays in charge of its
  signals, and the timeout is not enforced (nothing could stop the caller).
* :func:`djprocess.run.localsupervisor.run_supervised` (what worker backends call) forks the
  run and enforces its deadline and stops.

Every status is written with compare-and-set, so a run that was cancelled or timed out
while it ran never overwrites that outcome, whatever its ``finally`` blocks do.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import router, transaction
from django.db.models import F, Q
from django.utils import timezone

from djprocess import _clock as clock
from djprocess import status
from djprocess._transitions import compare_and_set, current_status, same_run, stopped
from djprocess.backends.base import KillResult
from djprocess.conf import settings
from djprocess.exceptions import ProcessNotSaved
from djprocess.logs import capture as logcapture
from djprocess.run._results import RunResult, StopReason
from djprocess.run.host import pid_namespace

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.run.runner")

__all__ = ["DELETED", "RunResult", "StopReason", "claim", "execute"]

#: What :func:`record_stop` returns for a row deleted while its run was stopped.
DELETED = StopReason.DELETED


@dataclass(frozen=True)
class Outcome:
    """How ``run()`` ended, as the process that ran it saw it."""

    # The results by their older names here (Outcome.SUCCEEDED is RunResult.SUCCEEDED).
    SUCCEEDED: ClassVar[RunResult] = RunResult.SUCCEEDED
    FAILED: ClassVar[RunResult] = RunResult.FAILED
    TERMINATED: ClassVar[RunResult] = RunResult.TERMINATED

    kind: RunResult
    exception: str = ""
    traceback: str = ""


def claim(process: BaseProcess, *, task_id: str, hostname: str, watched: bool) -> bool:
    """Move ``process`` from ``pending`` to ``running`` for this process and log
    ``"started on …"``. Returns False if it was not ``pending`` (or, from a worker,
    not dispatched). ``watched``: a local supervisor heartbeats for it.

    Sets ``deadline_at`` (UTC, now + ``timeout``) and ``next_check_at``. A model without
    a log model cannot run: the row is failed and :class:`LookupError` raised.
    """
    try:
        process.log_model()
    except LookupError as exc:
        compare_and_set(
            process,
            [status.PENDING],
            status.FAILED,
            finished_at=timezone.now(),
            exception=f"LookupError: {exc}"[:10_000],
            next_check_at=None,
        )
        raise
    now = clock.utc_now()
    deadline = now + process.timeout
    if watched:
        next_check = min(
            deadline + timedelta(seconds=settings.SWEEP_SECONDS),
            now + timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS),
        )
    else:
        next_check = deadline + timedelta(seconds=settings.STOP_BUDGET_SECONDS)
    claimed = compare_and_set(
        process,
        [status.PENDING],
        status.RUNNING,
        # From a worker, only a dispatched process runs: a stale message cannot
        # start one nobody called start() on. A direct call (tests) may.
        where=Q(dispatched_at__isnull=False) if task_id else None,
        started_at=timezone.now(),
        worker_hostname=hostname,
        worker_pid=os.getpid(),
        worker_pidns=pid_namespace(),
        process_task_id=task_id or F("process_task_id"),
        attempts=F("attempts") + 1,
        deadline_at=deadline,
        next_check_at=next_check,
        heartbeat_at=now if watched else None,
    )
    if claimed:
        process.refresh_from_db(fields=["process_task_id", "attempts", "timeout"])
        process.log(f"started on {hostname} (pid {os.getpid()}, timeout {process.timeout})")
    return claimed


def not_claimed(process: BaseProcess) -> str:
    """Log why ``process`` was not run and return its current status."""
    found = current_status(process)
    logger.info(
        "process %s pk=%s not run: its status is %r", process._meta.label, process.pk, found
    )
    return found


def execute(process: BaseProcess, *, task_id: str = "", hostname: str = "") -> str:
    """Claim ``process``, call ``run()`` here, inline, and record how it ended.

    Returns the status stored afterwards. A process that is not ``pending`` (already
    run, cancelled while queued, a duplicate delivery) is not run: its current status is
    returned unchanged. No signal handler is installed and no child process is touched;
    the timeout is not enforced. ``KeyboardInterrupt``/``SystemExit`` raised by ``run()``
    are recorded as a failure and raised again. Raises
    :class:`~djprocess.exceptions.ProcessNotSaved` for an unsaved instance,
    :class:`LookupError` for a model without a log model (the row is failed) and
    ``DoesNotExist`` if the row is gone.
    """
    if process.pk is None:
        raise ProcessNotSaved(process, "execute")
    started = clock.monotonic()
    host = hostname or socket.gethostname()
    if not claim(process, task_id=task_id, hostname=host, watched=False):
        return not_claimed(process)
    failure: BaseException | None = None
    try:
        with logcapture.capture(process):
            process.run()
    except BaseException as exc:  # noqa: BLE001 - a run's every failure is recorded
        failure = exc
        outcome = Outcome(
            Outcome.FAILED,
            exception=f"{type(exc).__name__}: {exc}"[:10_000],
            traceback=traceback.format_exc(),
        )
    else:
        outcome = Outcome(Outcome.SUCCEEDED)
    final = record_end(process, outcome, timedelta(seconds=round(clock.monotonic() - started, 3)))
    if failure is not None and not isinstance(failure, Exception):
        raise failure
    return final


def record_end(process: BaseProcess, outcome: Outcome, elapsed: timedelta, note: str = "") -> str:
    """Record a run that ended by itself: ``succeeded`` or ``failed`` (with the
    exception and traceback), and its last log line. Returns the status stored.

    If the row had already left ``running`` (a cancel or timeout decided as the run
    ended) that status stays and only the end of the stop is recorded.
    """
    now = timezone.now()
    values: dict[str, Any] = {"finished_at": now, "next_check_at": None}
    if outcome.kind == Outcome.SUCCEEDED:
        to, line, level = status.SUCCEEDED, f"succeeded in {elapsed}", "INFO"
    elif outcome.kind == Outcome.TERMINATED:
        to, level = status.FAILED, "ERROR"
        line = "failed: terminated by SIGTERM that djprocess did not send"
        values.update(
            exception="ProcessTerminated: terminated by signal 15",
            stop_signal="SIGTERM",
            stopped_by=status.Stopper.SIGNAL.value,
            termination="terminated by SIGTERM that djprocess did not send",
        )
    else:
        to, level = status.FAILED, "ERROR"
        line = f"failed after {elapsed}: {outcome.exception}"
        if outcome.traceback:
            line += f"\n{outcome.traceback}"
        values.update(exception=outcome.exception[:10_000], traceback=outcome.traceback)
    with transaction.atomic(using=router.db_for_write(type(process))):
        won = compare_and_set(process, [status.RUNNING], to, where=same_run(process), **values)
        if won:
            process.log(line + note, level=level)
    if won:
        return to
    return _finish_stop_of(
        process, lambda found: f"{found}: the run had already ended ({outcome.kind}){note}"
    )


def record_stop(
    process: BaseProcess, reason: str, result: KillResult, elapsed: timedelta, note: str = ""
) -> str:
    """Record a run its supervisor stopped: the status ``reason`` calls for
    (:attr:`StopReason.TIMEOUT`: ``timed_out``; :attr:`StopReason.SHUTDOWN`: ``failed``, the
    worker shut down; :attr:`StopReason.DELETED`: nothing, the row is gone; a status: the one
    already decided), ``finished_at``, how (``termination``, ``stop_signal``) and the log
    line. Returns the status stored, or :data:`DELETED`."""
    how = result.describe()
    if reason == DELETED:
        logger.warning(
            "%s pk=%s was deleted while it ran; its run was stopped: %s",
            process._meta.label,
            process.pk,
            how,
        )
        return DELETED
    if reason == StopReason.TIMEOUT:
        from djprocess.supervision.supervisor import decide_timeout

        decide_timeout(process)
        after = timedelta(seconds=round(elapsed.total_seconds()))
        why: str | None = f"timed out after {after}"
    elif reason == StopReason.SHUTDOWN:
        compare_and_set(
            process,
            [status.RUNNING],
            status.FAILED,
            where=same_run(process),
            stopped_by=status.Stopper.WORKER.value,
            exception="WorkerShutdown: the worker shut down while the run was going on",
        )
        why = "failed: the worker shut down"
    else:
        why = None

    def line_for(found: str) -> str:
        # Our own words only if our decision won; a cancel that came first keeps its name.
        decided: dict[str, str] = {
            StopReason.TIMEOUT: status.TIMED_OUT,
            StopReason.SHUTDOWN: status.FAILED,
        }
        expected = decided.get(reason)
        prefix = why if why and found == expected else found
        return f"{prefix}: {how}{note}"

    return _finish_stop_of(process, line_for, stop_signal=result.signal_name, termination=how[:255])


def _finish_stop_of(process: BaseProcess, line_for: Callable[[str], str], **values: Any) -> str:
    model = type(process)
    row = model._base_manager.filter(pk=process.pk).values("status", "process_task_id").first()
    if row is None:
        return DELETED
    found = row["status"]
    process.status = found
    if process.process_task_id and row["process_task_id"] != process.process_task_id:
        # Re-run since: this run's stop is over, and it is not the new run's.
        logger.warning("%s pk=%s: run %s superseded by a re-run; its end is not recorded",
                       model._meta.label, process.pk, process.process_task_id)  # fmt: skip
        return found
    if found not in status.TERMINAL:
        # Still running: nobody decided a stop. Cannot happen from a supervisor,
        # which records a stop only after the row left running.
        logger.error(
            "%s pk=%s: end of a stop recorded while %s", model._meta.label, process.pk, found
        )
        return found
    with transaction.atomic(using=router.db_for_write(model)):
        won = compare_and_set(
            process,
            status.TERMINAL,
            where=Q(finished_at__isnull=True) & (same_run(process) or Q()),
            finished_at=timezone.now(),
            next_check_at=None,
            **values,
        )
        if won:
            process.log(line_for(found), level="WARNING")
            stopped(process)
    return found
