"""Loading the configured executor (``DJPROCESS_SUBPROCESS_EXECUTOR``)."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from djprocess.conf import settings
from djprocess_subprocess.executor import Executor

__all__ = ["executor_class", "get_executor"]


def executor_class(path: str | None = None) -> type[Executor]:
    """The class at ``path`` (default: ``DJPROCESS_SUBPROCESS_EXECUTOR``). Raises
    :class:`ImportError` for a bad path."""
    found: type[Executor] = import_string(path or settings.SUBPROCESS_EXECUTOR)
    return found


def get_executor(path: str | None = None, **options: Any) -> Executor:
    """A new executor of :func:`executor_class`, made with ``options``."""
    return executor_class(path)(**options)
