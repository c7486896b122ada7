"""``djprocess.supervisor``: the watchdog's decisions and the kill record.

The backend is :class:`RecordingBackend`, a real ``BaseWorkerBackend`` subclass whose
``kill`` returns a :class:`KillResult`; djprocess's own code runs unpatched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from recording_backend import RecordingBackend
from unit_helpers import messages, set_running

from djprocess import status, supervisor
from djprocess.backends.base import KillResult, Liveness
from djprocess.exceptions import KillControlError
from djprocess.transitions import compare_and_set
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]


class Rearm:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def rearm() -> Rearm:
    return Rearm()


def fire(process: ExampleProcess, backend: RecordingBackend, rearm: Rearm) -> str:
    return supervisor.fire_watchdog(process, rearm=rearm, backend=backend)


@pytest.mark.parametrize(
    "final", [status.SUCCEEDED, status.FAILED, status.CANCELLED, status.TIMED_OUT]
)
def test_terminal_process_is_a_noop(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm, final: str
) -> None:
    process = make_process()
    ExampleProcess.objects.filter(pk=process.pk).update(status=final)

    assert fire(process, backend, rearm) == supervisor.NOOP

    assert backend.killed == []
    assert rearm.calls == []
    assert ExampleProcess.objects.get(pk=process.pk).status == final


def test_never_dispatched_is_a_noop(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    assert fire(make_process(), backend, rearm) == supervisor.NOOP
    assert rearm.calls == []


def test_queued_process_rearms_for_a_full_timeout(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    process = make_process(timeout=timedelta(seconds=30))
    process.start()

    assert fire(process, backend, rearm) == supervisor.REARMED

    assert rearm.calls == [30.0]
    assert backend.killed == []
    assert ExampleProcess.objects.get(pk=process.pk).status == status.PENDING


def test_late_start_rearms_until_started_plus_timeout(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    process = make_process(timeout=timedelta(seconds=60))
    set_running(process, started_ago=timedelta(seconds=20))

    assert fire(process, backend, rearm) == supervisor.REARMED

    assert len(rearm.calls) == 1
    assert 39 < rearm.calls[0] <= 40
    assert backend.killed == []
    assert ExampleProcess.objects.get(pk=process.pk).status == status.RUNNING


def test_past_deadline_times_out_and_logs_how(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    process = make_process(timeout=timedelta(seconds=3))
    set_running(process, started_ago=timedelta(seconds=3, milliseconds=200), hostname="w9", pid=77)
    backend.kill_result = KillResult(found=True, gone=True, term_sent=1, term_retries=3)

    assert fire(process, backend, rearm) == supervisor.TIMED_OUT

    assert backend.killed == [("run-task", "w9", 77)]
    process.refresh_from_db()
    assert process.status == status.TIMED_OUT
    assert process.stopped_by == "watchdog"
    assert process.stop_signal == "SIGTERM"
    assert process.termination == "exited after SIGTERM 1/3"
    assert process.finished_at is not None
    assert messages(process)[-1] == "timed out after 0:00:03: exited after SIGTERM 1/3"
    assert process.logs.order_by("sequence").last().level == "WARNING"  # type: ignore[union-attr]


def test_sigkill_escalation_is_recorded(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    process = make_process(timeout=timedelta(seconds=5))
    set_running(process, started_ago=timedelta(seconds=6))
    backend.kill_result = KillResult(
        found=True, gone=True, term_sent=3, term_retries=3, kill_sent=True
    )

    assert fire(process, backend, rearm) == supervisor.TIMED_OUT

    process.refresh_from_db()
    assert process.stop_signal == "SIGKILL"
    assert messages(process)[-1] == "timed out after 0:00:06: SIGKILL after 3 SIGTERM"


def test_deadline_within_a_second_is_waited_for_inline(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    process = make_process(timeout=timedelta(seconds=10))
    set_running(process, started_ago=timedelta(seconds=9, milliseconds=800))

    assert fire(process, backend, rearm) == supervisor.TIMED_OUT

    assert rearm.calls == []
    process.refresh_from_db()
    assert process.finished_at is not None
    assert process.finished_at >= process.started_at + process.timeout  # type: ignore[operator]


@pytest.mark.parametrize(
    ("liveness", "reason"),
    [
        (Liveness.NOT_RUNNING, "worker w1 is not running the task any more"),
        (Liveness.UNREACHABLE, "worker w1 does not answer"),
    ],
)
def test_lost_worker_found_by_probe_ends_failed(
    make_process: MakeProcess,
    backend: RecordingBackend,
    rearm: Rearm,
    liveness: Liveness,
    reason: str,
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5), hostname="w1")
    backend.supports_probe = True
    backend.liveness = liveness

    assert fire(process, backend, rearm) == supervisor.WORKER_LOST

    assert backend.killed == []
    process.refresh_from_db()
    assert process.status == status.FAILED
    assert process.stopped_by == "worker"
    assert process.termination == f"worker lost: {reason}"
    assert process.exception == f"WorkerLost: {reason}"
    assert messages(process)[-1] == f"failed: worker lost: {reason}"


def test_probe_saying_running_goes_on_to_kill(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5))
    backend.supports_probe = True
    backend.liveness = Liveness.RUNNING

    assert fire(process, backend, rearm) == supervisor.TIMED_OUT
    assert len(backend.killed) == 1


def test_duplicate_delivery_is_a_logged_noop(
    make_process: MakeProcess,
    backend: RecordingBackend,
    rearm: Rearm,
    caplog: pytest.LogCaptureFixture,
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=2))
    assert fire(process, backend, rearm) == supervisor.TIMED_OUT
    lines = messages(process)

    with caplog.at_level(logging.INFO, logger="djprocess.supervisor"):
        again = ExampleProcess.objects.get(pk=process.pk)
        assert fire(again, backend, rearm) == supervisor.NOOP

    assert len(backend.killed) == 1
    assert messages(process) == lines
    assert f"pk={process.pk}: already timed_out, nothing to do" in caplog.text


def test_eager_watchdog_never_kills(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5))

    outcome = supervisor.fire_watchdog(process, rearm=rearm, eager=True, backend=backend)

    assert outcome == supervisor.SKIPPED_EAGER
    assert backend.killed == []
    assert ExampleProcess.objects.get(pk=process.pk).status == status.RUNNING


def test_unreachable_worker_on_kill_is_recorded_loudly(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5))
    backend.kill_result = KillControlError("no reply from worker-1")

    assert fire(process, backend, rearm) == supervisor.TIMED_OUT

    process.refresh_from_db()
    assert process.status == status.TIMED_OUT
    assert process.termination == "kill failed: no reply from worker-1"
    # Not confirmed gone: not finished, and the stop is retried soon.
    assert process.finished_at is None
    assert backend.scheduled == [(process.pk, supervisor.STOP_RETRY_SECONDS)]
    assert process.watchdog_task_id == f"watch-{process.pk}-retry-1"
    last = process.logs.order_by("sequence").last()
    assert last is not None
    assert last.level == "ERROR"
    assert last.message == (
        "timed out after 0:00:05: kill failed: no reply from worker-1; retrying in 5s"
    )


def age_stop(process: ExampleProcess) -> None:
    """Pretend the status was decided long enough ago for its stop to count as abandoned."""
    long_ago = timezone.now() - timedelta(seconds=supervisor.stop_budget() + 1)
    ExampleProcess.objects.filter(pk=process.pk).update(status_changed=long_ago)


def test_a_stop_in_progress_is_left_to_its_killer(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    """cancel() decided a moment ago and is still killing: the watchdog firing now must
    not kill a second time (two killers, two final lines); it looks again later."""
    process = make_process()
    set_running(process)
    assert compare_and_set(process, [status.RUNNING], status.CANCELLED, stopped_by="cancel")

    assert fire(process, backend, rearm) == supervisor.STOP_RETRIED

    assert backend.killed == []
    [(pk, countdown)] = backend.scheduled
    assert pk == process.pk
    assert 0 < countdown <= supervisor.stop_budget()


def test_retried_stop_kills_again_and_finishes(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    """The killer died (or got no answer) after deciding: the next watchdog completes it."""
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5))
    assert compare_and_set(process, [status.RUNNING], status.TIMED_OUT, stopped_by="watchdog")
    age_stop(process)

    assert fire(process, backend, rearm) == supervisor.STOP_RETRIED

    process.refresh_from_db()
    assert backend.killed == [("run-task", "worker-1", 4242)]
    assert process.status == status.TIMED_OUT
    assert process.finished_at is not None
    assert process.termination == "exited after SIGTERM 1/3"
    assert fire(process, backend, rearm) == supervisor.NOOP  # finished now


@pytest.mark.parametrize(
    ("liveness", "outcome", "finished"),
    [
        (Liveness.NOT_RUNNING, supervisor.STOP_FINISHED, True),
        (Liveness.UNREACHABLE, supervisor.STOP_RETRIED, False),
    ],
)
def test_unfinished_stop_follows_the_probe(
    make_process: MakeProcess,
    backend: RecordingBackend,
    rearm: Rearm,
    liveness: Liveness,
    outcome: str,
    finished: bool,
) -> None:
    process = make_process()
    set_running(process)
    assert compare_and_set(process, [status.RUNNING], status.CANCELLED, stopped_by="cancel")
    age_stop(process)
    backend.supports_probe = True
    backend.liveness = liveness

    assert fire(process, backend, rearm) == outcome

    process.refresh_from_db()
    assert process.status == status.CANCELLED
    assert backend.killed == []
    assert (process.finished_at is not None) is finished
    assert len(backend.scheduled) == (0 if finished else 1)


def test_silent_worker_is_lost_but_retried_until_it_answers(
    make_process: MakeProcess, backend: RecordingBackend, rearm: Rearm
) -> None:
    """A worker that does not answer (stopped, partitioned) may come back with the run
    still going: the row is failed at once but the stop stays open."""
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5), hostname="celery@elsewhere")
    backend.supports_probe = True
    backend.liveness = Liveness.UNREACHABLE

    assert fire(process, backend, rearm) == supervisor.WORKER_LOST

    process.refresh_from_db()
    assert process.status == status.FAILED
    assert process.finished_at is None
    assert len(backend.scheduled) == 1
    age_stop(process)
    backend.liveness = Liveness.RUNNING  # it answers again: the run is killed
    assert fire(process, backend, rearm) == supervisor.STOP_RETRIED
    process.refresh_from_db()
    assert backend.killed == [("run-task", "celery@elsewhere", 4242)]
    assert process.finished_at is not None


def test_mark_worker_lost_only_from_running(make_process: MakeProcess) -> None:
    process = make_process()
    assert supervisor.mark_worker_lost(process, "gone") is False
    set_running(process)
    assert supervisor.mark_worker_lost(process, "gone") is True
    assert supervisor.mark_worker_lost(process, "gone again") is False
    process.refresh_from_db()
    assert process.termination == "worker lost: gone"
