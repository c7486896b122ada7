"""0.0.1's ``mark_*()`` methods: deprecated, and going through compare-and-set
(``djprocess._compat``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from recording_backend import RecordingBackend
from unit_helpers import messages, set_running

from djprocess import status
from djprocess.exceptions import InvalidTransition, ProcessNotStartable
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]
DEPRECATED = "is deprecated since djprocess 0.1.0"


def stored(process: ExampleProcess) -> ExampleProcess:
    return ExampleProcess.objects.get(pk=process.pk)


def test_mark_running_claims_a_pending_process_once(make_process: MakeProcess) -> None:
    process = make_process()
    with pytest.warns(DeprecationWarning, match=r"mark_running\(\) is deprecated"):
        assert process.mark_running()
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        assert not process.mark_running()
    row = stored(process)
    assert row.status == status.RUNNING
    assert row.started_at is not None
    assert row.attempts == 1


def test_mark_succeeded_and_mark_failed_end_a_running_process(
    make_process: MakeProcess,
) -> None:
    done, broken = make_process(), make_process()
    set_running(done)
    set_running(broken)

    with pytest.warns(DeprecationWarning, match="mark_succeeded"):
        assert done.mark_succeeded()
    with pytest.warns(DeprecationWarning, match="mark_failed"):
        assert broken.mark_failed("boom")

    assert (stored(done).status, stored(broken).status) == (status.SUCCEEDED, status.FAILED)
    assert stored(broken).exception == "boom"
    assert stored(done).finished_at is not None
    assert stored(broken).finished_at is not None


def test_a_stale_instance_cannot_overwrite_a_terminal_status(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    """0.0.1 did ``status = ...; save()``: the last writer won. Now the database decides."""
    process = make_process()
    set_running(process)
    stale = stored(process)
    process.cancel()

    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        assert not stale.mark_succeeded()
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        assert not stale.mark_failed("late")

    assert stored(process).status == status.CANCELLED
    assert stored(process).exception == ""


def test_mark_cancelled_is_cancel(make_process: MakeProcess, backend: RecordingBackend) -> None:
    process = make_process()
    set_running(process)

    with pytest.warns(DeprecationWarning, match=r"use cancel\(\)"):
        assert process.mark_cancelled()

    row = stored(process)
    assert (row.status, row.stopped_by) == (status.CANCELLED, "cancel")
    assert backend.killed == [("run-task", "worker-1", 4242)]
    assert row.finished_at is not None


def test_mark_timed_out_of_a_pending_process(make_process: MakeProcess) -> None:
    process = make_process(timeout=timedelta(minutes=5, seconds=3))

    with pytest.warns(DeprecationWarning, match="mark_timed_out"):
        assert process.mark_timed_out()

    row = stored(process)
    assert (row.status, row.stopped_by) == (status.TIMED_OUT, "watchdog")
    assert row.finished_at is not None
    assert messages(row) == ["Process timed out after 5 minutes 3 seconds"]


def test_mark_timed_out_of_a_running_process_kills_it(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    set_running(process)

    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        assert process.mark_timed_out()
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        assert not process.mark_timed_out()

    row = stored(process)
    assert row.status == status.TIMED_OUT
    assert backend.killed == [("run-task", "worker-1", 4242)]
    assert row.finished_at is not None
    assert messages(row) == [
        "Process timed out after 20 minutes",
        "timed out (mark_timed_out): exited after SIGTERM 1/3",
    ]


def test_refusals_are_still_runtime_errors_as_in_0_0_1(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    set_running(process)
    with pytest.raises(RuntimeError):
        process.start()
    assert issubclass(ProcessNotStartable, InvalidTransition)
    assert issubclass(InvalidTransition, RuntimeError)
