"""Worker signal receivers: a lost pool child, and the sweeper of a supervisor worker.

When a pool child dies under a task (SIGKILL, the OOM killer), the worker's main
process fails the task with ``WorkerLostError`` and sends ``task_failure``. The
process row would otherwise stay ``running`` (or ``pending``, if the child died
before claiming it) until the supervisor notices the missing heartbeat.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_failure, worker_ready, worker_shutdown
from django.db import DatabaseError, connections
from django.db.models import Q
from django.utils import timezone

from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.backends.labels import resolve
from djprocess.exceptions import UnknownProcessModel
from djprocess.run import localsupervisor
from djprocess.supervision.supervisor import Stopper, mark_worker_lost
from djprocess.supervision.sweeper import Sweeper

logger = logging.getLogger("djprocess_celery.receivers")

PROCESS_TASK_NAME = "djprocess.run_process"
#: Process task names whose failure fails the process (0.0.1's subprocess name included).
PROCESS_TASK_NAMES = frozenset({PROCESS_TASK_NAME, "djprocess_subprocess.run_process"})
#: Tries of the database work of a receiver (a stale connection fails the first).
DB_ATTEMPTS = 3

_sweeper: Sweeper | None = None


@task_failure.connect
def on_process_task_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    **kwargs: Any,
) -> None:
    """Mark the process ``failed`` if its process task failed outside ``run()``."""
    if getattr(sender, "name", None) not in PROCESS_TASK_NAMES or not args or len(args) != 2:
        return
    label, pk = args
    try:
        model = resolve(label)
    except UnknownProcessModel:
        logger.warning("task %s failed for unknown process model %r", task_id, label)
        return
    reason = f"{type(exception).__name__}: {exception}" if exception else "task failed"
    _record_lost(model, pk, task_id or "", reason, label)
    # The pool child that supervised the run is gone: stop what its run left, here.
    killed = localsupervisor.stop_run_everywhere(localsupervisor.run_tag(task_id or ""))
    if killed:
        logger.warning("task %s: killed %d process(es) its run left behind", task_id, killed)


def _record_lost(model: Any, pk: Any, task_id: str, reason: str, label: str) -> None:
    for attempt in range(1, DB_ATTEMPTS + 1):
        try:
            process = model._base_manager.filter(pk=pk).first()
            if process is None:
                logger.warning(
                    "task %s failed for process %s pk=%r, now deleted", task_id, label, pk
                )
                return
            if process.status != status.PENDING or not _fail_unclaimed(process, task_id, reason):
                # Running (or claimed while this receiver waited for the row).
                mark_worker_lost(process, reason)
            return
        except DatabaseError as exc:
            # A connection the main process kept from before an outage: drop it, retry.
            for connection in connections.all(initialized_only=True):
                connection.close()
            if attempt == DB_ATTEMPTS:
                logger.error("task %s for %s pk=%r failed (%s) and cannot be recorded: %s; "
                             "the supervisor will find it",
                             task_id, label, pk, reason, exc)  # fmt: skip


def _fail_unclaimed(process: Any, task_id: str, reason: str) -> bool:
    """The pool child died after taking the task and before claiming the row. Returns
    True if this call failed the process."""
    won = compare_and_set(
        process,
        [status.PENDING],
        status.FAILED,
        where=Q(process_task_id=task_id, dispatched_at__isnull=False),
        finished_at=timezone.now(),
        next_check_at=None,
        stopped_by=Stopper.WORKER.value,
        termination=f"worker lost before the run started: {reason}"[:255],
        exception=f"WorkerLost: {reason}"[:10_000],
    )
    if won:
        process.log(f"failed: worker lost before the run started: {reason}", level="ERROR")
    return won


@worker_ready.connect
def start_sweeper(sender: Any = None, **kwargs: Any) -> None:
    """A worker consuming the supervisor queue starts the sweeper thread
    (:class:`djprocess.supervision.sweeper.Sweeper`): deadlines, lost workers, unconfirmed stops and
    lost task messages are found from the database, not from countdown tasks that live
    in a worker's memory."""
    from djprocess.conf import settings

    global _sweeper
    app = getattr(sender, "app", None)
    consuming = getattr(getattr(app, "amqp", None), "queues", None)
    names = set(getattr(consuming, "consume_from", None) or {})
    if settings.SUPERVISOR_QUEUE not in names or _sweeper is not None:
        return
    _sweeper = Sweeper()
    _sweeper.start()
    logger.info("djprocess: sweeper started (every %gs)", settings.SWEEP_SECONDS)


@worker_shutdown.connect
def stop_sweeper(**kwargs: Any) -> None:
    """Stop the sweeper thread with the worker."""
    global _sweeper
    if _sweeper is not None:
        _sweeper.stop()
        _sweeper = None
