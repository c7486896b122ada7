"""The two Celery tasks. Their arguments are JSON only: a model label and a primary key.

* ``djprocess.run_process`` (process queue): the pool child claims the process, forks
  its run and supervises it (:func:`djprocess.run.localsupervisor.run_supervised`); in eager
  mode it runs inline (``process.execute()``).
* ``djprocess.watchdog`` (supervisor queue, ``countdown=timeout_seconds()``): one
  :func:`djprocess.supervision.supervisor.check` of its process. It never re-arms: the sweeper
  watches every process through the database.

Both are idempotent, because brokers redeliver (Redis re-sends a countdown task held
past ``visibility_timeout``) and revokes live only in worker memory: the database
status decides what, if anything, still needs doing.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError, OperationalError, close_old_connections, connections

from djprocess.backends import get_backend
from djprocess.backends.labels import resolve
from djprocess.exceptions import UnknownProcessModel
from djprocess.models import BaseProcess
from djprocess.run import localsupervisor, runner
from djprocess.run.launch import Launcher
from djprocess.supervision import supervisor

logger = logging.getLogger("djprocess_celery.tasks")

__all__ = ["MISSING", "run_process", "watchdog", "watchdog_process"]

#: What a task returns when its process row does not exist (never created, or deleted).
MISSING = "missing"

#: Longest pause between two tries of a task that met a database outage (seconds).
RETRY_MAX_SECONDS = 30.0


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


def _retry_later(task: Any, exc: Exception, label: Any, pk: Any) -> Any:
    """Re-send ``task`` after a database error; a process is never dropped for one.

    The row stays ``pending`` meanwhile and the claim is a compare-and-set, so the
    retry is safe; ``DJPROCESS_QUEUE_TIMEOUT_SECONDS`` bounds how long it can go on."""
    for connection in connections.all(initialized_only=True):
        connection.close()
    countdown = min(RETRY_MAX_SECONDS, 0.5 * 2 ** min(task.request.retries, 6))
    logger.warning("%s for %s pk=%r: database error (%s); retrying in %.1fs",
                   task.name, label, pk, exc, countdown)  # fmt: skip
    return task.retry(exc=exc, countdown=countdown, max_retries=None)


def _launcher() -> Launcher | None:
    """The configured backend's way to start a run (None: fork a run child)."""
    return get_backend().make_launcher()


@shared_task(name="djprocess.run_process", bind=True, ignore_result=True)
def run_process(self: Any, label: str, pk: Any) -> str:
    """Run the process ``label``/``pk`` here. Returns its final status, or :data:`MISSING`."""
    return run_process_body(self, label, pk)


def run_process_body(self: Any, label: str, pk: Any) -> str:
    """What ``djprocess.run_process`` does, for the bound task ``self`` (also used by the
    task names kept from 0.0.1, :mod:`djprocess_subprocess.tasks`)."""
    close_old_connections()
    try:
        process = _load(label, pk)
        if process is None:
            return MISSING
        if self.request.is_eager:
            final = process.execute(task_id=self.request.id or "", hostname="eager")
        else:
            final = localsupervisor.run_supervised(
                process,
                task_id=self.request.id or "",
                hostname=self.request.hostname or "",
                launcher=_launcher(),
            )
    except (OperationalError, InterfaceError) as exc:
        raise _retry_later(self, exc, label, pk) from exc
    except ObjectDoesNotExist:
        final = runner.DELETED
    if final == runner.DELETED:
        logger.warning("process %s pk=%r was deleted while it ran; task dropped", label, pk)
        return MISSING
    return final


@shared_task(name="djprocess.watchdog", bind=True, ignore_result=True)
def watchdog(self: Any, label: str, pk: Any) -> str:
    """Check the process ``label``/``pk`` once (see :func:`djprocess.supervision.supervisor.check`).
    Returns the outcome (a :class:`~djprocess.supervision.supervisor.Outcome` value), or
    :data:`MISSING`."""
    return watchdog_body(self, label, pk)


@shared_task(name="djprocess.watchdog_process", bind=True, ignore_result=True)
def watchdog_process(self: Any, label: str, pk: Any) -> str:
    """djprocess 0.0.1's name for ``djprocess.watchdog``, kept for its messages still in the
    supervisor queue after the upgrade (0.1.0 sends only ``djprocess.watchdog``)."""
    return watchdog_body(self, label, pk)


def watchdog_body(self: Any, label: str, pk: Any) -> str:
    """What ``djprocess.watchdog`` does, for the bound task ``self``."""
    close_old_connections()
    try:
        process = _load(label, pk)
        if process is None:
            return MISSING
        return supervisor.fire_watchdog(process, eager=bool(self.request.is_eager)).value
    except (OperationalError, InterfaceError) as exc:
        raise _retry_later(self, exc, label, pk) from exc
    except ObjectDoesNotExist:
        logger.warning("process %s pk=%r was deleted; watchdog dropped", label, pk)
        return MISSING
