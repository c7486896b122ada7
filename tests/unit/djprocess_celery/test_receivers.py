"""``djprocess_celery.receivers``: a process task that failed outside ``run()`` (its pool
child lost) fails the process; one for an unknown or deleted process is logged."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from unit_helpers import set_running

from djprocess import status
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.celery

MakeProcess = Callable[..., ExampleProcess]
LABEL = "djprocess_example.exampleprocess"


def test_worker_lost_receiver_marks_a_running_process_failed(make_process: MakeProcess) -> None:
    from celery.exceptions import WorkerLostError

    from djprocess_celery.receivers import on_process_task_failure
    from djprocess_celery.tasks import run_process

    process = make_process()
    set_running(process, task_id="run-task")
    on_process_task_failure(
        sender=run_process,
        task_id="run-task",
        exception=WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)."),
        args=[LABEL, process.pk],
    )
    process.refresh_from_db()
    assert process.status == status.FAILED
    assert process.termination.startswith("worker lost: WorkerLostError: Worker exited")


def test_the_failure_receiver_ignores_unknown_processes(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    from djprocess_celery.receivers import on_process_task_failure
    from djprocess_celery.tasks import run_process

    with caplog.at_level(logging.WARNING, logger="djprocess_celery.receivers"):
        on_process_task_failure(sender=run_process, task_id="t1", args=["auth.user", 1])
        on_process_task_failure(sender=run_process, task_id="t2", args=[LABEL, 999_999])
    assert "task t1 failed for unknown process model 'auth.user'" in caplog.text
    assert f"task t2 failed for process {LABEL} pk=999999, now deleted" in caplog.text
