"""Signals sent when a process starts, ends, and when a stop of a running process is done.

Each is sent **once per transition, after the transaction that made it commits** (through
:func:`django.db.transaction.on_commit`; at once when there is no transaction), so a receiver
never sees a change that is later rolled back and can query the row from any connection.
Receivers are called with :meth:`~django.dispatch.Signal.send_robust`: an exception in a
receiver is logged (logger ``djprocess.signals``) and never changes the process.

Every signal has ``sender`` = the process model class (e.g. ``ExportProcess``) and
``process`` = the instance whose transition won (its fields as that transition set them).
Receivers run where the transition happened: on the worker for ``process_started`` and for a
run's own end, in the supervisor or the ``cancel()`` caller for a stop.

* :data:`process_started`: the process went ``pending → running`` (a worker claimed it).
* :data:`process_finished`: it reached a terminal status; extra argument ``status``
  (``"succeeded"``, ``"failed"``, ``"cancelled"`` or ``"timed_out"``). For a process cancelled
  or timed out while running, this is sent when the status is decided, before the kill.
* :data:`process_stopped`: the stop of a running process (cancelled, timed out, worker lost)
  is over: the kill is confirmed and ``finished_at`` set. Extra arguments ``status``,
  ``stopped_by`` (``"cancel"``, ``"watchdog"`` or ``"worker"``), ``termination`` (how, e.g.
  ``"SIGKILL after 3 SIGTERM"``) and ``stop_signal`` (``"SIGTERM"``, ``"SIGKILL"`` or ``""``).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.dispatch import Signal

from djprocess import status

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["process_finished", "process_started", "process_stopped"]

logger = logging.getLogger("djprocess.signals")

#: ``pending → running``. Arguments: ``sender``, ``process``.
process_started = Signal()
#: A terminal status was reached. Arguments: ``sender``, ``process``, ``status``.
process_finished = Signal()
#: A stop of a running process is confirmed. Arguments: ``sender``, ``process``, ``status``,
#: ``stopped_by``, ``termination``, ``stop_signal``.
process_stopped = Signal()


def _send(signal: Signal, process: BaseProcess, kwargs: dict[str, Any]) -> None:
    for receiver, result in signal.send_robust(sender=type(process), process=process, **kwargs):
        if isinstance(result, BaseException):
            logger.error(
                "receiver %r of a djprocess signal for %s pk=%s raised",
                receiver,
                process._meta.label,
                process.pk,
                exc_info=result,
            )


def _after_commit(signal: Signal, process: BaseProcess, **kwargs: Any) -> None:
    transaction.on_commit(
        partial(_send, signal, process, kwargs), using=router.db_for_write(type(process))
    )


def transition_won(process: BaseProcess, to_status: str) -> None:
    """Called by :func:`djprocess._transitions.compare_and_set` when it won a change of
    status to ``to_status``: queue :data:`process_started` or :data:`process_finished`."""
    if to_status == status.RUNNING:
        _after_commit(process_started, process)
    elif to_status in status.TERMINAL:
        _after_commit(process_finished, process, status=to_status)


def send_stopped(process: BaseProcess) -> None:
    """Queue :data:`process_stopped` for ``process``, whose stop was just confirmed (call it
    in the transaction that sets ``finished_at``). Reads ``status``, ``stopped_by``,
    ``termination`` and ``stop_signal`` from the instance, as recorded."""
    _after_commit(
        process_stopped,
        process,
        status=process.status,
        stopped_by=process.stopped_by,
        termination=process.termination,
        stop_signal=process.stop_signal,
    )
