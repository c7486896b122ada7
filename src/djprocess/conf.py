"""All djprocess settings, read from ``django.conf.settings`` at access time.

Reading at access time (never at import) keeps ``override_settings`` working.
Values are validated by the system checks in :mod:`djprocess.checks`; the
properties here return whatever is configured (or the default).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

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


settings = Settings()
