"""``djprocess.logs._sql``'s portable counter bump (``UPDATE``, else ``INSERT``), the one
used on databases without ``INSERT … ON CONFLICT``: run here on SQLite and PostgreSQL, the
databases the suite has, by calling it directly.

Runs on both databases (``--ds=djprocess_test_settings.postgres`` for the parts that need a
second connection: the bump on a side connection and two first writes at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from djprocess.logs import _sql
from djprocess.models import LogCounter
from djprocess_example.models import ExampleProcess

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only: run with --ds=djprocess_test_settings.postgres",
)


def counter(process: ExampleProcess) -> int | None:
    found = LogCounter.objects.filter(
        model=_sql.counter_label(type(process)), object_id=str(process.pk)
    ).values_list("value", flat=True)
    return found.first()


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.django_db
def test_the_first_bump_creates_the_counter_and_the_next_ones_add_to_it() -> None:
    process = ExampleProcess.objects.create()
    target = _sql.Target.of(process)
    assert _sql._bump_portable(connection, target, 3) == 3
    assert _sql._bump_portable(connection, target, 1) == 4
    assert counter(process) == 4


@pytest.mark.django_db
def test_it_shares_the_counter_with_the_upsert() -> None:
    process = ExampleProcess.objects.create()
    target = _sql.Target.of(process)
    assert _sql.bump(connection, target, 2) == 2  # the upsert (SQLite, PostgreSQL)
    assert _sql._bump_portable(connection, target, 5) == 7
    assert _sql.bump(connection, target, 1) == 8
    assert process.log("next") == 9  # and the log writer goes on from there


@pytest.mark.django_db
def test_a_missing_process_raises_does_not_exist_and_leaves_no_counter() -> None:
    process = ExampleProcess.objects.create()
    target = _sql.Target.of(process)
    process.delete()
    with pytest.raises(ExampleProcess.DoesNotExist, match=f"pk={target.pk!r}"):
        _sql._bump_portable(connection, target, 1)
    assert not LogCounter.objects.exists()


def side_wrapper() -> BaseDatabaseWrapper:
    """A second connection to ``default``, not in ``django.db.connections``, in a
    transaction of its own."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    wrapper.set_autocommit(False)
    return wrapper


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_it_runs_on_the_connection_it_is_given() -> None:
    process = ExampleProcess.objects.create()
    target = _sql.Target.of(process)
    side = side_wrapper()
    try:
        assert _sql._bump_portable(side, target, 2) == 2
        assert counter(process) is None  # not committed on the side yet
        side.rollback()
        assert counter(process) is None
        assert _sql._bump_portable(side, target, 4) == 4
        side.commit()
        assert counter(process) == 4
    finally:
        side.close()


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_first_writes_at_once_both_count() -> None:
    process = ExampleProcess.objects.create()
    target = _sql.Target.of(process)
    first, second = side_wrapper(), side_wrapper()
    second_pid = second.connection.info.backend_pid
    second.inc_thread_sharing()  # used in the thread below
    results: list[int | BaseException] = []

    def bump_second() -> None:
        try:
            results.append(_sql._bump_portable(second, target, 2))
            second.commit()
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    def waiting_for_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [second_pid]
            )
            row = cursor.fetchone()
        return row is not None and row[0] == "Lock"

    try:
        assert _sql._bump_portable(first, target, 1) == 1  # inserts the row, uncommitted
        thread = threading.Thread(target=bump_second)
        thread.start()
        # Its UPDATE finds no row; its INSERT waits on the unique key for the first.
        wait_for(
            lambda: results or waiting_for_a_lock(), 10, "the second INSERT to wait for the first"
        )
        assert results == []
        first.commit()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        first.close()
        second.dec_thread_sharing()
        second.close()
    assert results == [3]
    assert counter(process) == 3
