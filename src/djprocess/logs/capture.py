"""Routing standard :mod:`logging` records emitted inside ``run()`` to that process's log.

One handler sits on the root logger (added the first time a process runs); a context
variable says which process, if any, the current thread or asyncio task is running, so
records from other processes running concurrently in the same worker never mix.

What is captured: a record that reaches the root logger's handlers (its logger's level
and your ``LOGGING`` configuration let it through, and it propagates) and whose level is
at least ``DJPROCESS_LOG_CAPTURE_LEVEL``. Not captured (:func:`ignored_loggers`):
djprocess's own loggers (``djprocess.*``, which would only repeat lines djprocess writes
itself) and ``django.db.backends`` (SQL debug logs, one line per query), both in
:data:`IGNORED_LOGGERS`, and the loggers of the worker that runs the process, which the
configured backend names (:attr:`~djprocess.backends.base.BaseWorkerBackend.worker_loggers`;
the Celery backend's: ``djprocess_celery.*``, ``celery.*``, ``kombu.*``, ``amqp.*``,
``billiard.*``). A task logger from ``celery.utils.log.get_task_logger`` is named after its
module, so it is captured.

Threads: a thread started inside ``run()`` does not inherit the context (Python starts
threads with an empty one), so its records are not captured unless it runs inside a copy
of the context: ``threading.Thread(target=contextvars.copy_context().run, args=(fn,))``,
or ``target=propagate(fn)``. ``asyncio`` tasks and ``asyncio.to_thread`` copy it already.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from djprocess._levels import clean_level
from djprocess.backends import get_backend
from djprocess.conf import settings
from djprocess.logs import _store as logstore
from djprocess.logs._context import _current

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["IGNORED_LOGGERS", "ProcessLogHandler", "ignored_loggers", "propagate"]

_writing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "djprocess_writing_log", default=False
)

#: Logger names (and their children: ``name`` or ``name.*``) never captured, whatever the
#: backend; :func:`ignored_loggers` adds the backend's own.
IGNORED_LOGGERS = ("djprocess", "django.db.backends")


def ignored_loggers() -> tuple[str, ...]:
    """:data:`IGNORED_LOGGERS` and the configured backend's
    :attr:`~djprocess.backends.base.BaseWorkerBackend.worker_loggers` (reads
    ``DJPROCESS_WORKER_BACKEND``; only :data:`IGNORED_LOGGERS` if the backend cannot be
    loaded, which checks ``djprocess.E006``/``E007``/``E017`` report)."""
    try:
        backend = get_backend()
    except (ImportError, TypeError):
        return IGNORED_LOGGERS
    return (*IGNORED_LOGGERS, *backend.worker_loggers)


def _ignored(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in ignored_loggers())


def capture_level() -> int:
    """The numeric level of ``DJPROCESS_LOG_CAPTURE_LEVEL`` (a name such as ``"INFO"``;
    ``INFO``, 20, if it is none, which check ``djprocess.E011`` reports)."""
    return logging.getLevelNamesMapping()[clean_level(settings.LOG_CAPTURE_LEVEL) or "INFO"]


class ProcessLogHandler(logging.Handler):
    """Writes records to the log of the process running in this context, with their level
    and ``extra={"logger": name}`` (plus the formatted exception, if any)."""

    def emit(self, record: logging.LogRecord) -> None:
        process = _current.get()
        # Skip records outside run(), ours, and anything logged while we write.
        if process is None or _writing.get() or record.levelno < capture_level():
            return
        if _ignored(record.name):
            return
        token = _writing.set(True)
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{self.formatException(record.exc_info)}"
            process.log(message, level=record.levelno, extra={"logger": record.name})
        except Exception:  # noqa: BLE001 - a failed log write must not break the caller
            self.handleError(record)
        finally:
            _writing.reset(token)

    def formatException(self, exc_info: logging._SysExcInfoType) -> str:
        return logging.Formatter().formatException(exc_info)


_handler = ProcessLogHandler()


@contextmanager
def capture(process: BaseProcess) -> Iterator[None]:
    """Within this block, records logged by any logger go to ``process``'s log too.

    On the way out (normally or by an exception) it writes again the lines whose
    transaction rolled back (see :mod:`djprocess.logs._store`) and closes this thread's
    private log connection.
    """
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    token = _current.set(process)
    try:
        yield
    finally:
        _current.reset(token)
        logstore.finish(process)


def propagate[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``func`` to run in a copy of the current context, so that records logged in
    another thread (``threading.Thread(target=propagate(work))``) are captured into the
    process running now. When it returns, rolled-back lines of that thread are written
    again and its private log connection is closed, as at the end of ``run()``."""
    context = contextvars.copy_context()

    @functools.wraps(func)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        def call() -> R:
            process = _current.get()
            try:
                return func(*args, **kwargs)
            finally:
                if process is not None:
                    logstore.finish(process)

        return context.copy().run(call)

    return run_in_context
