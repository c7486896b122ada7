"""The process statuses and which of them are final.

``pending → running → succeeded | failed``; ``cancelled`` and ``timed_out`` can be
reached from ``pending`` or ``running``. A terminal status is left only by an explicit
re-run (``restart()``, see :mod:`djprocess.rerun`), back to ``pending``.
"""

from __future__ import annotations

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
