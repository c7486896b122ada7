"""The process statuses, which of them are final, and who can stop a run.

``pending → running → succeeded | failed``; ``cancelled`` and ``timed_out`` can be
reached from ``pending`` or ``running``. A terminal status is left only by an explicit
re-run (``restart()``, see :mod:`djprocess.rerun`), back to ``pending``.
"""

from __future__ import annotations

import enum

from model_utils import Choices

__all__ = [
    "CANCELLED",
    "FAILED",
    "PENDING",
    "RUNNING",
    "STATUS",
    "SUCCEEDED",
    "TERMINAL",
    "TIMED_OUT",
    "Stopper",
]

PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TIMED_OUT = "timed_out"

#: The ``STATUS`` choices of :class:`djprocess.models.BaseProcess` (django-model-utils).
STATUS = Choices(
    (PENDING, "Pending"),
    (RUNNING, "Running"),
    (SUCCEEDED, "Succeeded"),
    (FAILED, "Failed"),
    (CANCELLED, "Cancelled"),
    (TIMED_OUT, "Timed out"),
)

#: Statuses in which a run is over (left only by a re-run).
TERMINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED, TIMED_OUT})

#: Statuses from which a process can still be stopped.
ACTIVE: frozenset[str] = frozenset({PENDING, RUNNING})


class Stopper(enum.StrEnum):
    """Who stopped a run: the values of ``BaseProcess.stopped_by`` (``""`` when nobody did)."""

    #: ``cancel()`` (the process is ``cancelled``).
    CANCEL = "cancel"
    #: The deadline passed: the run's supervisor or the watchdog (``timed_out``).
    WATCHDOG = "watchdog"
    #: The worker: it shut down or lost the run (``failed``).
    WORKER = "worker"
    #: A SIGTERM djprocess did not send (``failed``).
    SIGNAL = "signal"
