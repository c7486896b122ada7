"""Issue 3: the kill path under faults, on real brokers, prefork workers and PostgreSQL.

One test (or a few) per scenario of the issue, numbered as there. W = kill wait,
N = SIGTERM retries, T = the process timeout.
"""

from __future__ import annotations

import functools
import os
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psutil
import pytest
from django.db import connection
from django.utils import timezone

from djprocess.exceptions import ProcessNotStartable
from djprocess.logs import _store as logstore
from djprocess_example.models import ExampleProcess

from .conftest import (
    PICKUP,
    Broker,
    Cluster,
    _alive,
    launch,
    log_messages,
    reload,
    wait_finished,
    wait_for,
    wait_running,
)

pytestmark = [pytest.mark.integration, pytest.mark.celery]

#: Worker log lines that are not errors (Celery notes a revoke it cannot store).
NOT_ERRORS = ("No result backend is configured", "Failed to mark task")


def kill_budget(cluster: Cluster) -> float:
    return cluster.retries * cluster.wait + 1.0


def in_thread(func: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``func`` with its own database connection, closed afterwards."""

    def wrapper() -> Any:
        try:
            return func()
        finally:
            # djprocess keeps a private log connection per thread (logstore).
            logstore.close_private_connections()
            connection.close()

    return wrapper


def assert_no_worker_errors(cluster: Cluster, allowed: tuple[str, ...] = ()) -> None:
    errors = cluster.errors_in_logs(allowed=NOT_ERRORS + allowed)
    assert not errors, "errors in the worker logs:\n" + "\n".join(errors[:30])


# -- 1. never the wrong task ------------------------------------------------------------


def test_1_cancel_never_hits_the_next_task(make_cluster: Any, broker: Broker) -> None:
    """One worker, ``-c 1``: A (1 s) then B queued behind it. Cancel A at moments spread
    around its completion; B always completes, A ends succeeded or cancelled."""
    cluster = make_cluster(process_concurrency=1)
    runs = 12 if broker.name == "redis" else 6
    # Spread from well before A's end to after it, shuffled: both outcomes must occur.
    jitters = [-0.35 + 0.8 * i / (runs - 1) for i in range(runs)]
    random.Random(1).shuffle(jitters)
    outcomes: Counter[str] = Counter()
    for jitter in jitters:
        a = launch("sleep", seconds=1.0)
        b = launch("sleep", seconds=1.5)
        a = wait_running(a)
        target = a.started_at + timedelta(seconds=1.0 + jitter)
        time.sleep(max(0.0, (target - timezone.now()).total_seconds()))  # the scenario's input
        cancelled = a.cancel()
        a = wait_finished(a, timeout=kill_budget(cluster) + 1)
        b = wait_finished(b, timeout=1.5 + PICKUP + kill_budget(cluster))
        assert b.status == "succeeded", (jitter, b.status, b.termination, log_messages(b))
        assert (b.attempts, b.stopped_by, b.stop_signal) == (1, "", "")
        if cancelled:
            assert a.status == "cancelled"
            assert a.stopped_by == "cancel"
        else:
            assert a.status == "succeeded"
            assert a.stopped_by == ""
        finals = [m for m in log_messages(a) if m.startswith(("succeeded in", "cancelled"))]
        assert len(finals) == 1, finals
        outcomes[a.status] += 1
    assert set(outcomes) == {"succeeded", "cancelled"}, outcomes
    assert_no_worker_errors(cluster)


# -- 2. the whole tree ------------------------------------------------------------------


def _tree_of(process: ExampleProcess) -> list[psutil.Process]:
    """The shell ``run()`` started and its children, once all three exist."""

    def found() -> list[psutil.Process] | None:
        for message in log_messages(process):
            match = re.fullmatch(r"shell pid (\d+)", message)
            if match:
                try:
                    shell = psutil.Process(int(match.group(1)))
                    tree = [shell, *shell.children(recursive=True)]
                except psutil.NoSuchProcess:
                    return None
                # dash may exec the last command itself: at least the shell + 1 sleep.
                return tree if len(tree) >= 2 else None
        return None

    return wait_for(found, 10, f"the process tree of {process}")


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_2_the_whole_tree_is_stopped(cluster: Cluster, how: str) -> None:
    process = launch("tree", timeout=3.0 if how == "timeout" else None)
    wait_running(process)
    tree = _tree_of(process)
    assert all(p.is_running() for p in tree)
    if how == "cancel":
        assert process.cancel() is True
        process = wait_finished(process, timeout=kill_budget(cluster))
        assert process.status == "cancelled"
    else:
        process = wait_finished(process, timeout=3.0 + kill_budget(cluster) + PICKUP)
        assert process.status == "timed_out"
    alive = [p.pid for p in tree if _alive(p.pid)]
    assert not alive, f"processes started by run() still alive: {alive}"
    # The worker itself survives (the cluster fixture then checks its pool and orphans).
    assert all(w.popen is not None and w.popen.poll() is None for w in cluster.workers)


# -- 3. worker lost ---------------------------------------------------------------------


def test_3a_pool_child_killed(make_cluster: Any) -> None:
    cluster = make_cluster()
    timeout = 5.0
    process = wait_running(launch("sleep", timeout=timeout))
    os.kill(process.worker_pid, signal.SIGKILL)
    process = wait_finished(process, timeout=timeout + kill_budget(cluster) + PICKUP)
    assert process.status == "failed"
    assert process.stopped_by == "worker"
    assert "worker lost" in process.termination
    assert process.finished_at - process.started_at <= timedelta(
        seconds=timeout + kill_budget(cluster) + PICKUP
    )
    assert not ExampleProcess.objects.filter(pk=process.pk, status="running").exists()
    assert any("worker lost" in m for m in log_messages(process))
    cluster.assert_healthy()  # billiard replaced the child; the worker goes on
    follow_up = wait_finished(launch("succeed", seconds=0.1), timeout=PICKUP)
    assert follow_up.status == "succeeded"


def test_3b_whole_worker_killed(make_cluster: Any) -> None:
    cluster = make_cluster()
    timeout = 3.0
    process = wait_running(launch("sleep", timeout=timeout))
    (worker,) = cluster.process_workers
    for proc in worker.session_processes():
        proc.kill()
    cluster.forget(worker)
    # The watchdog's probe gets no answer (3 tries x the control timeout), then records it.
    budget = timeout + kill_budget(cluster) + 3 * 1.0 + PICKUP
    process = wait_finished(process, timeout=budget)
    assert process.status == "failed"
    assert process.stopped_by == "worker"
    assert "worker lost" in process.termination
    assert process.finished_at - process.started_at <= timedelta(seconds=budget)
    assert not ExampleProcess.objects.filter(status="running", pk=process.pk).exists()
    assert not worker.session_processes()


# -- 4. TERM ignored, blocked in C ------------------------------------------------------


@pytest.mark.parametrize("kind", ["ignore_term", "ignore_term_child"])
def test_4_term_ignored_blocked_in_c(make_cluster: Any, kind: str) -> None:
    cluster = make_cluster(retries=2, wait=1.0)
    timeout = 2.0
    process = wait_running(launch(kind, timeout=timeout))
    child_pid = None
    if kind == "ignore_term_child":
        found = wait_for(
            lambda: [m for m in log_messages(process) if m.startswith("child pid ")],
            5,
            "the child's pid",
        )
        child_pid = int(found[0].split()[-1])
    process = wait_finished(process, timeout=timeout + 2 * 1.0 + 1 + PICKUP)
    assert process.status == "timed_out"
    assert process.stop_signal == "SIGKILL"
    assert process.termination == "SIGKILL after 2 SIGTERM"
    deadline = process.started_at + timedelta(seconds=timeout)
    assert process.finished_at - deadline <= timedelta(seconds=2 * 1.0 + 1)
    assert log_messages(process)[-1] == "timed out after 0:00:02: SIGKILL after 2 SIGTERM"
    # The pool child supervising the run logged each attempt.
    text = "".join(cluster.log_text(w) for w in cluster.process_workers)
    task = process.process_task_id
    assert f"task {task}: SIGTERM 1/2 sent" in text
    assert f"task {task}: SIGTERM 2/2 sent" in text
    assert f"task {task}: SIGKILL sent" in text
    if child_pid is not None:
        assert not _alive(child_pid), "the child run() waited for survived the SIGKILL"
    cluster.assert_healthy()


# -- 5. the pool stays healthy ----------------------------------------------------------


def test_5_pool_stays_healthy_after_cancels(make_cluster: Any) -> None:
    cluster = make_cluster(process_concurrency=5)
    kinds = ["sleep", "ignore_term", "sleep", "ignore_term", "sleep"]
    processes = [launch(kind) for kind in kinds]
    processes = [wait_running(p) for p in processes]
    with ThreadPoolExecutor(len(processes)) as pool:
        began = time.monotonic()
        futures = [pool.submit(in_thread(p.cancel)) for p in processes]
        results = [f.result(timeout=30) for f in futures]
    assert results == [True] * 5
    for process in processes:
        process = wait_finished(process, timeout=kill_budget(cluster))
        assert process.status == "cancelled"
        assert process.finished_at is not None
    assert time.monotonic() - began <= kill_budget(cluster) + 1
    sixth = launch("sleep", seconds=1.0)
    sixth = wait_finished(sixth, timeout=1.0 + PICKUP)
    assert sixth.status == "succeeded"
    assert sixth.finished_at - sixth.dispatched_at <= timedelta(seconds=1.0 + PICKUP)
    cluster.assert_healthy()  # back to 5 live pool children, no orphans


# -- 6. the killer records the outcome --------------------------------------------------


def test_6_killer_records_the_outcome(cluster: Cluster) -> None:
    process = launch("sleep", seconds=10, timeout=2)
    process = wait_finished(process, timeout=2 + kill_budget(cluster) + PICKUP)
    assert process.status == "timed_out"
    assert process.attempts == 1
    assert process.finished_at is not None
    assert process.stopped_by == "watchdog"
    assert log_messages(process)[-1] == (
        f"timed out after 0:00:02: exited after SIGTERM 1/{cluster.retries}"
    )


def test_6_finally_claiming_success_is_ignored(cluster: Cluster) -> None:
    process = launch("swallow_term", seconds=10, timeout=2)
    process = wait_finished(process, timeout=2 + kill_budget(cluster) + PICKUP)
    messages = log_messages(process)
    assert "finally tried to record success" in messages
    assert process.status == "timed_out"
    assert not any(m.startswith("succeeded") for m in messages)
    # The run is over (finished_at is set once the task left the worker): nothing
    # can change the outcome any more.
    cluster.assert_healthy()
    again = reload(process)
    assert (again.status, again.finished_at, again.log_count()) == (
        process.status,
        process.finished_at,
        process.log_count(),
    )


def test_6_signal_from_outside_is_never_success(cluster: Cluster) -> None:
    """A SIGTERM djprocess did not send to the run, swallowed by run(): recorded failed."""
    process = wait_running(launch("swallow_term", seconds=10))
    wait_for(lambda: any("swallowing" in m for m in log_messages(process)), 5, "run() to sleep")
    (run_child,) = psutil.Process(reload(process).worker_pid).children()
    os.kill(run_child.pid, signal.SIGTERM)
    process = wait_finished(process, timeout=PICKUP)
    assert process.status == "failed"
    assert process.stop_signal == "SIGTERM"
    assert process.stopped_by == "signal"
    assert "finally tried to record success" in log_messages(process)


def test_6_sigterm_to_the_supervising_pool_child_stops_the_run_first(cluster: Cluster) -> None:
    """A cold shutdown (or an operator) SIGTERMs the pool child: it stops its run with the
    usual escalation, records why, and only then exits; billiard replaces it."""
    process = wait_running(launch("sleep", seconds=60))
    os.kill(reload(process).worker_pid, signal.SIGTERM)
    process = wait_finished(process, timeout=kill_budget(cluster) + PICKUP)
    assert process.status == "failed"
    assert process.stopped_by == "worker"
    assert process.exception.startswith("WorkerShutdown")
    assert log_messages(process)[-1] == (
        f"failed: the worker shut down: exited after SIGTERM 1/{cluster.retries}"
    )
    assert "finally block ran" in log_messages(process)


# -- 7. cancel versus timeout -----------------------------------------------------------


def test_7_cancel_races_the_timeout(make_cluster: Any, broker: Broker) -> None:
    """T = 1 s, run() ignores SIGTERM, cancel() at the deadline ± 50 ms: exactly one
    of cancelled / timed_out, no exception, nothing written afterwards."""
    batch = 5
    runs = 50 if broker.name == "redis" else 20
    cluster = make_cluster(
        process_concurrency=batch, supervisor_concurrency=batch, retries=1, wait=0.3
    )
    rng = random.Random(7)
    settled: dict[int, tuple[Any, ...]] = {}
    outcomes: Counter[str] = Counter()
    errors: list[str] = []

    def race(process: ExampleProcess, jitter: float) -> bool:
        started = wait_running(process, timeout=30).started_at
        target = started + timedelta(seconds=1.0 + jitter)
        time.sleep(max(0.0, (target - timezone.now()).total_seconds()))  # the scenario's input
        return process.cancel()

    for _ in range(runs // batch):
        processes = [launch("ignore_term", seconds=30, timeout=1.0) for _ in range(batch)]
        with ThreadPoolExecutor(batch) as pool:
            jitters = [rng.uniform(-0.05, 0.05) for _ in processes]
            futures = [
                pool.submit(in_thread(functools.partial(race, p, j)))
                for p, j in zip(processes, jitters, strict=True)
            ]
            results = []
            for future in futures:
                try:
                    results.append(future.result(timeout=60))
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(repr(exc))
                    results.append(None)
        for process, cancelled in zip(processes, results, strict=True):
            process = wait_finished(process, timeout=kill_budget(cluster) + PICKUP)
            expected = "cancelled" if cancelled else "timed_out"
            assert process.status == expected, (cancelled, process.status, process.termination)
            assert process.stopped_by == ("cancel" if cancelled else "watchdog")
            finals = [
                m
                for m in log_messages(process)
                if m.startswith(("cancelled", "timed out", "succeeded", "failed"))
            ]
            assert len(finals) == 1, finals
            outcomes[process.status] += 1
            settled[process.pk] = (
                process.status,
                process.finished_at,
                process.termination,
                process.log_count(),
            )
    assert not errors, errors
    assert sum(outcomes.values()) == runs
    cluster.assert_healthy()
    for pk, before in settled.items():
        after = ExampleProcess.objects.get(pk=pk)
        now = (after.status, after.finished_at, after.termination, after.log_count())
        assert now == before, f"pk={pk} changed after it settled: {before} -> {now}"
    assert_no_worker_errors(cluster)
    print(f"cancel vs timeout on {broker.name}: {dict(outcomes)}")


# -- 8. cancel in every state -----------------------------------------------------------


def test_8_cancel_before_dispatch(cluster: Cluster) -> None:
    process = ExampleProcess.objects.create(kind="succeed")
    assert process.cancel() is True
    process = reload(process)
    assert process.status == "cancelled"
    assert process.finished_at is not None
    with pytest.raises(ProcessNotStartable):
        process.start()
    process = reload(process)
    assert (process.attempts, process.started_at, process.process_task_id) == (0, None, "")
    assert log_messages(process) == ["cancelled before it ran"]


def test_8_cancel_while_queued_behind_a_busy_worker(make_cluster: Any) -> None:
    make_cluster(process_concurrency=1)
    busy = launch("sleep", seconds=2.0)
    queued = launch("succeed", seconds=0.1)
    after = launch("succeed", seconds=0.1)
    wait_running(busy)
    assert queued.cancel() is True
    queued = reload(queued)
    assert queued.status == "cancelled"
    assert queued.finished_at is not None
    # -c 1, first in first out: once `after` ran, the worker has handled `queued`.
    after = wait_finished(after, timeout=2.0 + 2 * PICKUP)
    assert after.status == "succeeded"
    assert wait_finished(busy, timeout=PICKUP).status == "succeeded"
    queued = reload(queued)
    assert (queued.status, queued.attempts, queued.started_at) == ("cancelled", 0, None)
    assert log_messages(queued) == ["cancelled before it ran"]


def test_8_cancel_while_running_then_again(cluster: Cluster) -> None:
    process = wait_running(launch("sleep"))
    assert process.cancel() is True
    assert process.cancel() is False
    process = wait_finished(process, timeout=kill_budget(cluster))
    assert process.status == "cancelled"
    assert process.cancel() is False
    finals = [m for m in log_messages(process) if m.startswith("cancelled")]
    assert len(finals) == 1, finals


def test_8_cancel_twice_at_once(cluster: Cluster) -> None:
    process = wait_running(launch("ignore_term"))
    barrier = threading.Barrier(2)

    def cancel() -> bool:
        barrier.wait()
        return ExampleProcess.objects.get(pk=process.pk).cancel()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(in_thread(cancel)) for _ in range(2)]
        results = sorted(f.result(timeout=30) for f in futures)
    assert results == [False, True]
    process = wait_finished(process, timeout=kill_budget(cluster))
    assert process.status == "cancelled"
    assert process.termination == f"SIGKILL after {cluster.retries} SIGTERM"


def test_8_cancel_after_it_finished(cluster: Cluster) -> None:
    process = wait_finished(launch("succeed", seconds=0.1), timeout=PICKUP)
    before = (process.status, process.finished_at, process.log_count())
    assert process.cancel() is False
    process = reload(process)
    assert (process.status, process.finished_at, process.log_count()) == before
    assert process.status == "succeeded"


# -- 9. the watchdog lives elsewhere, and survives a supervisor restart -----------------


def test_9_watchdog_runs_on_the_supervisor_worker(cluster: Cluster) -> None:
    process = launch("sleep", timeout=2)
    process = wait_finished(process, timeout=2 + kill_budget(cluster) + PICKUP)
    assert process.status == "timed_out"
    (process_worker,) = cluster.process_workers
    (supervisor,) = cluster.supervisor_workers
    assert process.worker_hostname == process_worker.hostname
    assert process.watchdog_task_id in cluster.log_text(supervisor)
    assert process.watchdog_task_id not in cluster.log_text(process_worker)


@pytest.mark.parametrize("stop", ["warm", "sigkill"])
def test_9_supervisor_restarted_while_watchdog_pending(make_cluster: Any, stop: str) -> None:
    cluster = make_cluster()
    timeout = 8.0
    process = wait_running(launch("sleep", timeout=timeout))
    (old,) = cluster.supervisor_workers
    if stop == "warm":
        old.stop()
    else:
        for proc in old.session_processes():
            proc.kill()
        old.popen.wait(10)
    cluster.forget(old)
    new = cluster.add_supervisor_worker()
    cluster.ready()
    process = wait_finished(process, timeout=timeout + kill_budget(cluster) + PICKUP)
    assert process.status == "timed_out"
    assert process.stopped_by == "watchdog"
    assert process.finished_at - process.started_at <= timedelta(
        seconds=timeout + kill_budget(cluster) + 1
    )
    assert "djprocess.watchdog" in cluster.log_text(new)
