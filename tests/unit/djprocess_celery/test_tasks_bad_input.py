"""Issue 6, untrusted task messages and rows that vanish: the worker logs and moves on.

The real task functions run in eager mode (``Task.apply``), as a worker would call them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from djprocess import status
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.celery

MakeProcess = Callable[..., ExampleProcess]
CustomRun = Callable[[Callable[[ExampleProcess], None]], str]
LABEL = "djprocess_example.exampleprocess"


def dispatched(process: ExampleProcess) -> ExampleProcess:
    ExampleProcess.objects.filter(pk=process.pk).update(dispatched_at=timezone.now())
    return process


def apply(task_name: str, *args: Any) -> Any:
    from djprocess_celery import tasks

    task = {"run_process": tasks.run_process, "watchdog": tasks.watchdog}[task_name]
    return task.apply(args=args).get()


@pytest.mark.parametrize("task_name", ["run_process", "watchdog"])
@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("auth.user", "is not a BaseProcess subclass"),
        ("djprocess_example.exampleprocesslog", "is not a BaseProcess subclass"),
        ("removed_app.exportprocess", "no installed model"),
        ("djprocess_example.removedprocess", "no installed model"),
        ("os.system", "no installed model"),
        ("subprocess.Popen", "no installed model"),
        (["auth", "user"], "must be a string"),
        ({"__class__": "x"}, "must be a string"),
    ],
)
def test_a_label_that_is_not_a_process_model_is_refused_and_logged(
    db: None, caplog: pytest.LogCaptureFixture, task_name: str, label: Any, reason: str
) -> None:
    user = User.objects.create(username="victim")

    with caplog.at_level(logging.ERROR, logger="djprocess_celery.tasks"):
        assert apply(task_name, label, user.pk) == "missing"

    assert f"refused task for {label!r} pk={user.pk!r}" in caplog.text
    assert reason in caplog.text
    assert User.objects.get(pk=user.pk).username == "victim"


@pytest.mark.parametrize("task_name", ["run_process", "watchdog"])
@pytest.mark.parametrize("pk", ["abc", None, 10**30, {"a": 1}, [1]])
def test_a_primary_key_of_the_wrong_kind_is_dropped(
    db: None, caplog: pytest.LogCaptureFixture, task_name: str, pk: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger="djprocess_celery.tasks"):
        assert apply(task_name, LABEL, pk) == "missing"
    assert "no longer exists; task dropped" in caplog.text


@pytest.mark.parametrize("task_name", ["run_process", "watchdog"])
def test_a_row_deleted_while_queued_is_logged_and_dropped(
    make_process: MakeProcess, caplog: pytest.LogCaptureFixture, task_name: str
) -> None:
    process = dispatched(make_process())
    pk = process.pk
    process.delete()

    with caplog.at_level(logging.WARNING, logger="djprocess_celery.tasks"):
        assert apply(task_name, LABEL, pk) == "missing"

    assert f"process {LABEL} pk={pk!r} no longer exists; task dropped" in caplog.text


def test_a_row_deleted_while_running_is_logged_and_the_worker_moves_on(
    make_process: MakeProcess, custom_run: CustomRun, caplog: pytest.LogCaptureFixture
) -> None:
    def run(self: ExampleProcess) -> None:
        self.log("about to vanish")
        ExampleProcess.objects.filter(pk=self.pk).delete()

    process = dispatched(make_process(custom_run(run)))

    with caplog.at_level(logging.WARNING, logger="djprocess_celery.tasks"):
        assert apply("run_process", LABEL, process.pk) == "missing"

    assert "was deleted while it ran; task dropped" in caplog.text
    # The worker goes on with the next task.
    other = dispatched(make_process())
    assert apply("run_process", LABEL, other.pk) == status.SUCCEEDED


def test_a_run_logging_after_its_row_was_deleted_is_dropped_too(
    make_process: MakeProcess, custom_run: CustomRun, caplog: pytest.LogCaptureFixture
) -> None:
    def run(self: ExampleProcess) -> None:
        ExampleProcess.objects.filter(pk=self.pk).delete()
        self.log("nobody will read this")

    process = dispatched(make_process(custom_run(run)))
    with caplog.at_level(logging.WARNING, logger="djprocess_celery.tasks"):
        assert apply("run_process", LABEL, process.pk) == "missing"
    assert "was deleted while it ran" in caplog.text


def test_a_message_for_a_process_nobody_started_is_not_run(make_process: MakeProcess) -> None:
    process = make_process()  # never start()ed: dispatched_at is None
    assert apply("run_process", LABEL, process.pk) == status.PENDING
    assert ExampleProcess.objects.get(pk=process.pk).started_at is None


def test_a_duplicate_process_task_does_not_run_twice(make_process: MakeProcess) -> None:
    process = make_process()
    process.start()
    assert apply("run_process", LABEL, process.pk) == status.SUCCEEDED
    assert ExampleProcess.objects.get(pk=process.pk).attempts == 1
