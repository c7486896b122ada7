"""Helpers shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from django.utils import timezone

from djprocess import _clock as clock
from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.checks import check_settings
from djprocess_example.models import ExampleProcess


def set_running(
    process: ExampleProcess,
    *,
    started_ago: timedelta = timedelta(seconds=1),
    hostname: str = "worker-1",
    pid: int = 4242,
    task_id: str = "run-task",
    heartbeat_ago: timedelta | None = None,
) -> None:
    """Move ``process`` to ``running`` as a worker's claim would (by compare-and-set):
    started ``started_ago``, deadline ``started + timeout`` (UTC), a heartbeat
    ``heartbeat_ago`` (None: no heartbeat, as for an inline run)."""
    now = timezone.now()
    utc = clock.utc_now()
    assert compare_and_set(
        process,
        [status.PENDING],
        status.RUNNING,
        dispatched_at=now - started_ago,
        started_at=now - started_ago,
        worker_hostname=hostname,
        worker_pid=pid,
        process_task_id=task_id,
        deadline_at=utc - started_ago + process.timeout,
        heartbeat_at=None if heartbeat_ago is None else utc - heartbeat_ago,
    )


def messages(process: ExampleProcess) -> list[str]:
    """The process's log messages in sequence order."""
    return list(process.logs.order_by("sequence").values_list("message", flat=True))


#: The ``celery_setting`` fixture: ``celery_setting("task_always_eager", False)``.
CelerySetting = Callable[[str, object], None]


#: The ``make`` fixture (``tests/unit/conftest.py``): ``make(**fields)``.
Make = Callable[..., ExampleProcess]


def sequences(process: ExampleProcess) -> list[int]:
    """The sequences of ``process``'s stored log lines, in order."""
    return list(process.logs.order_by("sequence").values_list("sequence", flat=True))


#: The in-memory SQLite test database (shared cache) has table locks without a busy
#: timeout: a second connection cannot read a table the first one is writing, and
#: concurrent writers fail at once. tests/property covers SQLite on a file database.
needs_concurrent_connections = pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="in-memory SQLite test database: no concurrent connections (see tests/property)",
)


def check_ids(**settings: Any) -> list[str]:
    """The ids of the messages djprocess's settings checks give with ``settings`` overridden."""
    with override_settings(**settings):
        return [message.id or "" for message in check_settings()]
