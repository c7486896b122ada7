"""Running a process again: ``restart()`` and ``start()`` on a process that ended
(``djprocess.rerun``). Races on real concurrent connections: ``test_rerun_races.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from recording_backend import RecordingBackend
from unit_helpers import messages, set_running

from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.backends.base import KillResult, Liveness
from djprocess.exceptions import BackendError, ProcessNotSaved, ProcessNotStartable
from djprocess.supervision import supervisor
from djprocess_example.models import ExampleProcess

MakeProcess = Callable[..., ExampleProcess]
IMMEDIATE = "djprocess.backends.immediate.ImmediateBackend"


def stored(process: ExampleProcess) -> ExampleProcess:
    return ExampleProcess.objects.get(pk=process.pk)


def end(process: ExampleProcess, final: str, *, finished: bool = True) -> ExampleProcess:
    """Move a running ``process`` to ``final`` by compare-and-set, as djprocess would."""
    set_running(process)
    assert compare_and_set(
        process,
        [status.RUNNING],
        final,
        finished_at=timezone.now() if finished else None,
        exception="RuntimeError: boom" if final == status.FAILED else "",
        traceback="Traceback ..." if final == status.FAILED else "",
        stopped_by="cancel" if final == status.CANCELLED else "",
        stop_signal="SIGTERM" if final != status.FAILED else "",
        termination="exited after SIGTERM 1/3" if final != status.FAILED else "",
        progress_current=3,
        progress_total=10,
        attempts=1,
    )
    return stored(process)


@pytest.fixture
def immediate() -> Iterator[None]:
    """The real runner, synchronously: ``ImmediateBackend``."""
    with override_settings(DJPROCESS_WORKER_BACKEND=IMMEDIATE):
        yield


@pytest.mark.parametrize("final", [status.FAILED, status.TIMED_OUT, status.CANCELLED])
def test_restart_moves_a_finished_process_back_to_pending_and_dispatches_it(
    make_process: MakeProcess, backend: RecordingBackend, final: str
) -> None:
    process = end(make_process(), final)
    process.log("last line of the first run")
    lines_before = process.log_count()

    assert process.restart() is process

    row = stored(process)
    assert row.status == status.PENDING
    assert backend.dispatched == [process.pk]
    assert row.dispatched_at is not None
    assert row.process_task_id == f"run-{process.pk}-1"
    assert row.watchdog_task_id == f"watch-{process.pk}-1"
    # How the previous run ended is cleared; the attempt counter is kept.
    assert row.finished_at is None
    assert row.started_at is None
    assert (row.exception, row.traceback, row.stopped_by, row.stop_signal) == ("", "", "", "")
    assert row.termination == ""
    assert row.worker_hostname == ""
    assert row.worker_pid is None
    assert (row.progress_current, row.progress_total) == (None, None)
    assert row.attempts == 1
    # The log continues in sequence, with a marker for the new attempt.
    assert row.log_count() == lines_before + 1
    assert messages(row)[-1] == f"attempt 2: restart() after the previous run ended {final}"


@pytest.mark.parametrize("final", [status.FAILED, status.TIMED_OUT])
def test_start_runs_a_failed_or_timed_out_process_again_as_in_0_0_1(
    make_process: MakeProcess, backend: RecordingBackend, final: str
) -> None:
    process = end(make_process(), final)

    process.start()

    assert stored(process).status == status.PENDING
    assert backend.dispatched == [process.pk]
    assert messages(process)[-1] == f"attempt 2: start() after the previous run ended {final}"


def test_restart_persists_a_new_timeout(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = end(make_process(), status.TIMED_OUT)
    process.timeout = timedelta(minutes=90)

    process.restart()

    assert stored(process).timeout == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("setup", "found", "detail"),
    [
        ("pending", status.PENDING, "not run yet: use start()"),
        ("dispatched", status.PENDING, "already dispatched"),
        ("running", status.RUNNING, "still running"),
        ("succeeded", status.SUCCEEDED, "a succeeded process is not run again"),
        ("stopping", status.CANCELLED, "its stop is not confirmed yet"),
    ],
)
def test_restart_refuses_and_dispatches_nothing(
    make_process: MakeProcess, backend: RecordingBackend, setup: str, found: str, detail: str
) -> None:
    process = make_process()
    if setup == "dispatched":
        process.start()
        backend.reset()
    elif setup == "running":
        set_running(process)
    elif setup == "succeeded":
        process = end(process, status.SUCCEEDED)
    elif setup == "stopping":  # cancelled while running, kill not confirmed yet
        process = end(process, status.CANCELLED, finished=False)
    lines = process.log_count()

    with pytest.raises(ProcessNotStartable, match=detail) as caught:
        process.restart()

    assert caught.value.status == found
    assert caught.value.action == "restart"
    assert stored(process).status == found
    assert backend.dispatched == []
    assert process.log_count() == lines


def test_start_still_refuses_a_succeeded_cancelled_or_stopping_process(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    done = end(make_process(), status.SUCCEEDED)
    cancelled = end(make_process(), status.CANCELLED)
    stopping = end(make_process(), status.TIMED_OUT, finished=False)

    with pytest.raises(ProcessNotStartable, match="its status is 'succeeded'"):
        done.start()
    with pytest.raises(ProcessNotStartable, match="its status is 'cancelled'"):
        cancelled.start()  # a cancel is undone only by an explicit restart()
    with pytest.raises(ProcessNotStartable, match="stop is not confirmed"):
        stopping.start()
    assert backend.dispatched == []


def test_a_second_restart_from_a_stale_instance_is_refused(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = end(make_process(), status.FAILED)
    stale = stored(process)

    process.restart()
    with pytest.raises(ProcessNotStartable, match="already dispatched"):
        stale.restart()

    assert backend.dispatched == [process.pk]


def test_a_failed_dispatch_leaves_the_restarted_process_pending_for_start(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = end(make_process(), status.FAILED)
    backend.dispatch_error = BackendError("broker down")

    with pytest.raises(BackendError):
        process.restart()

    row = stored(process)
    assert (row.status, row.dispatched_at) == (status.PENDING, None)
    backend.dispatch_error = None
    row.start()
    assert backend.dispatched == [process.pk]


def test_can_restart(make_process: MakeProcess) -> None:
    assert not make_process().can_restart
    assert end(make_process(), status.FAILED).can_restart
    assert not end(make_process(), status.SUCCEEDED).can_restart
    assert not end(make_process(), status.CANCELLED, finished=False).can_restart


def test_a_failed_run_runs_again_with_the_real_runner(
    make_process: MakeProcess, immediate: None, custom_run: Callable[..., str]
) -> None:
    def fail_first(process: ExampleProcess) -> None:
        process.log(f"run {process.attempts}")
        if process.attempts == 1:
            raise RuntimeError("first attempt fails")

    process = make_process(kind=custom_run(fail_first))
    process.start()
    assert stored(process).status == status.FAILED

    process.restart()

    row = stored(process)
    assert row.status == status.SUCCEEDED
    assert row.attempts == 2
    assert row.exception == ""
    assert row.finished_at is not None
    found = messages(row)
    marker = "attempt 2: restart() after the previous run ended failed"
    assert found[found.index("run 1") + 2] == marker
    assert "run 2" in found
    assert found[-1].startswith("succeeded in")
    sequences = list(row.logs.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, len(found) + 1))
    assert row.log_count() == len(found)


class RacingBackend(RecordingBackend):
    """A recording backend whose ``probe``/``kill`` first let another actor act: the
    interleaving of a late stop with a restart, made deterministic."""

    def __init__(self, meanwhile: Callable[[], object]) -> None:
        super().__init__()
        self.meanwhile = meanwhile

    def probe(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> Liveness:
        self.meanwhile()
        return Liveness.NOT_RUNNING

    def kill(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> KillResult:
        self.meanwhile()
        return super().kill(task_id, hostname=hostname, pid=pid)


def cancelled_while_running(process: ExampleProcess) -> ExampleProcess:
    """``cancel()`` decided long ago, its kill never confirmed (the caller died)."""
    set_running(process)
    assert compare_and_set(process, [status.RUNNING], status.CANCELLED, stopped_by="cancel")
    long_ago = timezone.now() - timedelta(seconds=supervisor.stop_budget() + 1)
    ExampleProcess.objects.filter(pk=process.pk).update(status_changed=long_ago)
    return stored(process)


@pytest.mark.parametrize("late", ["finish_stop", "kill_and_record"])
def test_a_late_stop_never_lands_on_the_re_run(
    make_process: MakeProcess, backend: RecordingBackend, late: str
) -> None:
    process = cancelled_while_running(make_process())

    def another_actor_finishes_the_stop_and_restarts() -> None:
        other = stored(process)
        supervisor.kill_and_record(other, backend, "cancelled")
        stored(process).restart()

    racing = RacingBackend(another_actor_finishes_the_stop_and_restarts)
    if late == "finish_stop":
        racing.supports_probe = True
        supervisor.finish_stop(stored(process), racing)
    else:
        supervisor.kill_and_record(stored(process), racing, "cancelled (late)")

    row = stored(process)
    assert row.status == status.PENDING  # the re-run, untouched by the late stop
    assert row.finished_at is None
    assert (row.stop_signal, row.termination) == ("", "")
    found = messages(row)
    assert found[-1] == "attempt 1: restart() after the previous run ended cancelled"
    assert found.count("cancelled: exited after SIGTERM 1/3") == 1
    assert not any(
        line.startswith(("cancelled (late)", "cancelled: the run is over")) for line in found
    )


def test_a_stop_confirmed_twice_is_recorded_once(
    make_process: MakeProcess, backend: RecordingBackend
) -> None:
    process = cancelled_while_running(make_process())
    first, second = stored(process), stored(process)

    supervisor.kill_and_record(first, backend, "cancelled")
    finished_at = stored(process).finished_at
    supervisor.kill_and_record(second, backend, "cancelled (again)")

    assert stored(process).finished_at == finished_at
    assert messages(process) == ["cancelled: exited after SIGTERM 1/3"]


def test_restart_of_an_unsaved_process_raises(backend: RecordingBackend) -> None:
    with pytest.raises(ProcessNotSaved, match=r"cannot restart\(\) an unsaved ExampleProcess"):
        ExampleProcess(kind="fail").restart()
    assert backend.dispatched == []
