"""The worker backend contract: one base class every backend derives from.

A backend runs a process's ``execute()`` somewhere else (a worker) and can stop
it again. djprocess itself never imports a task queue: it talks to the
configured backend (``DJPROCESS_WORKER_BACKEND``) only through this class.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.checks import CheckMessage

if TYPE_CHECKING:
    from djprocess.models import BaseProcess


class Liveness(enum.Enum):
    """What a backend can tell about a dispatched run (see :meth:`BaseWorkerBackend.probe`)."""

    #: The worker answered and is running the task.
    RUNNING = "running"
    #: The worker answered and is not running the task (it finished or its child died).
    NOT_RUNNING = "not running"
    #: The worker did not answer: it is gone or unreachable.
    UNREACHABLE = "unreachable"
    #: The backend cannot tell.
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class KillResult:
    """How a :meth:`BaseWorkerBackend.kill` ended.

    ``term_sent`` SIGTERMs were sent (out of ``term_retries`` allowed), then a
    SIGKILL if ``kill_sent``. ``gone`` is True once the backend confirmed the
    task no longer runs. ``found`` is False when the task was not running at all.
    """

    found: bool
    gone: bool
    term_sent: int = 0
    term_retries: int = 0
    kill_sent: bool = False
    pid: int | None = None
    hostname: str = ""
    error: str = ""

    @property
    def signal_name(self) -> str:
        """The last signal sent: ``"SIGKILL"``, ``"SIGTERM"`` or ``""``."""
        if self.kill_sent:
            return "SIGKILL"
        return "SIGTERM" if self.term_sent else ""

    def describe(self) -> str:
        """One human line, e.g. ``"exited after SIGTERM 1/3"`` or ``"SIGKILL after 3 SIGTERM"``."""
        if self.error:
            return f"kill failed: {self.error}"
        if not self.found:
            return "was not running any more"
        if self.kill_sent:
            text = f"SIGKILL after {self.term_sent} SIGTERM"
            return text if self.gone else f"{text}, still not confirmed gone"
        if self.gone:
            return f"exited after SIGTERM {self.term_sent}/{self.term_retries}"
        return f"not confirmed gone after SIGTERM {self.term_sent}/{self.term_retries}"


class BaseWorkerBackend:
    """Base class of worker backends. Subclass it and implement the three methods.

    Loaded from ``DJPROCESS_WORKER_BACKEND`` with :func:`django.utils.module_loading.import_string`
    and instantiated without arguments (see :func:`djprocess.backends.get_backend`).
    """

    #: The backend can stop a running task (``kill`` is more than a no-op).
    supports_kill: bool = True
    #: The backend can tell whether a dispatched task is still running (``probe``).
    supports_probe: bool = False
    #: Runs are stopped where they run: the worker calls
    #: :func:`djprocess.localsupervisor.run_supervised`, which enforces the deadline and
    #: notices ``cancel()`` through the database. ``cancel()`` and the supervisor then
    #: only decide the status and wait; they call :meth:`kill` only if the stop is not
    #: confirmed within the stop budget. False: they call :meth:`kill` at once.
    stops_runs_locally: bool = False

    def dispatch(self, process: BaseProcess) -> tuple[str, str]:
        """Queue ``process.execute()`` (or ``run_supervised``) and its watchdog.

        ``process.process_task_id`` and ``process.watchdog_task_id`` hold the ids
        ``start()`` chose (and recorded): use them as the task ids if the queue allows.
        The watchdog must fire ``process.timeout_seconds()`` seconds later (a float)
        and call :func:`djprocess.supervisor.fire_watchdog`. Returns
        ``(process_task_id, watchdog_task_id)``. Raises :class:`~djprocess.exceptions.BackendError`
        (or the transport's own error) when nothing could be queued.
        """
        raise NotImplementedError

    def kill(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> KillResult:
        """Stop the running task ``task_id`` with escalating signals and its process tree.

        SIGTERM up to ``DJPROCESS_KILL_TERM_RETRIES`` times, waiting
        ``DJPROCESS_KILL_TERM_WAIT_SECONDS`` after each and checking, then SIGKILL.
        ``hostname``/``pid`` (as recorded on the process when it started) narrow the
        target; a backend must never signal a worker process that runs another task.
        Returns a :class:`KillResult`; raises :class:`~djprocess.exceptions.KillControlError`
        if the worker could not be reached at all.
        """
        raise NotImplementedError

    def revoke_scheduled(self, task_id: str) -> None:
        """Discard a scheduled task (a watchdog) that has not run yet. Never raises for
        an unknown or already-run ``task_id``."""
        raise NotImplementedError

    def probe(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> Liveness:
        """Tell whether ``task_id`` is still running. Default: :attr:`Liveness.UNKNOWN`."""
        return Liveness.UNKNOWN

    def is_eager(self) -> bool:
        """True when dispatch runs tasks synchronously in the caller (tests)."""
        return False

    @classmethod
    def check(cls, **kwargs: Any) -> Sequence[CheckMessage]:
        """System-check hook: return errors about this backend's configuration."""
        return []
