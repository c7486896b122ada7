"""djprocess.operations: what the admin, the UI and the commands share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from recording_backend import RecordingBackend
from unit_helpers import set_running

from djprocess import operations
from djprocess_example.models import ExampleProcess


def test_tally_words_what_was_done_first() -> None:
    tally = operations.Tally()
    for outcome in (
        operations.Outcome(done=False, phrase="already finished"),
        operations.Outcome(done=True, phrase="cancelled"),
        operations.Outcome(done=True, phrase="cancelled"),
        operations.Outcome(done=False, phrase="error: OperationalError"),
    ):
        tally.add(outcome)
    assert tally.summary() == "2 cancelled, 1 already finished, 1 error: OperationalError"
    assert (tally.done, tally.total, tally.errors) == (2, 4, 1)
    assert operations.Tally().summary() == "nothing selected"


def test_apply_refuses_an_unknown_action() -> None:
    with pytest.raises(ValueError, match="unknown action 'explode': use one of start, cancel"):
        operations.apply("explode", [])


@pytest.mark.django_db
def test_start_and_cancel_outcomes(make_process: Callable[..., ExampleProcess]) -> None:
    process = make_process()
    assert operations.cancel(process) == operations.Outcome(done=True, phrase="cancelled")
    assert operations.cancel(process) == operations.Outcome(done=False, phrase="already finished")
    # start() does not undo a cancel (a second Start click); restart() re-runs it, eagerly here.
    assert operations.start(process) == operations.Outcome(done=False, phrase="already finished")
    assert operations.restart(process).done
    process.refresh_from_db()
    assert process.status == "succeeded"
    assert operations.start(process) == operations.Outcome(done=False, phrase="already finished")
    assert operations.restart(process) == operations.Outcome(
        done=False, phrase="not re-run: succeeded"
    )
    bad = make_process()
    bad.timeout = timedelta(0)
    outcome = operations.start(bad)
    assert not outcome.done
    assert outcome.phrase.startswith("invalid: ")


@pytest.mark.django_db
def test_start_reports_a_backend_error_per_row(
    make_process: Callable[..., ExampleProcess], backend: RecordingBackend
) -> None:
    backend.dispatch_error = RuntimeError("broker down")
    process = make_process()
    outcome = operations.start(process)
    assert outcome == operations.Outcome(done=False, phrase="error: RuntimeError")
    process.refresh_from_db()
    assert process.status == "pending"


@pytest.mark.django_db
def test_offered_actions_follow_the_status(make_process: Callable[..., ExampleProcess]) -> None:
    process = make_process()
    assert operations.offered(process) == ["start", "cancel"]
    process.cancel()
    process.refresh_from_db()
    assert operations.offered(process) == ["restart"]
    process.restart()  # eager Celery: runs and succeeds at once
    process.refresh_from_db()
    assert operations.offered(process) == []


def test_start_of_a_running_process_is_already_started(
    make_process: Callable[..., ExampleProcess],
) -> None:
    process = make_process()
    set_running(process)
    assert operations.start(process) == operations.Outcome(done=False, phrase="already started")
