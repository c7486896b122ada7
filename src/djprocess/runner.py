"""Running a process: the guarded ``pending → running`` claim, ``run()``, and its ending.

This is what a worker calls (``process.execute()``). The final status is written
with compare-and-set, so a run that was cancelled or timed out while it ran can
never overwrite that outcome, whatever its ``finally`` blocks do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import traceback
from typing import TYPE_CHECKING

import psutil
from django.db import connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from djprocess import logcapture, status
from djprocess.backends import get_backend
from djprocess.exceptions import ProcessNotSaved, ProcessTerminated
from djprocess.signalguard import SignalGuard
from djprocess.transitions import compare_and_set, current_status

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.runner")

#: Seconds left to the run's own child processes to exit after SIGTERM.
CHILD_TERM_GRACE_SECONDS = 1.0


def stop_children(grace: float = CHILD_TERM_GRACE_SECONDS) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds, every process this process
    started (its whole tree). Returns how many were still alive to be stopped."""
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:  # pragma: no cover - our own process always exists
        return 0
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=grace)
    return len(children)


def execute(process: BaseProcess, *, task_id: str = "", hostname: str = "") -> str:
    """Claim ``process`` (``pending → running``), call ``run()`` and record how it ended.

    Returns the status stored afterwards. A process that is not ``pending`` (already
    run, cancelled while queued, a duplicate delivery) is not run: its current
    status is returned unchanged. Raises :class:`~djprocess.exceptions.ProcessNotSaved`
    for an unsaved instance and ``DoesNotExist`` if the row is gone.
    """
    if process.pk is None:
        raise ProcessNotSaved(process, "execute")
    host = hostname or socket.gethostname()
    with SignalGuard(task_id) as guard:
        claimed = compare_and_set(
            process,
            [status.PENDING],
            status.RUNNING,
            # From a worker, only a dispatched process runs: a stale message cannot
            # start one nobody called start() on. A direct call (tests) may.
            where=Q(dispatched_at__isnull=False) if task_id else None,
            started_at=timezone.now(),
            worker_hostname=host,
            worker_pid=os.getpid(),
            process_task_id=task_id or F("process_task_id"),
            attempts=F("attempts") + 1,
        )
        if not claimed:
            found = current_status(process)
            logger.info(
                "process %s pk=%s not run: its status is %r", process._meta.label, process.pk, found
            )
            return found
        process.refresh_from_db(fields=["process_task_id", "attempts", "timeout"])
        process.log(f"started on {host} (pid {os.getpid()}, timeout {process.timeout})")
        failure: BaseException | None = None
        terminated: ProcessTerminated | None = None
        try:
            with guard.arm(), logcapture.capture(process):
                process.run()
        except ProcessTerminated as exc:
            terminated = exc
        except BaseException as exc:  # noqa: BLE001 - a run's every failure is recorded
            failure = exc
            trace = traceback.format_exc()
        if terminated is None and failure is None and guard.received is not None:
            # run() swallowed the SIGTERM and returned: it was still stopped by a
            # signal, so it must not be recorded as succeeded.
            terminated = ProcessTerminated(guard.received)
        stop_children()
        if terminated is not None or guard.received is not None:
            # The signal may have interrupted a query: start from fresh connections.
            for connection in connections.all(initialized_only=True):
                connection.close()
        final = _finish(process, failure, trace if failure else "", terminated)
    _revoke_watchdog(process)
    return final


def _revoke_watchdog(process: BaseProcess) -> None:
    """Best effort: a watchdog left scheduled would only be a no-op, but it holds
    worker memory until its countdown ends."""
    process.refresh_from_db(fields=["watchdog_task_id", "status"])
    if not process.watchdog_task_id or process.status not in (status.SUCCEEDED, status.FAILED):
        return
    try:
        get_backend().revoke_scheduled(process.watchdog_task_id)
    except Exception:
        logger.warning("could not revoke watchdog %s", process.watchdog_task_id, exc_info=True)


def _finish(
    process: BaseProcess,
    failure: BaseException | None,
    trace: str,
    terminated: ProcessTerminated | None,
) -> str:
    # The final status (with finished_at) and its log line commit together: whoever
    # waits for is_finished then also sees the line saying how the run ended.
    with transaction.atomic(using=router.db_for_write(type(process))):
        _record_end(process, failure, trace, terminated)
    return current_status(process)


def _record_end(
    process: BaseProcess,
    failure: BaseException | None,
    trace: str,
    terminated: ProcessTerminated | None,
) -> None:
    now = timezone.now()
    duration = now - process.started_at if process.started_at else None
    if terminated is not None:
        # Normally the killer already set cancelled/timed_out and this loses.
        won = compare_and_set(
            process,
            [status.RUNNING],
            status.FAILED,
            finished_at=now,
            exception=repr(terminated),
            stop_signal="SIGTERM",
            stopped_by="signal",
            termination="terminated by SIGTERM that djprocess did not send",
        )
        if won:
            process.log("failed: terminated by SIGTERM that djprocess did not send", level="ERROR")
    elif failure is not None:
        won = compare_and_set(
            process,
            [status.RUNNING],
            status.FAILED,
            finished_at=now,
            exception=f"{type(failure).__name__}: {failure}"[:10_000],
            traceback=trace,
        )
        if won:
            process.log(
                f"failed after {duration}: {type(failure).__name__}: {failure}\n{trace}",
                level="ERROR",
            )
    else:
        won = compare_and_set(process, [status.RUNNING], status.SUCCEEDED, finished_at=now)
        if won:
            process.log(f"succeeded in {duration}")
