"""``start()`` and ``cancel()``: what a caller (a view, a shell) does to a process."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from djprocess import _clock as clock
from djprocess import rerun, status
from djprocess._dispatch import (
    dispatch_claimed,
    dispatch_values,
    in_callers_transaction,
    validate_timeout,
)
from djprocess._transitions import compare_and_set, current_status
from djprocess.backends import get_backend
from djprocess.backends.base import BaseWorkerBackend
from djprocess.exceptions import ProcessNotSaved, ProcessNotStartable
from djprocess.run import child as runchild
from djprocess.status import Stopper
from djprocess.supervision.supervisor import kill_and_record, stop_budget

if TYPE_CHECKING:
    from djprocess.backends.base import BaseWorkerBackend
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.lifecycle")

__all__ = ["cancel", "start"]


def start(process: BaseProcess) -> BaseProcess:
    """Dispatch ``process`` and its watchdog through the configured backend.

    Persists ``process.timeout`` as set on the instance. One ``UPDATE`` records the
    dispatch with the task ids chosen here; the tasks are sent when the surrounding
    transaction commits (at once outside ``atomic()``), so a worker never sees a row
    that is not committed yet. As in 0.0.1, a process that ended ``failed`` or
    ``timed_out`` (and is finished) is run again: see :func:`djprocess.rerun.restart`
    (which also re-runs a ``cancelled`` one). Raises
    :class:`~djprocess.exceptions.ProcessNotSaved`, :class:`ValidationError` (bad
    timeout) or :class:`~djprocess.exceptions.ProcessNotStartable` (``running``,
    ``succeeded``, ``cancelled``, ended but its stop not yet confirmed, or already
    dispatched); in each case nothing is dispatched. If the backend fails the process is
    left ``pending`` and undispatched with a log line saying why, and the error propagates
    (inside ``atomic()`` it is logged at commit instead). Returns ``process``.
    """
    if process.pk is None:
        raise ProcessNotSaved(process, "start")
    validate_timeout(process.timeout)
    backend = get_backend()
    claimed = compare_and_set(
        process, [status.PENDING], where=Q(dispatched_at__isnull=True), **dispatch_values(process)
    )
    if not claimed:
        found = current_status(process)
        if found in rerun.START_RERUNS:  # as in 0.0.1: start() runs it again
            return rerun.restart(process, action="start")
        detail = "already dispatched" if found == status.PENDING else ""
        raise ProcessNotStartable(process, "start", found, detail)
    return dispatch_claimed(process, backend)


def cancel(process: BaseProcess) -> bool:
    """Stop ``process`` in any state; it ends ``cancelled`` unless it had already ended.

    A pending process never runs (``finished_at`` is set at once). A running one is
    stopped by the process supervising its run, which notices within
    ``DJPROCESS_STATUS_POLL_SECONDS`` and escalates SIGTERM → SIGKILL; this call waits for
    that (at most the stop budget: ``retries x wait + 10`` seconds), except inside
    ``atomic()`` (the stop begins when the transaction commits) and when called from the
    run itself: then it returns at once. Returns True if this call cancelled it, False if
    it had already ended (its status is unchanged). Raises
    :class:`~djprocess.exceptions.ProcessNotSaved` for an unsaved instance.
    """
    if process.pk is None:
        raise ProcessNotSaved(process, "cancel")
    backend = get_backend()
    using = router.db_for_write(type(process))
    with transaction.atomic(using=using):
        # Cancelled before it ran: finished at once; the line saying so commits with it.
        cancelled_pending = compare_and_set(
            process,
            [status.PENDING],
            status.CANCELLED,
            finished_at=timezone.now(),
            next_check_at=None,
            stopped_by=Stopper.CANCEL.value,
        )
        if cancelled_pending:
            process.log("cancelled before it ran", level="WARNING")
    if cancelled_pending:
        if in_callers_transaction(using):
            transaction.on_commit(lambda: _revoke(process, backend), using=using)
        else:
            _revoke(process, backend)
        return True
    was_running = compare_and_set(
        process,
        [status.RUNNING],
        status.CANCELLED,
        stopped_by=Stopper.CANCEL.value,
        next_check_at=clock.utc_now() + timedelta(seconds=stop_budget()),
    )
    if not was_running:
        logger.info(
            "cancel of %s pk=%s: already %s",
            process._meta.label,
            process.pk,
            current_status(process),
        )
        return False
    if not backend.stops_runs_locally:
        kill_and_record(process, backend, "cancelled")
    elif not in_callers_transaction(using) and not runchild.is_current(process):
        _wait_finished(process, stop_budget())
    return True


def _revoke(process: BaseProcess, backend: BaseWorkerBackend) -> None:
    for task_id in (process.watchdog_task_id, process.process_task_id):
        if task_id:
            try:
                backend.revoke_scheduled(task_id)
            except Exception:
                logger.warning("could not revoke task %s", task_id, exc_info=True)


def _wait_finished(process: BaseProcess, seconds: float) -> None:
    model = type(process)
    deadline = clock.monotonic() + seconds
    while clock.monotonic() < deadline:
        finished = model._base_manager.filter(pk=process.pk).values_list("finished_at", flat=True)
        found = list(finished)
        if not found or found[0] is not None:
            break  # over, or the row was deleted (its run is stopped all the same)
        time.sleep(0.05)
    with contextlib.suppress(model.DoesNotExist):
        process.refresh_from_db(fields=["finished_at", "termination", "stop_signal", "status"])
