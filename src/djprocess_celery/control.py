"""Worker remote-control commands behind the escalating kill.

They run in the worker's *main* process, which knows which pool child runs which
task. ``revoke(terminate=True)`` forgets a task after the first signal, so it
cannot escalate; these commands only signal, and report what they found:

* ``djprocess_signal`` sends one signal to the pool child running ``task_id``
  (and, with ``tree=True``, to every process that child started);
* ``djprocess_status`` reports whether ``task_id`` still runs.

They are the fallback of the supervisor, used only when the pool child that
supervises a run did not confirm its stop in time (it normally stops the run
itself, see :mod:`djprocess.run.localsupervisor`). A SIGTERM to that pool child asks it to
stop its run (with the usual escalation) and then exit; SIGKILL ends it, its run
and every process below it.

A pid is signalled only if the worker's own bookkeeping says that pid runs that
task id now (and matches ``pid`` when given), so a child that moved on to
another task is never hit. A command whose ``deadline`` has passed is ignored:
``filesystem://`` keeps broadcasts sent while no worker ran and replays them.
"""

from __future__ import annotations

import contextlib
import os
import signal as signals
import time
from collections import OrderedDict
from typing import Any

import psutil
from celery.signals import task_received
from celery.worker import state as worker_state
from celery.worker.control import control_command, inspect_command

from djprocess.run.host import pid_running
from djprocess_celery.replies import TaskReply

__all__ = ["djprocess_signal", "djprocess_status"]

#: Ids of the tasks this worker received, oldest first, bounded. A reply carries
#: ``known`` so a caller can tell the worker that owns a task from others answering
#: to the same node name (two ``celery worker`` started without ``-n`` on one host
#: are both ``celery@host``).
_RECEIVED: OrderedDict[str, None] = OrderedDict()
RECEIVED_MAX = 100_000


@task_received.connect
def _remember_received(request: Any = None, **kwargs: Any) -> None:
    task_id = getattr(request, "id", None)
    if task_id:
        _RECEIVED[task_id] = None
        while len(_RECEIVED) > RECEIVED_MAX:
            _RECEIVED.popitem(last=False)


def _find(task_id: str) -> Any:
    for request in list(worker_state.active_requests):
        if request.id == task_id:
            return request
    for request in list(worker_state.reserved_requests):
        if request.id == task_id:
            return request
    return None


_pid_alive = pid_running


def _live_children(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if _pid_alive(c.pid)]


def _is_pool_child(pid: int) -> bool:
    try:
        return psutil.Process(pid).ppid() == os.getpid()
    except psutil.NoSuchProcess:
        return False


def _describe(task_id: str, pid: int | None) -> TaskReply:
    answer = _locate(task_id, pid)
    return answer.replace(known=answer.found or task_id in _RECEIVED)


def _locate(task_id: str, pid: int | None) -> TaskReply:
    request = _find(task_id)
    if request is None:
        return TaskReply(found=False)
    worker_pid = request.worker_pid
    if worker_pid is None:
        # Received or handed to the pool but not yet acknowledged by a child.
        return TaskReply(found=True, starting=True)
    if pid is not None and worker_pid != pid:
        return TaskReply(found=False, mismatch=worker_pid)
    if _is_pool_child(worker_pid) and not _live_children(worker_pid):
        # The pool child supervises its run as a child process: with none, the run is over
        # and the pool child is only recording how it ended (maybe through a database
        # outage). Not a run to kill.
        return TaskReply(found=False, ended=True, pid=worker_pid)
    return TaskReply(found=True, pid=worker_pid, alive=_pid_alive(worker_pid))


@inspect_command(args=[("task_id", str), ("pid", int)])
def djprocess_status(
    state: Any, task_id: str, pid: int | None = None, deadline: float | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Report whether ``task_id`` runs here: a :class:`TaskReply` (``found``, ``pid``,
    ``alive``...) in its wire form."""
    if deadline is not None and time.time() > deadline:
        return TaskReply(stale=True).to_reply()
    return _describe(task_id, pid).to_reply()


@control_command(args=[("task_id", str), ("signal_name", str), ("pid", int)])
def djprocess_signal(
    state: Any,
    task_id: str,
    signal_name: str = "SIGTERM",
    pid: int | None = None,
    tree: bool = False,
    deadline: float | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Send ``signal_name`` to the pool child running ``task_id`` (and its tree); returns a
    :class:`TaskReply` in its wire form."""
    if deadline is not None and time.time() > deadline:
        return TaskReply(stale=True).to_reply()
    signum = signals.Signals[signal_name]
    found = _describe(task_id, pid)
    if not found.found or found.pid is None:
        return found.to_reply()
    child = found.pid
    descendants: list[psutil.Process] = []
    if tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            descendants = psutil.Process(child).children(recursive=True)
    if not _is_pool_child(child):
        # threads/solo pools run tasks in this very process: nothing can be signalled.
        pool = type(state.consumer.pool).__module__
        return TaskReply(found=True, known=True, pid=child, unsupported=pool).to_reply()
    if signum == signals.SIGKILL:
        # Marks the job as terminated so the pool reports it as revoked.
        state.consumer.pool.terminate_job(child, signum)
    else:
        # Not terminate_job: it flags the child as terminating and the pool then
        # waits for it to exit, stalling this main loop while the run is stopped.
        os.kill(child, signum)
    for process in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signum)
    return TaskReply(
        found=True, known=True, pid=child, signalled=signal_name, tree=len(descendants)
    ).to_reply()
