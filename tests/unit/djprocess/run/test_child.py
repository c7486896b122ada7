"""``djprocess.run.child``: the run child calls ``run()``, reports how it ended as one JSON
line on its pipe and leaves with ``os._exit``.

Each test forks a real run child from the test process (or, where its supervisor must die,
from a forked helper that is a child subreaper, so that the test process never becomes one)
and calls :func:`~djprocess.run.child.main` / :func:`~djprocess.run.child.serve` in it; the
assertions are on what the supervisor sees: the report on the pipe, the exit status, the
process group, what reaches the run through signals. A run tells the test what it saw from
inside through a second pipe (:class:`Channel`). On SQLite (in memory) what the run child
writes to the database stays in its own copy of memory: nothing here depends on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from process_helpers import assert_none_left, live_descendants, wait_for
from unit_helpers import Make

from djprocess.exceptions import ProcessTerminated
from djprocess.run import child as runchild
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)

on_sqlite = django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")

CustomRun = Callable[[Callable[[ExampleProcess], None]], str]


class Channel:
    """A pipe from a forked process to the test: JSON messages, one a line."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self._buffer = b""

    def send(self, message: Any) -> None:
        """In the forked process: write one message."""
        os.write(self.write_fd, json.dumps(message).encode() + b"\n")

    def receive(self, seconds: float = 30) -> Any:
        """In the test: the next message; fails after ``seconds`` (or at end of file)."""
        deadline = time.monotonic() + seconds
        while b"\n" not in self._buffer:
            readable, _, _ = select.select([self.read_fd], [], [], deadline - time.monotonic())
            assert readable, "timed out waiting for a message from the run"
            data = os.read(self.read_fd, 65536)
            assert data, "the pipe was closed before the message came"
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close_writer(self) -> None:
        """In the test, once forked: the forked processes hold the only write ends."""
        os.close(self.write_fd)

    def rest(self) -> bytes:
        """Everything still to come, to end of file (all writers gone)."""
        chunks = [self._buffer]
        while data := os.read(self.read_fd, 65536):
            chunks.append(data)
        return b"".join(chunks)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def fork(body: Callable[[], None]) -> int:
    """Fork a process that runs ``body()`` and never returns into pytest (code 99 if
    ``body`` returns, 98 if it raises)."""
    # Never share a database socket with a forked process (on PostgreSQL its goodbye
    # would end this process's session); in-memory SQLite ignores the close.
    connections.close_all()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the forked process
        code = 99
        try:
            body()
        except BaseException:
            code = 98
        finally:
            os._exit(code)
    return pid


def wait_exit(pid: int, seconds: float = 30) -> int:
    """Reap our child ``pid`` (fails after ``seconds``); its ``waitpid`` status."""
    pidfd = os.pidfd_open(pid)
    try:
        readable, _, _ = select.select([pidfd], [], [], seconds)
        assert readable, f"process {pid} did not exit within {seconds}s"
    finally:
        os.close(pidfd)
    done, wait_status = os.waitpid(pid, 0)
    assert done == pid
    return wait_status


class RunChild:
    """A run child forked by the test: ``serve()`` (or ``main()``) in it."""

    def __init__(
        self,
        process: ExampleProcess,
        *,
        prelude: Callable[[], None] = lambda: None,
        use_main: bool = False,
        **kwargs: Any,
    ) -> None:
        read_fd, write_fd = os.pipe()

        def body() -> None:
            os.close(read_fd)
            prelude()
            if use_main:
                runchild.main(process, write_fd, **kwargs)
            kwargs.setdefault("tag", "")
            kwargs.setdefault("parent_pid", os.getppid())
            runchild.serve(process, write_fd, **kwargs)

        self.pid = fork(body)
        os.close(write_fd)
        self.report_fd = read_fd
        self.wait_status: int | None = None

    def finish(self, seconds: float = 30) -> tuple[dict[str, Any] | None, int]:
        """Wait for it to exit: (the report it wrote, or None; its exit code)."""
        self.wait_status = wait_exit(self.pid, seconds)
        data = b""
        while chunk := os.read(self.report_fd, 65536):
            data += chunk
        os.close(self.report_fd)
        report = json.loads(data) if data else None
        assert data.count(b"\n") == (1 if data else 0)  # one JSON line
        return report, os.waitstatus_to_exitcode(self.wait_status)

    def cleanup(self) -> None:
        if self.wait_status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            wait_exit(self.pid)
            os.close(self.report_fd)


@pytest.fixture
def start() -> Iterator[Callable[..., RunChild]]:
    """``start(process, **serve_kwargs)``: fork a run child. Afterwards every one is reaped
    and nothing the test started is left running."""
    started: list[RunChild] = []

    def fork_run(process: ExampleProcess, **kwargs: Any) -> RunChild:
        started.append(RunChild(process, **kwargs))
        return started[-1]

    yield fork_run
    for each in started:
        each.cleanup()
    assert_none_left()


@pytest.fixture
def channel() -> Iterator[Channel]:
    pipe = Channel()
    yield pipe
    pipe.close()


# -- how run() ended -------------------------------------------------------------------


def test_a_run_that_returns_reports_succeeded_and_exits_0(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    process = make(kind=custom_run(lambda self: channel.send("ran")))

    report, code = start(process).finish()

    assert report == {"result": "succeeded"}
    assert code == 0
    assert channel.receive() == "ran"


def test_a_run_that_raises_reports_failed_with_its_exception_and_traceback(
    make: Make, start: Callable[..., RunChild]
) -> None:
    process = make(kind="fail")

    report, code = start(process).finish()

    assert report is not None
    assert report["result"] == "failed"
    assert report["exception"] == "RuntimeError: example failure"
    assert report["traceback"].startswith("Traceback (most recent call last):")
    assert "_run_fail" in report["traceback"]
    assert report["traceback"].endswith("RuntimeError: example failure\n")
    assert code == 0  # the run failed, not its process: the report says so


def test_a_huge_exception_message_is_cut_in_the_report(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun
) -> None:
    def fail(self: ExampleProcess) -> None:
        raise ValueError("x" * 50_000)

    report, _ = start(make(kind=custom_run(fail))).finish()

    assert report is not None
    assert report["exception"] == ("ValueError: " + "x" * 50_000)[:10_000]
    assert report["traceback"].endswith("x" * 50_000 + "\n")  # the traceback is whole


def test_a_run_that_exits_by_itself_writes_no_report(
    make: Make, start: Callable[..., RunChild]
) -> None:
    report, code = start(make(kind="exit")).finish()

    assert report is None
    assert code == 3


def test_what_run_printed_and_python_still_buffers_is_written_before_the_exit(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun
) -> None:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()

    def to_pipes() -> None:
        # As in a worker whose output is a pipe: Python buffers it (block buffering).
        sys.stdout = open(out_w, "w", buffering=65536)  # noqa: SIM115 - closed by os._exit
        sys.stderr = open(err_w, "w", buffering=65536)  # noqa: SIM115

    def talk(self: ExampleProcess) -> None:
        print("to stdout, not flushed")
        print("to stderr, not flushed", file=sys.stderr)

    try:
        child = start(make(kind=custom_run(talk)), prelude=to_pipes)
        os.close(out_w)
        os.close(err_w)
        report, _ = child.finish()

        assert report == {"result": "succeeded"}
        with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
            assert out.read() == b"to stdout, not flushed\n"
            assert err.read() == b"to stderr, not flushed\n"
    finally:
        for fd in (out_r, out_w, err_r, err_w):
            with contextlib.suppress(OSError):
                os.close(fd)


# -- SIGTERM --------------------------------------------------------------------------


def test_sigterm_while_run_works_is_reported_terminated_after_its_finally_blocks(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    def work(self: ExampleProcess) -> None:
        try:
            channel.send("working")
            time.sleep(60)
        finally:
            channel.send("finally")

    child = start(make(kind=custom_run(work)))
    assert channel.receive() == "working"

    os.kill(child.pid, signal.SIGTERM)

    report, code = child.finish()
    assert report == {"result": "terminated", "signum": signal.SIGTERM}
    assert code == 0
    assert channel.receive() == "finally"


def test_a_sigterm_sent_before_the_handler_is_in_place_stops_the_run_before_it_starts(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    def sigterm_pending() -> None:
        # As the supervisor forks it: SIGTERM blocked, and one already sent.
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        os.kill(os.getpid(), signal.SIGTERM)

    process = make(kind=custom_run(lambda self: channel.send("ran")))

    child = start(process, prelude=sigterm_pending)
    report, code = child.finish()

    assert report == {"result": "terminated", "signum": signal.SIGTERM}  # not killed by it
    assert code == 0
    channel.close_writer()
    assert channel.rest() == b""  # run() never started


def test_a_run_that_swallows_sigterm_and_returns_is_still_reported_terminated(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    def swallow(self: ExampleProcess) -> None:
        try:
            channel.send("working")
            time.sleep(60)
        except ProcessTerminated as exc:
            channel.send(str(exc))

    child = start(make(kind=custom_run(swallow)))
    assert channel.receive() == "working"

    os.kill(child.pid, signal.SIGTERM)

    report, _ = child.finish()
    assert channel.receive() == "terminated by signal 15"
    assert report == {"result": "terminated", "signum": signal.SIGTERM}


def test_each_sigterm_raises_again_so_a_finally_block_that_hangs_is_interrupted(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    def hang_in_finally(self: ExampleProcess) -> None:
        try:
            channel.send("working")
            time.sleep(60)
        finally:
            channel.send("in finally")
            time.sleep(60)

    child = start(make(kind=custom_run(hang_in_finally)))
    assert channel.receive() == "working"
    os.kill(child.pid, signal.SIGTERM)
    assert channel.receive() == "in finally"

    os.kill(child.pid, signal.SIGTERM)

    report, code = child.finish(seconds=30)  # not after the finally block's 60 s
    assert report == {"result": "terminated", "signum": signal.SIGTERM}
    assert code == 0


# -- what the run child is ---------------------------------------------------------------


def report_group(channel: Channel) -> Callable[[ExampleProcess], None]:
    def run(self: ExampleProcess) -> None:
        channel.send({"pid": os.getpid(), "pgid": os.getpgrp()})

    return run


def test_the_run_child_leads_its_own_process_group(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    child = start(make(kind=custom_run(report_group(channel))))

    seen = channel.receive()
    assert child.finish()[0] == {"result": "succeeded"}
    assert seen == {"pid": child.pid, "pgid": child.pid}
    assert os.getpgrp() != child.pid


def test_a_run_started_in_a_group_of_its_own_already_stays_in_it(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    child = start(make(kind=custom_run(report_group(channel))), own_group=False)

    seen = channel.receive()
    assert child.finish()[0] == {"result": "succeeded"}
    assert seen == {"pid": child.pid, "pgid": os.getpgrp()}  # the test's group: not moved


@pytest.mark.parametrize("tag", ["djprocess-run-task-7", ""], ids=["tag", "no-tag"])
def test_the_run_and_the_processes_it_starts_carry_its_tag(
    make: Make,
    start: Callable[..., RunChild],
    custom_run: CustomRun,
    channel: Channel,
    tag: str,
) -> None:
    def look(self: ExampleProcess) -> None:
        shell = subprocess.run(
            ["sh", "-c", f'echo "${{{runchild.RUN_ENV}-unset}}"'],
            capture_output=True,
            text=True,
            check=True,
        )
        channel.send({"run": os.environ.get(runchild.RUN_ENV), "shell": shell.stdout})

    assert runchild.RUN_ENV not in os.environ
    child = start(make(kind=custom_run(look)), tag=tag)

    seen = channel.receive()
    assert child.finish()[0] == {"result": "succeeded"}
    if tag:
        assert seen == {"run": tag, "shell": f"{tag}\n"}
    else:
        assert seen == {"run": None, "shell": "unset\n"}
    assert runchild.RUN_ENV not in os.environ  # the test process's is untouched


def test_is_current_is_true_only_in_the_run_child_of_that_process(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    other = make(kind="quiet")

    def look(self: ExampleProcess) -> None:
        channel.send([runchild.is_current(self), runchild.is_current(other)])

    process = make(kind=custom_run(look))
    child = start(process)

    assert channel.receive() == [True, False]
    assert child.finish()[0] == {"result": "succeeded"}
    assert not runchild.is_current(process)  # not in the test process, which forked it


def test_hooks_run_in_the_child_in_order_before_run(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    def hook(name: str) -> Callable[[], None]:
        return lambda: channel.send([name, os.getpid(), os.environ.get(runchild.RUN_ENV)])

    process = make(kind=custom_run(lambda self: channel.send(["run", os.getpid(), None])))

    child = start(
        process, use_main=True, tag="t-hooks", parent_pid=os.getpid(),
        after_fork=[hook("first"), hook("second")],
    )  # fmt: skip

    assert child.finish()[0] == {"result": "succeeded"}
    assert [channel.receive() for _ in range(3)] == [
        ["first", child.pid, "t-hooks"],
        ["second", child.pid, "t-hooks"],
        ["run", child.pid, None],
    ]


def test_a_hook_that_fails_is_reported_failed_and_the_child_exits_1(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    def broken_hook() -> None:
        raise OSError(9, "Bad file descriptor")

    process = make(kind=custom_run(lambda self: channel.send("ran")))

    report, code = start(process, before_run=[broken_hook]).finish()

    assert report is not None
    assert report["result"] == "failed"
    assert report["exception"] == "OSError: [Errno 9] Bad file descriptor"
    assert "broken_hook" in report["traceback"]
    assert code == 1
    channel.close_writer()
    assert channel.rest() == b""  # run() never started


# -- the run child and its supervisor ---------------------------------------------------


def in_a_subreaper(
    process: ExampleProcess,
    ready: Channel,
    *,
    supervisor_exits_first: bool,
    dies_with_it: bool = True,
) -> dict[str, Any]:
    """Fork a helper that is a child subreaper; it forks a *supervisor*, which forks a run
    child of ``process`` (``parent_pid``: the supervisor) and exits, either before the run
    child calls ``main()`` (``supervisor_exits_first``) or once ``run()`` has sent a message
    on ``ready``. ``dies_with_it``: ``parent_pid`` is the supervisor's pid, else None (as
    in a sandbox). The helper reaps the supervisor, then the orphaned run child if it was
    adopted, and returns what it saw: ``{"subreaper", "adopted", "wait_status", "report"}``."""
    result = Channel()

    def helper() -> None:
        subreaper = runchild.become_subreaper()
        pids = Channel()
        report_r, report_w = os.pipe()

        def supervisor() -> None:
            supervisor_pid = os.getpid()

            def run_child() -> None:
                os.close(report_r)
                if supervisor_exits_first:
                    wait_for(lambda: os.getppid() != supervisor_pid, 30, "the supervisor to go")
                parent = supervisor_pid if dies_with_it else None
                runchild.serve(process, report_w, tag="", parent_pid=parent)

            pids.send(fork(run_child))
            if not supervisor_exits_first:
                ready.receive(30)  # the run is in run()

        supervisor_pid = fork(supervisor)
        os.close(report_w)
        run_pid = pids.receive(30)
        os.waitpid(supervisor_pid, 0)
        try:
            _, wait_status = os.waitpid(run_pid, 0)  # ours to reap only if adopted
            adopted = True
        except ChildProcessError:
            adopted, wait_status = False, -1
        data = b""
        while chunk := os.read(report_r, 65536):
            data += chunk
        result.send(
            {
                "subreaper": subreaper,
                "adopted": adopted,
                "wait_status": wait_status,
                "report": data.decode(),
            }
        )

    pid = fork(helper)
    try:
        result.close_writer()
        seen = result.receive(60)
    finally:
        assert os.waitstatus_to_exitcode(wait_exit(pid)) == 99  # the helper's body returned
        result.close()
    return dict(seen)


def test_a_run_child_whose_supervisor_died_before_it_started_exits_70_without_running(
    make: Make, custom_run: CustomRun, channel: Channel
) -> None:
    process = make(kind=custom_run(lambda self: channel.send("ran")))

    seen = in_a_subreaper(process, channel, supervisor_exits_first=True)

    assert seen["subreaper"] is True
    assert seen["adopted"] is True  # the orphan went to the subreaper, not to init
    assert os.waitstatus_to_exitcode(seen["wait_status"]) == 70
    assert seen["report"] == ""
    channel.close_writer()
    assert channel.rest() == b""  # run() never started
    assert live_descendants() == []


def test_a_run_child_dies_with_its_supervisor(
    make: Make, custom_run: CustomRun, channel: Channel
) -> None:
    def work(self: ExampleProcess) -> None:
        channel.send("working")
        time.sleep(60)

    seen = in_a_subreaper(make(kind=custom_run(work)), channel, supervisor_exits_first=False)

    assert seen["adopted"] is True
    assert os.WIFSIGNALED(seen["wait_status"])
    assert os.WTERMSIG(seen["wait_status"]) == signal.SIGKILL  # PR_SET_PDEATHSIG
    assert seen["report"] == ""
    assert live_descendants() == []


def test_a_run_child_with_no_supervisor_to_die_with_runs_whoever_its_parent_is(
    make: Make, custom_run: CustomRun, channel: Channel
) -> None:
    process = make(kind=custom_run(lambda self: channel.send("ran")))

    seen = in_a_subreaper(process, channel, supervisor_exits_first=True, dies_with_it=False)

    assert os.waitstatus_to_exitcode(seen["wait_status"]) == 0
    assert json.loads(seen["report"]) == {"result": "succeeded"}
    assert channel.receive() == "ran"


needs_postgresql = pytest.mark.skipif(on_sqlite, reason="tags PostgreSQL sessions only")


@needs_postgresql
def test_the_runs_postgresql_sessions_carry_its_tag(
    make: Make, start: Callable[..., RunChild], custom_run: CustomRun, channel: Channel
) -> None:
    def look(self: ExampleProcess) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('application_name')")
            channel.send(cursor.fetchone()[0])

    child = start(make(kind=custom_run(look)), tag="djprocess-run-pg-tag")

    assert channel.receive() == "djprocess-run-pg-tag"
    assert child.finish()[0] == {"result": "succeeded"}
    with connection.cursor() as cursor:  # the test process's own session is not tagged
        cursor.execute("SELECT current_setting('application_name')")
        assert cursor.fetchone()[0] != "djprocess-run-pg-tag"
