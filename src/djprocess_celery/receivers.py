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

from djprocess.backends.labels import resolve
from djprocess.exceptions import UnknownProcessModel
from djprocess.run import localsupervisor
from djprocess.supervision.lost import record_task_lost
from djprocess.supervision.sweeper import Sweeper

__all__ = ["PROCESS_TASK_NAMES", "on_process_task_failure", "start_sweeper", "stop_sweeper"]

logger = logging.getLogger("djprocess_celery.receivers")

PROCESS_TASK_NAME = "djprocess.run_process"
#: Process task names whose failure fails the process (0.0.1's subprocess name included).
PROCESS_TASK_NAMES = frozenset({PROCESS_TASK_NAME, "djprocess_subprocess.run_process"})

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
    record_task_lost(model, pk, task_id or "", reason, label)
    # The pool child that supervised the run is gone: stop what its run left, here.
    killed = localsupervisor.stop_run_everywhere(localsupervisor.run_tag(task_id or ""))
    if killed:
        logger.warning("task %s: killed %d process(es) its run left behind", task_id, killed)


@worker_ready.connect
def start_sweeper(sender: Any = None, **kwargs: Any) -> None:
    """A worker consuming the supervisor queue starts the sweeper thread
    (:class:`djprocess.supervision.sweeper.Sweeper`): deadlines, lost workers, unconfirmed stops and
    lost task messages are found from the database, not from countdown tasks that live
    in a worker's memory."""
    from djprocess.conf import settings
    from djprocess_celery.conf import supervisor_queue

    global _sweeper
    app = getattr(sender, "app", None)
    consuming = getattr(getattr(app, "amqp", None), "queues", None)
    names = set(getattr(consuming, "consume_from", None) or {})
    if supervisor_queue() not in names or _sweeper is not None:
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
