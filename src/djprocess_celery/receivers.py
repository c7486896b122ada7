"""Recording a lost worker the moment Celery notices it.

When a pool child dies under a running task (SIGKILL, the OOM killer), the
worker's main process fails the task with ``WorkerLostError`` and sends
``task_failure``. The process row would otherwise stay ``running`` until its
watchdog fires.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_failure

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
