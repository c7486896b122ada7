"""``djprocess.run.localsupervisor``: the supervisor forks the run, watches it, stops it and
records how it ended.

The supervisor runs in the test process (its real ``ForkLauncher`` forks a real run child),
except where it must be a child subreaper: that test runs it in a forked helper process, so
that the test process never becomes one. On SQLite (an in-memory database) what the run
child writes stays in its own copy of memory: the assertions are on what the supervisor
records (status, exception, its own log lines), which both databases see.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import FrameType
from typing import Any

import psutil
import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection, transaction
from django.test import override_settings
from django.utils import timezone
from process_helpers import gone, wait_for
from recording_backend import RecordingBackend
from unit_helpers import messages

from djprocess import status
from djprocess.run import child as runchild
from djprocess.run import localsupervisor
from djprocess.run.launch import ForkLauncher, RunHandle
from djprocess.run.localsupervisor import (
    describe_exit,
    run_supervised,
    run_tag,
    stop_leftovers,
    stop_run_everywhere,
)
from djprocess.run.output import RunOutput
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)

on_sqlite = django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")

#: One SIGTERM, then SIGKILL if the run is still there 10 s later; the row polled often.
FAST_STOPS = override_settings(
    DJPROCESS_KILL_TERM_RETRIES=1,
    DJPROCESS_KILL_TERM_WAIT_SECONDS=10,
    DJPROCESS_STATUS_POLL_SECONDS=0.05,
)
#: As :data:`FAST_STOPS`, SIGKILL 0.2 s after the SIGTERM.
FAST_KILLS = override_settings(
    DJPROCESS_KILL_TERM_RETRIES=1,
    DJPROCESS_KILL_TERM_WAIT_SECONDS=0.2,
    DJPROCESS_STATUS_POLL_SECONDS=0.05,
)


def dispatched(kind: str, **fields: Any) -> ExampleProcess:
    """A pending ExampleProcess as ``start()`` leaves it for a worker (dispatched)."""
    fields.setdefault("seconds", 0)
    fields.setdefault("lines", 1)
    return ExampleProcess.objects.create(kind=kind, dispatched_at=timezone.now(), **fields)


def row(process: ExampleProcess) -> ExampleProcess:
    return ExampleProcess.objects.get(pk=process.pk)


def is_running(process: ExampleProcess) -> bool:
    return ExampleProcess.objects.filter(pk=process.pk, status=status.RUNNING).exists()


def run_children() -> list[psutil.Process]:
    """This process's live children (the run child, while a run lasts)."""
    return [p for p in psutil.Process().children() if p.status() != psutil.STATUS_ZOMBIE]


def threads() -> list[str]:
    return [thread.name for thread in threading.enumerate()]


class InThread:
    """Call ``action`` in a thread once ``process`` is running and its run child forked;
    re-raise its error on join.

    It waits for the fork before it reads the row: the run child would otherwise inherit
    the in-memory SQLite database with this thread's read lock held in it, for good."""

    def __init__(self, process: ExampleProcess, action: Callable[[], object]) -> None:
        self.result: list[object] = []
        self.error: list[BaseException] = []

        def work() -> None:
            try:
                wait_for(run_children, 30, "the run child")
                wait_for(lambda: is_running(process), 30, "the run to start")
                self.result.append(action())
            except BaseException as exc:
                self.error.append(exc)
            finally:
                connection.close()

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def join(self) -> object:
        self.thread.join(60)
        assert not self.thread.is_alive()
        if self.error:
            raise self.error[0]
        return self.result[0] if self.result else None


# -- runs that end by themselves -------------------------------------------------------


def test_a_run_that_returns_is_recorded_succeeded() -> None:
    process = dispatched("succeed")

    assert run_supervised(process, task_id="task-ok", hostname="host-s") == status.SUCCEEDED

    found = row(process)
    assert found.status == status.SUCCEEDED
    assert found.worker_hostname == "host-s"
    assert found.process_task_id == "task-ok"
    lines = messages(process)
    assert lines[0].startswith(f"started on host-s (pid {os.getpid()}, timeout ")
    assert lines[-1].startswith("succeeded in ")


def test_a_run_that_raises_is_recorded_failed_with_its_exception_and_traceback() -> None:
    process = dispatched("fail")

    assert run_supervised(process, task_id="task-fail") == status.FAILED

    found = row(process)
    assert found.exception == "RuntimeError: example failure"
    assert found.traceback.startswith("Traceback (most recent call last):")
    assert "_run_fail" in found.traceback
    assert messages(process)[-1].startswith("failed after ")


def test_a_run_whose_process_exits_without_a_report_fails_with_its_exit_code() -> None:
    process = dispatched("exit")

    assert run_supervised(process, task_id="task-exit") == status.FAILED

    assert row(process).exception == "RunProcessDied: the run's process exited with code 3"


def test_a_run_whose_process_crashes_fails_with_the_signal_that_killed_it() -> None:
    process = dispatched("crash")

    assert run_supervised(process, task_id="task-crash") == status.FAILED

    assert row(process).exception == "RunProcessDied: the run's process was killed by SIGSEGV"


def test_a_run_that_reports_terminated_by_a_sigterm_nobody_sent_is_failed(
    custom_run: Callable[[Callable[[ExampleProcess], None]], str],
) -> None:
    # The run child SIGTERMs itself: djprocess did not send it, the row is failed.
    kind = custom_run(lambda self: os.kill(os.getpid(), signal.SIGTERM))
    process = dispatched(kind)

    assert run_supervised(process, task_id="task-self-term") == status.FAILED

    found = row(process)
    assert found.exception == "ProcessTerminated: terminated by signal 15"
    assert messages(process)[-1] == "failed: terminated by SIGTERM that djprocess did not send"


class NoPidfdHandle:
    """A run handle without an exit descriptor (as on kernels before 5.3): the supervisor
    polls for the end of the run instead."""

    def __init__(self, handle: RunHandle) -> None:
        self.handle = handle
        self.pid = handle.pid

    def exit_fd(self) -> int | None:
        return None

    def readers(self) -> dict[int, Callable[[bytes], None]]:
        return self.handle.readers()

    def signal(self, signum: int) -> None:
        self.handle.signal(signum)

    def poll(self) -> int | None:
        return self.handle.poll()

    def close(self) -> None:
        self.handle.close()


class NoPidfdLauncher(ForkLauncher):
    def launch(self, process: Any, *, tag: str, output: RunOutput) -> RunHandle:
        return NoPidfdHandle(super().launch(process, tag=tag, output=output))


def test_a_run_without_an_exit_descriptor_is_noticed_by_polling() -> None:
    process = dispatched("quiet", seconds=0.2)

    assert run_supervised(process, task_id="t-poll", launcher=NoPidfdLauncher()) == "succeeded"

    assert messages(process)[-1].startswith("succeeded in ")


@FAST_STOPS
def test_a_run_without_an_exit_descriptor_still_times_out() -> None:
    process = dispatched("sleep", seconds=60, timeout=timedelta(milliseconds=300))

    final = run_supervised(process, task_id="t-poll-timeout", launcher=NoPidfdLauncher())

    assert final == status.TIMED_OUT
    assert messages(process)[-1] == "timed out after 0:00:00: exited after SIGTERM 1/1"


# -- runs that are not started --------------------------------------------------------


def test_a_process_that_is_not_pending_is_not_run_and_its_status_is_returned() -> None:
    process = dispatched("succeed", status=status.CANCELLED)

    assert run_supervised(process, task_id="task-late") == status.CANCELLED

    assert row(process).started_at is None
    assert messages(process) == []


class FailingLauncher:
    """A launcher that cannot start anything (what ``launch`` raises: OSError)."""

    def __init__(self) -> None:
        self.nested: list[BaseException] = []

    def launch(self, process: Any, *, tag: str, output: RunOutput) -> RunHandle:
        try:  # while one run is being supervised here, no other may start
            run_supervised(process, task_id="nested")
        except RuntimeError as exc:
            self.nested.append(exc)
        raise OSError(24, "Too many open files")


def test_a_run_that_cannot_be_started_is_failed_and_no_second_run_may_start_meanwhile() -> None:
    process = dispatched("succeed")
    launcher = FailingLauncher()

    assert run_supervised(process, task_id="task-nostart", launcher=launcher) == status.FAILED

    assert [str(exc) for exc in launcher.nested] == ["this process is already supervising a run"]
    found = row(process)
    assert found.exception == "RunNotStarted: OSError: [Errno 24] Too many open files"
    assert messages(process)[-1].startswith("failed after 0:00:00: RunNotStarted: OSError")
    # Nothing is left supervising: the next run starts.
    assert run_supervised(dispatched("succeed"), task_id="task-next") == status.SUCCEEDED


# -- runs that are stopped ------------------------------------------------------------


@FAST_STOPS
def test_a_run_past_its_deadline_is_sent_sigterm_and_recorded_timed_out() -> None:
    process = dispatched("sleep", seconds=60, timeout=timedelta(milliseconds=300))

    assert run_supervised(process, task_id="task-timeout") == status.TIMED_OUT

    found = row(process)
    assert found.status == status.TIMED_OUT
    assert found.stop_signal == "SIGTERM"
    assert found.finished_at is not None
    assert messages(process)[-1] == "timed out after 0:00:00: exited after SIGTERM 1/1"


@FAST_KILLS
def test_a_run_that_ignores_sigterm_is_killed_after_the_retries() -> None:
    process = dispatched("ignore_term_child", seconds=61, timeout=timedelta(milliseconds=300))

    assert run_supervised(process, task_id="task-kill") == status.TIMED_OUT

    found = row(process)
    assert found.stop_signal == "SIGKILL"
    assert messages(process)[-1] == "timed out after 0:00:00: SIGKILL after 1 SIGTERM"
    assert run_children() == []  # the run child and its 'sleep 61' are gone


@override_settings(DJPROCESS_KILL_TERM_RETRIES=0, DJPROCESS_STATUS_POLL_SECONDS=0.05)
def test_with_no_sigterm_retries_a_stopped_run_is_killed_at_once() -> None:
    process = dispatched("sleep", seconds=60, timeout=timedelta(milliseconds=300))

    assert run_supervised(process, task_id="task-kill-now") == status.TIMED_OUT

    assert messages(process)[-1] == "timed out after 0:00:00: SIGKILL after 0 SIGTERM"


@FAST_STOPS
def test_a_run_cancelled_while_it_runs_is_stopped_and_recorded_cancelled(
    backend: RecordingBackend,
) -> None:
    backend.stops_runs_locally = True  # as the Celery backend: cancel() decides, we stop
    process = dispatched("sleep", seconds=60)
    canceller = InThread(process, lambda: row(process).cancel())

    assert run_supervised(process, task_id="task-cancel") == status.CANCELLED

    assert canceller.join() is True
    found = row(process)
    assert found.status == status.CANCELLED
    assert found.finished_at is not None
    assert messages(process)[-1] == "cancelled: exited after SIGTERM 1/1"
    assert backend.killed == []  # stopped here, not through the backend


@FAST_STOPS
def test_a_run_whose_row_is_deleted_while_it_runs_is_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    process = dispatched("sleep", seconds=60)
    deleter = InThread(process, lambda: ExampleProcess.objects.filter(pk=process.pk).delete())

    assert run_supervised(process, task_id="task-deleted") == "deleted"

    deleter.join()
    assert not ExampleProcess.objects.filter(pk=process.pk).exists()
    assert f"ExampleProcess pk={process.pk} was deleted while it ran" in caplog.text
    assert run_children() == []


@pytest.fixture
def sigterm_calls() -> Iterator[list[int]]:
    """SIGTERM to this process is recorded (by the handler a worker would have had)."""
    calls: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield calls
    finally:
        signal.signal(signal.SIGTERM, previous)


@FAST_STOPS
def test_sigterm_to_the_supervisor_stops_the_run_then_reaches_the_previous_handler(
    sigterm_calls: list[int],
) -> None:
    process = dispatched("sleep", seconds=60)
    shutdown = InThread(process, lambda: os.kill(os.getpid(), signal.SIGTERM))

    assert run_supervised(process, task_id="task-shutdown") == status.FAILED

    shutdown.join()
    found = row(process)
    assert found.exception == "WorkerShutdown: the worker shut down while the run was going on"
    assert messages(process)[-1] == "failed: the worker shut down: exited after SIGTERM 1/1"
    # The worker's own handler got the SIGTERM once the run was stopped and recorded.
    wait_for(lambda: sigterm_calls == [signal.SIGTERM], 5, "the previous handler to run")


class SupervisorFault(Exception):
    pass


@pytest.fixture
def fault_on_sigusr1() -> Iterator[None]:
    """SIGUSR1 raises :class:`SupervisorFault` in the main thread: an error of the
    supervisor's own, in the middle of its watch loop."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SupervisorFault("the supervisor itself failed")

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.usefixtures("fault_on_sigusr1")
def test_an_error_of_the_supervisor_itself_kills_the_run_before_it_propagates() -> None:
    process = dispatched("sleep", seconds=60)
    seen: list[psutil.Process] = []

    def fault() -> None:
        seen.extend(run_children())
        # The watcher thread is up: the supervisor is in its watch loop.
        wait_for(lambda: f"djprocess-watch-{process.pk}" in threads(), 30, "the watch loop")
        os.kill(os.getpid(), signal.SIGUSR1)

    interrupter = InThread(process, fault)

    with pytest.raises(SupervisorFault, match="the supervisor itself failed"):
        run_supervised(process, task_id="task-fault")

    interrupter.join()
    assert seen
    assert not any(proc.is_running() for proc in seen)  # killed and reaped


# -- a database outage while the outcome is recorded ------------------------------------


def hold_write_lock(process: ExampleProcess, until: threading.Event) -> InThread:
    """Once ``process`` runs, hold SQLite's write lock (another connection's open write
    transaction) until ``until`` is set: a database the supervisor cannot write to."""

    def hold() -> None:
        def take() -> bool:
            with transaction.atomic():
                ExampleProcess.objects.filter(pk=process.pk).update(lines=7)
                locked.set()
                assert until.wait(60)
                transaction.set_rollback(True)
            return True

        wait_for(take, 30, "the write lock")

    locked = threading.Event()
    holder = InThread(process, hold)
    assert locked.wait(30)
    return holder


needs_sqlite_locks = pytest.mark.skipif(
    not on_sqlite,
    reason="simulates the outage with SQLite's table lock (PostgreSQL would just wait)",
)


@needs_sqlite_locks
def test_the_outcome_is_recorded_once_a_database_outage_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    process = dispatched("quiet", seconds=0.5)
    release = threading.Event()
    retried = "cannot record the end of its run"

    def release_after_a_retry() -> None:
        wait_for(lambda: retried in caplog.text, 30, "the supervisor to retry")
        release.set()

    releaser = threading.Thread(target=release_after_a_retry, daemon=True)
    releaser.start()
    holder: list[InThread] = []
    starter = threading.Thread(target=lambda: holder.append(hold_write_lock(process, release)))
    starter.start()

    assert run_supervised(process, task_id="task-outage") == status.SUCCEEDED

    releaser.join(30)
    starter.join(30)
    holder[0].join()
    assert f"ExampleProcess pk={process.pk}: {retried}" in caplog.text
    assert row(process).status == status.SUCCEEDED
    assert row(process).lines == 1  # the lock holder's write was rolled back


@needs_sqlite_locks
def test_an_outage_longer_than_the_retry_window_raises_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(localsupervisor, "RECORD_RETRY_SECONDS", 0.5)
    process = dispatched("quiet", seconds=0.5)
    release = threading.Event()
    holder: list[InThread] = []
    starter = threading.Thread(target=lambda: holder.append(hold_write_lock(process, release)))
    starter.start()
    try:
        with pytest.raises(OperationalError, match="locked"):
            run_supervised(process, task_id="task-long-outage")
    finally:
        release.set()
        starter.join(30)
        if holder:
            holder[0].join()
    assert row(process).status == status.RUNNING  # nothing could be recorded


# -- what a run leaves behind -----------------------------------------------------------


def supervise_in_a_subreaper(process: ExampleProcess, task_id: str) -> dict[str, Any]:
    """Run ``process`` under a supervisor in a forked helper that is a child subreaper (as
    a worker's pool child is); returns what it saw: the status and the log messages."""
    read_fd, write_fd = os.pipe()
    # Never share a database socket with the helper (as the supervisor never does with a
    # run): on PostgreSQL, the helper closing its copy would end this process's session.
    connection.close()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the helper; its coverage is measured all the same
        code = 1
        try:
            os.close(read_fd)
            localsupervisor.install_worker_process_handlers()
            final = run_supervised(process, task_id=task_id)
            seen = {"status": final, "messages": messages(process)}
            os.write(write_fd, json.dumps(seen).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    return dict(json.loads(data))


@FAST_STOPS
def test_a_process_the_run_left_in_a_session_of_its_own_is_stopped_with_it() -> None:
    process = dispatched("detach", seconds=307, timeout=timedelta(milliseconds=500))

    seen = supervise_in_a_subreaper(process, "task-detach")

    assert seen["status"] == status.TIMED_OUT
    assert re.fullmatch(
        r"timed out after 0:00:0[01]: exited after SIGTERM 1/1 "
        r"\(stopped 1 process\(es\) it left behind\)",
        seen["messages"][-1],
    )
    assert not [
        proc
        for proc in psutil.process_iter(["cmdline"])
        if (proc.info["cmdline"] or [])[-2:] == ["sleep", "307"]
    ]


#: A child that says so on stdout when it gets SIGTERM, and exits.
OBEYS_SIGTERM = (
    "def on_term(signum, frame):\n"
    "    print('SIGTERM', flush=True)\n"
    "    raise SystemExit(0)\n"
    "signal.signal(signal.SIGTERM, on_term)"
)
IGNORES_SIGTERM = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"

StartChild = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start_child() -> Iterator[StartChild]:
    """``start_child(script, **popen_kwargs)``: a child of this process running ``python -c
    script``, then sleeping; returns once it is ready. Each is killed and reaped afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(script: str, **kwargs: Any) -> subprocess.Popen[str]:
        code = f"import signal, time\n{script}\nprint('ready', flush=True)\ntime.sleep(60)"
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, **kwargs
        )
        started.append(child)
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        return child

    yield start
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()


def rest_of_output(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    return child.stdout.read()  # to end of file: the child is gone


def test_leftovers_that_obey_sigterm_are_stopped_with_it_and_counted(
    start_child: StartChild,
) -> None:
    children = [start_child(OBEYS_SIGTERM), start_child(OBEYS_SIGTERM)]

    assert stop_leftovers(grace=30) == 2

    assert all(gone(child.pid) for child in children)
    assert [rest_of_output(child) for child in children] == ["SIGTERM\n", "SIGTERM\n"]


def test_a_leftover_that_ignores_sigterm_is_killed_after_the_grace(
    start_child: StartChild,
) -> None:
    child = start_child(IGNORES_SIGTERM)

    assert stop_leftovers(grace=0.2) == 1

    assert gone(child.pid)


def test_leftovers_are_killed_without_sigterm_when_asked(start_child: StartChild) -> None:
    child = start_child(OBEYS_SIGTERM)

    assert stop_leftovers(kill_now=True, grace=30) == 1

    assert gone(child.pid)
    assert rest_of_output(child) == ""  # no SIGTERM came first


def test_with_no_leftovers_nothing_is_stopped() -> None:
    assert stop_leftovers() == 0


def test_stop_run_everywhere_kills_every_process_carrying_the_runs_tag(
    start_child: StartChild,
) -> None:
    tag = run_tag("task-everywhere")
    tagged = start_child(OBEYS_SIGTERM, env={**os.environ, runchild.RUN_ENV: tag})
    other = start_child(OBEYS_SIGTERM, env={**os.environ, runchild.RUN_ENV: run_tag("other")})

    assert stop_run_everywhere(tag) == 1

    assert gone(tagged.pid)
    assert rest_of_output(tagged) == ""  # SIGKILL: no SIGTERM first
    assert other.poll() is None


# -- helpers a worker uses ------------------------------------------------------------


def test_run_tag_is_at_most_63_characters_and_unique_without_a_task_id() -> None:
    assert run_tag("abc") == "djprocess-run-abc"
    assert len(run_tag("x" * 100)) == 63
    assert run_tag("") != run_tag("")
    assert run_tag("").startswith("djprocess-run-")


@pytest.mark.parametrize(
    ("wait_status", "expected"),
    [
        (None, "the run's process ended, exit status unknown"),
        (-1, "the run's process ended, exit status unknown"),
        (3 << 8, "the run's process exited with code 3"),
        (signal.SIGKILL, "the run's process was killed by SIGKILL"),
        (35, "the run's process was killed by signal 35"),  # a real-time signal, unnamed
    ],
)
def test_describe_exit_says_how_the_runs_process_ended(
    wait_status: int | None, expected: str
) -> None:
    assert describe_exit(wait_status) == expected
