"""``djprocess.signals``: sent once per won transition, after commit, with how a stop went.

``transaction=True``: the signals wait for the commit, which a test wrapped in one
transaction never makes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.dispatch import Signal
from django.test import override_settings
from recording_backend import RecordingBackend
from unit_helpers import set_running

from djprocess import _clock as clock
from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.backends.base import KillResult, Liveness
from djprocess.exceptions import KillControlError
from djprocess.signals import process_finished, process_started, process_stopped
from djprocess.supervision import supervisor
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)

MakeProcess = Callable[..., ExampleProcess]
SIGNALS = {"started": process_started, "finished": process_finished, "stopped": process_stopped}


@dataclass
class Received:
    name: str
    sender: type[Any]
    process: ExampleProcess
    kwargs: dict[str, Any]
    stored_status: str  # what a query sees when the receiver runs


@pytest.fixture
def received() -> Iterator[list[Received]]:
    """Every signal sent for ExampleProcess during the test, in order."""
    calls: list[Received] = []
    receivers = []
    for name, signal in SIGNALS.items():

        def receiver(
            sender: type[Any], process: ExampleProcess, name: str = name, **kwargs: Any
        ) -> None:
            kwargs.pop("signal")
            stored = ExampleProcess.objects.values_list("status", flat=True).get(pk=process.pk)
            calls.append(Received(name, sender, process, kwargs, stored))

        signal.connect(receiver, sender=ExampleProcess)
        receivers.append((signal, receiver))
    yield calls
    for signal, receiver in receivers:
        signal.disconnect(receiver, sender=ExampleProcess)


def names(calls: list[Received]) -> list[str]:
    return [call.name for call in calls]


def test_a_run_sends_started_then_finished_once(
    make_process: MakeProcess, received: list[Received]
) -> None:
    process = make_process()
    with override_settings(
        DJPROCESS_WORKER_BACKEND="djprocess.backends.immediate.ImmediateBackend"
    ):
        process.start()

    assert names(received) == ["started", "finished"]
    started, finished = received
    assert started.sender is ExampleProcess
    assert started.process.pk == process.pk
    assert (started.kwargs, started.stored_status) == ({}, status.RUNNING)
    assert finished.kwargs == {"status": status.SUCCEEDED}
    # Sent after the commit: the row already says so, and so do its end fields.
    assert finished.stored_status == status.SUCCEEDED
    assert finished.process.finished_at is not None


def test_a_failed_run_sends_finished_with_failed(
    make_process: MakeProcess, received: list[Received]
) -> None:
    make_process(kind="fail").execute()

    assert names(received) == ["started", "finished"]
    assert received[1].kwargs == {"status": status.FAILED}
    assert received[1].process.exception == "RuntimeError: example failure"


def test_sent_only_after_commit_and_never_after_rollback(
    make_process: MakeProcess, received: list[Received]
) -> None:
    process = make_process()
    with transaction.atomic():
        assert compare_and_set(process, [status.PENDING], status.RUNNING)
        assert received == []
    assert names(received) == ["started"]

    with transaction.atomic():
        assert compare_and_set(process, [status.RUNNING], status.SUCCEEDED)
        transaction.set_rollback(True)
    assert names(received) == ["started"]
    assert ExampleProcess.objects.get(pk=process.pk).status == status.RUNNING


def test_a_lost_race_sends_nothing(make_process: MakeProcess, received: list[Received]) -> None:
    process = make_process()
    set_running(process)
    received.clear()
    assert compare_and_set(process, [status.RUNNING], status.CANCELLED)
    assert not compare_and_set(process, [status.RUNNING], status.TIMED_OUT)
    assert not compare_and_set(process, [status.RUNNING], status.SUCCEEDED)

    assert names(received) == ["finished"]


def test_cancel_of_a_running_process_sends_finished_then_stopped_with_how(
    make_process: MakeProcess, backend: RecordingBackend, received: list[Received]
) -> None:
    process = make_process()
    set_running(process)
    received.clear()

    assert process.cancel()

    assert names(received) == ["finished", "stopped"]
    assert received[0].kwargs == {"status": status.CANCELLED}
    assert received[1].kwargs == {
        "status": status.CANCELLED,
        "stopped_by": "cancel",
        "termination": "exited after SIGTERM 1/3",
        "stop_signal": "SIGTERM",
    }
    assert received[1].process.finished_at is not None


def test_cancel_of_a_pending_process_sends_finished_only(
    make_process: MakeProcess, backend: RecordingBackend, received: list[Received]
) -> None:
    make_process().cancel()

    assert names(received) == ["finished"]


def test_watchdog_timeout_sends_stopped_once_the_kill_is_confirmed(
    make_process: MakeProcess, backend: RecordingBackend, received: list[Received]
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5))
    received.clear()
    backend.kill_result = KillControlError("no reply")

    assert supervisor.fire_watchdog(process, rearm=lambda s: None, backend=backend) == (
        supervisor.TIMED_OUT
    )
    assert names(received) == ["finished"]  # not confirmed: no "stopped" yet

    long_ago = process.status_changed - timedelta(seconds=supervisor.stop_budget() + 1)
    ExampleProcess.objects.filter(pk=process.pk).update(
        status_changed=long_ago, next_check_at=clock.utc_now()
    )  # the retry is due
    backend.kill_result = KillResult(found=True, gone=True, kill_sent=True, term_sent=3)
    supervisor.fire_watchdog(process, rearm=lambda s: None, backend=backend)

    assert names(received) == ["finished", "stopped"]
    assert received[1].kwargs == {
        "status": status.TIMED_OUT,
        "stopped_by": "watchdog",
        "termination": "SIGKILL after 3 SIGTERM",
        "stop_signal": "SIGKILL",
    }


@pytest.mark.parametrize(
    ("finished", "expected"), [(True, ["finished", "stopped"]), (False, ["finished"])]
)
def test_worker_lost(
    make_process: MakeProcess, received: list[Received], finished: bool, expected: list[str]
) -> None:
    process = make_process()
    set_running(process)
    received.clear()

    assert supervisor.mark_worker_lost(process, "pool child died", finished=finished)

    assert names(received) == expected
    assert received[0].kwargs == {"status": status.FAILED}
    if finished:
        assert received[1].kwargs["stopped_by"] == "worker"
        assert received[1].kwargs["termination"] == "worker lost: pool child died"


def test_finish_stop_of_a_dead_run_sends_stopped(
    make_process: MakeProcess, backend: RecordingBackend, received: list[Received]
) -> None:
    process = make_process()
    set_running(process)
    assert compare_and_set(process, [status.RUNNING], status.CANCELLED, stopped_by="cancel")
    long_ago = process.status_changed - timedelta(seconds=supervisor.stop_budget() + 1)
    ExampleProcess.objects.filter(pk=process.pk).update(status_changed=long_ago)
    backend.supports_probe = True
    backend.liveness = Liveness.NOT_RUNNING
    received.clear()

    assert supervisor.finish_stop(process, backend) == supervisor.STOP_FINISHED

    assert names(received) == ["stopped"]
    assert received[0].kwargs["stopped_by"] == "cancel"


def test_a_failing_receiver_is_logged_and_changes_nothing(
    make_process: MakeProcess, received: list[Received], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: Any) -> None:
        raise ValueError("receiver bug")

    process_finished.connect(broken, sender=ExampleProcess)
    try:
        with caplog.at_level(logging.ERROR, logger="djprocess.signals"):
            assert make_process().execute() == status.SUCCEEDED
    finally:
        process_finished.disconnect(broken, sender=ExampleProcess)

    assert names(received) == ["started", "finished"]  # the other receivers still ran
    assert "raised" in caplog.text
    assert "receiver bug" in caplog.text


def test_signals_are_django_signals() -> None:
    assert all(isinstance(signal, Signal) for signal in SIGNALS.values())
