"""Routing standard :mod:`logging` records emitted inside ``run()`` to that process's log.

One handler sits on the root logger; a context variable says which process (if
any) the current thread or task is running, so records from other processes
running concurrently in the same worker never mix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

#: djprocess's own loggers: they describe the run, they are not part of it.
_OWN_LOGGERS = ("djprocess.", "djprocess_celery.")

_current: ContextVar[BaseProcess | None] = ContextVar("djprocess_current_process", default=None)
_writing: ContextVar[bool] = ContextVar("djprocess_writing_log", default=False)


class ProcessLogHandler(logging.Handler):
    """Writes records to the log of the process running in this context."""

    def emit(self, record: logging.LogRecord) -> None:
        process = _current.get()
        # Skip our own loggers and anything logged while we write (SQL debug logs).
        if process is None or _writing.get() or record.name.startswith(_OWN_LOGGERS):
            return
        token = _writing.set(True)
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{self.formatException(record.exc_info)}"
            process.log(message, level=record.levelno, extra={"logger": record.name})
        except Exception:
            self.handleError(record)
        finally:
            _writing.reset(token)

    def formatException(self, exc_info: logging._SysExcInfoType) -> str:  # noqa: N802
        return logging.Formatter().formatException(exc_info)


_handler = ProcessLogHandler()


@contextmanager
def capture(process: BaseProcess) -> Iterator[None]:
    """Within this block, records logged by any logger go to ``process``'s log too."""
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    token = _current.set(process)
    try:
        yield
    finally:
        _current.reset(token)
