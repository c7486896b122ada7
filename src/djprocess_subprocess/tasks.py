"""The task names djprocess 0.0.1's subprocess backend queued, kept for messages still
in a queue after the upgrade. They do what ``djprocess.run_process`` and
``djprocess.watchdog`` do (0.1.0 sends only those). Registered when
``djprocess_subprocess`` is in ``INSTALLED_APPS``."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from djprocess_celery import tasks

__all__ = ["run_process", "watchdog_process"]


@shared_task(name="djprocess_subprocess.run_process", bind=True, ignore_result=True)
def run_process(self: Any, label: str, pk: Any) -> str:
    """As ``djprocess.run_process``: the pool child supervises the run it starts."""
    return tasks.run_process_body(self, label, pk)


@shared_task(name="djprocess_subprocess.watchdog_process", bind=True, ignore_result=True)
def watchdog_process(self: Any, label: str, pk: Any) -> str:
    """As ``djprocess.watchdog``: one check of the process."""
    return tasks.watchdog_body(self, label, pk)
