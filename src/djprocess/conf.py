"""All djprocess settings, read from ``django.conf.settings`` at access time.

Reading at access time (never at import) keeps ``override_settings`` working.
Values are validated by the system checks in :mod:`djprocess.checks`; the
properties here return whatever is configured (or the default).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

__all__ = ["Settings", "settings"]

#: Every setting djprocess reads, with its default. The docs and the system
#: checks are kept in step with this table by tests.
DEFAULTS: dict[str, Any] = {
    "DJPROCESS_PROCESS_QUEUE": "processes",
    "DJPROCESS_SUPERVISOR_QUEUE": "supervisor",
    "DJPROCESS_KILL_TERM_RETRIES": 3,
    "DJPROCESS_KILL_TERM_WAIT_SECONDS": 2,
    "DJPROCESS_WORKER_BACKEND": "djprocess_celery.backend.CeleryWorkerBackend",
    "DJPROCESS_CONTROL_TIMEOUT_SECONDS": 1.0,
    "DJPROCESS_LOG_MAX_PER_PAGE": 1000,
    "DJPROCESS_LOG_MAX_MESSAGE_LENGTH": 100_000,
    "DJPROCESS_LOG_CAPTURE_LEVEL": "INFO",
    "DJPROCESS_STATUS_POLL_SECONDS": 0.5,
    "DJPROCESS_HEARTBEAT_SECONDS": 5.0,
    "DJPROCESS_SWEEP_SECONDS": 1.0,
    "DJPROCESS_QUEUE_TIMEOUT_SECONDS": 86_400,
    "DJPROCESS_WORKER_BACKEND_OPTIONS": {},
    "DJPROCESS_SUBPROCESS_EXECUTOR": "djprocess_subprocess.native.NativeExecutor",
    "DJPROCESS_GVISOR_RUNSC_PATH": "runsc",
    "DJPROCESS_GVISOR_RUNSC_ROOT": "/run/djprocess-runsc",
    "DJPROCESS_GVISOR_NETWORK": "none",
    "DJPROCESS_GVISOR_RUNSC_FLAGS": ["--platform=ptrace", "--ignore-cgroups"],
    "DJPROCESS_GVISOR_MOUNTS": [],
}


def _get(name: str) -> Any:
    return getattr(django_settings, name, DEFAULTS[name])


class Settings:
    """Typed, lazily read view of the ``DJPROCESS_*`` settings."""

    @property
    def PROCESS_QUEUE(self) -> str:
        """Celery queue the process tasks are sent to (``DJPROCESS_PROCESS_QUEUE``)."""
        return str(_get("DJPROCESS_PROCESS_QUEUE"))

    @property
    def SUPERVISOR_QUEUE(self) -> str:
        """Celery queue of the watchdog tasks (``DJPROCESS_SUPERVISOR_QUEUE``)."""
        return str(_get("DJPROCESS_SUPERVISOR_QUEUE"))

    @property
    def KILL_TERM_RETRIES(self) -> int:
        """How many SIGTERMs are tried before SIGKILL (``DJPROCESS_KILL_TERM_RETRIES``)."""
        return int(_get("DJPROCESS_KILL_TERM_RETRIES"))

    @property
    def KILL_TERM_WAIT_SECONDS(self) -> float:
        """Seconds to wait after each SIGTERM (``DJPROCESS_KILL_TERM_WAIT_SECONDS``)."""
        return float(_get("DJPROCESS_KILL_TERM_WAIT_SECONDS"))

    @property
    def WORKER_BACKEND(self) -> str:
        """Dotted path of the worker backend class (``DJPROCESS_WORKER_BACKEND``)."""
        return str(_get("DJPROCESS_WORKER_BACKEND"))

    @property
    def CONTROL_TIMEOUT_SECONDS(self) -> float:
        """Seconds to wait for a worker's reply to a control command
        (``DJPROCESS_CONTROL_TIMEOUT_SECONDS``)."""
        return float(_get("DJPROCESS_CONTROL_TIMEOUT_SECONDS"))

    @property
    def LOG_MAX_PER_PAGE(self) -> int:
        """Largest ``per_page`` accepted by ``paginate_logs()`` (``DJPROCESS_LOG_MAX_PER_PAGE``)."""
        return int(_get("DJPROCESS_LOG_MAX_PER_PAGE"))

    @property
    def LOG_MAX_MESSAGE_LENGTH(self) -> int:
        """Characters of a log message kept; the rest is cut and replaced by a marker
        (``DJPROCESS_LOG_MAX_MESSAGE_LENGTH``)."""
        return int(_get("DJPROCESS_LOG_MAX_MESSAGE_LENGTH"))

    @property
    def LOG_CAPTURE_LEVEL(self) -> str:
        """Lowest level name of the :mod:`logging` records captured into the running
        process's log (``DJPROCESS_LOG_CAPTURE_LEVEL``)."""
        return str(_get("DJPROCESS_LOG_CAPTURE_LEVEL"))

    @property
    def STATUS_POLL_SECONDS(self) -> float:
        """Seconds between two reads of a running process's status by the process that
        supervises its run: how soon a ``cancel()`` or a deleted row is noticed
        (``DJPROCESS_STATUS_POLL_SECONDS``)."""
        return float(_get("DJPROCESS_STATUS_POLL_SECONDS"))

    @property
    def HEARTBEAT_SECONDS(self) -> float:
        """Seconds between two heartbeats written for a running process; after
        :attr:`HEARTBEAT_STALE_SECONDS` without one the supervisor checks whether its
        worker is lost (``DJPROCESS_HEARTBEAT_SECONDS``)."""
        return float(_get("DJPROCESS_HEARTBEAT_SECONDS"))

    @property
    def HEARTBEAT_STALE_SECONDS(self) -> float:
        """Seconds without a heartbeat after which a run counts as possibly lost:
        six heartbeats (derived from ``DJPROCESS_HEARTBEAT_SECONDS``)."""
        return 6 * self.HEARTBEAT_SECONDS

    @property
    def SWEEP_SECONDS(self) -> float:
        """Seconds between two sweeps of the supervisor over the processes that are due
        a check (``DJPROCESS_SWEEP_SECONDS``)."""
        return float(_get("DJPROCESS_SWEEP_SECONDS"))

    @property
    def QUEUE_TIMEOUT_SECONDS(self) -> float:
        """Seconds a dispatched process may stay ``pending`` (queued, never claimed)
        before the supervisor fails it (``DJPROCESS_QUEUE_TIMEOUT_SECONDS``)."""
        return float(_get("DJPROCESS_QUEUE_TIMEOUT_SECONDS"))

    @property
    def WORKER_BACKEND_OPTIONS(self) -> dict[str, Any]:
        """Keyword arguments the worker backend class is made with
        (``DJPROCESS_WORKER_BACKEND_OPTIONS``)."""
        value = _get("DJPROCESS_WORKER_BACKEND_OPTIONS")
        return value if isinstance(value, dict) else {}

    @property
    def SUBPROCESS_EXECUTOR(self) -> str:
        """Dotted path of the executor class the subprocess backend starts runs with
        (``DJPROCESS_SUBPROCESS_EXECUTOR``)."""
        return str(_get("DJPROCESS_SUBPROCESS_EXECUTOR"))

    @property
    def GVISOR_RUNSC_PATH(self) -> str:
        """The ``runsc`` program the gVisor executor runs (``DJPROCESS_GVISOR_RUNSC_PATH``)."""
        return str(_get("DJPROCESS_GVISOR_RUNSC_PATH"))

    @property
    def GVISOR_RUNSC_ROOT(self) -> str:
        """``runsc --root``: where runsc keeps its sandboxes' state
        (``DJPROCESS_GVISOR_RUNSC_ROOT``)."""
        return str(_get("DJPROCESS_GVISOR_RUNSC_ROOT"))

    @property
    def GVISOR_NETWORK(self) -> str:
        """``runsc --network`` of the sandboxes: ``"none"`` or ``"host"``
        (``DJPROCESS_GVISOR_NETWORK``)."""
        return str(_get("DJPROCESS_GVISOR_NETWORK"))

    @property
    def GVISOR_RUNSC_FLAGS(self) -> list[str]:
        """Further global ``runsc`` flags, e.g. the platform (``DJPROCESS_GVISOR_RUNSC_FLAGS``)."""
        return [str(flag) for flag in _get("DJPROCESS_GVISOR_RUNSC_FLAGS")]

    @property
    def GVISOR_MOUNTS(self) -> list[dict[str, Any]]:
        """Host paths mounted into the sandboxes besides the Python runtime and the
        project (``DJPROCESS_GVISOR_MOUNTS``): ``{"source", "destination", "read_only"}``."""
        return [dict(mount) for mount in _get("DJPROCESS_GVISOR_MOUNTS")]

    @property
    def STOP_BUDGET_SECONDS(self) -> float:
        """Seconds a stop may take before the supervisor steps in: retries x wait plus
        a grace of 10 s (derived from the two ``DJPROCESS_KILL_TERM_*`` settings)."""
        return self.KILL_TERM_RETRIES * self.KILL_TERM_WAIT_SECONDS + 10.0


settings = Settings()
