"""``djprocess_celery.control``: the remote-control commands, answered by real prefork workers.

The supervisor falls back on them when a run's own pool child did not confirm a stop; here
they are sent directly, through :class:`~djprocess_celery.backend.CeleryWorkerBackend`, and
their replies and effects (signals delivered to real processes) are checked.
"""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest
from celery import current_app

from djprocess import status
from djprocess._transitions import compare_and_set
from djprocess.backends.base import Liveness
from djprocess.run.host import is_alive
from djprocess.supervision import supervisor
from djprocess_celery.backend import CeleryWorkerBackend
from djprocess_celery.replies import TaskReply

from .conftest import (
    PICKUP,
    Cluster,
    launch,
    reload,
    stop_time,
    wait_finished,
    wait_for,
    wait_running,
)

pytestmark = [pytest.mark.integration, pytest.mark.celery]


def broadcast(command: str, hostname: str, **arguments: Any) -> list[TaskReply]:
    replies = current_app.control.broadcast(
        command, arguments=arguments, destination=[hostname], reply=True, timeout=5.0
    )
    return [TaskReply.from_reply(answer) for reply in replies for answer in reply.values()]


def test_status_finds_the_running_task_and_nothing_else(cluster: Cluster) -> None:
    row = reload(wait_running(launch("sleep", seconds=60)))
    backend = CeleryWorkerBackend()
    where = {"hostname": row.worker_hostname, "pid": row.worker_pid}

    assert backend.probe(row.process_task_id, **where) is Liveness.RUNNING
    (answer,) = broadcast("djprocess_status", row.worker_hostname, task_id=row.process_task_id)
    assert answer == TaskReply(found=True, known=True, pid=row.worker_pid, alive=True)

    # Another pid than the one running the task: not found, and the right pid is named.
    (other,) = broadcast(
        "djprocess_status", row.worker_hostname, task_id=row.process_task_id, pid=1
    )
    assert (other.found, other.mismatch) == (False, row.worker_pid)
    # A task this worker never received.
    (unknown,) = broadcast("djprocess_status", row.worker_hostname, task_id="no-such-task")
    assert unknown == TaskReply(found=False, known=False)
    # A command past its deadline (a broadcast replayed late) is ignored.
    (late,) = broadcast(
        "djprocess_status",
        row.worker_hostname,
        task_id=row.process_task_id,
        deadline=time.time() - 1,
    )
    assert late == TaskReply(stale=True)
    row.cancel()
    wait_finished(row, timeout=stop_time(cluster) + PICKUP)


def test_the_supervisor_s_fallback_kill_signals_the_pool_child_and_the_tree_is_gone(
    cluster: Cluster,
) -> None:
    row = reload(wait_running(launch("ignore_term", seconds=60)))
    pool_child = psutil.Process(row.worker_pid)
    tree = [pool_child, *wait_for(lambda: pool_child.children(recursive=True), 10, "the run")]
    backend = CeleryWorkerBackend()
    # What cancel() decides; then the supervisor's fallback kill, as when the pool child
    # did not confirm the stop in time (both may act: the outcome is the same).
    assert compare_and_set(row, [status.RUNNING], status.CANCELLED, stopped_by="cancel")

    result = supervisor.kill_and_record(row, backend, "cancelled")

    assert (result.found, result.gone, result.pid) == (True, True, row.worker_pid)
    assert result.term_sent >= 1
    wait_for(lambda: not any(is_alive(p) for p in tree), 10, "the run's tree to be gone")
    assert backend.probe(row.process_task_id, hostname=row.worker_hostname) is Liveness.NOT_RUNNING
    ended = wait_finished(row, timeout=stop_time(cluster) + PICKUP)
    assert (ended.status, ended.stopped_by) == ("cancelled", "cancel")
    # A kill of a task that does not run any more finds nothing and signals nothing.
    again = backend.kill(row.process_task_id, hostname=row.worker_hostname, pid=row.worker_pid)
    assert (again.found, again.gone, again.term_sent) == (False, True, 0)
