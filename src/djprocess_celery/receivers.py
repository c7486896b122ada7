"""Recording a lost worker the moment Celery notices it.

When a pool child dies under a running task (SIGKILL, the OOM killer), the
worker's main process fails the task with ``WorkerLostError`` and sends
``task_failure``. The process row would otherwise stay ``running`` until its
watchdog fires.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_failure, worker_ready

from djprocess.exceptions import UnknownProcessModel
from djprocess.registry import resolve
from djprocess.supervisor import mark_worker_lost

logger = logging.getLogger("djprocess_celery.receivers")

PROCESS_TASK_NAME = "djprocess.run_process"


@task_failure.connect
def on_process_task_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    **kwargs: Any,
) -> None:
    """Mark the process ``failed`` if its process task failed outside ``run()``."""
    if getattr(sender, "name", None) != PROCESS_TASK_NAME or not args or len(args) != 2:
        return
    label, pk = args
    try:
        model = resolve(label)
        process = model._base_manager.get(pk=pk)
    except (UnknownProcessModel, Exception):  # noqa: BLE001 - never break the worker loop
        logger.warning("task %s failed for unknown process %r pk=%r", task_id, label, pk)
        return
    reason = f"{type(exception).__name__}: {exception}" if exception else "task failed"
    mark_worker_lost(process, reason)


@worker_ready.connect
def rearm_watchdogs_on_supervisor_start(sender: Any = None, **kwargs: Any) -> None:
    """A supervisor worker starting up re-schedules a watchdog for every process still
    ``running`` (or dispatched and ``pending``), from the database.

    Scheduled watchdogs live in the memory of the worker holding them: one that was
    SIGKILLed (or OOM-killed) takes them along, and Redis delivers them again only
    after ``visibility_timeout`` (an hour by default). Watchdogs are idempotent, so
    the duplicates this makes are logged no-ops.
    """
    from django.apps import apps
    from django.db import close_old_connections
    from django.db.models import Q
    from django.utils import timezone

    from djprocess import status, supervisor
    from djprocess.conf import settings
    from djprocess.models import BaseProcess
    from djprocess.registry import label_of
    from djprocess.transitions import record
    from djprocess_celery.tasks import watchdog

    app = getattr(sender, "app", None)
    consuming = getattr(getattr(app, "amqp", None), "queues", None)
    names = set(getattr(consuming, "consume_from", None) or {})
    if settings.SUPERVISOR_QUEUE not in names:
        return
    try:
        now = timezone.now()
        for model in apps.get_models():
            if not issubclass(model, BaseProcess):
                continue
            active = Q(status__in=[status.RUNNING, status.PENDING], dispatched_at__isnull=False)
            # Terminal but never confirmed stopped: the supervisor died mid-kill.
            stopping = Q(
                status__in=status.TERMINAL,
                finished_at__isnull=True,
                stopped_by__in=supervisor.STOPPERS,
            )
            for process in model._base_manager.filter(active | stopping):
                if process.status in status.TERMINAL:
                    left = 0.0
                elif process.started_at is not None:
                    left = (process.started_at + process.timeout - now).total_seconds()
                else:
                    left = process.timeout_seconds()
                result = watchdog.apply_async(
                    (label_of(process), process.pk),
                    countdown=max(0.0, left),
                    queue=settings.SUPERVISOR_QUEUE,
                    serializer="json",
                )
                record(process, watchdog_task_id=result.id)
                logger.info(
                    "re-armed the watchdog of %s pk=%s in %.1fs",
                    model._meta.label,
                    process.pk,
                    max(0.0, left),
                )
    except Exception:
        logger.exception("could not re-arm pending watchdogs")
    finally:
        close_old_connections()
