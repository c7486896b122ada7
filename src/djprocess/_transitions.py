"""Compare-and-set status changes.

Every status change is one ``UPDATE … WHERE pk = %s AND status IN (…)``: the
database decides who wins a race (a cancel against a watchdog, a late write from
a killed run), never a value read earlier in Python. The instance passed in is
updated only when the change won.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import Q
from django.utils import timezone

from djprocess.signals import transition_won

if TYPE_CHECKING:
    from djprocess.models import BaseProcess


def compare_and_set(
    process: BaseProcess,
    from_statuses: Iterable[str],
    to_status: str | None = None,
    *,
    where: Q | None = None,
    **values: Any,
) -> bool:
    """Set ``values`` (and ``status = to_status``) only if the row's status is in
    ``from_statuses`` (and matches ``where``). Returns True if this call won.

    A won change of status to ``running`` or to a terminal status sends
    :data:`~djprocess.signals.process_started` / :data:`~djprocess.signals.process_finished`
    once the transaction commits."""
    now = timezone.now()
    if to_status is not None:
        values["status"] = to_status
        values["status_changed"] = now
    values["modified"] = now
    queryset = type(process)._base_manager.filter(pk=process.pk, status__in=list(from_statuses))
    if where is not None:
        queryset = queryset.filter(where)
    won = queryset.update(**values) == 1
    if won:
        # Expressions (F()) are not copied to the instance; re-read them on demand.
        plain = {k: v for k, v in values.items() if not hasattr(v, "resolve_expression")}
        for name, value in plain.items():
            setattr(process, name, value)
        if to_status is not None:
            transition_won(process, to_status)
    return won


def same_run(process: BaseProcess) -> Q | None:
    """The condition "the row still holds the run this instance claimed or dispatched"
    (its ``process_task_id``; None when it has none): a late write of an earlier run never
    lands on a re-run."""
    return Q(process_task_id=process.process_task_id) if process.process_task_id else None


def current_status(process: BaseProcess) -> str:
    """The status stored in the database now (refreshes ``process.status``).

    Raises ``DoesNotExist`` if the row was deleted.
    """
    status: str = type(process)._base_manager.values_list("status", flat=True).get(pk=process.pk)
    process.status = status
    return status


def record(process: BaseProcess, **values: Any) -> None:
    """Write non-status fields (how a run ended) regardless of the status."""
    type(process)._base_manager.filter(pk=process.pk).update(**values)
    for name, value in values.items():
        setattr(process, name, value)


def finish(process: BaseProcess, line: str, level: str = "INFO", **values: Any) -> bool:
    """Record the end of a stop: ``values`` with ``finished_at`` (now) and
    ``next_check_at`` cleared, and the log line ``line`` saying how the run ended, in one
    transaction (whoever waits for ``is_finished`` then also sees the line). Only a
    terminal, not yet finished row is changed: returns False (and writes nothing) if
    another stopper recorded the end first."""
    from django.db import router, transaction

    from djprocess import status

    values.setdefault("finished_at", timezone.now())
    values["next_check_at"] = None
    with transaction.atomic(using=router.db_for_write(type(process))):
        won = compare_and_set(process, status.TERMINAL, where=Q(finished_at__isnull=True), **values)
        if won:
            process.log(line, level=level)
            stopped(process)
    return won


def stopped(process: BaseProcess) -> None:
    """The stop of ``process`` was just recorded (``finished_at`` set, in the current
    transaction): queue :data:`djprocess.signals.process_stopped` with how, as stored."""
    from djprocess.signals import send_stopped

    process.refresh_from_db(fields=["status", "stopped_by", "termination", "stop_signal"])
    send_stopped(process)
