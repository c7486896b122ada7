"""The timeout holds: under load, through database and broker outages, with the control
channel down, and no process is ever stuck ``pending`` or ``running``.

Outages are real: the workers reach PostgreSQL or the broker through a TCP proxy the
test starts on its own port (:mod:`tests.integration.tcpproxy`), and the test cuts it.
The test process itself talks to the services directly. N = SIGTERM retries, W = the
wait after each, T = the process timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psutil
import pytest
from django.db import connection, transaction

from djprocess_example.models import ExampleProcess

from .conftest import (
    PICKUP,
    Broker,
    Cluster,
    _alive,
    launch,
    log_messages,
    reload,
    stop_time,
    wait_finished,
    wait_for,
    wait_running,
)
from .tcpproxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.celery]


def run_child_of(cluster: Cluster, process: Any) -> int:
    """The pid of the run child forked by the pool child that claimed ``process``."""
    fresh = reload(process)

    def found() -> int | None:
        try:
            children = psutil.Process(fresh.worker_pid).children()
        except psutil.NoSuchProcess:
            return None
        return children[0].pid if children else None

    return wait_for(found, 10, f"the run child of {fresh}")


@pytest.fixture
def db_proxy(pg_database: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()
    yield proxy
    proxy.close()


@pytest.fixture
def broker_proxy(broker: Broker) -> Iterator[TcpProxy]:
    port = 6379 if broker.name == "redis" else 5672
    proxy = TcpProxy(("127.0.0.1", port))
    proxy.start()
    yield proxy
    proxy.close()


def through(proxy: TcpProxy, url: str, port: int) -> dict[str, str]:
    return {"EXAMPLE_DB" if port == 5432 else "EXAMPLE_BROKER_URL": proxy.url_for(url, port)}


# -- Kind 1: every deadline is enforced, whatever happens around it ---------------------


def test_a_backlog_has_every_deadline_enforced_at_constant_watchdog_cost(
    make_cluster: Any,
) -> None:
    cluster = make_cluster(process_concurrency=2, retries=1, wait=0.5)
    timeout = 1.0
    quick = [launch("quiet", seconds=0.2, timeout=timeout) for _ in range(15)]
    slow = [launch("sleep", seconds=30, timeout=timeout) for _ in range(15)]
    everything = [p for pair in zip(quick, slow, strict=True) for p in pair]
    budget = len(slow) * (timeout + stop_time(cluster)) + 30
    ended = [wait_finished(p, timeout=budget) for p in everything]
    by_pk = {p.pk: p for p in ended}
    for process in slow:
        row = by_pk[process.pk]
        assert row.status == "timed_out", (row, row.termination)
        # Its deadline counted from its own start, however long it queued.
        assert row.finished_at - row.started_at <= timedelta(seconds=timeout + stop_time(cluster))
    assert all(by_pk[p.pk].status == "succeeded" for p in quick)
    # Watchdog work per process is bounded: one watchdog task each, never re-armed.
    text = "".join(cluster.log_text(w) for w in cluster.supervisor_workers)
    assert text.count("Task djprocess.watchdog[") <= 2 * len(everything)
    assert text.count("rearm") == 0


def test_a_database_outage_around_the_deadline_does_not_let_the_run_go_on(
    make_cluster: Any, db_proxy: TcpProxy, pg_database: str
) -> None:
    cluster = make_cluster(extra_env=through(db_proxy, pg_database, 5432))
    timeout = 3.0
    process = wait_running(launch("sleep", seconds=60, timeout=timeout))
    run_pid = run_child_of(cluster, process)
    wait_for(lambda: _elapsed(process) >= 2.0, 5, "2 s into the run")
    db_proxy.cut()
    try:
        # With its database away, the run is still stopped at its deadline.
        wait_for(
            lambda: not _alive(run_pid),
            timeout + stop_time(cluster) + 1.0,
            "the run child to be stopped at its deadline",
        )
        assert reload(process).status == "running"  # nothing could be written yet
    finally:
        db_proxy.restore()
    row = wait_finished(process, timeout=15)
    assert row.status == "timed_out"
    assert row.termination == f"exited after SIGTERM 1/{cluster.retries}"
    assert log_messages(process)[-1].startswith("timed out after 0:00:03: exited after SIGTERM")


def test_a_database_outage_during_the_kill_still_ends_the_stop(
    make_cluster: Any, db_proxy: TcpProxy, pg_database: str
) -> None:
    cluster = make_cluster(extra_env=through(db_proxy, pg_database, 5432), retries=2, wait=1.0)
    timeout = 2.0
    process = wait_running(launch("ignore_term", seconds=60, timeout=timeout))
    run_pid = run_child_of(cluster, process)
    wait_for(lambda: _elapsed(process) >= timeout + 0.3, 5, "the kill to begin")
    db_proxy.cut()
    try:
        wait_for(lambda: not _alive(run_pid), stop_time(cluster) + 1.0, "SIGKILL of the run")
    finally:
        db_proxy.restore()
    row = wait_finished(process, timeout=15)
    assert row.status == "timed_out"
    assert row.termination == "SIGKILL after 2 SIGTERM"
    assert log_messages(process)[-1] == "timed out after 0:00:02: SIGKILL after 2 SIGTERM"


def test_a_broker_outage_does_not_delay_the_deadline(
    make_cluster: Any, broker_proxy: TcpProxy, broker: Broker
) -> None:
    port = 6379 if broker.name == "redis" else 5672
    cluster = make_cluster(extra_env=through(broker_proxy, broker.url, port))
    timeout = 5.0
    process = wait_running(launch("sleep", seconds=60, timeout=timeout))
    broker_proxy.cut()
    try:
        row = wait_finished(process, timeout=timeout + stop_time(cluster) + PICKUP)
    finally:
        broker_proxy.restore()
    assert row.status == "timed_out"
    deadline = row.started_at + timedelta(seconds=timeout)
    assert row.finished_at - deadline <= timedelta(seconds=stop_time(cluster) + 1.0)


def test_cancel_reaches_a_worker_in_warm_shutdown(make_cluster: Any) -> None:
    cluster = make_cluster()
    process = wait_running(launch("sleep", seconds=60))
    (worker,) = cluster.process_workers
    os.kill(worker.pid, signal.SIGTERM)  # warm shutdown: it waits for its task
    cluster.forget(worker)
    wait_for(lambda: "warm shutdown" in cluster.log_text(worker).lower(), 10, "warm shutdown")

    assert reload(process).cancel() is True

    row = reload(process)
    assert row.status == "cancelled"
    assert row.finished_at is not None
    assert row.termination == f"exited after SIGTERM 1/{cluster.retries}"
    wait_for(lambda: worker.popen is not None and worker.popen.poll() is not None, 15,
             "the worker to finish its shutdown")  # fmt: skip


def test_a_worker_whose_pool_cannot_stop_runs_refuses_the_process_queue(
    make_cluster: Any, broker: Broker, state_dir: Any
) -> None:
    cluster = make_cluster()
    log = state_dir / f"threads-{broker.name}.log"
    command = [sys.executable, "-m", "celery", "-A", "djprocess_example.celery", "worker",
               "-Q", cluster.process_queue, "-P", "threads", "-c", "2", "-l", "INFO"]  # fmt: skip
    with log.open("wb") as out:
        done = subprocess.run(
            command, env={**os.environ, **cluster.env}, stdout=out, stderr=subprocess.STDOUT,
            timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode != 0
    text = log.read_text()
    assert "cannot stop a running process" in text
    assert "-P prefork" in text


def test_cancel_inside_a_transaction_stops_the_run_at_commit_with_one_sigterm(
    cluster: Cluster,
) -> None:
    process = wait_running(launch("sleep", seconds=60))
    with transaction.atomic():
        assert reload(process).cancel() is True
        assert reload(process).finished_at is None  # not waited for: nothing is committed
    row = wait_finished(process, timeout=stop_time(cluster) + PICKUP)
    assert row.status == "cancelled"
    assert row.termination == f"exited after SIGTERM 1/{cluster.retries}"
    assert "finally block ran" in log_messages(process)


def test_cancel_from_inside_the_run_returns_and_stops_it(cluster: Cluster) -> None:
    process = launch("cancel_self", seconds=60)
    row = wait_finished(process, timeout=PICKUP + stop_time(cluster) + 2)
    assert row.status == "cancelled"
    lines = log_messages(process)
    assert "cancel() returned" in lines
    assert lines[-1] == f"cancelled: exited after SIGTERM 1/{cluster.retries}"


def test_a_run_that_kills_its_own_process_fails_and_the_pool_goes_on(cluster: Cluster) -> None:
    row = wait_finished(launch("exit"), timeout=PICKUP + 5)
    assert row.status == "failed"
    assert row.exception == "RunProcessDied: the run's process exited with code 3"
    follow_up = wait_finished(launch("succeed", seconds=0.1), timeout=PICKUP + 5)
    assert follow_up.status == "succeeded"


def test_workers_sharing_dev_shm_but_not_a_pid_namespace_stop_only_their_own_run(
    make_cluster: Any,
) -> None:
    # Two containers in one pod, or `docker --ipc=host`: same /dev/shm, separate pids, so
    # both pool children may have the same pid. A stop must reach the right run, at once.
    cluster = make_cluster(
        process_concurrency=1, worker_prefix=("unshare", "--pid", "--fork", "--mount-proc")
    )
    cluster.add_process_worker()
    cluster.ready()
    first = wait_running(launch("sleep", seconds=60))
    second = wait_running(launch("sleep", seconds=60))
    assert reload(first).worker_hostname != reload(second).worker_hostname

    assert reload(first).cancel() is True

    row = reload(first)
    assert row.finished_at is not None
    assert row.termination == f"exited after SIGTERM 1/{cluster.retries}"
    assert reload(second).status == "running"
    assert "finally block ran" not in log_messages(second)
    assert reload(second).cancel() is True
    assert reload(second).termination == f"exited after SIGTERM 1/{cluster.retries}"


def test_the_worker_lost_receiver_survives_a_stale_database_session(make_cluster: Any) -> None:
    cluster = make_cluster()
    (worker,) = cluster.process_workers
    first = wait_running(launch("sleep", seconds=60))
    os.kill(reload(first).worker_pid, signal.SIGKILL)
    assert wait_finished(first, timeout=10).status == "failed"
    # The worker's main process now holds a database session: end it on the server.
    ports = [
        c.laddr.port
        for c in psutil.Process(worker.pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == 5432
    ]
    assert ports, "the worker's main process keeps no database connection"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE client_port = ANY(%s)",
            [ports],
        )
        assert cursor.fetchone()[0] >= 1
    more = [wait_running(launch("sleep", seconds=60)) for _ in range(2)]
    for process in more:
        os.kill(reload(process).worker_pid, signal.SIGKILL)
    for process in more:
        row = wait_finished(process, timeout=10)
        assert row.status == "failed"
        assert "worker lost" in row.termination


# -- Kind 2: no process stays pending or running forever --------------------------------


def test_start_inside_a_transaction_dispatches_at_commit(cluster: Cluster) -> None:
    with transaction.atomic():
        process = ExampleProcess.objects.create(kind="succeed", seconds=0.1, lines=1)
        process.timeout = timedelta(seconds=5)
        process.start()
        # A worker picking the task up now could not see the row: nothing is sent yet.
        time.sleep(1.0)
        assert reload(process).status == "pending"
    row = wait_finished(process, timeout=PICKUP + 5)
    assert row.status == "succeeded"


def test_a_database_outage_as_the_task_arrives_delays_it_only(
    make_cluster: Any, db_proxy: TcpProxy, pg_database: str
) -> None:
    make_cluster(extra_env=through(db_proxy, pg_database, 5432))
    db_proxy.cut()
    try:
        process = launch("succeed", seconds=0.1, timeout=30)
        time.sleep(2.0)  # the outage's length: the input of this test
        assert reload(process).status == "pending"
    finally:
        db_proxy.restore()
    row = wait_finished(process, timeout=45)
    assert row.status == "succeeded"


def test_a_database_outage_as_the_run_returns_keeps_its_success(
    make_cluster: Any, db_proxy: TcpProxy, pg_database: str
) -> None:
    make_cluster(extra_env=through(db_proxy, pg_database, 5432))
    process = wait_running(launch("quiet", seconds=2.0, timeout=30))
    db_proxy.cut()
    try:
        time.sleep(3.0)  # the outage's length (it covers the run's return): the input
    finally:
        db_proxy.restore()
    row = wait_finished(process, timeout=15)
    assert row.status == "succeeded", (row.status, row.termination)


def test_a_pool_child_killed_before_its_claim_fails_the_process(
    make_cluster: Any, pg_database: str
) -> None:
    import psycopg

    from djprocess_example.celery import app

    cluster = make_cluster(process_concurrency=1)
    (worker,) = cluster.process_workers
    blocker = wait_running(launch("sleep", seconds=60))
    process = launch("succeed", seconds=0.1)  # queued behind the blocker
    # Another session locks the row: the pool child's claim (an UPDATE) will wait on it.
    with psycopg.connect(pg_database) as locker:
        locker.execute(
            f"SELECT 1 FROM {ExampleProcess._meta.db_table} WHERE id = %s FOR UPDATE",
            [process.pk],
        )
        reload(blocker).cancel()
        pid = wait_for(
            lambda: _active_pid(app, worker.hostname, process.process_task_id),
            15,
            "the queued task to be taken by the pool child",
        )
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), 5, "the pool child to die")
        locker.rollback()
    row = wait_finished(process, timeout=30)
    assert row.status == "failed"
    assert row.stopped_by == "worker"
    # Failed at once (the claim may have landed as its client died: "worker lost").
    assert "worker lost" in log_messages(process)[-1]


def test_deleting_a_running_process_stops_its_run(make_cluster: Any) -> None:
    cluster = make_cluster(process_concurrency=1)
    process = wait_running(launch("sleep", seconds=60, timeout=30))
    run_pid = run_child_of(cluster, process)
    # Deleted 1 s into the run, not while it writes its first line (a delete racing a
    # line being written fails on the log's foreign key: see the models reference).
    wait_for(lambda: "sleeping 60.0s" in log_messages(process), 5, "the run to sleep")
    ExampleProcess.objects.filter(pk=process.pk).delete()
    wait_for(lambda: not _alive(run_pid), 1 + stop_time(cluster), "the run to be stopped")
    follow_up = wait_finished(launch("succeed", seconds=0.1), timeout=PICKUP + 5)
    assert follow_up.status == "succeeded"


# -- helpers ----------------------------------------------------------------------------


def _elapsed(process: Any) -> float:
    started = reload(process).started_at
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (now,) = cursor.fetchone()
    return float((now - started).total_seconds())


def _active_pid(app: Any, hostname: str, task_id: str) -> int | None:
    replies = app.control.inspect(destination=[hostname], timeout=1.0).active() or {}
    for tasks in replies.values():
        for task in tasks:
            if task.get("id") == task_id and task.get("worker_pid"):
                return int(task["worker_pid"])
    return None
