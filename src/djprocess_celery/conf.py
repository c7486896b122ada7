"""The Celery backend's settings: the two queues and the control-command timeout.

Declared here, not in the core, because only this package reads them. Their check ids stay
``djprocess.E001``, ``E002``, ``E003`` and ``E008`` (the ids of djprocess 0.0.1 and 0.1's
first drafts), so a project's ``SILENCED_SYSTEM_CHECKS`` keeps working. Importing this
module declares them (the ``djprocess.settings`` entry point and
:class:`~djprocess_celery.apps.DjprocessCeleryConfig` both import it).

The functions are the names djprocess 0.0.1 had here; they read the settings now.
"""

from __future__ import annotations

from django.core.checks import CheckMessage, Error

from djprocess.conf import Setting, declare, non_empty_string, seconds, settings

__all__ = [
    "CONTROL_TIMEOUT_SECONDS",
    "PROCESS_QUEUE",
    "SUPERVISOR_QUEUE",
    "control_timeout_seconds",
    "distinct_queues",
    "kill_term_retries",
    "kill_term_wait_seconds",
    "process_queue",
    "supervisor_queue",
]

#: The Celery queue the process tasks are sent to (``DJPROCESS_PROCESS_QUEUE``).
PROCESS_QUEUE = Setting(
    "DJPROCESS_PROCESS_QUEUE",
    "processes",
    str,
    non_empty_string("a Celery queue"),
    "djprocess.E001",
    hint='Set DJPROCESS_PROCESS_QUEUE = "processes" (or another queue name) in your settings.',
)
#: The Celery queue of the watchdog tasks (``DJPROCESS_SUPERVISOR_QUEUE``).
SUPERVISOR_QUEUE = Setting(
    "DJPROCESS_SUPERVISOR_QUEUE",
    "supervisor",
    str,
    non_empty_string("a Celery queue"),
    "djprocess.E002",
    hint='Set DJPROCESS_SUPERVISOR_QUEUE = "supervisor" (or another queue name) in your settings.',
)
#: Seconds to wait for a worker's reply to a control command
#: (``DJPROCESS_CONTROL_TIMEOUT_SECONDS``).
CONTROL_TIMEOUT_SECONDS = Setting(
    "DJPROCESS_CONTROL_TIMEOUT_SECONDS", 1.0, float, seconds(0, 3600, above=True), "djprocess.E008"
)


def distinct_queues() -> list[CheckMessage]:
    """``djprocess.E003``: the two queues are the same (checked only when both are valid,
    E001 and E002 reporting the rest)."""
    process, supervisor = PROCESS_QUEUE.raw(), SUPERVISOR_QUEUE.raw()
    if PROCESS_QUEUE.errors() or SUPERVISOR_QUEUE.errors() or process != supervisor:
        return []
    return [
        Error(
            "DJPROCESS_PROCESS_QUEUE and DJPROCESS_SUPERVISOR_QUEUE are both "
            f"{process!r}: a watchdog would wait behind the very process it must stop.",
            hint="Use two queues (defaults: 'processes' and 'supervisor') and separate workers.",
            id="djprocess.E003",
        )
    ]


declare(PROCESS_QUEUE, SUPERVISOR_QUEUE, CONTROL_TIMEOUT_SECONDS, checks=[distinct_queues])


def process_queue() -> str:
    """``DJPROCESS_PROCESS_QUEUE`` (default ``"processes"``)."""
    return PROCESS_QUEUE.get()


def supervisor_queue() -> str:
    """``DJPROCESS_SUPERVISOR_QUEUE`` (default ``"supervisor"``)."""
    return SUPERVISOR_QUEUE.get()


def control_timeout_seconds() -> float:
    """``DJPROCESS_CONTROL_TIMEOUT_SECONDS`` (seconds, default ``1.0``)."""
    return CONTROL_TIMEOUT_SECONDS.get()


def kill_term_retries() -> int:
    """``DJPROCESS_KILL_TERM_RETRIES`` (a core setting; kept here for 0.0.1's importers)."""
    return settings.KILL_TERM_RETRIES


def kill_term_wait_seconds() -> float:
    """``DJPROCESS_KILL_TERM_WAIT_SECONDS`` in seconds (a core setting; kept here for 0.0.1's
    importers)."""
    return settings.KILL_TERM_WAIT_SECONDS
