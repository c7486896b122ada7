"""``djprocess_subprocess.tasks``: the task names djprocess 0.0.1's subprocess backend queued
still run after the upgrade (eager Celery: the task bodies run here). Celery is imported
inside the tests, so that ``nox -s nocelery`` can collect the module."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from unit_helpers import messages, set_running

from djprocess import status
from djprocess._dispatch import dispatch_values
from djprocess._transitions import compare_and_set
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.celery

LABEL = "djprocess_example.exampleprocess"


@pytest.fixture(autouse=True)
def worker_tasks(db: None) -> None:
    """Import the installed apps' tasks modules, as a worker does when it starts."""
    from celery import current_app

    current_app.loader.import_default_modules()


def test_a_0_0_1_run_message_runs_the_process(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process("succeed", lines=2)
    # Dispatched, as start() leaves it: the message carries the task id start() recorded.
    assert compare_and_set(process, [status.PENDING], **dispatch_values(process))
    task_id = ExampleProcess.objects.get(pk=process.pk).process_task_id
    from celery import current_app

    run = current_app.tasks["djprocess_subprocess.run_process"]

    assert run.apply(args=(LABEL, process.pk), task_id=task_id).get() == status.SUCCEEDED

    assert ExampleProcess.objects.get(pk=process.pk).status == status.SUCCEEDED
    assert messages(process)[-1].startswith("succeeded in ")
    # A message for a process deleted since is dropped.
    assert run.apply(args=(LABEL, 999_999)).get() == "missing"


def test_a_0_0_1_watchdog_message_checks_the_process(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=10))
    from celery import current_app

    watchdog = current_app.tasks["djprocess_subprocess.watchdog_process"]
    # Eager mode never kills (as djprocess.watchdog): the check is skipped.
    assert watchdog.apply(args=(LABEL, process.pk)).get() == "skipped_eager"
    assert ExampleProcess.objects.get(pk=process.pk).status == status.RUNNING
