"""``djprocess.run._statuswatcher``: the thread that reads a running row's status and writes
its heartbeat, and tells the supervisor (one byte on its wake pipe, ``found``) when the row
left ``running`` or was deleted.

Each test starts a real :class:`StatusWatcher` thread on a real row and a real pipe; the
watcher reads through its own database connection (on the in-memory SQLite test database a
second connection meets the other's table locks: the test's own reads and writes retry
through them). The outage tests make the database really fail under the watcher: SQLite's
table lock held by the test's connection, or on PostgreSQL the watcher's session terminated.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError, connection, transaction
from django.db.backends.signals import connection_created
from django.test import override_settings
from process_helpers import wait_for
from unit_helpers import Make, set_running

from djprocess import _clock as clock
from djprocess import status
from djprocess.conf import settings as djprocess_settings
from djprocess.run._statuswatcher import DELETED, StatusWatcher
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)

on_sqlite = django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")

#: The row polled every 20 ms, a heartbeat every 0.1 s (the smallest allowed).
FAST = override_settings(DJPROCESS_STATUS_POLL_SECONDS=0.02, DJPROCESS_HEARTBEAT_SECONDS=0.1)
#: The row polled once a minute: only a kick (stop, decide_timeout) wakes the watcher.
SLOW = override_settings(DJPROCESS_STATUS_POLL_SECONDS=60, DJPROCESS_HEARTBEAT_SECONDS=600)


def write(action: Callable[[], object]) -> None:
    """Do ``action`` (a write), retrying while the watcher's read holds the table."""

    def attempt() -> bool:
        action()
        return True

    wait_for(attempt, 10, "the write to go through")


def row(process: ExampleProcess) -> ExampleProcess:
    return wait_for(lambda: ExampleProcess.objects.get(pk=process.pk), 10, "the row")


class Watch:
    """A started :class:`StatusWatcher` and the read end of its wake pipe."""

    def __init__(self, process: ExampleProcess, check_by: Any) -> None:
        self.wake_r, self.wake_w = os.pipe()
        self.watcher = StatusWatcher(process, check_by, self.wake_w)
        self.watcher.start()

    def woken(self, seconds: float = 10) -> bytes:
        """The bytes on the wake pipe once it is readable (fails after ``seconds``)."""
        readable, _, _ = select.select([self.wake_r], [], [], seconds)
        assert readable, "the watcher did not wake the supervisor"
        return os.read(self.wake_r, 100)

    def not_woken(self) -> bool:
        readable, _, _ = select.select([self.wake_r], [], [], 0)
        return not readable

    def ended(self, seconds: float = 10) -> bool:
        self.watcher.join(seconds)
        return not self.watcher.is_alive()

    def close(self) -> None:
        self.watcher.stop()
        self.watcher.join(10)
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def watch() -> Iterator[Callable[[ExampleProcess], Watch]]:
    """``watch(process, check_by=None)``: start a watcher on ``process`` (``check_by``
    defaults to its deadline plus a minute). Each is stopped, and must be gone, afterwards."""
    started: list[Watch] = []

    def start(process: ExampleProcess, check_by: Any = None) -> Watch:
        if check_by is None:
            check_by = process.deadline_at + timedelta(minutes=1)
        started.append(Watch(process, check_by))
        return started[-1]

    yield start
    for each in started:
        each.close()
    assert not [each for each in started if each.watcher.is_alive()]


@pytest.fixture
def running(make: Make) -> Callable[..., ExampleProcess]:
    """``running(task_id="run-task", timeout=...)``: a process claimed (``running``)."""

    def claim(task_id: str = "run-task", timeout: timedelta = timedelta(hours=1)) -> ExampleProcess:
        process = make(kind="sleep", timeout=timeout)
        set_running(process, task_id=task_id)
        return process

    return claim


# -- while the row is running ---------------------------------------------------------


@FAST
@pytest.mark.parametrize("task_id", ["run-task", ""], ids=["with-task-id", "without-task-id"])
def test_a_running_row_gets_heartbeats_and_a_check_within_the_stale_window(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch], task_id: str
) -> None:
    process = running(task_id=task_id)
    before = clock.utc_now()
    watching = watch(process)

    first = wait_for(lambda: row(process).heartbeat_at, 10, "a heartbeat")
    # Heartbeats go on while it runs: each one later than the last.
    wait_for(lambda: row(process).heartbeat_at > first, 10, "a second heartbeat")

    found = row(process)
    assert found.heartbeat_at >= before
    stale = timedelta(seconds=djprocess_settings.HEARTBEAT_STALE_SECONDS)
    assert found.next_check_at == found.heartbeat_at + stale  # the deadline is far off
    assert found.status == status.RUNNING
    assert watching.watcher.found is None
    assert watching.not_woken()


@FAST
def test_the_check_a_heartbeat_schedules_is_never_after_check_by(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch]
) -> None:
    process = running()
    check_by = clock.utc_now() + timedelta(milliseconds=100)  # sooner than a stale heartbeat

    watch(process, check_by)

    wait_for(lambda: row(process).heartbeat_at, 10, "a heartbeat")
    assert row(process).next_check_at == check_by


# -- the row leaves running -----------------------------------------------------------


@FAST
@pytest.mark.parametrize("new_status", [status.CANCELLED, status.TIMED_OUT, status.FAILED])
def test_a_row_that_leaves_running_is_reported_once_with_its_new_status(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch], new_status: str
) -> None:
    process = running()
    watching = watch(process)
    wait_for(lambda: row(process).heartbeat_at, 10, "the watcher to be watching")

    write(lambda: ExampleProcess.objects.filter(pk=process.pk).update(status=new_status))

    assert watching.woken() == b"!"
    assert watching.watcher.found == new_status
    assert watching.ended()  # it stops watching: nothing more is written
    assert watching.not_woken()


@FAST
def test_a_deleted_row_is_reported_as_deleted(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch]
) -> None:
    process = running()
    watching = watch(process)

    write(lambda: ExampleProcess.objects.filter(pk=process.pk).delete())

    assert watching.woken() == b"!"
    assert watching.watcher.found == DELETED == "deleted"
    assert watching.ended()


@FAST
def test_a_row_re_run_by_another_task_counts_as_gone_for_this_run(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch]
) -> None:
    process = running(task_id="first-run")
    watching = watch(process)

    # Still running, but another task's run now: not the one this supervisor claimed.
    write(lambda: ExampleProcess.objects.filter(pk=process.pk).update(process_task_id="second-run"))

    assert watching.woken() == b"!"
    assert watching.watcher.found == DELETED
    assert watching.ended()


@FAST
def test_a_change_found_after_the_supervisor_closed_its_pipe_is_still_recorded(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch]
) -> None:
    process = running()
    watching = watch(process)
    os.close(watching.wake_r)  # the supervisor is gone: writing to the pipe fails (EPIPE)

    write(lambda: ExampleProcess.objects.filter(pk=process.pk).update(status=status.CANCELLED))

    assert watching.ended()  # no error in the thread (pytest would report it)
    assert watching.watcher.found == status.CANCELLED


# -- what the supervisor asks -----------------------------------------------------------


@SLOW
def test_stop_ends_the_watcher_at_once_without_a_report(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch]
) -> None:
    process = running()
    watching = watch(process)
    write(lambda: ExampleProcess.objects.filter(pk=process.pk).update(status=status.CANCELLED))

    watching.watcher.stop()

    assert watching.ended(5)  # well before its next poll, a minute away
    assert watching.watcher.found is None
    assert watching.not_woken()


@SLOW
def test_decide_timeout_records_timed_out_at_once_and_reports_it(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch]
) -> None:
    process = running()
    watching = watch(process)

    watching.watcher.decide_timeout()

    assert watching.woken(5) == b"!"  # well before its next poll, a minute away
    found = row(process)
    assert found.status == status.TIMED_OUT
    assert found.stopped_by == "watchdog"
    assert found.next_check_at is not None
    assert watching.watcher.found == status.TIMED_OUT


@SLOW
def test_decide_timeout_of_a_row_re_run_meanwhile_leaves_that_run_alone(
    running: Callable[..., ExampleProcess], watch: Callable[..., Watch]
) -> None:
    process = running(task_id="first-run")
    watching = watch(process)
    write(lambda: ExampleProcess.objects.filter(pk=process.pk).update(process_task_id="second-run"))

    watching.watcher.decide_timeout()

    assert watching.woken(5) == b"!"
    assert watching.watcher.found == DELETED
    assert row(process).status == status.RUNNING  # the other run is not timed out


# -- a database outage ----------------------------------------------------------------


def outage_over(caplog: pytest.LogCaptureFixture, process: ExampleProcess) -> None:
    """What every outage test asserts once the database is back: the watcher said so, it
    reported nothing meanwhile, and it is watching again (a cancel is seen)."""
    label = f"{process._meta.label} pk={process.pk}"
    wait_for(lambda: f"{label}: database back" in caplog.text, 10, "the watcher to recover")
    warnings = [r for r in caplog.records if "cannot read its status" in r.getMessage()]
    assert len(warnings) == 1  # one warning per outage, not one per poll
    assert warnings[0].getMessage().startswith(f"{label}: cannot read its status (")
    assert warnings[0].getMessage().endswith("); the deadline is still enforced, retrying")


needs_sqlite_locks = pytest.mark.skipif(
    not on_sqlite, reason="makes the outage with SQLite's table lock (PostgreSQL would wait)"
)
needs_postgresql = pytest.mark.skipif(
    on_sqlite, reason="makes the outage by terminating the watcher's PostgreSQL session"
)


@pytest.fixture
def watcher_failures() -> Iterator[list[DatabaseError]]:
    """The errors the database raised to the queries of connections opened by threads other
    than the test's (the watcher's): each failed poll. The queries run as they would."""
    failures: list[DatabaseError] = []
    test_thread = threading.current_thread()

    def record(execute: Callable[..., Any], *args: Any) -> Any:
        try:
            return execute(*args)
        except DatabaseError as exc:
            failures.append(exc)
            raise

    def on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
        if threading.current_thread() is not test_thread:
            connection.execute_wrappers.append(record)

    connection_created.connect(on_connect)
    try:
        yield failures
    finally:
        connection_created.disconnect(on_connect)


@FAST
@needs_sqlite_locks
def test_a_database_outage_delays_the_report_and_is_logged_once(
    running: Callable[..., ExampleProcess],
    watch: Callable[..., Watch],
    caplog: pytest.LogCaptureFixture,
    watcher_failures: list[DatabaseError],
) -> None:
    process = running()
    watching = watch(process)

    with transaction.atomic():
        # The test's connection writes the table and holds it: every read of the watcher's
        # fails ("database table is locked") until the transaction ends.
        ExampleProcess.objects.filter(pk=process.pk).update(status=status.CANCELLED)
        wait_for(lambda: len(watcher_failures) >= 3, 10, "three polls to fail")
        assert watching.watcher.found is None  # what it cannot read, it does not report
        transaction.set_rollback(True)
    assert watching.not_woken()

    outage_over(caplog, process)
    assert "database table is locked" in str(watcher_failures[0])
    write(lambda: ExampleProcess.objects.filter(pk=process.pk).update(status=status.CANCELLED))
    assert watching.woken() == b"!"
    assert watching.watcher.found == status.CANCELLED


def other_sessions() -> list[int]:
    """PostgreSQL backend pids of the other sessions on the test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


@FAST
@needs_postgresql
def test_a_terminated_database_session_is_logged_and_the_watcher_reconnects(
    running: Callable[..., ExampleProcess],
    watch: Callable[..., Watch],
    caplog: pytest.LogCaptureFixture,
) -> None:
    process = running()
    watching = watch(process)
    sessions = wait_for(other_sessions, 10, "the watcher's session")

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [sessions])

    outage_over(caplog, process)
    assert watching.watcher.found is None
    write(lambda: ExampleProcess.objects.filter(pk=process.pk).update(status=status.CANCELLED))
    assert watching.woken() == b"!"
    assert watching.watcher.found == status.CANCELLED
    # Once it stops, it leaves no session behind.
    assert watching.ended()
    wait_for(lambda: other_sessions() == [], 10, "the watcher's session to end")
