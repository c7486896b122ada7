"""Loading the configured executor (``DJPROCESS_SUBPROCESS_EXECUTOR``)."""

from __future__ import annotations

from typing import Any

from djprocess_subprocess.conf import executor_class
from djprocess_subprocess.executor import Executor

__all__ = ["executor_class", "get_executor"]


def get_executor(path: str | None = None, **options: Any) -> Executor:
    """A new executor of :func:`~djprocess_subprocess.conf.executor_class`, made with
    ``options``. Raises :class:`ImportError` for a bad path."""
    return executor_class(path)(**options)
