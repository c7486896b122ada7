"""The subprocess worker backend: Celery dispatches, a fresh interpreter runs.

Celery still carries the tasks (the process queue, the supervisor queue, the same
watchdog and sweeper as :class:`~djprocess_celery.backend.CeleryWorkerBackend`), and the
pool child that takes a process task is still the run's local supervisor
(:mod:`djprocess.run.localsupervisor`). It does not fork itself, though: it starts
``python -m djprocess_subprocess.runner <label> <pk>`` through an executor
(``DJPROCESS_SUBPROCESS_EXECUTOR``), in a session and process group of its own, and
supervises that: the deadline and ``cancel()`` (one status read every
``DJPROCESS_STATUS_POLL_SECONDS``, 0.5 s by default, per running process), SIGTERM x
``DJPROCESS_KILL_TERM_RETRIES`` then SIGKILL on the whole group, the reap, what the run
left behind, and the outcome. The run's stdout and stderr become log lines.

What it adds over forking: a run gets a clean interpreter (no state inherited from the
worker), its output is captured, and with the gVisor executor it runs in a sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.checks import CheckMessage, Error

from djprocess.conf import settings
from djprocess.run.launch import Launcher
from djprocess_celery.backend import CeleryWorkerBackend
from djprocess_subprocess.conf import SUBPROCESS_EXECUTOR, executor_class
from djprocess_subprocess.executor import Executor
from djprocess_subprocess.executor_loader import get_executor
from djprocess_subprocess.launcher import ExecutorLauncher

__all__ = ["SubprocessWorkerBackend"]


class SubprocessWorkerBackend(CeleryWorkerBackend):
    """Celery dispatch; each run in a child interpreter started through an executor.

    Options (:setting:`DJPROCESS_WORKER_BACKEND_OPTIONS`): ``executor``, a dotted path
    that takes precedence over :setting:`DJPROCESS_SUBPROCESS_EXECUTOR`, and
    ``executor_options``, keyword arguments for the executor class. The
    ``supports_database_access`` and ``supports_sandbox`` flags are the executor's.
    Raises :class:`ImportError` for an executor that cannot be imported.
    """

    supports_output_capture = True
    supports_executor = True
    worker_loggers = (*CeleryWorkerBackend.worker_loggers, "djprocess_subprocess")

    def __init__(
        self, *, executor: str | None = None, executor_options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.executor_path = executor or SUBPROCESS_EXECUTOR.get()
        self.executor_options = dict(executor_options or {})
        found = executor_class(self.executor_path)
        self.supports_database_access = bool(getattr(found, "database_access", True))
        self.supports_sandbox = bool(getattr(found, "sandboxed", False))

    def executor(self) -> Executor:
        """A new executor as configured."""
        return get_executor(self.executor_path, **self.executor_options)

    def make_launcher(self) -> Launcher:
        """Start runs through the configured executor."""
        return ExecutorLauncher(self.executor())

    @classmethod
    def check(cls, **kwargs: Any) -> Sequence[CheckMessage]:
        """The Celery backend's checks, the executor's import (``djprocess.E019``) and the
        executor's own ``check()`` (e.g. ``djprocess_gvisor.E001``)."""
        messages = list(super().check(**kwargs))
        options = settings.WORKER_BACKEND_OPTIONS
        path = options.get("executor") or SUBPROCESS_EXECUTOR.get()
        try:
            found = executor_class(path)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [
                *messages,
                Error(
                    f"the subprocess backend's executor {path!r} cannot be imported: "
                    f"{type(exc).__name__}: {exc}.",
                    hint="Set DJPROCESS_SUBPROCESS_EXECUTOR to "
                    "'djprocess_subprocess.native.NativeExecutor' or "
                    "'djprocess_gvisor.executor.GvisorExecutor'.",
                    id="djprocess.E019",
                ),
            ]
        check = getattr(found, "check", None)
        if callable(check):
            messages += list(check(**kwargs))
        return messages
