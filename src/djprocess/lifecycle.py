"""``start()`` and ``cancel()``: what a caller (a view, a shell) does to a process."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from djprocess import status
from djprocess.backends import get_backend
from djprocess.exceptions import ProcessNotSaved, ProcessNotStartable
from djprocess.supervisor import kill_and_record, stop_budget
from djprocess.transitions import compare_and_set, current_status, record
from djprocess.validators import MAX_TIMEOUT, validate_timeout_value

if TYPE_CHECKING:
    from djprocess.backends.base import BaseWorkerBackend
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.lifecycle")

__all__ = ["MAX_TIMEOUT", "cancel", "dispatch_claimed", "start", "validate_timeout"]


def validate_timeout(value: object) -> None:
    """Raise :class:`ValidationError` keyed on the field ``timeout`` (``error_dict``)
    unless ``value`` is a :class:`~datetime.timedelta` with ``0 < value <= MAX_TIMEOUT``
    (365 days). See :func:`djprocess.validators.validate_timeout_value`."""
    try:
        validate_timeout_value(value)
    except ValidationError as exc:
        raise ValidationError({"timeout": exc}) from None


def start(process: BaseProcess) -> BaseProcess:
    """Dispatch ``process`` and its watchdog through the configured backend.

    Persists ``process.timeout`` as set on the instance. Raises
    :class:`~djprocess.exceptions.ProcessNotSaved`, :class:`ValidationError` (bad
    timeout) or :class:`~djprocess.exceptions.ProcessNotStartable` (``running``,
    ``succeeded``, ended but its stop not yet confirmed, or already dispatched); in each
    case nothing is dispatched. A process that ended ``failed``, ``timed_out`` or
    ``cancelled`` (and is finished) is run again: see :func:`djprocess.rerun.restart`.
    If the backend fails the process is left ``pending`` and undispatched, and the error
    propagates.
    """
    if process.pk is None:
        raise ProcessNotSaved(process, "start")
    validate_timeout(process.timeout)
    backend = get_backend()
    claimed = compare_and_set(
        process,
        [status.PENDING],
        where=Q(dispatched_at__isnull=True),
        dispatched_at=timezone.now(),
        timeout=process.timeout,
    )
    if not claimed:
        found = current_status(process)
        from djprocess import rerun  # it imports this module

        if found in rerun.RESTARTABLE:  # as in 0.0.1: start() runs it again
            return rerun.restart(process, action="start")
        detail = "already dispatched" if found == status.PENDING else ""
        raise ProcessNotStartable(process, "start", found, detail)
    return dispatch_claimed(process, backend)


def dispatch_claimed(process: BaseProcess, backend: BaseWorkerBackend) -> BaseProcess:
    """Dispatch ``process``, already claimed for dispatch (``pending`` with ``dispatched_at``
    set by this caller's compare-and-set), and record the task ids. Returns ``process``,
    refreshed. If the backend fails the process is left ``pending`` and undispatched (a
    log line says so) and the error propagates."""
    try:
        process_task_id, watchdog_task_id = backend.dispatch(process)
    except BaseException as exc:
        compare_and_set(process, [status.PENDING], dispatched_at=None)
        process.log(f"dispatch failed, still pending: {type(exc).__name__}: {exc}", level="ERROR")
        raise
    # In eager mode the run already recorded its own task id: keep it.
    type(process)._base_manager.filter(pk=process.pk, process_task_id="").update(
        process_task_id=process_task_id
    )
    record(process, watchdog_task_id=watchdog_task_id)
    process.refresh_from_db()
    return process


def cancel(process: BaseProcess) -> bool:
    """Stop ``process`` in any state; it ends ``cancelled`` unless it had already ended.

    A pending process never runs; a running one is killed with escalation (this call
    waits for the kill, at most about ``retries x wait`` seconds). Returns True if
    this call cancelled it, False if it had already ended (its status is unchanged).
    Raises :class:`~djprocess.exceptions.ProcessNotSaved` for an unsaved instance.
    """
    if process.pk is None:
        raise ProcessNotSaved(process, "cancel")
    backend = get_backend()
    was_running = False
    with transaction.atomic(using=router.db_for_write(type(process))):
        # Cancelled before it ran: finished at once; the line saying so commits with it.
        cancelled_pending = compare_and_set(
            process,
            [status.PENDING],
            status.CANCELLED,
            finished_at=timezone.now(),
            stopped_by="cancel",
        )
        if cancelled_pending:
            process.log("cancelled before it ran", level="WARNING")
    if not cancelled_pending:
        # finished_at is set by kill_and_record once the run is really gone.
        was_running = compare_and_set(
            process, [status.RUNNING], status.CANCELLED, stopped_by="cancel"
        )
        if not was_running:
            logger.info(
                "cancel of %s pk=%s: already %s",
                process._meta.label,
                process.pk,
                current_status(process),
            )
            return False
    process.refresh_from_db()
    if not was_running:
        for task_id in (process.watchdog_task_id, process.process_task_id):
            if task_id:
                backend.revoke_scheduled(task_id)
        return True
    # If this caller dies mid-kill (a web request timing out, Ctrl-C), this
    # watchdog finishes the stop; the original one stays too until the kill is confirmed.
    safety = backend.schedule_watchdog(process, stop_budget())
    kill_and_record(process, backend, "cancelled")
    process.refresh_from_db(fields=["finished_at", "watchdog_task_id"])
    if process.finished_at is not None:
        for scheduled in {process.watchdog_task_id, safety}:
            if scheduled:
                backend.revoke_scheduled(scheduled)
    return True
