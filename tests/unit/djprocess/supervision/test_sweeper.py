"""``djprocess.supervision.sweeper.sweep``: every process whose check is due is checked, and
one check that fails does not stop the others.

The backend is :class:`RecordingBackend` (see ``test_supervisor.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from recording_backend import RecordingBackend
from unit_helpers import set_running

from djprocess import _clock as clock
from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.supervision.supervisor import Outcome
from djprocess.supervision.sweeper import sweep
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]


def stored(process: ExampleProcess) -> ExampleProcess:
    return ExampleProcess.objects.get(pk=process.pk)


def utc_in(seconds: float) -> datetime:
    return clock.utc_now() + timedelta(seconds=seconds)


def test_the_sweep_checks_what_is_due_and_nothing_else(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    overdue = make_process(timeout=timedelta(seconds=1))
    set_running(overdue, started_ago=timedelta(seconds=5))
    compare_and_set(overdue, [status.RUNNING], next_check_at=utc_in(-1))
    not_yet = make_process(timeout=timedelta(hours=1))
    set_running(not_yet)
    compare_and_set(not_yet, [status.RUNNING], next_check_at=utc_in(600))

    assert sweep() == {Outcome.TIMED_OUT: 1}

    assert stored(overdue).status == status.TIMED_OUT
    assert stored(not_yet).status == status.RUNNING
    assert len(backend.killed) == 1


def test_a_check_that_fails_is_logged_and_the_sweep_goes_on(
    make_process: MakeProcess, backend: RecordingBackend, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = (
        make_process(timeout=timedelta(seconds=1)),
        make_process(timeout=timedelta(seconds=1)),
    )
    for process in (first, second):
        set_running(process, started_ago=timedelta(seconds=5))
        compare_and_set(process, [status.RUNNING], next_check_at=utc_in(-1))
    backend.kill_result = RuntimeError("the backend broke")  # not a BackendError: a bug

    with caplog.at_level("ERROR", logger="djprocess"):
        assert sweep() == {}

    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failed == [
        f"checking djprocess_example.ExampleProcess pk={first.pk} failed",
        f"checking djprocess_example.ExampleProcess pk={second.pk} failed",
    ]
    assert len(backend.killed) == 2  # the first failure did not stop the sweep
