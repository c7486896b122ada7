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
    from djprocess.run.launch import Launcher

__all__ = ["BaseWorkerBackend", "KillResult", "Liveness"]


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
    and instantiated with ``DJPROCESS_WORKER_BACKEND_OPTIONS`` as keyword arguments (see
    :func:`djprocess.backends.get_backend`). The ``supports_*`` flags say what it can do;
    the system checks and the conformance tests read them.
    """

    #: The backend can stop a running task (``kill`` is more than a no-op).
    supports_kill: bool = True
    #: The backend can tell whether a dispatched task is still running (``probe``).
    supports_probe: bool = False
    #: Runs are stopped where they run: the worker calls
    #: :func:`djprocess.run.localsupervisor.run_supervised`, which enforces the deadline and
    #: notices ``cancel()`` through the database. ``cancel()`` and the supervisor then
    #: only decide the status and wait; they call :meth:`kill` only if the stop is not
    #: confirmed within the stop budget. False: they call :meth:`kill` at once.
    stops_runs_locally: bool = False
    #: A run past its deadline is stopped (False: the timeout is only recorded).
    supports_timeout: bool = True
    #: ``cancel()`` stops a running run (False: only a pending one is cancelled).
    supports_cancel: bool = True
    #: Everything the run started (subprocesses, at any depth) is stopped with it.
    supports_stopping_descendants: bool = True
    #: ``run()`` may use the database (the ORM) itself. False: only
    #: :meth:`~djprocess.models.BaseProcess.log` and ``set_progress()`` work, relayed by
    #: the worker (see :mod:`djprocess.run.relay`).
    supports_database_access: bool = True
    #: What the run prints on stdout and stderr becomes log lines (stderr at WARNING).
    supports_output_capture: bool = False
    #: Runs are isolated from the host: their own kernel, read-only filesystem, no
    #: network unless configured (gVisor).
    supports_sandbox: bool = False
    #: Runs are started through ``DJPROCESS_SUBPROCESS_EXECUTOR`` (its setting, and the
    #: executor's own, are in force).
    supports_executor: bool = False
    #: Names of the loggers of the worker that runs a process (the backend's own package, the
    #: task queue's internals): their records are never captured into a process's log, nor
    #: are their children's (``name.*``). Added to
    #: :data:`djprocess.logs.capture.IGNORED_LOGGERS`, which holds djprocess's own.
    worker_loggers: tuple[str, ...] = ()

    def __init__(self, **options: Any) -> None:
        """``options``: :setting:`DJPROCESS_WORKER_BACKEND_OPTIONS`. This base class takes
        none: an unknown option raises :class:`TypeError` naming it."""
        if options:
            raise TypeError(f"{type(self).__name__} takes no option {', '.join(sorted(options))!r}")

    def capabilities(self) -> dict[str, bool]:
        """Every ``supports_*`` flag of this backend (instance values), by name."""
        return {
            name: bool(getattr(self, name))
            for name in dir(type(self))
            if name.startswith("supports_")
        }

    def dispatch(self, process: BaseProcess) -> tuple[str, str]:
        """Queue ``process.execute()`` (or ``run_supervised``) and its watchdog.

        ``process.process_task_id`` and ``process.watchdog_task_id`` hold the ids
        ``start()`` chose (and recorded): use them as the task ids if the queue allows.
        The watchdog must fire ``process.timeout_seconds()`` seconds later (a float)
        and call :func:`djprocess.supervision.supervisor.fire_watchdog`. Returns
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

    def make_launcher(self) -> Launcher | None:
        """How a worker of a backend that :attr:`stops_runs_locally` starts the run it
        supervises: None (the default) forks a run child
        (:class:`~djprocess.run.launch.ForkLauncher`); a backend returns its own launcher
        to start it otherwise (an executor's child process, a sandbox)."""
        return None

    def host_of(self, worker_hostname: str) -> str:
        """The host name inside a ``worker_hostname`` this backend's workers record (the
        supervisor compares it with its own host). Default: ``worker_hostname`` itself."""
        return worker_hostname

    def is_eager(self) -> bool:
        """True when dispatch runs tasks synchronously in the caller (tests)."""
        return False

    @classmethod
    def check(cls, **kwargs: Any) -> Sequence[CheckMessage]:
        """System-check hook: return errors about this backend's configuration."""
        return []
