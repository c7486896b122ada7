"""``start()`` and ``cancel()`` (``djprocess.lifecycle``) with a recording backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from recording_backend import RecordingBackend
from unit_helpers import messages, set_running

from djprocess import status
from djprocess.backends.base import KillResult
from djprocess.exceptions import (
    BackendError,
    InvalidTransition,
    ProcessNotSaved,
    ProcessNotStartable,
)
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]


def stored(process: ExampleProcess) -> ExampleProcess:
    return ExampleProcess.objects.get(pk=process.pk)


# -- start() ----------------------------------------------------------------------


def test_start_dispatches_and_persists_the_timeout_set_without_save(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    process.timeout = timedelta(seconds=7, milliseconds=250)  # no save(), as in the spec

    assert process.start() is process

    assert backend.dispatched == [process.pk]
    row = stored(process)
    assert row.timeout == timedelta(seconds=7, milliseconds=250)
    assert row.timeout_seconds() == 7.25
    assert row.status == status.PENDING
    assert row.dispatched_at is not None
    assert row.process_task_id == f"run-{process.pk}-1"
    assert row.watchdog_task_id == f"watch-{process.pk}-1"
    assert process.watchdog_task_id == row.watchdog_task_id


def test_start_twice_raises_and_dispatches_nothing_more(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    process.start()

    with pytest.raises(ProcessNotStartable) as caught:
        stored(process).start()

    assert caught.value.status == status.PENDING
    assert "already dispatched" in str(caught.value)
    assert backend.dispatched == [process.pk]


@pytest.mark.parametrize(
    "found", [status.RUNNING, status.SUCCEEDED, status.FAILED, status.CANCELLED, status.TIMED_OUT]
)
def test_start_of_a_process_that_is_not_pending_raises(
    make_process: MakeProcess, backend: RecordingBackend, found: str
) -> None:
    process = make_process()
    ExampleProcess.objects.filter(pk=process.pk).update(status=found)

    with pytest.raises(ProcessNotStartable, match=f"its status is '{found}'") as caught:
        process.start()  # the instance still says "pending": the database decides

    assert isinstance(caught.value, InvalidTransition)
    assert caught.value.status == found
    assert caught.value.action == "start"
    assert backend.dispatched == []
    assert stored(process).dispatched_at is None


def test_start_of_an_unsaved_process_raises(backend: RecordingBackend) -> None:
    with pytest.raises(ProcessNotSaved, match=r"cannot start\(\) an unsaved ExampleProcess"):
        ExampleProcess(kind="succeed").start()
    assert backend.dispatched == []


def test_failed_dispatch_leaves_the_process_pending_and_says_so(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    backend.dispatch_error = BackendError("broker down")

    with pytest.raises(BackendError, match="broker down"):
        process.start()

    row = stored(process)
    assert row.status == status.PENDING
    assert row.dispatched_at is None
    assert messages(process) == ["dispatch failed, still pending: BackendError: broker down"]
    # It can be started again once the broker is back.
    backend.dispatch_error = None
    process.start()
    assert backend.dispatched == [process.pk]


# -- cancel() ---------------------------------------------------------------------


def test_cancel_of_a_pending_process_means_it_never_runs(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    process.start()

    assert process.cancel() is True

    row = stored(process)
    assert row.status == status.CANCELLED
    assert row.stopped_by == "cancel"
    assert row.finished_at is not None
    assert backend.killed == []
    assert backend.revoked == [row.watchdog_task_id, row.process_task_id]
    assert messages(process) == ["cancelled before it ran"]
    # The queued task arrives anyway: it is not run.
    assert row.execute(task_id=row.process_task_id) == status.CANCELLED
    assert stored(process).started_at is None


def test_cancel_of_a_running_process_kills_it(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    set_running(process, hostname="w2", pid=99, task_id="t-1")
    backend.kill_result = KillResult(found=True, gone=True, term_sent=2, term_retries=3)

    assert process.cancel() is True

    assert backend.killed == [("t-1", "w2", 99)]
    row = stored(process)
    assert row.status == status.CANCELLED
    assert row.stop_signal == "SIGTERM"
    assert row.termination == "exited after SIGTERM 2/3"
    assert row.finished_at is not None
    assert messages(process)[-1] == "cancelled: exited after SIGTERM 2/3"
    assert row.next_check_at is None  # nothing left for the supervisor


def test_cancel_whose_kill_is_not_confirmed_stays_open(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    set_running(process, hostname="w2", pid=99, task_id="t-1")
    backend.kill_result = KillResult(found=True, gone=False, term_sent=3, term_retries=3)

    assert process.cancel() is True

    row = stored(process)
    assert row.status == status.CANCELLED
    assert row.finished_at is None  # not confirmed: the stop is retried
    assert row.next_check_at is not None  # ... by the supervisor, when this comes
    assert messages(process)[-1].endswith("retrying in 5s")


@pytest.mark.parametrize(
    "final", [status.SUCCEEDED, status.FAILED, status.CANCELLED, status.TIMED_OUT]
)
def test_cancel_of_a_finished_process_returns_false_and_changes_nothing(
    make_process: MakeProcess, backend: RecordingBackend, final: str
) -> None:
    process = make_process()
    ExampleProcess.objects.filter(pk=process.pk).update(status=final)
    before = stored(process)

    assert process.cancel() is False

    after = stored(process)
    assert after.status == final
    assert after.modified == before.modified
    assert after.finished_at == before.finished_at
    assert backend.killed == []
    assert backend.revoked == []
    assert messages(process) == []


def test_cancel_twice(make_process: MakeProcess, backend: RecordingBackend) -> None:
    process = make_process()
    set_running(process)

    assert process.cancel() is True
    assert stored(process).cancel() is False

    assert len(backend.killed) == 1
    assert stored(process).status == status.CANCELLED


def test_cancel_of_an_unsaved_process_raises(backend: RecordingBackend) -> None:
    with pytest.raises(ProcessNotSaved, match=r"cannot cancel\(\) an unsaved ExampleProcess"):
        ExampleProcess(kind="succeed").cancel()


def test_start_inside_the_callers_transaction_dispatches_at_its_commit(
    make_process: MakeProcess,
    backend: RecordingBackend,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ok, failing = make_process(), make_process()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        ok.start()
        assert backend.dispatched == []  # nothing reaches a worker before the commit
    assert backend.dispatched == [ok.pk]

    backend.dispatch_error = BackendError("broker down")
    with (
        caplog.at_level("ERROR", logger="djprocess"),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        failing.start()
    assert f"pk={failing.pk}: dispatch at commit failed; it stays pending" in caplog.text
    assert stored(failing).status == status.PENDING


def test_cancel_whose_revoke_fails_still_cancels_and_logs_it(
    make_process: MakeProcess,
    backend: RecordingBackend,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def revoke_fails(task_id: str) -> None:
        raise ConnectionError("broker down")

    process = make_process()
    process.start()
    monkeypatch.setattr(backend, "revoke_scheduled", revoke_fails)

    with caplog.at_level("WARNING", logger="djprocess"):
        assert process.cancel() is True

    row = stored(process)
    assert row.status == status.CANCELLED
    assert f"could not revoke task {row.watchdog_task_id}" in caplog.text
    assert f"could not revoke task {row.process_task_id}" in caplog.text
