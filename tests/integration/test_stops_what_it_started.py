"""A stop ends exactly what the run started: every process at any depth, and the
statements it left running on the database server.

The run child leads its own process group and its supervisor (the pool child) is a
child subreaper, so a process the run orphaned or detached comes back to it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from django.db import connection

from djprocess_example.models import ExampleProcess

from .conftest import PICKUP, Cluster, launch, log_messages, wait_finished, wait_for, wait_running

pytestmark = [pytest.mark.integration, pytest.mark.celery]


def sleeping(seconds: float) -> list[psutil.Process]:
    """Every ``sleep <seconds>`` process on this machine (the inputs use odd numbers)."""
    wanted = f"{seconds:g}"
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline[-1:] == [wanted] and any(part.endswith("sleep") for part in cmdline[:-1]):
            found.append(proc)
    return found


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def stop_by(how: str, process: Any) -> None:
    if how == "cancel":
        assert ExampleProcess.objects.get(pk=process.pk).cancel() is True


STOPS: dict[str, tuple[float | None, str]] = {
    "timeout": (3.0, "timed_out"),
    "cancel": (None, "cancelled"),
}


@pytest.mark.parametrize("how", sorted(STOPS))
@pytest.mark.parametrize(("kind", "seconds"), [("shell_sleep", 301), ("detach", 303)])
def test_processes_the_run_started_at_any_depth_stop_with_it(
    cluster: Cluster, how: str, kind: str, seconds: float
) -> None:
    timeout, final = STOPS[how]
    process = wait_running(launch(kind, seconds, timeout=timeout))
    found = wait_for(lambda: sleeping(seconds), 10, f"'sleep {seconds}' to start")
    stop_by(how, process)
    row = wait_finished(process, timeout=(timeout or 0) + cluster.retries * cluster.wait + PICKUP)
    assert row.status == final
    left: Callable[[], list[psutil.Process]] = lambda: alive(found) + alive(sleeping(seconds))  # noqa: E731
    assert not left(), f"left running after the stop: {left()}"


@pytest.mark.parametrize("how", sorted(STOPS))
def test_a_statement_the_run_left_on_the_server_is_ended_and_its_lock_freed(
    cluster: Cluster, how: str
) -> None:
    timeout, final = STOPS[how]
    process = wait_running(launch("pg_lock", 25, timeout=timeout))
    wait_for(
        lambda: any("holding advisory lock" in line for line in log_messages(process)),
        10,
        "the lock to be taken",
    )
    stop_by(how, process)
    row = wait_finished(process, timeout=(timeout or 0) + cluster.retries * cluster.wait + PICKUP)
    assert row.status == final
    assert "ended 1 database session(s) it left running" in log_messages(process)[-1]
    # Another session gets the lock at once, not when pg_sleep(25) would have ended.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ExampleProcess.PG_LOCK_KEY])
        assert cursor.fetchone() == (True,)
        cursor.execute("SELECT pg_advisory_unlock(%s)", [ExampleProcess.PG_LOCK_KEY])
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%'")
        assert cursor.fetchone() == (0,)


def test_a_pool_child_killed_under_its_run_takes_all_the_run_with_it(make_cluster: Any) -> None:
    # The OOM killer picks the pool child supervising a run: the run child dies with it
    # (PR_SET_PDEATHSIG), and the worker stops what the run started and its SQL statement.
    make_cluster()
    shell = wait_running(launch("shell_sleep", 309))
    locker = wait_running(launch("pg_lock", 60))
    found = wait_for(lambda: sleeping(309), 10, "'sleep 309' to start")
    wait_for(
        lambda: any("holding advisory lock" in line for line in log_messages(locker)),
        10,
        "the lock to be taken",
    )
    for process in (shell, locker):
        os.kill(ExampleProcess.objects.get(pk=process.pk).worker_pid, signal.SIGKILL)
    for process in (shell, locker):
        assert wait_finished(process, timeout=10).status == "failed"
    wait_for(lambda: not alive(found) and not alive(sleeping(309)), 10, "'sleep 309' to be gone")

    def lock_free() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ExampleProcess.PG_LOCK_KEY])
            (got,) = cursor.fetchone()
            if got:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ExampleProcess.PG_LOCK_KEY])
            return bool(got)

    wait_for(lock_free, 10, "the run's advisory lock to be released")
