"""``djprocess.supervision.lost.record_task_lost``: what a process task that died outside
``run()`` (its pool child SIGKILLed, the OOM killer) does to the process.

A running process is failed by ``worker``; a pending one only if the lost task is the
one it was dispatched to; a finished one, a re-dispatched one and a deleted one are left
alone (the last is logged). The races are real interleavings: another connection writes
the row between the read of ``record_task_lost`` and its compare-and-set (through
Django's ``execute_wrapper``, which lets each query run unchanged), and a database error
is a real table lock held by another connection.

``transaction=True``: the rows are committed, so another connection sees them, and the
signals are sent (they wait for a commit).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from unit_helpers import Make, messages, set_running

from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.signals import process_finished, process_stopped
from djprocess.supervision.lost import DB_ATTEMPTS, record_task_lost
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "WorkerLostError: Worker exited prematurely: signal 9 (SIGKILL)."
LABEL = ExampleProcess._meta.label
TABLE = ExampleProcess._meta.db_table

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="a table lock of another connection fails a read only on SQLite (shared cache)",
)


def stored(process: ExampleProcess) -> ExampleProcess:
    return ExampleProcess.objects.get(pk=process.pk)


def dispatched(process: ExampleProcess, task_id: str) -> None:
    """Record ``process`` as dispatched to ``task_id``, as ``start()`` does."""
    assert compare_and_set(
        process,
        [status.PENDING],
        dispatched_at=timezone.now(),
        process_task_id=task_id,
        next_check_at=timezone.now() + timedelta(minutes=5),
    )


def lost_now(process: ExampleProcess, task_id: str, label: str = "") -> None:
    record_task_lost(ExampleProcess, process.pk, task_id, REASON, label)


def in_another_thread(work: Callable[[], None]) -> None:
    """Run ``work`` on another thread, so on another database connection, and wait."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the other connection's write did not finish"
    assert not failures, failures


@contextmanager
def before_first_write(work: Callable[[], None]) -> Iterator[list[str]]:
    """Run ``work`` on another connection just before this connection's first statement
    that is not a read (``BEGIN`` or ``UPDATE``): between the read of ``record_task_lost``
    and its compare-and-set. Yields the statements seen."""
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().upper().startswith("SELECT") and not any(
            not s.lstrip().upper().startswith("SELECT") for s in seen
        ):
            in_another_thread(work)
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen
    assert any(not s.lstrip().upper().startswith("SELECT") for s in seen), "no write was made"


@pytest.fixture
def sent() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The djprocess signals sent, as ``(name, arguments)``."""
    found: list[tuple[str, dict[str, Any]]] = []

    def receiver(name: str) -> Callable[..., None]:
        def receive(sender: Any, **kwargs: Any) -> None:
            kwargs.pop("signal", None)
            found.append((name, kwargs))

        return receive

    finished, stopped = receiver("finished"), receiver("stopped")
    process_finished.connect(finished)
    process_stopped.connect(stopped)
    yield found
    process_finished.disconnect(finished)
    process_stopped.disconnect(stopped)


# -- a running process -----------------------------------------------------------------


def test_a_running_process_is_failed_by_the_worker_with_the_reason(
    make: Make, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    process = make()
    set_running(process, task_id="task-a")

    lost_now(process, "task-a")

    row = stored(process)
    assert row.status == status.FAILED
    assert row.stopped_by == "worker"
    assert row.termination == f"worker lost: {REASON}"
    assert row.exception == f"WorkerLost: {REASON}"
    assert row.finished_at is not None
    assert row.finished_at >= row.started_at
    assert row.next_check_at is None  # nothing left for the supervisor
    assert messages(row)[-1] == f"failed: worker lost: {REASON}"
    assert row.logs.order_by("sequence").last().level == "ERROR"
    # The stop is confirmed at once: finished, and stopped by the worker.
    assert [name for name, _ in sent] == ["finished", "stopped"]
    assert sent[1][1]["stopped_by"] == "worker"
    assert sent[1][1]["termination"] == f"worker lost: {REASON}"


def test_a_long_reason_is_cut_to_the_fields_sizes(make: Make) -> None:
    process = make()
    set_running(process, task_id="task-a")
    reason = "WorkerLostError: " + "x" * 20_000

    record_task_lost(ExampleProcess, process.pk, "task-a", reason)

    row = stored(process)
    assert row.status == status.FAILED
    assert row.termination == f"worker lost: {reason}"[:255]
    assert row.exception == f"WorkerLost: {reason}"[:10_000]


def test_a_second_report_of_the_same_loss_changes_nothing(
    make: Make, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    process = make()
    set_running(process, task_id="task-a")
    lost_now(process, "task-a")
    first = stored(process)

    lost_now(process, "task-a")

    again = stored(process)
    assert (again.status, again.finished_at, again.modified) == (
        first.status,
        first.finished_at,
        first.modified,
    )
    assert messages(again) == messages(first)
    assert [name for name, _ in sent] == ["finished", "stopped"]  # sent once


def test_a_late_loss_of_an_earlier_task_leaves_the_re_run_running(make: Make) -> None:
    process = make()
    set_running(process, task_id="task-b")  # the re-run, under its own task

    lost_now(process, "task-a")  # the pool child of the first run, lost after it ended

    row = stored(process)
    assert row.status == status.RUNNING
    assert row.stopped_by == ""
    assert not any("worker lost" in message for message in messages(row))


# -- a pending process -------------------------------------------------------------------


def test_a_process_dispatched_to_the_lost_task_fails_before_it_ever_ran(
    make: Make, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    process = make()
    dispatched(process, "task-a")

    lost_now(process, "task-a")

    row = stored(process)
    assert row.status == status.FAILED
    assert row.stopped_by == "worker"
    assert row.termination == f"worker lost before the run started: {REASON}"
    assert row.exception == f"WorkerLost: {REASON}"
    assert row.started_at is None  # it never ran
    assert row.finished_at is not None
    assert row.next_check_at is None  # the queue timeout is not waited for
    assert messages(row) == [f"failed: worker lost before the run started: {REASON}"]
    assert row.logs.get().level == "ERROR"
    assert [name for name, _ in sent] == ["finished"]  # no run, so no stop


def test_a_process_dispatched_again_since_is_left_to_its_new_task(make: Make) -> None:
    process = make()
    dispatched(process, "task-b")
    before = stored(process)

    lost_now(process, "task-a")

    row = stored(process)
    assert row.status == status.PENDING
    assert row.modified == before.modified
    assert row.next_check_at == before.next_check_at
    assert messages(row) == []


def test_a_process_never_dispatched_is_left_pending(make: Make) -> None:
    process = make()  # no task id, no dispatched_at
    assert stored(process).process_task_id == ""

    lost_now(process, "")  # a task failure that named no task id

    row = stored(process)
    assert row.status == status.PENDING
    assert row.finished_at is None
    assert messages(row) == []


def test_a_process_claimed_while_the_loss_was_read_is_failed_as_a_running_one(
    make: Make,
) -> None:
    process = make()
    dispatched(process, "task-a")

    def claim() -> None:
        set_running(ExampleProcess.objects.get(pk=process.pk), task_id="task-a")

    with before_first_write(claim):
        lost_now(process, "task-a")

    row = stored(process)
    assert row.status == status.FAILED
    assert row.started_at is not None  # the claim won the race to the row
    assert row.termination == f"worker lost: {REASON}"
    assert messages(row) == [f"failed: worker lost: {REASON}"]


# -- a finished or deleted process -------------------------------------------------------


@pytest.mark.parametrize(
    "final", [status.SUCCEEDED, status.FAILED, status.CANCELLED, status.TIMED_OUT]
)
def test_a_finished_process_keeps_how_it_ended(make: Make, final: str) -> None:
    process = make()
    set_running(process, task_id="task-a")
    ended = timezone.now()
    ExampleProcess.objects.filter(pk=process.pk).update(
        status=final, finished_at=ended, termination="as the run recorded it"
    )

    lost_now(process, "task-a")  # the pool child died after the run had recorded its end

    row = stored(process)
    assert (row.status, row.finished_at, row.termination) == (
        final,
        ended,
        "as the run recorded it",
    )
    assert row.stopped_by == ""
    assert messages(row) == []


def test_a_run_that_finished_while_the_loss_was_read_keeps_its_outcome(
    make: Make, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    process = make()
    set_running(process, task_id="task-a")

    def finish() -> None:
        assert compare_and_set(
            ExampleProcess.objects.get(pk=process.pk),
            [status.RUNNING],
            status.SUCCEEDED,
            finished_at=timezone.now(),
        )

    with before_first_write(finish):
        lost_now(process, "task-a")

    row = stored(process)
    assert row.status == status.SUCCEEDED
    assert row.stopped_by == ""
    assert messages(row) == []
    assert [(name, args["status"]) for name, args in sent] == [("finished", status.SUCCEEDED)]


def test_a_deleted_process_is_logged_under_the_models_label(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    process = make()
    pk = process.pk
    process.delete()

    with caplog.at_level(logging.WARNING, logger="djprocess.supervision"):
        record_task_lost(ExampleProcess, pk, "task-a", REASON)

    assert [r.getMessage() for r in caplog.records] == [
        f"task task-a failed for process {LABEL} pk={pk!r}, now deleted"
    ]
    assert not ExampleProcess.objects.filter(pk=pk).exists()


def test_the_label_of_the_task_message_names_the_model_in_the_log(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="djprocess.supervision"):
        record_task_lost(ExampleProcess, "999999", "task-a", REASON, "as.queued")

    assert caplog.messages == ["task task-a failed for process as.queued pk='999999', now deleted"]


# -- database errors -----------------------------------------------------------------


@contextmanager
def table_locked() -> Iterator[sqlite3.Connection]:
    """Another connection holds a write lock on the process table (until rolled back)."""
    other = sqlite3.connect(connection.settings_dict["NAME"], uri=True, isolation_level=None)
    try:
        other.execute("BEGIN")
        other.execute(f'UPDATE "{TABLE}" SET "lines" = "lines"')
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


@sqlite_only
def test_a_database_error_that_persists_is_logged_and_the_row_left_to_the_supervisor(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    process = make()
    set_running(process, task_id="task-a")
    tries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        tries.append(sql)
        return execute(sql, params, many, context)

    with (
        caplog.at_level(logging.ERROR, logger="djprocess.supervision"),
        table_locked(),
        connection.execute_wrapper(count),
    ):
        lost_now(process, "task-a", label="as.queued")  # never raises

    assert len(tries) == DB_ATTEMPTS  # one read per attempt, each failed
    (record,) = caplog.records
    assert record.getMessage().startswith(
        f"task task-a for as.queued pk={process.pk!r} failed ({REASON}) and cannot be recorded: "
    )
    assert "locked" in record.getMessage()
    assert record.getMessage().endswith("; the supervisor will find it")
    assert stored(process).status == status.RUNNING  # the lock is gone: nothing was written


@sqlite_only
def test_a_database_error_on_the_first_try_is_retried(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    process = make()
    set_running(process, task_id="task-a")
    failed: list[BaseException] = []

    with table_locked() as other:

        def release_after_first_failure(
            execute: Any, sql: str, params: Any, many: bool, context: Any
        ) -> Any:
            try:
                return execute(sql, params, many, context)
            except Exception as exc:
                failed.append(exc)
                other.execute("ROLLBACK")  # the outage ends
                raise

        with (
            caplog.at_level(logging.ERROR, logger="djprocess.supervision"),
            connection.execute_wrapper(release_after_first_failure),
        ):
            lost_now(process, "task-a")

    assert len(failed) == 1
    assert "locked" in str(failed[0])
    assert caplog.records == []
    row = stored(process)
    assert row.status == status.FAILED
    assert messages(row) == [f"failed: worker lost: {REASON}"]
