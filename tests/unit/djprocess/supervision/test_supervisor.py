"""``djprocess.supervision.supervisor.check``: the supervisor's decisions about one process.

The backend is :class:`RecordingBackend`, a real ``BaseWorkerBackend`` subclass whose
``kill`` returns a :class:`KillResult`; djprocess's own code runs unpatched. Time is
faked only through :mod:`djprocess._clock`, where every deadline is read.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from recording_backend import RecordingBackend
from unit_helpers import messages, set_running

from djprocess import _clock as clock
from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.backends.base import KillResult, Liveness
from djprocess.exceptions import KillControlError
from djprocess.run import host, runner
from djprocess.supervision import supervisor
from djprocess.supervision.supervisor import Outcome
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]


def stored(process: ExampleProcess) -> ExampleProcess:
    return ExampleProcess.objects.get(pk=process.pk)


def check(process: ExampleProcess, backend: RecordingBackend) -> Outcome:
    return supervisor.check(process, backend)


def utc_in(seconds: float) -> datetime:
    return clock.utc_now() + timedelta(seconds=seconds)


# -- nothing to do ----------------------------------------------------------------


@pytest.mark.parametrize(
    "final", [status.SUCCEEDED, status.FAILED, status.CANCELLED, status.TIMED_OUT]
)
def test_a_finished_process_is_a_noop_and_leaves_the_sweep(
    make_process: MakeProcess, backend: RecordingBackend, final: str
) -> None:
    process = make_process()
    ExampleProcess.objects.filter(pk=process.pk).update(
        status=final, finished_at=timezone.now(), next_check_at=utc_in(-1)
    )

    assert check(process, backend) is Outcome.NOOP

    assert backend.killed == []
    row = stored(process)
    assert row.status == final
    assert row.next_check_at is None


def test_a_never_dispatched_process_is_a_noop(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process()
    assert check(process, backend) is Outcome.NOOP
    assert stored(process).status == status.PENDING


# -- queued -------------------------------------------------------------------------


def test_a_queued_process_costs_one_check_and_no_rearm(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process(timeout=timedelta(milliseconds=1))
    process.start()

    # However often its watchdog fires while it waits, nothing is scheduled again.
    for _ in range(3):
        assert supervisor.fire_watchdog(stored(process), backend=backend) is Outcome.NOOP

    row = stored(process)
    assert row.status == status.PENDING
    assert row.next_check_at is not None
    assert row.next_check_at > utc_in(86_000)  # DJPROCESS_QUEUE_TIMEOUT_SECONDS ahead


@override_settings(DJPROCESS_QUEUE_TIMEOUT_SECONDS=60)
def test_a_process_never_picked_up_fails_after_the_queue_timeout(
    make_process: MakeProcess, backend: RecordingBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = make_process()
    process.start()
    later = clock.utc_now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "utc_now", lambda: later)

    assert check(process, backend) is Outcome.QUEUE_EXPIRED

    row = stored(process)
    assert row.status == status.FAILED
    assert row.finished_at is not None
    assert row.next_check_at is None
    assert row.exception == "QueueTimeout: not started within 60s of start()"
    assert "its task was lost or never picked up" in messages(process)[-1]
    assert backend.revoked == [row.process_task_id]
    # The message, if it ever arrives, is not run.
    assert row.execute(task_id=row.process_task_id) == status.FAILED


# -- running ------------------------------------------------------------------------


def test_a_run_before_its_deadline_is_looked_at_again_at_the_deadline(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process(timeout=timedelta(seconds=30))
    set_running(process)

    assert check(process, backend) is Outcome.RESCHEDULED

    row = stored(process)
    assert row.status == status.RUNNING
    assert row.next_check_at == row.deadline_at
    assert backend.killed == []


def test_past_deadline_times_out_and_kills_through_a_remote_backend(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process(timeout=timedelta(seconds=5))
    set_running(process, started_ago=timedelta(seconds=6), hostname="w1", pid=7, task_id="t-9")

    assert check(process, backend) is Outcome.TIMED_OUT

    assert backend.killed == [("t-9", "w1", 7)]
    row = stored(process)
    assert row.status == status.TIMED_OUT
    assert row.stopped_by == "watchdog"
    assert row.termination == "exited after SIGTERM 1/3"
    assert row.finished_at is not None
    assert row.next_check_at is None
    assert messages(process)[-1] == "timed out after 0:00:06: exited after SIGTERM 1/3"


def test_a_backend_that_cannot_kill_is_not_asked_and_the_timeout_is_recorded(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process(timeout=timedelta(seconds=5))
    set_running(process, started_ago=timedelta(seconds=6), task_id="t-1")
    backend.supports_kill = False

    assert check(process, backend) is Outcome.TIMED_OUT

    assert backend.killed == []
    row = stored(process)
    assert row.status == status.TIMED_OUT
    assert row.finished_at is not None
    assert row.next_check_at is None
    assert messages(process)[-1] == (
        "timed out after 0:00:06: kill failed: "
        "the backend cannot stop a run (supports_kill is False)"
    )


def test_sigkill_escalation_is_recorded(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=3))
    backend.kill_result = KillResult(
        found=True, gone=True, term_sent=3, term_retries=3, kill_sent=True
    )

    assert check(process, backend) is Outcome.TIMED_OUT

    row = stored(process)
    assert row.stop_signal == "SIGKILL"
    assert row.termination == "SIGKILL after 3 SIGTERM"


def test_past_deadline_with_a_local_supervisor_decides_and_leaves_the_kill_to_it(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    backend.stops_runs_locally = True
    process = make_process(timeout=timedelta(seconds=5))
    set_running(process, started_ago=timedelta(seconds=6), heartbeat_ago=timedelta(seconds=1))

    assert check(process, backend) is Outcome.TIMED_OUT

    assert backend.killed == []
    row = stored(process)
    assert row.status == status.TIMED_OUT
    assert row.finished_at is None  # its supervisor records the end of the stop
    assert row.next_check_at is not None
    budget = supervisor.stop_budget()
    assert utc_in(budget - 2) < row.next_check_at <= utc_in(budget)
    # Before that time, a second check leaves the stop to the run's supervisor.
    assert check(process, backend) is Outcome.NOOP
    assert backend.killed == []


@pytest.mark.parametrize(
    ("liveness", "finished"), [(Liveness.NOT_RUNNING, True), (Liveness.UNREACHABLE, False)]
)
def test_a_run_whose_heartbeat_stopped_is_lost_when_the_backend_agrees(
    make_process: MakeProcess, backend: RecordingBackend, liveness: Liveness, finished: bool
) -> None:
    backend.stops_runs_locally = True
    backend.supports_probe = True
    backend.liveness = liveness
    process = make_process(timeout=timedelta(hours=1))
    # Worker on another host: its pid cannot be looked at from here.
    set_running(process, hostname="w1@elsewhere", heartbeat_ago=timedelta(seconds=3600))

    assert check(process, backend) is Outcome.WORKER_LOST

    row = stored(process)
    assert row.status == status.FAILED
    assert row.stopped_by == "worker"
    assert (row.finished_at is not None) is finished
    assert messages(process)[-1].startswith("failed: worker lost: no heartbeat for")


@pytest.mark.parametrize("liveness", [Liveness.RUNNING, Liveness.UNKNOWN])
def test_a_silent_heartbeat_with_the_run_alive_is_only_looked_at_again(
    make_process: MakeProcess, backend: RecordingBackend, liveness: Liveness
) -> None:
    backend.stops_runs_locally = True
    backend.supports_probe = True
    backend.liveness = liveness
    process = make_process(timeout=timedelta(hours=1))
    set_running(process, hostname="w1@elsewhere", heartbeat_ago=timedelta(seconds=40))

    assert check(process, backend) is Outcome.RESCHEDULED

    row = stored(process)
    assert row.status == status.RUNNING
    assert row.next_check_at is not None
    assert row.next_check_at > clock.utc_now()


def test_an_unreachable_worker_is_not_called_lost_at_the_first_silence(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    # A database outage stops every heartbeat at once; a broker outage can make the
    # worker look unreachable at the same time. One stale period is not enough.
    backend.stops_runs_locally = True
    backend.supports_probe = True
    backend.liveness = Liveness.UNREACHABLE
    process = make_process(timeout=timedelta(hours=1))
    set_running(process, hostname="w1@elsewhere", heartbeat_ago=timedelta(seconds=40))

    assert check(process, backend) is Outcome.RESCHEDULED
    assert stored(process).status == status.RUNNING


def test_eager_watchdog_never_kills(make_process: MakeProcess, backend: RecordingBackend) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=5))

    assert supervisor.fire_watchdog(process, eager=True, backend=backend) is Outcome.SKIPPED_EAGER

    assert backend.killed == []
    assert stored(process).status == status.RUNNING


# -- stops that were not confirmed -------------------------------------------------------


def test_an_unreachable_worker_on_kill_is_recorded_loudly_and_retried(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=3), hostname="w1", pid=7)
    backend.kill_result = KillControlError("no reply from w1 to djprocess_signal after 3 tries")

    assert check(process, backend) is Outcome.TIMED_OUT

    row = stored(process)
    assert row.status == status.TIMED_OUT  # decided: the stop goes on
    assert row.finished_at is None  # never read as "not running"
    assert row.termination.startswith("kill failed: no reply from w1")
    assert messages(process)[-1].endswith("retrying in 5s")
    assert utc_in(3) < row.next_check_at <= utc_in(5)


def test_a_retried_stop_kills_again_and_finishes(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = make_process(timeout=timedelta(seconds=1))
    set_running(process, started_ago=timedelta(seconds=3), task_id="t-1")
    assert compare_and_set(
        process, [status.RUNNING], status.CANCELLED, stopped_by="cancel", next_check_at=utc_in(-1)
    )

    assert check(process, backend) is Outcome.STOP_FINISHED

    assert backend.killed == [("t-1", "worker-1", 4242)]
    row = stored(process)
    assert row.finished_at is not None
    assert messages(process)[-1] == "cancelled (stop retried): exited after SIGTERM 1/3"


@pytest.mark.parametrize(
    ("liveness", "outcome", "finished"),
    [
        (Liveness.NOT_RUNNING, Outcome.STOP_FINISHED, True),
        (Liveness.UNREACHABLE, Outcome.STOP_RETRIED, False),
    ],
)
def test_an_unfinished_stop_follows_the_probe(
    make_process: MakeProcess,
    backend: RecordingBackend,
    liveness: Liveness,
    outcome: Outcome,
    finished: bool,
) -> None:
    backend.supports_probe = True
    backend.liveness = liveness
    process = make_process()
    set_running(process, hostname="w1@elsewhere")
    assert compare_and_set(
        process, [status.RUNNING], status.CANCELLED, stopped_by="cancel", next_check_at=utc_in(-1)
    )

    assert check(process, backend) is outcome

    assert backend.killed == []
    assert (stored(process).finished_at is not None) is finished


def test_a_silent_worker_is_given_up_on_after_ten_minutes(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    backend.supports_probe = True
    backend.liveness = Liveness.UNREACHABLE
    process = make_process()
    set_running(process, hostname="w1@elsewhere")
    assert compare_and_set(
        process, [status.RUNNING], status.CANCELLED, stopped_by="cancel", next_check_at=utc_in(-1)
    )
    ExampleProcess.objects.filter(pk=process.pk).update(
        status_changed=timezone.now() - timedelta(seconds=supervisor.STOP_GIVE_UP_SECONDS + 1)
    )

    assert check(process, backend) is Outcome.STOP_FINISHED

    assert messages(process)[-1] == "cancelled: gave up, worker still silent"


def test_mark_worker_lost_only_from_running(make_process: MakeProcess) -> None:
    process = make_process()
    assert supervisor.mark_worker_lost(process, "gone") is False
    set_running(process)
    assert supervisor.mark_worker_lost(process, "gone") is True
    assert supervisor.mark_worker_lost(process, "gone") is False
    assert messages(process) == ["failed: worker lost: gone"]


# -- time is absolute -----------------------------------------------------------------


@override_settings(USE_TZ=False, TIME_ZONE="Europe/London")
def test_a_deadline_across_the_autumn_clock_change_stays_twenty_minutes(
    make_process: MakeProcess, backend: RecordingBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 00:50 UTC on 2026-10-25 is 01:50 BST; at 01:00 UTC London clocks go back to 01:00.
    fake = {"now": datetime(2026, 10, 25, 0, 50)}
    monkeypatch.setattr(clock, "utc_now", lambda: fake["now"])
    process = make_process(timeout=timedelta(minutes=20))
    ExampleProcess.objects.filter(pk=process.pk).update(dispatched_at=timezone.now())

    assert runner.claim(process, task_id="t", hostname="w", watched=False)

    row = stored(process)
    assert row.deadline_at == datetime(2026, 10, 25, 1, 10)  # 20 minutes later, in UTC
    fake["now"] = datetime(2026, 10, 25, 1, 9)
    assert check(process, backend) is Outcome.RESCHEDULED
    assert stored(process).next_check_at == datetime(2026, 10, 25, 1, 10)
    fake["now"] = datetime(2026, 10, 25, 1, 11)
    assert check(process, backend) is Outcome.TIMED_OUT


@override_settings(DJPROCESS_QUEUE_TIMEOUT_SECONDS=60)
def test_a_revoke_that_fails_is_logged_and_the_queue_timeout_still_recorded(
    make_process: MakeProcess,
    backend: RecordingBackend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def revoke_fails(task_id: str) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(backend, "revoke_scheduled", revoke_fails)
    process = make_process()
    process.start()
    later = clock.utc_now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "utc_now", lambda: later)

    with caplog.at_level("WARNING", logger="djprocess"):
        assert check(process, backend) is Outcome.QUEUE_EXPIRED

    assert stored(process).status == status.FAILED
    assert f"could not revoke task {stored(process).process_task_id}" in caplog.text


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_run_on_this_host_whose_supervising_process_is_gone_is_lost_at_its_deadline(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    backend.stops_runs_locally = True
    process = make_process(timeout=timedelta(seconds=1))
    pid = _dead_pid()
    set_running(process, hostname=host.hostname(), pid=pid, started_ago=timedelta(seconds=5))
    compare_and_set(process, [status.RUNNING], worker_pidns=host.pid_namespace())

    assert check(process, backend) is Outcome.WORKER_LOST

    assert stored(process).status == status.FAILED
    assert f"its process {pid} is gone" in messages(process)[-1]


def test_a_pid_of_another_pid_namespace_is_not_looked_up_here(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    backend.stops_runs_locally = True
    process = make_process(timeout=timedelta(seconds=1))
    set_running(
        process, hostname=host.hostname(), pid=_dead_pid(), started_ago=timedelta(seconds=5)
    )
    compare_and_set(process, [status.RUNNING], worker_pidns="pid:[1]")  # another container

    # Not called lost: the deadline is decided, and the run's own supervisor stops it.
    assert check(process, backend) is Outcome.TIMED_OUT
    assert stored(process).status == status.TIMED_OUT
    assert backend.killed == []


def test_a_probe_that_fails_reads_as_unreachable_not_as_gone(
    make_process: MakeProcess, backend: RecordingBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def probe_fails(task_id: str, *, hostname: str = "", pid: int | None = None) -> Liveness:
        raise KillControlError("no reply")

    backend.stops_runs_locally = True
    backend.supports_probe = True
    monkeypatch.setattr(backend, "probe", probe_fails)
    process = make_process(timeout=timedelta(hours=1))
    set_running(process, hostname="w1@elsewhere", heartbeat_ago=timedelta(seconds=40))

    assert check(process, backend) is Outcome.RESCHEDULED
    assert stored(process).status == status.RUNNING
