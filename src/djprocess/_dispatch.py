"""Sending a claimed process to its backend: the dispatch that ``start()`` and ``restart()``
share, done when the caller's transaction commits."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from djprocess import _clock as clock
from djprocess import _django, status
from djprocess._transitions import compare_and_set
from djprocess.conf import settings
from djprocess.validators import validate_timeout_value

if TYPE_CHECKING:
    from djprocess.backends.base import BaseWorkerBackend
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.lifecycle")


def validate_timeout(value: object) -> None:
    """Raise :class:`ValidationError` keyed on the field ``timeout`` (``error_dict``)
    unless ``value`` is a :class:`~datetime.timedelta` with ``0 < value <= MAX_TIMEOUT``
    (365 days). See :func:`djprocess.validators.validate_timeout_value`."""
    try:
        validate_timeout_value(value)
    except ValidationError as exc:
        raise ValidationError({"timeout": exc}) from None


def in_callers_transaction(using: str) -> bool:
    """True inside an ``atomic()`` block of the caller's on ``using``, not counting the
    blocks a Django ``TestCase`` wraps each test in
    (:func:`djprocess._django.callers_atomic_blocks`)."""
    return bool(_django.callers_atomic_blocks(using))


def dispatch_values(process: BaseProcess) -> dict[str, Any]:
    """What a claim for dispatch records: ``dispatched_at``, the ``timeout`` set on the
    instance, the task ids chosen now (uuid4 strings) and ``next_check_at`` (the end of
    ``DJPROCESS_QUEUE_TIMEOUT_SECONDS``)."""
    return {
        "dispatched_at": timezone.now(),
        "timeout": process.timeout,
        "process_task_id": str(uuid.uuid4()),
        "watchdog_task_id": str(uuid.uuid4()),
        "next_check_at": clock.utc_now() + timedelta(seconds=settings.QUEUE_TIMEOUT_SECONDS),
    }


def dispatch_claimed(process: BaseProcess, backend: BaseWorkerBackend) -> BaseProcess:
    """Dispatch ``process``, already claimed for dispatch by this caller's compare-and-set
    (``pending``, :func:`dispatch_values` recorded). The tasks are sent when the caller's
    transaction commits (at once outside ``atomic()``). Returns ``process`` (refreshed in
    eager mode, where it already ran). If the backend fails the process is left
    ``pending`` and undispatched (a log line says so) and the error propagates."""
    task_ids = (process.process_task_id, process.watchdog_task_id)
    using = router.db_for_write(type(process))
    if not backend.is_eager() and in_callers_transaction(using):
        transaction.on_commit(lambda: _dispatch_after_commit(process, backend), using=using)
        return process
    _dispatch(process, backend, task_ids)
    if backend.is_eager():
        process.refresh_from_db()  # it ran inside dispatch()
    return process


def _dispatch(process: BaseProcess, backend: BaseWorkerBackend, task_ids: tuple[str, str]) -> None:
    try:
        sent = backend.dispatch(process)
    except BaseException as exc:
        compare_and_set(
            process,
            [status.PENDING],
            where=Q(process_task_id=task_ids[0]),
            dispatched_at=None,
            next_check_at=None,
            process_task_id="",
            watchdog_task_id="",
        )
        process.log(f"dispatch failed, still pending: {type(exc).__name__}: {exc}", level="ERROR")
        raise
    # A backend may choose its own ids (the contract returns them): keep what it sent,
    # unless the run already recorded its own (eager mode).
    for name, ours, theirs in zip(
        ("process_task_id", "watchdog_task_id"), task_ids, sent, strict=True
    ):
        if theirs != ours:
            type(process)._base_manager.filter(pk=process.pk, **{name: ours}).update(
                **{name: theirs}
            )
            setattr(process, name, theirs)


def _dispatch_after_commit(process: BaseProcess, backend: BaseWorkerBackend) -> None:
    try:
        _dispatch(process, backend, (process.process_task_id, process.watchdog_task_id))
    except Exception:
        logger.exception(
            "start() of %s pk=%s: dispatch at commit failed; it stays pending",
            process._meta.label,
            process.pk,
        )
