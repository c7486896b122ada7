"""``djprocess.testing``: the helpers djprocess ships for its users' tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from djprocess import status
from djprocess.backends import get_backend
from djprocess.exceptions import InvalidTransition
from djprocess.signals import process_finished
from djprocess.supervision import supervisor
from djprocess.testing import (
    fire_watchdog,
    recording_backend,
    run_eagerly,
    simulate_running,
)
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db


def create(**fields: Any) -> ExampleProcess:
    return ExampleProcess.objects.create(**{"seconds": 0, "lines": 1, **fields})


@pytest.fixture
def finished() -> Iterator[list[str]]:
    statuses: list[str] = []

    def receiver(sender: type[Any], process: ExampleProcess, status: str, **kwargs: Any) -> None:
        statuses.append(status)

    process_finished.connect(receiver, sender=ExampleProcess)
    yield statuses
    process_finished.disconnect(receiver, sender=ExampleProcess)


def test_recording_backend_records_and_runs_nothing() -> None:
    process = create()
    with recording_backend() as backend:
        process.start()
        assert get_backend() is backend
        assert [p.pk for p in backend.dispatched] == [process.pk]
        process.refresh_from_db()
        assert process.status == status.PENDING
        assert process.process_task_id == f"run-{process.pk}-1"
        assert process.watchdog_task_id == f"watchdog-{process.pk}-1"

        assert backend.run_dispatched() == [status.SUCCEEDED]
        assert backend.run_dispatched() == []  # each runs once

        process.refresh_from_db()
        assert process.status == status.SUCCEEDED
        assert process.worker_hostname == "recording"
    assert backend.dispatched == []  # forgotten when the block ends


def test_recording_backends_do_not_leak_between_uses() -> None:
    with recording_backend() as first:
        create().start()
    with recording_backend() as second:
        assert second.dispatched == []
        assert second.killed == []
        assert second.revoked == []
    assert first is second  # one instance per path, reset each time


def test_a_cancelled_recorded_process_is_not_run() -> None:
    process = create()
    with recording_backend() as backend:
        process.start()
        process.cancel()
        assert backend.run_dispatched() == [status.CANCELLED]
        assert backend.revoked == [f"watchdog-{process.pk}-1", f"run-{process.pk}-1"]


def test_run_eagerly_runs_with_the_real_runner_and_sends_signals(finished: list[str]) -> None:
    ok, broken = create(), create(kind="fail")
    with run_eagerly():
        ok.start()
        broken.start()
        assert finished == []  # the test's transaction has not committed...
    assert finished == [status.SUCCEEDED, status.FAILED]  # ...but the block ran them
    ok.refresh_from_db()
    broken.refresh_from_db()
    assert (ok.status, broken.status) == (status.SUCCEEDED, status.FAILED)
    assert broken.exception == "RuntimeError: example failure"


def test_fire_watchdog_fakes_the_clock_of_a_timeout(finished: list[str]) -> None:
    process = create(timeout=timedelta(minutes=30))
    with recording_backend() as backend:
        process.start()
        assert fire_watchdog(process) == supervisor.NOOP  # still queued: clock not started
        simulate_running(process, pid=1234)
        assert process.status == status.RUNNING
        assert fire_watchdog(process, after=timedelta(minutes=29)) == supervisor.Outcome.RESCHEDULED
        assert fire_watchdog(process, after=timedelta(minutes=31)) == supervisor.TIMED_OUT
        assert backend.killed == [process.process_task_id]

    assert process.status == status.TIMED_OUT
    assert process.finished_at is not None
    assert process.stopped_by == "watchdog"
    assert process.termination == "exited after SIGTERM 1/3"
    last = process.logs.order_by("sequence").last()
    assert last is not None
    assert last.message == "timed out after 0:31:00: exited after SIGTERM 1/3"
    assert fire_watchdog(process) == supervisor.NOOP


def test_simulate_running_refuses_a_process_that_is_not_pending() -> None:
    process = create()
    with run_eagerly():
        process.start()
    with pytest.raises(InvalidTransition, match="its status is 'succeeded'"):
        simulate_running(process)
