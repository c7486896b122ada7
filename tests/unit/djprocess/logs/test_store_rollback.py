"""Rollback-proof, durable log writes (see ``djprocess.logs._store``).

On PostgreSQL a line logged inside ``atomic()`` is committed on a private connection at
once; on SQLite (and for a process row not yet committed) it is written in a savepoint and
written again if the block rolls back. Runs on both (``--ds=djprocess_test_settings.postgres``).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction
from unit_helpers import needs_concurrent_connections, sequences

from djprocess import status
from djprocess.logs import LogEntry
from djprocess.logs import _store as logstore
from djprocess.logs import capture as logcapture
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)


def messages(process: ExampleProcess) -> list[str]:
    return list(process.logs.order_by("sequence").values_list("message", flat=True))


def seen_by_another_connection(process: ExampleProcess) -> list[str]:
    """The messages another connection (another thread) sees now."""
    result: list[str] = []

    def read() -> None:
        try:
            result.extend(messages(process))
        finally:
            connection.close()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return result


@pytest.fixture(autouse=True)
def _close_private_connections() -> Any:
    yield
    logstore.close_private_connections()


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def test_line_logged_in_a_rolled_back_block_survives() -> None:
    process = ExampleProcess.objects.create()

    def work() -> None:
        with transaction.atomic():
            process.log("inside")
            process.log_many([LogEntry(message="batch 1"), LogEntry(message="batch 2")])
            ExampleProcess.objects.filter(pk=process.pk).update(lines=99)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        work()
    assert ExampleProcess.objects.get(pk=process.pk).lines != 99
    if not is_postgres():
        # SQLite: rolled back with the block, written again at the next write.
        assert messages(process) == []
    process.log("after")
    assert messages(process) == ["inside", "batch 1", "batch 2", "after"]
    assert sequences(process) == [1, 2, 3, 4]


@needs_concurrent_connections
def test_line_is_visible_to_other_connections_when_log_returns() -> None:
    process = ExampleProcess.objects.create()
    with transaction.atomic():
        process.save()  # the caller's transaction now holds the process row
        process.log("durable")
        assert seen_by_another_connection(process) == ["durable"]
        assert process.log_count() == 1
        transaction.set_rollback(True)
    assert messages(process) == ["durable"]


def test_failed_run_keeps_lines_status_and_failure_line() -> None:
    process = ExampleProcess.objects.create(kind="rollback", seconds=0)
    assert process.execute() == status.FAILED
    found = messages(process)
    assert "inside the transaction that will roll back" in found
    assert found[-1].startswith("failed after")
    assert "RuntimeError: rolled back" in found[-1]
    assert sequences(process) == list(range(1, len(found) + 1))
    assert ExampleProcess.objects.get(pk=process.pk).status == status.FAILED


def test_lines_of_a_rolled_back_block_are_replayed_when_run_ends() -> None:
    process = ExampleProcess.objects.create()

    def work() -> None:
        with transaction.atomic():
            process.log("last words")
            raise RuntimeError

    with logcapture.capture(process), pytest.raises(RuntimeError):
        work()
    # No later write: the end of run() wrote it again (SQLite) or it was never lost.
    assert messages(process) == ["last words"]


def test_bad_write_does_not_break_the_callers_transaction() -> None:
    process = ExampleProcess.objects.create()
    other = ExampleProcess.objects.create()
    ExampleProcess.objects.filter(pk=other.pk).delete()
    with transaction.atomic():
        process.log("before")
        with pytest.raises(ExampleProcess.DoesNotExist):
            other.log("to a deleted process")
        process.log("bad \x00 input", extra={"obj": object()})
        ExampleProcess.objects.filter(pk=process.pk).update(lines=7)  # still usable
    assert ExampleProcess.objects.get(pk=process.pk).lines == 7
    assert messages(process) == ["before", "bad \\x00 input"]


def test_lines_logged_in_a_broken_transaction_are_deferred_not_lost() -> None:
    process = ExampleProcess.objects.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        ExampleProcess.objects.create(pk=process.pk)  # breaks the transaction
    with transaction.atomic():
        try:
            with transaction.atomic(savepoint=False):
                ExampleProcess.objects.create(pk=process.pk)
        except IntegrityError:
            pass
        assert connection.needs_rollback
        returned = process.log("while broken")
        assert returned in (0, 1)  # 0: deferred (SQLite); 1: private connection (PostgreSQL)
        transaction.set_rollback(True)
    process.log("next")
    assert messages(process) == ["while broken", "next"]


def test_select_for_update_on_the_process_does_not_deadlock() -> None:
    process = ExampleProcess.objects.create()
    with transaction.atomic():
        ExampleProcess.objects.select_for_update().get(pk=process.pk)
        process.log("one")  # PostgreSQL: lock_timeout, then the caller's connection
        process.log("two")  # same transaction: straight to the caller's connection
        transaction.set_rollback(True)
    process.log("three")
    assert messages(process) == ["one", "two", "three"]


@needs_concurrent_connections
def test_process_created_in_the_same_transaction() -> None:
    """What a test wrapped in one transaction sees: the row is not committed, so lines go
    through the caller's connection and are visible to it at once."""
    with transaction.atomic():
        process = ExampleProcess.objects.create()
        assert process.log("first") == 1
        assert messages(process) == ["first"]
        assert seen_by_another_connection(process) == []
    assert messages(process) == ["first"]


@needs_concurrent_connections
def test_threads_in_run_log_gaplessly() -> None:
    process = ExampleProcess.objects.create(kind="threads", lines=25, seconds=0)
    assert process.execute() == status.SUCCEEDED
    lines = list(process.logs.order_by("sequence"))
    assert [line.sequence for line in lines] == list(range(1, len(lines) + 1))
    for writer in ("t0", "t1", "t2", "t3"):
        mine = [line.extra["n"] for line in lines if line.extra.get("writer") == writer]
        assert mine == list(range(25))


@needs_concurrent_connections
def test_a_line_logged_on_a_connection_that_died_meanwhile_is_stored() -> None:
    # A database outage ended the session while the run slept; the outage is over.
    process = ExampleProcess.objects.create(kind="succeed")
    assert process.log("before the outage") == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    finally:
        other.close()

    assert process.log("after the outage") == 2

    assert messages(process) == ["before the outage", "after the outage"]
