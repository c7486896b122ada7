"""The subprocess backend's setting, ``DJPROCESS_SUBPROCESS_EXECUTOR``, and what the
settings of an executor need of the backend (:data:`NEEDS_EXECUTOR`).

Importing this module declares the setting (the ``djprocess.settings`` entry point
imports it). :func:`executor_class`, :func:`process_queue`, :func:`supervisor_queue`,
:func:`kill_term_retries` and :func:`kill_term_wait_seconds` are the names djprocess 0.0.1 had
here; the last four are :mod:`djprocess_celery.conf`'s (the subprocess backend dispatches
through Celery's queues and escalates kills with the core's settings).
"""

from __future__ import annotations

from django.utils.module_loading import import_string

from djprocess.conf import Requirement, Setting, declare
from djprocess_celery.conf import (
    kill_term_retries,
    kill_term_wait_seconds,
    process_queue,
    supervisor_queue,
)
from djprocess_subprocess.executor import Executor

__all__ = [
    "NEEDS_EXECUTOR",
    "SUBPROCESS_EXECUTOR",
    "executor_class",
    "kill_term_retries",
    "kill_term_wait_seconds",
    "process_queue",
    "supervisor_queue",
]

#: Read only by a backend that starts its runs through an executor (``supports_executor``):
#: set with another backend, such a setting is ignored (check ``djprocess.E018``).
NEEDS_EXECUTOR = Requirement(
    "supports_executor",
    "does not start runs through an executor: they would be ignored and runs would not be "
    "sandboxed",
    hint="Set DJPROCESS_WORKER_BACKEND = 'djprocess_subprocess.backend.SubprocessWorkerBackend', "
    "or remove them.",
)

#: Dotted path of the executor class the subprocess backend starts runs with
#: (``DJPROCESS_SUBPROCESS_EXECUTOR``); an import failure is ``djprocess.E019``.
SUBPROCESS_EXECUTOR = Setting(
    "DJPROCESS_SUBPROCESS_EXECUTOR",
    "djprocess_subprocess.native.NativeExecutor",
    str,
    requires=(NEEDS_EXECUTOR,),
    constructs_backend=True,  # the backend reads it when it is made
)

declare(SUBPROCESS_EXECUTOR)


def executor_class(path: str | None = None) -> type[Executor]:
    """The executor class at ``path`` (default: ``DJPROCESS_SUBPROCESS_EXECUTOR``). Raises
    :class:`ImportError` for a bad path."""
    found: type[Executor] = import_string(path or SUBPROCESS_EXECUTOR.get())
    return found
