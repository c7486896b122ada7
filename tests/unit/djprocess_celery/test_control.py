"""``djprocess_celery.control``: the remote-control commands behind the escalating kill.

The commands are dispatched by the control node of a real (unstarted) Celery worker, as
its mailbox does with a broadcast: ``node.handle_message(body)`` looks the command up in
Celery's registry and calls it with the worker's state. The worker's bookkeeping is
Celery's own (``celery.worker.state``), fed with real :class:`~celery.worker.request.Request`
objects built from messages published to the in-memory broker.

The "pool children" are real children of this process (as a pool child is of the worker's
main process); each reports on its stdout the signals it and the processes it started
receive. The last test starts the worker's real prefork pool for the SIGKILL, which goes
through the pool's own ``terminate_job``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import psutil
import pytest
from billiard.exceptions import Terminated
from celery import current_app
from celery.app import trace
from celery.signals import task_received
from celery.worker import state as worker_state
from celery.worker.request import Request

from djprocess_celery import control
from djprocess_celery.replies import TaskReply

pytestmark = pytest.mark.celery

HOST = "unit-control@host"
LABEL = "djprocess_example.exampleprocess"
#: Sent by the tests after a command: a higher number than any signal under test, so a
#: process that got the signal under test reports it before this one (blocked signals are
#: taken lowest number first).
MARKER = signal.SIGWINCH

#: A process that reports each SIGTERM/SIGUSR1/SIGWINCH as "<pid> <name>" on stdout and
#: keeps running. It first starts the children its arguments describe: "sub" (a process
#: like itself), "nested" (one that starts one more), "zombie" (one that exits at once and
#: is never reaped). Then it prints "ready <its pid> <descendant pids...>".
REPORTER = r"""
import os, signal, subprocess, sys, threading, time
def report(line):
    os.write(1, line.encode())  # one write: lines from several processes never mix
# Taken with sigwaitinfo(), lowest number first, never by a handler: in the order sent.
HANDLED = {signal.SIGTERM, signal.SIGUSR1, signal.SIGWINCH}
signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
kids, pids = [], []
for kind in sys.argv[1:]:
    if kind in ("sub", "nested"):
        more = ["sub"] if kind == "nested" else []
        kid = subprocess.Popen(
            [sys.executable, "-c", f"SCRIPT = {SCRIPT!r}\n{SCRIPT}", *more],
            stdout=subprocess.PIPE,
            text=True,
        )
        words = kid.stdout.readline().split()
        assert words[0] == "ready", words
        pids += words[1:]
        def relay(stream=kid.stdout):  # what it reports
            for line in stream:
                report(line)
        threading.Thread(target=relay, daemon=True).start()
    elif kind == "zombie":
        kid = subprocess.Popen(["true"])
        while open(f"/proc/{kid.pid}/stat").read().split()[2] != "Z":
            time.sleep(0.005)
    else:
        continue
    kids.append(kid)
report(" ".join(["ready", str(os.getpid()), *pids]) + "\n")
while True:
    info = signal.sigwaitinfo(HANDLED)
    report(f"{os.getpid()} {signal.Signals(info.si_signo).name}\n")
"""
REPORTER_MAIN = f"SCRIPT = {REPORTER!r}\n{REPORTER}"


class Reporter:
    """A child of this process running :data:`REPORTER`; its reports are read by a thread."""

    def __init__(self, *args: str) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-c", REPORTER_MAIN, *args], stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.popen.stdout is not None
        words = self.popen.stdout.readline().split()
        assert words[:1] == ["ready"], words
        self.pid = self.popen.pid
        self.descendants = [int(word) for word in words[2:]]
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.strip())

    def reports_until_marker(self, pids: list[int], seconds: float = 10.0) -> list[str]:
        """Send :data:`MARKER` to ``pids``; return the reports, in order, until each pid
        reported it (the marker reports themselves left out)."""
        for pid in pids:
            os.kill(pid, MARKER)
        waiting = {f"{pid} {MARKER.name}" for pid in pids}
        reports: list[str] = []
        deadline = time.monotonic() + seconds
        while waiting:
            left = deadline - time.monotonic()
            assert left > 0, f"no marker from {sorted(waiting)}; got {reports}"
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line in waiting:
                waiting.discard(line)
            else:
                reports.append(line)
        return reports

    def stop(self) -> None:
        for pid in [*self.descendants, self.pid]:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()
        self.popen.wait(10)
        self.reader.join(10)
        assert self.popen.stdout is not None
        self.popen.stdout.close()


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    wait_for(
        lambda: all(
            gone(p.pid) or p.pid in before for p in psutil.Process().children(recursive=True)
        ),
        10,
        "the test's processes to be gone",
    )


@pytest.fixture(autouse=True)
def _received(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with a worker that received nothing."""
    monkeypatch.setattr(control, "_RECEIVED", OrderedDict())


@pytest.fixture
def reporters() -> Iterator[Callable[..., Reporter]]:
    started: list[Reporter] = []

    def start(*args: str) -> Reporter:
        reporter = Reporter(*args)
        started.append(reporter)
        return reporter

    yield start
    for reporter in started:
        reporter.stop()


def build_worker(pool: str) -> Any:
    queues = current_app.amqp.queues
    consume_from = queues._consume_from
    try:
        return current_app.WorkController(
            hostname=HOST, queues=["processes"], pool_cls=pool, concurrency=1
        )
    finally:
        queues._consume_from = consume_from
        trace.reset_worker_optimizations(current_app)


@pytest.fixture
def worker(db: None) -> Any:
    """A real prefork worker, not started."""
    return build_worker("prefork")


def node_of(worker: Any) -> Any:
    return worker.consumer.blueprint.steps["celery.worker.consumer.control.Control"].box.node


def command(worker: Any, name: str, **arguments: Any) -> TaskReply:
    """Dispatch ``name`` as the worker's control node does with a broadcast to it; the
    reply goes through JSON, as on the wire."""
    body = {"method": name, "arguments": arguments, "destination": [HOST]}
    reply = node_of(worker).handle_message(body)
    return TaskReply.from_reply(json.loads(json.dumps(reply)))


class Tasks:
    """Real task requests in the worker's bookkeeping, removed afterwards."""

    def __init__(self, worker: Any, connection: Any) -> None:
        self.worker = worker
        self.connection = connection
        self.requests: list[Request] = []
        self.queues: list[Any] = []

    def receive(self, task_id: str) -> Request:
        """The consumer received ``task_id`` (a ``djprocess.run_process`` message) and
        reserved it, not yet handed to a pool child."""
        from djprocess_celery.conf import process_queue
        from djprocess_celery.tasks import run_process

        run_process.apply_async(
            (LABEL, 1), queue=process_queue(), serializer="json", task_id=task_id
        )
        simple = self.connection.SimpleQueue(process_queue())
        self.queues.append(simple)
        message = simple.get(timeout=5)
        request = Request(
            message,
            app=current_app,
            hostname=HOST,
            task=run_process,
            connection_errors=self.connection.connection_errors,
        )
        assert request.id == task_id
        # What the worker's task strategy does with each message it receives.
        task_received.send(sender=self.worker.consumer, request=request)
        worker_state.task_reserved(request)
        self.requests.append(request)
        return request

    def run(self, task_id: str, pid: int) -> Request:
        """``task_id`` received and accepted by pool child ``pid`` (the pool's accept
        callback)."""
        request = self.receive(task_id)
        request.on_accepted(pid, time.monotonic())
        return request

    def close(self) -> None:
        for request in self.requests:
            worker_state.task_ready(request)
        for simple in self.queues:
            simple.close()


@pytest.fixture
def tasks(worker: Any, celery_setting: Callable[[str, object], None]) -> Iterator[Tasks]:
    celery_setting("task_always_eager", False)
    with current_app.connection_for_write() as connection:
        found = Tasks(worker, connection)
        yield found
        found.close()


# -- djprocess_status ----------------------------------------------------------------


def test_status_reports_the_pool_child_running_the_task(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters("sub")
    tasks.run("t-run", child.pid)

    answer = command(worker, "djprocess_status", task_id="t-run")
    assert answer == TaskReply(found=True, known=True, pid=child.pid, alive=True)
    assert command(worker, "djprocess_status", task_id="t-run", pid=child.pid) == answer
    # Another pid than the one running it: not found, and the right one is named.
    other = command(worker, "djprocess_status", task_id="t-run", pid=child.pid + 100_000)
    assert other == TaskReply(found=False, known=True, mismatch=child.pid)
    # The status only looks: nothing was signalled.
    assert child.reports_until_marker([child.pid, *child.descendants]) == []


def test_status_of_a_task_never_received_is_unknown(worker: Any, tasks: Tasks) -> None:
    assert command(worker, "djprocess_status", task_id="t-never") == TaskReply()


def test_a_task_received_and_over_is_known_not_found(worker: Any, tasks: Tasks) -> None:
    request = tasks.receive("t-over")
    worker_state.task_ready(request)
    assert command(worker, "djprocess_status", task_id="t-over") == TaskReply(known=True)


def test_a_reserved_task_not_yet_accepted_is_starting(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    tasks.receive("t-reserved")
    starting = TaskReply(found=True, known=True, starting=True)
    assert command(worker, "djprocess_status", task_id="t-reserved") == starting
    # Nothing to signal yet: the reply says so, the caller asks again.
    assert command(worker, "djprocess_signal", task_id="t-reserved") == starting


def test_the_received_ids_are_bounded_oldest_dropped_first(
    worker: Any, tasks: Tasks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "RECEIVED_MAX", 2)
    for task_id in ("t-1", "t-2", "t-3"):
        worker_state.task_ready(tasks.receive(task_id))
    task_received.send(sender=worker.consumer, request=None)  # no request: nothing kept
    known = {
        task_id: command(worker, "djprocess_status", task_id=task_id).known
        for task_id in ("t-1", "t-2", "t-3")
    }
    assert known == {"t-1": False, "t-2": True, "t-3": True}


@pytest.mark.parametrize("leftover", [(), ("zombie",)], ids=["no-child", "zombie-child"])
def test_a_pool_child_without_a_live_run_has_ended(
    worker: Any,
    tasks: Tasks,
    reporters: Callable[..., Reporter],
    leftover: tuple[str, ...],
) -> None:
    """The pool child supervises its run as a child process: with none (or only a zombie),
    it is recording how the run ended, and is not signalled."""
    child = reporters(*leftover)
    tasks.run("t-ended", child.pid)

    ended = TaskReply(known=True, ended=True, pid=child.pid)
    assert command(worker, "djprocess_status", task_id="t-ended") == ended
    assert command(worker, "djprocess_signal", task_id="t-ended", tree=True) == ended
    assert child.reports_until_marker([child.pid]) == []


def test_a_pool_child_that_died_is_not_alive(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters("sub")
    tasks.run("t-dead", child.pid)
    child.popen.kill()
    child.popen.wait(10)  # reaped, as the pool reaps its children

    answer = command(worker, "djprocess_status", task_id="t-dead")
    assert answer == TaskReply(found=True, known=True, pid=child.pid, alive=False)


def test_status_past_its_deadline_is_stale(worker: Any, tasks: Tasks) -> None:
    tasks.receive("t-late")
    late = command(worker, "djprocess_status", task_id="t-late", deadline=time.time() - 1)
    assert late == TaskReply(stale=True)
    timely = command(worker, "djprocess_status", task_id="t-late", deadline=time.time() + 60)
    assert timely.found


# -- djprocess_signal ----------------------------------------------------------------


def test_sigterm_goes_to_the_pool_child_alone(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters("sub", "sub")
    tasks.run("t-term", child.pid)

    answer = command(worker, "djprocess_signal", task_id="t-term", signal_name="SIGTERM")

    assert answer == TaskReply(found=True, known=True, pid=child.pid, signalled="SIGTERM")
    everyone = [child.pid, *child.descendants]
    assert child.reports_until_marker(everyone) == [f"{child.pid} SIGTERM"]


def test_sigterm_is_the_default_signal(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters("sub")
    tasks.run("t-default", child.pid)
    assert command(worker, "djprocess_signal", task_id="t-default").signalled == "SIGTERM"
    assert child.reports_until_marker([child.pid]) == [f"{child.pid} SIGTERM"]


def test_a_signal_with_tree_reaches_every_process_below_the_pool_child(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters("sub", "nested")  # three processes below it, one a grandchild
    assert len(child.descendants) == 3
    tasks.run("t-tree", child.pid)

    answer = command(worker, "djprocess_signal", task_id="t-tree", signal_name="SIGUSR1", tree=True)

    assert answer == TaskReply(found=True, known=True, pid=child.pid, signalled="SIGUSR1", tree=3)
    everyone = [child.pid, *child.descendants]
    reports = child.reports_until_marker(everyone)
    assert sorted(reports) == sorted(f"{pid} SIGUSR1" for pid in everyone)


def test_a_signal_for_another_pid_signals_nothing(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters("sub")
    tasks.run("t-moved", child.pid)

    answer = command(
        worker, "djprocess_signal", task_id="t-moved", pid=child.pid + 100_000, tree=True
    )

    assert answer == TaskReply(found=False, known=True, mismatch=child.pid)
    assert child.reports_until_marker([child.pid, *child.descendants]) == []


def test_a_signal_for_a_task_not_running_here_signals_nothing(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters("sub")
    tasks.run("t-other", child.pid)
    assert command(worker, "djprocess_signal", task_id="t-unknown", tree=True) == TaskReply()
    assert child.reports_until_marker([child.pid, *child.descendants]) == []


def test_a_signal_past_its_deadline_is_ignored(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters("sub")
    tasks.run("t-replayed", child.pid)

    answer = command(
        worker, "djprocess_signal", task_id="t-replayed", tree=True, deadline=time.time() - 1
    )

    assert answer == TaskReply(stale=True)
    assert child.reports_until_marker([child.pid, *child.descendants]) == []
    timely = command(worker, "djprocess_signal", task_id="t-replayed", deadline=time.time() + 60)
    assert timely.signalled == "SIGTERM"
    assert child.reports_until_marker([child.pid]) == [f"{child.pid} SIGTERM"]


def test_an_unknown_signal_name_is_an_error_reply(
    worker: Any, tasks: Tasks, reporters: Callable[..., Reporter]
) -> None:
    child = reporters()
    tasks.run("t-bad", child.pid)
    answer = command(worker, "djprocess_signal", task_id="t-bad", signal_name="SIGNOPE")
    assert "SIGNOPE" in answer.error
    assert child.reports_until_marker([child.pid]) == []


def test_a_task_run_in_the_worker_process_itself_cannot_be_signalled(
    db: None,
    celery_setting: Callable[[str, object], None],
    reporters: Callable[..., Reporter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The solo (or threads) pool runs a task in the worker's main process: the reply says
    the pool cannot stop it, and nothing is signalled, not even the tree."""
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    monkeypatch.setattr(control, "_RECEIVED", OrderedDict())
    previous = signal.signal(signal.SIGTERM, record)
    try:
        with pytest.raises(SystemExit, match="solo pool"):
            build_worker("solo")  # djprocess refuses it for the process queue...
        queues = current_app.amqp.queues
        consume_from = queues._consume_from
        try:
            # ... but a worker of other queues may run a djprocess task all the same.
            solo = current_app.WorkController(
                hostname=HOST, queues=["celery"], pool_cls="solo", concurrency=1
            )
        finally:
            queues._consume_from = consume_from
        bystander = reporters()  # a child of the worker process
        celery_setting("task_always_eager", False)
        with current_app.connection_for_write() as connection:
            found = Tasks(solo, connection)
            try:
                found.run("t-solo", os.getpid())
                answer = command(solo, "djprocess_signal", task_id="t-solo", tree=True)
            finally:
                found.close()
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert answer == TaskReply(
        found=True, known=True, pid=os.getpid(), unsupported="celery.concurrency.solo"
    )
    assert received == []
    assert bystander.reports_until_marker([bystander.pid]) == []


# -- SIGKILL, through the worker's real prefork pool ------------------------------------


def run_tree() -> str:
    """A job for a pool child: it starts a process and waits for it, as a run would."""
    subprocess.run(["sleep", "60"], check=False)
    return "finished"


def test_sigkill_ends_the_pool_child_and_its_tree_through_the_pool(
    worker: Any, tasks: Tasks
) -> None:
    pool = worker.pool
    pool.start()
    try:
        request = tasks.receive("t-kill")
        outcomes: list[object] = []
        pool.apply_async(
            run_tree,
            accept_callback=request.on_accepted,
            callback=outcomes.append,
            error_callback=outcomes.append,
        )
        pid = wait_for(lambda: request.worker_pid, 30, "a pool child to accept the job")
        below = wait_for(
            lambda: psutil.Process(pid).children(recursive=True), 10, "the job's process"
        )
        running = command(worker, "djprocess_status", task_id="t-kill")
        assert running == TaskReply(found=True, known=True, pid=pid, alive=True)
        # No replacement child: the pool would fork one from this (threaded) process.
        pool._pool.close()

        answer = command(
            worker, "djprocess_signal", task_id="t-kill", signal_name="SIGKILL", tree=True
        )

        assert answer == TaskReply(
            found=True, known=True, pid=pid, signalled="SIGKILL", tree=len(below)
        )
        pids = [pid, *(p.pid for p in below)]
        wait_for(lambda: all(gone(p) for p in pids), 10, "the pool child and its tree to end")
        # terminate_job marked the job terminated: the pool reports it so (as revoked),
        # not as a worker lost.
        (outcome,) = wait_for(lambda: list(outcomes), 30, "the pool to report the job")
        error = outcome.exception.exc  # billiard's ExceptionWithTraceback
        assert isinstance(error, Terminated), repr(error)
        assert error.args[0] == signal.SIGKILL
    finally:
        pool.terminate()
