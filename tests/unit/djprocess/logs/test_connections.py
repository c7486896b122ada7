"""``djprocess.logs._connections``: which connections a log write may use besides the
caller's: an inherited one is told apart, the side connection stores and commits on its
own, follows the caller's settings, and a bounded wait is cut.

Runs on both databases (``--ds=djprocess_test_settings.postgres`` for the PostgreSQL-only
parts: the bounded write and the cut of a socket).
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend
from django.utils import timezone

from djprocess.logs import _connections as logconn
from djprocess.logs._sql import INSERT_CHUNK, Row, Target
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only: run with --ds=djprocess_test_settings.postgres",
)


@pytest.fixture(autouse=True)
def _close_side_connections() -> Iterator[None]:
    yield
    logconn.close()


def rows(*messages: str) -> list[Row]:
    return [(message, "INFO", {}, timezone.now()) for message in messages]


def stored(process: ExampleProcess) -> list[tuple[int, str]]:
    return list(process.logs.order_by("sequence").values_list("sequence", "message"))


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def template_like_default(**options: Any) -> BaseDatabaseWrapper:
    """A wrapper for the ``default`` alias with the default settings plus ``options``
    (as ``connections['default']`` is after its settings changed)."""
    settings_dict = copy.deepcopy(connection.settings_dict)
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], **options}
    wrapper: BaseDatabaseWrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(
        settings_dict, "default"
    )
    return wrapper


# -- inherited connections --------------------------------------------------------------


def test_a_connection_opened_by_this_process_or_not_open_is_not_inherited() -> None:
    connection.ensure_connection()
    assert logconn.inherited(connection) is False
    unopened = connections.create_connection("default")
    assert unopened.connection is None
    assert logconn.inherited(unopened) is False


def test_in_a_forked_child_the_parents_connection_is_inherited_and_its_own_is_not() -> None:
    connection.ensure_connection()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its coverage is measured all the same
        code = 1
        try:
            os.close(read_fd)
            seen = [logconn.inherited(connection)]
            own = connections.create_connection("default")
            own.ensure_connection()
            seen.append(logconn.inherited(own))
            own.close()
            os.write(write_fd, json.dumps(seen).encode())
            code = 0
        finally:
            os._exit(code)  # never closes (nor uses again) the parent's connection
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        seen = json.loads(pipe.read())
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert seen == [True, False]
    # The parent's connection still works.
    assert ExampleProcess.objects.count() == 0


# -- the side connection ------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, INSERT_CHUNK + 1], ids=["few", "more-than-a-chunk"])
def test_an_unbounded_write_stores_the_lines_and_commits_them(count: int) -> None:
    process = ExampleProcess.objects.create()
    messages = [f"line {n}" for n in range(count)]

    sequences = logconn.write(connection, Target.of(process), rows(*messages), bounded=False)

    assert sequences == list(range(1, count + 1))
    # Committed: this (the caller's) connection sees them.
    assert stored(process) == list(zip(range(1, count + 1), messages, strict=True))
    # The next write continues the numbering.
    assert logconn.write(connection, Target.of(process), rows("next"), bounded=False) == [count + 1]


def test_an_unbounded_write_for_a_missing_process_raises_and_stores_nothing() -> None:
    process = ExampleProcess.objects.create()
    gone = ExampleProcess.objects.create()
    ExampleProcess.objects.filter(pk=gone.pk).delete()

    with pytest.raises(ExampleProcess.DoesNotExist, match=f"process pk={gone.pk!r} does not exist"):
        logconn.write(connection, Target.of(gone), rows("a", "b"), bounded=False)

    # Rolled back, and the side connection is usable as before.
    assert logconn.write(connection, Target.of(process), rows("after"), bounded=False) == [1]
    assert stored(process) == [(1, "after")]
    assert not gone.logs.exists()


def test_an_unbounded_write_that_fails_in_the_database_raises_and_the_next_one_works() -> None:
    process = ExampleProcess.objects.create()
    target = Target.of(process)
    if connection.vendor == "sqlite":
        # The caller's open write transaction: the side connection cannot write.
        with transaction.atomic():
            ExampleProcess.objects.filter(pk=process.pk).update(lines=5)
            with pytest.raises(DatabaseError, match="locked"):
                logconn.write(connection, target, rows("while locked"), bounded=False)
            transaction.set_rollback(True)
    else:
        with pytest.raises(DatabaseError, match="NUL"):  # PostgreSQL refuses it in text
            logconn.write(connection, target, rows("bad \x00 byte"), bounded=False)

    assert logconn.write(connection, target, rows("afterwards"), bounded=False) == [1]
    assert stored(process) == [(1, "afterwards")]


def sessions_named(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name])
        (count,) = cursor.fetchone()
    return int(count)


@needs_postgresql
def test_the_side_connection_is_made_again_when_the_callers_settings_change() -> None:
    process = ExampleProcess.objects.create()
    target = Target.of(process)
    first = template_like_default(application_name="djprocess-side-first")
    second = template_like_default(application_name="djprocess-side-second")

    assert logconn.write(first, target, rows("one"), bounded=False) == [1]
    assert sessions_named("djprocess-side-first") == 1

    assert logconn.write(second, target, rows("two"), bounded=False) == [2]
    wait_for(lambda: sessions_named("djprocess-side-first") == 0, 10, "the old one to close")
    assert sessions_named("djprocess-side-second") == 1

    logconn.close()
    wait_for(lambda: sessions_named("djprocess-side-second") == 0, 10, "close() to close it")
    assert stored(process) == [(1, "one"), (2, "two")]


# -- the cut of a wait ----------------------------------------------------------------------


def the_cut_has_fired(started_before: set[threading.Thread]) -> None:
    """Inside ``_cut_after``'s call: wait (at most 10 s) until its timer has run."""
    timers = [
        thread
        for thread in threading.enumerate()
        if isinstance(thread, threading.Timer) and thread not in started_before
    ]
    assert len(timers) == 1
    timers[0].join(10)
    assert not timers[0].is_alive()


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    """Exceptions that escape a thread (the cut runs in a timer thread)."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    return errors


@needs_postgresql
def test_a_statement_still_waiting_after_the_wait_is_cut_and_fails_at_once() -> None:
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    backend_pid = wrapper.connection.info.backend_pid
    started = time.monotonic()
    try:

        def wait_long() -> None:
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(60)")

        with pytest.raises(DatabaseError):
            logconn._cut_after(0.3, wrapper, wait_long)
    finally:
        wrapper.close()
        # The server sleeps on after the client's socket is gone: end it, or the test
        # database cannot be dropped.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
        wait_for(lambda: not backend_alive(backend_pid), 10, "the cut session to end")
    assert time.monotonic() - started < 30


def backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        (count,) = cursor.fetchone()
    return bool(count)


def test_a_call_that_outlasts_the_wait_without_a_socket_to_cut_runs_to_its_end(
    thread_errors: list[BaseException | None],
) -> None:
    # SQLite: the driver has no socket. PostgreSQL: the driver closed it meanwhile.
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    before = set(threading.enumerate())
    results: list[object] = []

    def call() -> None:
        if wrapper.vendor == "postgresql":
            wrapper.connection.close()
        the_cut_has_fired(before)
        results.append("returned")

    try:
        logconn._cut_after(0.05, wrapper, call)
    finally:
        wrapper.close()
    assert results == ["returned"]
    assert thread_errors == []


def test_a_call_that_returns_in_time_is_not_cut() -> None:
    wrapper = connections.create_connection("default")
    before = set(threading.enumerate())
    timers: list[threading.Thread] = []

    def connect() -> None:
        wrapper.ensure_connection()
        timers.extend(
            thread
            for thread in threading.enumerate()
            if isinstance(thread, threading.Timer) and thread not in before
        )

    try:
        logconn._cut_after(0.05, wrapper, connect)
        assert len(timers) == 1
        timers[0].join(10)  # whether cancelled or fired, no cut can come after this
        assert not timers[0].is_alive()
        with wrapper.cursor() as cursor:  # the socket was left alone
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        wrapper.close()
