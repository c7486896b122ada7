"""``djprocess_subprocess.launcher``: :class:`ExecutorLauncher` starts a run through the
native executor (:mod:`djprocess_subprocess.native`) and its :class:`ExecutorRunHandle` is
the supervisor's only way to reach it: the exit descriptor, the report and output pipes
(fed to :class:`~djprocess.run.output.RunOutput`), signals to the run's process group,
``waitpid``, and the release of it all.

Each run is a real child interpreter, ``python -m djprocess_subprocess.runner``, which
reaches the database itself: the in-memory test database cannot be shared with another
process, so each test's database is copied (SQLite's backup) to a file the child's
settings name. The test launches as the supervisor does (SIGTERM blocked around
``launch``) and drives the handle as its watch loop would; every child is reaped, and
none is left behind.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.db import connection
from process_helpers import (
    assert_none_left,
    gone,
    reaped,
    wait_for,
    watch_until_gone,
)
from unit_helpers import Make

from djprocess.run.output import STDERR_LEVEL, STDOUT_LEVEL, RunOutput
from djprocess_example.models import ExampleProcess, ExampleProcessLog
from djprocess_subprocess.executor import ExecutionHandle
from djprocess_subprocess.launcher import ExecutorLauncher, ExecutorRunHandle
from djprocess_subprocess.native import NativeExecutor

# The runner interpreter sets up the whole test project, Celery backend included.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery]

TESTS = Path(__file__).resolve().parents[2]
LABEL = ExampleProcess._meta.label_lower


def is_closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


class CleanupFails(NativeExecutor):
    """The native executor, whose cleanup raises once it has done its work."""

    def cleanup(self, handle: ExecutionHandle) -> None:
        super().cleanup(handle)
        raise OSError("cleanup failed")


class Launched:
    """A run launched through :class:`ExecutorLauncher`, and what its supervisor reads."""

    def __init__(
        self,
        executor: NativeExecutor,
        process: ExampleProcess,
        tag: str,
        signal_at_once: int | None = None,
    ) -> None:
        self.output = RunOutput(process)
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        try:
            handle = ExecutorLauncher(executor).launch(process, tag=tag, output=self.output)
            if signal_at_once is not None:
                handle.signal(signal_at_once)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        assert isinstance(handle, ExecutorRunHandle)
        self.handle = handle
        self.wait_status: int | None = None

    def runner(self) -> psutil.Process:
        """The child, once it runs the runner (past the ``exec``)."""
        proc = psutil.Process(self.handle.pid)
        wait_for(lambda: "djprocess_subprocess.runner" in proc.cmdline(), 30, "the exec")
        return proc

    def until_gone(self, seconds: float = 60) -> int:
        """Watch the run until its exit descriptor is readable, feeding what its pipes
        give; its ``waitpid`` status (via ``poll``)."""
        self.wait_status = watch_until_gone(self.handle, seconds)
        self.output.close()
        return self.wait_status

    def cleanup(self) -> None:
        if self.wait_status is None:
            self.handle.signal(signal.SIGKILL)
            self.wait_status = reaped(self.handle.poll)
        self.handle.close()
        self.output.close()


@pytest.fixture
def child_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the runs' interpreters use as their database: settings that name it are
    in the environment the executor passes on."""
    database = tmp_path / "child.sqlite3"
    (tmp_path / "launcher_child_settings.py").write_text(
        "from djprocess_test_settings.sqlite import *  # noqa: F403\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3',\n"
        f"                         'NAME': {str(database)!r}, 'OPTIONS': {{'timeout': 30}}}}}}\n"
    )
    path = [str(tmp_path), str(TESTS), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "launcher_child_settings")
    return database


@pytest.fixture
def launch(child_database: Path) -> Iterator[Callable[..., Launched]]:
    """``launch(process, tag="t", executor=NativeExecutor(), signal_at_once=None)``: the
    test database (``process`` in it) copied for the run, and the run launched.
    Afterwards each run is reaped and closed, and no process the test started is left."""
    launched: list[Launched] = []

    def start(
        process: ExampleProcess,
        tag: str = "t",
        executor: NativeExecutor | None = None,
        **kwargs: Any,
    ) -> Launched:
        connection.ensure_connection()
        with sqlite3.connect(child_database) as copy:
            connection.connection.backup(copy)
        launched.append(Launched(executor or NativeExecutor(), process, tag, **kwargs))
        return launched[-1]

    yield start
    for each in launched:
        each.cleanup()
    assert_none_left()


def child_messages(database: Path, process: ExampleProcess) -> list[str]:
    """What the run logged itself, in its own database."""
    table = ExampleProcessLog._meta.db_table
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            f'SELECT "message" FROM "{table}" WHERE "process_id" = ? ORDER BY "sequence"',
            [process.pk],
        )
        return [message for (message,) in rows]


def logged(process: ExampleProcess) -> list[tuple[str, str]]:
    """What the supervisor wrote for the run: ``(level, message)`` in order."""
    return [(line.level, line.message) for line in process.logs.order_by("sequence")]


# -- the child -------------------------------------------------------------------------


def test_the_run_is_the_runner_interpreter_in_a_session_and_group_of_its_own(
    make: Make, launch: Callable[..., Launched]
) -> None:
    process = make(kind="sleep", seconds=120)

    run = launch(process, tag="t-launcher")
    proc = run.runner()

    assert run.handle.pid == run.handle.handle.pid == proc.pid
    assert proc.ppid() == os.getpid()  # a child of the supervisor, reaped by it
    assert proc.cmdline()[:5] == [
        sys.executable,
        "-m",
        "djprocess_subprocess.runner",
        LABEL,
        str(process.pk),
    ]
    options = proc.cmdline()[5:]
    assert options[options.index("--tag") + 1] == "t-launcher"
    assert options[options.index("--parent-pid") + 1] == str(os.getpid())
    assert os.getsid(proc.pid) == proc.pid != os.getsid(0)
    assert os.getpgid(proc.pid) == proc.pid != os.getpgrp()
    assert os.readlink(f"/proc/{proc.pid}/fd/0") == os.devnull  # nothing to read
    assert proc.environ()["PYTHONUNBUFFERED"] == "1"
    assert run.handle.poll() is None  # running
    readable, _, _ = select.select([run.handle.exit_fd()], [], [], 0)
    assert readable == []  # the exit descriptor is readable only once it is gone


def test_the_report_fd_is_the_one_pipe_the_run_inherits_besides_its_output(
    make: Make, launch: Callable[..., Launched], child_database: Path
) -> None:
    process = make(kind="sleep", seconds=120)
    run = launch(process)
    proc = run.runner()

    options = proc.cmdline()[5:]
    report_fd = int(options[options.index("--report-fd") + 1])
    wait_for(lambda: "sleeping 120.0s" in child_messages(child_database, process), 60, "run()")
    inherited = {int(fd) for fd in os.listdir(f"/proc/{proc.pid}/fd")}
    pipes = {
        fd: os.readlink(f"/proc/{proc.pid}/fd/{fd}")
        for fd in inherited
        if os.readlink(f"/proc/{proc.pid}/fd/{fd}").startswith("pipe:")
    }
    assert set(pipes) == {1, 2, report_fd}
    # Each of them is one of the supervisor's channels, with the name it is read under.
    channels = run.handle.handle.channels
    ours = {os.readlink(f"/proc/self/fd/{fd}"): name for fd, name in channels.items()}
    assert {pipes[fd]: ours[pipes[fd]] for fd in pipes} == {
        pipes[1]: "stdout",
        pipes[2]: "stderr",
        pipes[report_fd]: "report",
    }
    assert all(not os.get_blocking(fd) for fd in run.handle.readers())


# -- what the run sends back -------------------------------------------------------------


def test_the_report_and_the_printed_lines_reach_the_run_output(
    make: Make, launch: Callable[..., Launched], child_database: Path
) -> None:
    process = make(kind="print", lines=11, seconds=0)

    run = launch(process)
    wait_status = run.until_gone()

    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert run.output.report == {"result": "succeeded"}
    lines = logged(process)
    printed = [line for line in lines if "line " in line[1]]
    stdout = [(STDOUT_LEVEL, f"stdout line {n} ") for n in range(11)]
    stderr = [(STDERR_LEVEL, "stderr line 0"), (STDERR_LEVEL, "stderr line 10")]
    assert [line for line in printed if line[0] == STDOUT_LEVEL] == stdout
    assert [line for line in printed if line[0] == STDERR_LEVEL] == stderr
    # The run reached the database itself (a native run): its own line is there.
    assert child_messages(child_database, process)[-1] == "printed"
    assert "printed" not in [message for _, message in lines]


def test_a_run_that_fails_reports_its_exception(
    make: Make, launch: Callable[..., Launched]
) -> None:
    run = launch(make(kind="fail"))

    run.until_gone()

    assert run.output.report["result"] == "failed"
    assert run.output.report["exception"] == "RuntimeError: example failure"


def test_the_exit_status_of_a_run_that_ended_its_own_process_is_polled(
    make: Make, launch: Callable[..., Launched]
) -> None:
    run = launch(make(kind="exit"))  # run() ends its process with os._exit(3)

    wait_status = run.until_gone()

    assert os.waitstatus_to_exitcode(wait_status) == 3
    assert run.handle.poll() == wait_status  # reaped: the same answer again
    assert run.output.report == {}  # it wrote none


# -- signals -------------------------------------------------------------------------------


def test_a_sigterm_reaches_run_and_is_reported_as_terminated(
    make: Make, launch: Callable[..., Launched], child_database: Path
) -> None:
    process = make(kind="sleep", seconds=120)
    run = launch(process)
    wait_for(lambda: "sleeping 120.0s" in child_messages(child_database, process), 60, "run()")

    run.handle.signal(signal.SIGTERM)
    wait_status = run.until_gone()

    assert run.output.report == {"result": "terminated", "signum": signal.SIGTERM}
    assert os.waitstatus_to_exitcode(wait_status) == 0  # it ended itself, after run()
    assert child_messages(child_database, process)[-1] == "finally block ran"


def test_a_sigterm_sent_before_the_run_started_waits_for_it(
    make: Make, launch: Callable[..., Launched], child_database: Path
) -> None:
    process = make(kind="sleep", seconds=120)

    run = launch(process, signal_at_once=signal.SIGTERM)  # SIGTERM still blocked
    wait_status = run.until_gone()

    # Not the interpreter killed by the default action: the runner took it as a stop.
    assert not os.WIFSIGNALED(wait_status)
    assert run.output.report == {"result": "terminated", "signum": signal.SIGTERM}
    assert "sleeping 120.0s" not in child_messages(child_database, process)


def test_a_sigkill_reaches_the_whole_process_group_of_the_run(
    make: Make, launch: Callable[..., Launched]
) -> None:
    run = launch(make(kind="tree"))  # sh -c 'sleep 1000 & sleep 1000'
    proc = run.runner()

    def two_sleeps() -> list[psutil.Process] | None:
        found = [p for p in proc.children(recursive=True) if p.name() == "sleep"]
        return found if len(found) == 2 else None

    sleeps = wait_for(two_sleeps, 60, "the run's two sleeps")

    run.handle.signal(signal.SIGKILL)
    wait_status = run.until_gone()

    assert os.WIFSIGNALED(wait_status)
    assert os.WTERMSIG(wait_status) == signal.SIGKILL
    for sleep in sleeps:
        wait_for(lambda sleep=sleep: gone(sleep.pid), 10, f"sleep {sleep.pid} to die")


# -- the end ---------------------------------------------------------------------------------


def test_close_releases_every_descriptor_and_a_reaped_run_gets_no_signal(
    make: Make, launch: Callable[..., Launched]
) -> None:
    run = launch(make(kind="exit"))
    run.until_gone()
    fds = [run.handle.exit_fd(), *run.handle.readers()]
    assert len(fds) == 4
    assert not any(is_closed(fd) for fd in fds)

    run.handle.signal(signal.SIGKILL)  # reaped: its pid may be anybody's now; nothing sent
    run.handle.close()

    assert all(is_closed(fd) for fd in fds)
    assert run.handle.exit_fd() is None
    assert run.handle.readers() == {}
    run.handle.close()  # twice: nothing left to close


def test_close_releases_the_exit_descriptor_when_the_executor_cleanup_fails(
    make: Make, launch: Callable[..., Launched]
) -> None:
    run = launch(make(kind="exit"), executor=CleanupFails())
    run.until_gone()
    exit_fd = run.handle.exit_fd()
    assert exit_fd is not None

    run.handle.close()  # the cleanup's error is not the supervisor's

    assert is_closed(exit_fd)
    assert run.handle.exit_fd() is None
