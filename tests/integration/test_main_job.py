"""Issue 2, item 12: the main job on real prefork workers.

A succeeding run; a timeout obeyed (SIGTERM); a timeout ignored (SIGKILL after N
SIGTERM); a cancel while running. Each settles within ``timeout + N x W + 1 s``.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from djprocess_example.models import ExampleProcess

from .conftest import Cluster, log_messages, wait_finished, wait_running

pytestmark = [pytest.mark.integration, pytest.mark.celery]

#: Slack for the worker picking the task up and the test's polling.
PICKUP = 3.0


def test_a_run_succeeds_with_its_logs(cluster: Cluster) -> None:
    process = ExampleProcess.objects.create(kind="succeed", seconds=0.3, lines=3)
    process.start()
    process = wait_finished(process, timeout=0.3 + PICKUP)
    assert process.status == "succeeded"
    assert process.attempts == 1
    assert process.stopped_by == process.stop_signal == process.exception == ""
    messages = [entry.message for entry in process.paginate_logs(page=1, per_page=50)]
    assert messages[0].startswith("started on ")
    assert messages[1:4] == [f"working on item {n}/3" for n in (1, 2, 3)]
    assert "all items done" in messages
    assert messages[-1].startswith("succeeded in ")
    assert [e.sequence for e in process.paginate_logs(page=1, per_page=50)] == list(
        range(1, len(messages) + 1)
    )


def test_timeout_obeyed_by_sigterm(cluster: Cluster) -> None:
    process = ExampleProcess.objects.create(kind="sleep", seconds=60)
    process.timeout = timedelta(seconds=2)
    process.start()
    process = wait_finished(process, timeout=2 + cluster.retries * cluster.wait + 1 + PICKUP)
    assert process.status == "timed_out"
    assert process.stopped_by == "watchdog"
    assert process.stop_signal == "SIGTERM"
    assert process.termination == f"exited after SIGTERM 1/{cluster.retries}"
    assert process.finished_at - process.started_at <= timedelta(
        seconds=2 + cluster.retries * cluster.wait + 1
    )
    messages = log_messages(process)
    assert "finally block ran" in messages
    assert messages[-1] == f"timed out after 0:00:02: exited after SIGTERM 1/{cluster.retries}"


def test_timeout_ignored_needs_sigkill(cluster: Cluster) -> None:
    process = ExampleProcess.objects.create(kind="ignore_term", seconds=60)
    process.timeout = timedelta(seconds=2)
    process.start()
    process = wait_finished(process, timeout=2 + cluster.retries * cluster.wait + 1 + PICKUP)
    assert process.status == "timed_out"
    assert process.stop_signal == "SIGKILL"
    assert process.termination == f"SIGKILL after {cluster.retries} SIGTERM"
    assert process.finished_at - process.started_at <= timedelta(
        seconds=2 + cluster.retries * cluster.wait + 1
    )
    assert log_messages(process)[-1] == (
        f"timed out after 0:00:02: SIGKILL after {cluster.retries} SIGTERM"
    )


def test_cancel_while_running(cluster: Cluster) -> None:
    process = ExampleProcess.objects.create(kind="sleep", seconds=60)
    process.start()
    process = wait_running(process)
    began = time.monotonic()
    assert process.cancel() is True
    took = time.monotonic() - began
    process = wait_finished(process, timeout=cluster.retries * cluster.wait + 1)
    assert took <= cluster.retries * cluster.wait + 1
    assert process.status == "cancelled"
    assert process.stopped_by == "cancel"
    assert process.termination == f"exited after SIGTERM 1/{cluster.retries}"
    messages = log_messages(process)
    assert "finally block ran" in messages
    assert messages[-1] == f"cancelled: exited after SIGTERM 1/{cluster.retries}"
