"""Marker files and the stray-kill filter of pool children, in real forked processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from djprocess import runmarker
from djprocess.exceptions import ProcessTerminated
from djprocess.signalguard import SignalGuard, install_stray_kill_filter

fork = multiprocessing.get_context("fork")


def _child_between_runs(kill_request: bool, queue: multiprocessing.Queue[str]) -> None:
    install_stray_kill_filter()
    if kill_request:
        runmarker.request_kill(os.getpid(), "an-earlier-task")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)  # a signal not ignored would have ended this process by now
    queue.put("survived")


@pytest.mark.parametrize(("kill_request", "survives"), [(True, True), (False, False)])
def test_stray_filter_ignores_only_djprocess_kills(kill_request: bool, survives: bool) -> None:
    queue: multiprocessing.Queue[str] = fork.Queue()
    child = fork.Process(target=_child_between_runs, args=(kill_request, queue))
    child.start()
    child.join(10)
    assert (child.exitcode == 0) is survives
    if not survives:
        assert child.exitcode == -signal.SIGTERM  # a cold shutdown still works


def _child_in_run(meant_for: str, queue: multiprocessing.Queue[str]) -> None:
    install_stray_kill_filter()
    with SignalGuard("task-b") as guard, guard.arm():
        assert runmarker.running_task(os.getpid()) == "task-b"
        runmarker.request_kill(os.getpid(), meant_for)
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            queue.put("ran on")
        except ProcessTerminated:
            queue.put("terminated")
    queue.put(runmarker.running_task(os.getpid()) or "")


@pytest.mark.parametrize(("meant_for", "outcome"), [("task-b", "terminated"), ("task-a", "ran on")])
def test_guard_obeys_only_a_kill_for_its_own_task(meant_for: str, outcome: str) -> None:
    queue: multiprocessing.Queue[str] = fork.Queue()
    child = fork.Process(target=_child_in_run, args=(meant_for, queue))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert [queue.get(timeout=5), queue.get(timeout=5)] == [outcome, "done:task-b"]


def test_markers_are_not_written_outside_pool_children() -> None:
    assert not runmarker.enabled
    with SignalGuard("task-x") as guard:
        assert guard.task_id == ""
    assert runmarker.running_task(os.getpid()) is None
