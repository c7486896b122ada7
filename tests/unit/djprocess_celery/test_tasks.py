"""``djprocess_celery.tasks`` end to end in eager mode (``djprocess_test_settings.sqlite``):
``start()`` goes through the real Celery tasks, which run inline."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from unit_helpers import CelerySetting, messages, set_running

from djprocess import status
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.celery

MakeProcess = Callable[..., ExampleProcess]
CustomRun = Callable[[Callable[[ExampleProcess], None]], str]
LABEL = "djprocess_example.exampleprocess"


def test_start_runs_the_process_through_the_tasks(make_process: MakeProcess) -> None:
    process = make_process("succeed", lines=3)

    process.start()

    assert process.status == status.SUCCEEDED
    assert process.process_task_id
    assert process.watchdog_task_id
    assert process.process_task_id != process.watchdog_task_id
    assert process.is_finished
    lines = messages(process)
    assert lines[0].startswith("started on ")
    assert "working on item 3/3" in lines
    assert lines[-1].startswith("succeeded in ")


def test_a_failing_process_ends_failed(make_process: MakeProcess) -> None:
    process = make_process("fail")
    process.start()
    assert process.status == status.FAILED
    assert process.exception == "RuntimeError: example failure"


def test_eager_watchdog_kills_nothing(make_process: MakeProcess) -> None:
    process = make_process("sleep", seconds=0.3, timeout=timedelta(milliseconds=50))
    process.start()
    assert process.status == status.SUCCEEDED
    assert "finally block ran" in messages(process)


def test_eager_watchdog_task_on_a_running_process_is_skipped(make_process: MakeProcess) -> None:
    from djprocess_celery.tasks import watchdog

    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=10))
    assert watchdog.apply(args=(LABEL, process.pk)).get() == "skipped_eager"
    assert ExampleProcess.objects.get(pk=process.pk).status == status.RUNNING


def test_start_then_start_again_through_the_tasks(make_process: MakeProcess) -> None:
    from djprocess.exceptions import ProcessNotStartable

    process = make_process()
    process.start()
    with pytest.raises(ProcessNotStartable, match="'succeeded'"):
        process.start()


@pytest.fixture
def not_eager(celery_setting: CelerySetting) -> Any:
    """Celery sends to its in-memory broker instead of running inline."""
    from celery import current_app

    celery_setting("task_always_eager", False)
    return current_app


def test_task_messages_carry_only_json_label_and_pk(
    make_process: MakeProcess, not_eager: Any
) -> None:
    from djprocess_celery.conf import process_queue, supervisor_queue

    process = make_process()
    process.start()

    bodies: dict[str, Any] = {}
    with not_eager.connection_for_read() as connection:
        for queue in (process_queue(), supervisor_queue()):
            simple = connection.SimpleQueue(queue)
            message = simple.get(timeout=5)
            assert message.content_type == "application/json"
            bodies[queue] = (message.headers["task"], json.loads(message.body)[0])
            message.ack()
            simple.close()
    assert bodies == {
        "processes": ("djprocess.run_process", [LABEL, process.pk]),
        "supervisor": ("djprocess.watchdog", [LABEL, process.pk]),
    }
    assert ExampleProcess.objects.get(pk=process.pk).status == status.PENDING


def test_a_cancel_in_eager_mode_before_the_run(make_process: MakeProcess) -> None:
    process = make_process()
    assert process.cancel() is True
    assert process.status == status.CANCELLED


def test_timestamps_are_in_order(make_process: MakeProcess) -> None:
    before = timezone.now()
    process = make_process()
    process.start()
    assert process.dispatched_at is not None
    assert process.started_at is not None
    assert process.finished_at is not None
    assert before <= process.dispatched_at <= process.started_at <= process.finished_at


def test_library_log_lines_are_captured(
    make_process: MakeProcess, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        process = make_process("succeed", lines=1)
        process.start()
    assert "a library logger speaking from inside run()" in messages(process)


def test_a_0_0_1_watchdog_message_checks_the_process(make_process: MakeProcess) -> None:
    """0.0.1 queued ``djprocess.watchdog_process`` with a countdown of the timeout: such a
    message, left in the supervisor queue across the upgrade, is still a registered task."""
    from celery import current_app

    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=10))
    label = process._meta.label
    watchdog = current_app.tasks["djprocess.watchdog_process"]
    # Eager mode never kills (as djprocess.watchdog): the check is skipped.
    assert watchdog.apply(args=(label, process.pk)).get() == "skipped_eager"
    assert ExampleProcess.objects.get(pk=process.pk).status == status.RUNNING
    assert watchdog.apply(args=(label, 999_999)).get() == "missing"
