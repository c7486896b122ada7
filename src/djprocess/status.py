"""The process statuses and which of them are final.

``pending → running → succeeded | failed``; ``cancelled`` and ``timed_out`` can be
reached from ``pending`` or ``running``. A terminal status is never left.
"""

from __future__ import annotations

from model_utils import Choices

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

#: Statuses a process never leaves.
TERMINAL: frozenset[str] = frozenset({SUCCEEDED, FAILED, CANCELLED, TIMED_OUT})

#: Statuses from which a process can still be stopped.
ACTIVE: frozenset[str] = frozenset({PENDING, RUNNING})
