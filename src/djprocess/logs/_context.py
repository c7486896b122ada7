"""The process whose ``run()`` is executing in this context (thread, task), if any."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

_current: contextvars.ContextVar[BaseProcess | None] = contextvars.ContextVar(
    "djprocess_current_process", default=None
)


def current_process() -> BaseProcess | None:
    """The process whose ``run()`` this context is in, or None."""
    return _current.get()
