"""Recording a process whose task died outside ``run()``: its worker process was lost.

A backend calls :func:`record_task_lost` when its task queue reports that the task of a
process failed without the run recording anything (a Celery pool child SIGKILLed, the OOM
killer): the row would otherwise stay ``running`` (or ``pending``, if the worker died
before claiming it) until the supervisor notices the missing heartbeat.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, connections
from django.db.models import Q

from djprocess import status
from djprocess.status import Stopper
from djprocess.supervision.supervisor import fail_pending, mark_worker_lost

logger = logging.getLogger("djprocess.supervision")

#: Tries of the database work (a connection kept from before an outage fails the first).
DB_ATTEMPTS = 3

__all__ = ["DB_ATTEMPTS", "record_task_lost"]


def record_task_lost(model: Any, pk: Any, task_id: str, reason: str, label: str = "") -> None:
    """Fail process ``model``/``pk`` whose task ``task_id`` died outside ``run()``:
    ``failed`` by ``worker`` with ``reason`` (e.g. ``"WorkerLostError: ..."``) as its
    exception. A pending row is failed only if ``task_id`` is its dispatched task (a
    later dispatch is left alone); a running one through
    :func:`~djprocess.supervision.supervisor.mark_worker_lost`, unless it runs another task
    by now (a re-run: left alone, with a warning). A deleted row is logged.
    Database errors are retried :data:`DB_ATTEMPTS` times on fresh connections, then
    logged (the supervisor finds the row later); never raises for them. ``label`` names
    the model in log messages as the task message did (default: the model's label)."""
    label = label or model._meta.label
    for attempt in range(1, DB_ATTEMPTS + 1):
        try:
            process = model._base_manager.filter(pk=pk).first()
            if process is None:
                logger.warning(
                    "task %s failed for process %s pk=%r, now deleted", task_id, label, pk
                )
                return
            if _superseded(process, task_id):
                logger.warning("task %s failed for process %s pk=%r (%s), which runs task %s "
                               "now: left alone", task_id, label, pk, reason,
                               process.process_task_id)  # fmt: skip
                return
            if process.status != status.PENDING or not _fail_unclaimed(process, task_id, reason):
                # Running (or claimed while this waited for the row).
                mark_worker_lost(process, reason)
            return
        except DatabaseError as exc:
            # A connection kept from before an outage: drop it, retry.
            for connection in connections.all(initialized_only=True):
                connection.close()
            if attempt == DB_ATTEMPTS:
                logger.error("task %s for %s pk=%r failed (%s) and cannot be recorded: %s; "
                             "the supervisor will find it",
                             task_id, label, pk, reason, exc)  # fmt: skip


def _superseded(process: Any, task_id: str) -> bool:
    """The row runs another task than the lost one: a re-run claimed before the loss of an
    earlier task was reported (a late write of an earlier run never lands on a re-run)."""
    return bool(
        process.status == status.RUNNING
        and task_id
        and process.process_task_id
        and process.process_task_id != task_id
    )


def _fail_unclaimed(process: Any, task_id: str, reason: str) -> bool:
    """The worker died after taking the task and before claiming the row. Returns True if
    this call failed the process."""
    won = fail_pending(
        process,
        Stopper.WORKER,
        where=Q(process_task_id=task_id, dispatched_at__isnull=False),
        termination=f"worker lost before the run started: {reason}",
        exception=f"WorkerLost: {reason}",
    )
    if won:
        process.log(f"failed: worker lost before the run started: {reason}", level="ERROR")
    return won
