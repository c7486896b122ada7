"""The two Celery tasks. Their arguments are JSON only: a model label and a primary key.

* ``djprocess.run_process`` (process queue) runs ``process.execute()``;
* ``djprocess.watchdog`` (supervisor queue, ``countdown=timeout_seconds()``) enforces
  the timeout.

Both are idempotent, because brokers redeliver (Redis re-sends a countdown task held
past ``visibility_timeout``) and revokes live only in worker memory: the database
status decides what, if anything, still needs doing.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from djprocess import supervisor
from djprocess.backends import get_backend
from djprocess.exceptions import UnknownProcessModel
from djprocess.models import BaseProcess
from djprocess.registry import resolve
from djprocess.transitions import record

logger = logging.getLogger("djprocess_celery.tasks")


def _load(label: Any, pk: Any) -> BaseProcess | None:
    try:
        model = resolve(label)
    except UnknownProcessModel as exc:
        logger.error("refused task for %r pk=%r: %s", label, pk, exc)
        return None
    try:
        return model._base_manager.get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError):
        logger.warning("process %s pk=%r no longer exists; task dropped", label, pk)
        return None


@shared_task(name="djprocess.run_process", bind=True, ignore_result=True)
def run_process(self: Any, label: str, pk: Any) -> str:
    """Run the process ``label``/``pk`` here. Returns its final status (or why not)."""
    process = _load(label, pk)
    if process is None:
        return "missing"
    try:
        return process.execute(task_id=self.request.id or "", hostname=self.request.hostname or "")
    except type(process).DoesNotExist:
        # Deleted while it ran: nothing to record, and raising would only fail the task.
        logger.warning("process %s pk=%r was deleted while it ran; task dropped", label, pk)
        return "missing"


@shared_task(name="djprocess.watchdog", bind=True, ignore_result=True)
def watchdog(self: Any, label: str, pk: Any) -> str:
    """Enforce the timeout of process ``label``/``pk``. Returns the outcome
    (see :func:`djprocess.supervisor.fire_watchdog`)."""
    process = _load(label, pk)
    if process is None:
        return "missing"

    def rearm(seconds: float) -> None:
        record(process, watchdog_task_id=get_backend().schedule_watchdog(process, seconds) or "")

    try:
        return supervisor.fire_watchdog(process, rearm=rearm, eager=bool(self.request.is_eager))
    except type(process).DoesNotExist:
        logger.warning("process %s pk=%r was deleted; watchdog dropped", label, pk)
        return "missing"
