"""``log()`` from wherever the run's code is: forked children (sharing none of the parent's
connection) and threads (no connection left open per thread). (Under SIGTERMs:
``test_uninterrupted.py``.) Needs concurrent connections: PostgreSQL
(``--ds=djprocess_test_settings.postgres``)."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection, transaction
from unit_helpers import needs_concurrent_connections

from djprocess import status
from djprocess.logs import _store as logstore
from djprocess_example.models import ExampleProcess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    needs_concurrent_connections,
]

Install = Callable[[Callable[[ExampleProcess], None]], str]


@pytest.fixture(autouse=True)
def _close_side_connections() -> Iterator[None]:
    yield
    logstore.close_private_connections()


def lines(process: ExampleProcess) -> list[tuple[int, str]]:
    return list(process.logs.order_by("sequence").values_list("sequence", "message"))


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- forks ------------------------------------------------------------------------------------


def _log_lines(process: ExampleProcess, who: str, count: int) -> None:
    for n in range(count):
        process.log(f"{who} {n}")


def _forked_child(process: ExampleProcess, count: int) -> None:
    _log_lines(process, "child", count)


@pytest.mark.parametrize("how", ["multiprocessing", "os.fork"])
@pytest.mark.parametrize("in_atomic", [False, True])
def test_a_forked_child_and_its_parent_log_into_one_sequence(
    custom_run: Install, how: str, in_atomic: bool
) -> None:
    exit_codes: list[int | None] = []

    def run(self: ExampleProcess) -> None:
        # The parent's connection is open (the runner's claim used it) and is not closed
        # before the fork, as user code does not know it should.
        with transaction.atomic() if in_atomic else _nothing():
            if how == "multiprocessing":
                child = multiprocessing.get_context("fork").Process(
                    target=_forked_child, args=(self, 40)
                )
                child.start()
                _log_lines(self, "parent", 40)
                child.join(60)
                exit_codes.append(child.exitcode)
            else:
                pid = os.fork()
                if pid == 0:  # the child
                    code = 1
                    try:
                        _forked_child(self, 40)
                        code = 0
                    finally:
                        os._exit(code)
                _log_lines(self, "parent", 40)
                _, wait_status = os.waitpid(pid, 0)
                exit_codes.append(os.waitstatus_to_exitcode(wait_status))
            self.log("parent after the child")
            ExampleProcess.objects.filter(pk=self.pk).update(lines=7)  # still usable

    process = ExampleProcess.objects.create(kind=custom_run(run), seconds=0)
    assert process.execute() == status.SUCCEEDED
    assert exit_codes == [0]
    found = lines(process)
    assert [sequence for sequence, _ in found] == list(range(1, len(found) + 1))
    messages = [message for _, message in found]
    for who in ("parent", "child"):
        assert [m for m in messages if m.rsplit(" ", 1)[0] == who] == [
            f"{who} {n}" for n in range(40)
        ]
    assert "parent after the child" in messages
    assert ExampleProcess.objects.get(pk=process.pk).lines == 7
    # The parent's connection (and so this process) keeps working for the next task.
    following = ExampleProcess.objects.create(kind="succeed", seconds=0, lines=2)
    assert following.execute() == status.SUCCEEDED


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


# -- threads ----------------------------------------------------------------------------------


def server_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_logging_threads_leave_no_connection_behind(custom_run: Install) -> None:
    def run(self: ExampleProcess) -> None:
        def work(name: str) -> None:  # logs only: never closes a connection itself
            for n in range(10):
                self.log(f"{name} {n}")

        threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    kind = custom_run(run)
    baseline = server_connections()
    # Released by djprocess itself, not whenever the garbage collector gets to it.
    gc.disable()
    try:
        for _ in range(5):
            process = ExampleProcess.objects.create(kind=kind, seconds=0)
            assert process.execute() == status.SUCCEEDED
            found = lines(process)
            assert [s for s, _ in found] == list(range(1, len(found) + 1))
            assert len([m for _, m in found if m.startswith("t")]) == 40
        wait_for(lambda: server_connections() == baseline, f"{baseline} server connections")
    finally:
        gc.enable()


def test_a_thread_waiting_for_the_callers_lock_does_not_hang_the_caller() -> None:
    """The caller's transaction locks the process row; a thread's log write waits for that
    lock on the shared side connection. The caller's own log() must neither wait for the
    thread nor write on its own connection (the two writes would deadlock on the counter
    row): its line is deferred until its transaction has ended."""
    process = ExampleProcess.objects.create()
    errors: list[BaseException] = []

    def thread_logs() -> None:
        try:
            process.log("from the thread")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=thread_logs)
    with transaction.atomic():
        ExampleProcess.objects.select_for_update().get(pk=process.pk)
        thread.start()
        wait_for(
            lambda: bool(errors) or _waiting_for_a_lock() > 0,
            "the thread's write to wait for the row lock",
        )
        assert not errors, errors
        assert process.log("from the caller") == 0  # deferred: the side connection is busy
        assert process.log("and again") == 0  # no second wait in the same transaction
    thread.join(30)
    assert not thread.is_alive()
    assert not errors, errors
    assert process.log("after") == 4  # the deferred lines first
    assert lines(process) == [
        (1, "from the thread"),
        (2, "from the caller"),
        (3, "and again"),
        (4, "after"),
    ]


def _waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction the statistics are a snapshot taken at their first read.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])
