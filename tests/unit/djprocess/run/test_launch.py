"""``djprocess.run.launch``: :class:`ForkLauncher` forks a real run child and its
:class:`ForkHandle` is the supervisor's only way to reach it (exit descriptor, report pipe,
signals to its process group, ``waitpid``); and the helpers launchers share
(:func:`signal_group`, :func:`poll_child`, :func:`pidfd_of`) on real child processes.

Each test launches as the supervisor does (SIGTERM blocked around ``launch``) and drives the
handle as its watch loop would; every child is reaped, and none is left behind.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
from django.db import connections
from process_helpers import (
    assert_none_left,
    gone,
    reaped,
    wait_for,
    watch_until_gone,
)
from unit_helpers import Make

from djprocess.run.launch import ForkHandle, ForkLauncher, pidfd_of, poll_child, signal_group
from djprocess.run.output import RunOutput
from djprocess_example.models import ExampleProcess

pytestmark = pytest.mark.django_db(transaction=True)

CustomRun = Callable[[Callable[[ExampleProcess], None]], str]


class Launched:
    """A run launched by :class:`ForkLauncher`, and what its supervisor would read."""

    def __init__(
        self,
        launcher: ForkLauncher,
        process: ExampleProcess,
        tag: str,
        signal_at_once: int | None = None,
    ) -> None:
        self.output = RunOutput(process)
        connections.close_all()  # never share a database socket with the run
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        try:
            self.handle = launcher.launch(process, tag=tag, output=self.output)
            if signal_at_once is not None:
                self.handle.signal(signal_at_once)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        self.wait_status: int | None = None

    def until_gone(self, seconds: float = 30) -> int:
        """Watch the run as the supervisor's loop does until its exit descriptor is readable,
        feeding what its pipes give; its ``waitpid`` status (via ``poll``)."""
        self.wait_status = watch_until_gone(self.handle, seconds)
        return self.wait_status

    def cleanup(self) -> None:
        if self.wait_status is None:
            self.handle.signal(signal.SIGKILL)
            self.wait_status = reaped(self.handle.poll)
        self.handle.close()
        self.output.close()


@pytest.fixture
def launch() -> Iterator[Callable[..., Launched]]:
    """``launch(process, tag="t", after_fork=(), signal_at_once=None)``: a launched run
    (``signal_at_once``: sent through the handle right after ``launch``, SIGTERM still
    blocked). Afterwards each one is
    reaped and closed, and no process the test started is left."""
    launched: list[Launched] = []

    def start(
        process: ExampleProcess, tag: str = "t", after_fork: Any = (), **kwargs: Any
    ) -> Launched:
        launched.append(Launched(ForkLauncher(after_fork), process, tag, **kwargs))
        return launched[-1]

    yield start
    for each in launched:
        each.cleanup()
    assert_none_left()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A pipe the run writes to and the test reads (blocking)."""
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        with contextlib.suppress(OSError):
            os.close(fd)


def read_line(fd: int, seconds: float = 30) -> str:
    data = b""
    deadline = time.monotonic() + seconds
    while not data.endswith(b"\n"):
        readable, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        assert readable, "timed out waiting for the run"
        chunk = os.read(fd, 1)
        assert chunk, "the pipe closed"
        data += chunk
    return data.decode().rstrip("\n")


# -- ForkLauncher and its handle ---------------------------------------------------------


def test_a_launched_run_reports_its_outcome_through_the_handle_and_is_reaped(
    make: Make, launch: Callable[..., Launched], custom_run: CustomRun, pipe: tuple[int, int]
) -> None:
    process = make(kind=custom_run(lambda self: os.write(pipe[1], f"{os.getpid()}\n".encode())))

    run = launch(process)

    assert read_line(pipe[0]) == str(run.handle.pid)  # run() ran in the process it holds
    wait_status = run.until_gone()
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert run.output.report == {"result": "succeeded"}  # read from the report pipe
    assert gone(run.handle.pid)


def test_the_run_leads_its_own_process_group(
    make: Make, launch: Callable[..., Launched], custom_run: CustomRun, pipe: tuple[int, int]
) -> None:
    def wait(self: ExampleProcess) -> None:
        os.write(pipe[1], b"ready\n")
        time.sleep(60)

    run = launch(make(kind=custom_run(wait)))
    assert read_line(pipe[0]) == "ready"

    pid = run.handle.pid
    assert os.getpgid(pid) == pid
    assert os.getpgid(pid) != os.getpgrp()
    assert psutil.Process(pid).ppid() == os.getpid()  # a child of the supervisor


def test_poll_gives_the_exit_status_of_a_run_that_ended_its_own_process(
    make: Make, launch: Callable[..., Launched]
) -> None:
    run = launch(make(kind="exit"))  # run() ends its process with os._exit(3)

    wait_status = run.until_gone()

    assert os.waitstatus_to_exitcode(wait_status) == 3
    assert run.output.report == {}  # it wrote none


def test_a_sigterm_to_the_handle_reaches_the_run_and_everything_it_started(
    make: Make, launch: Callable[..., Launched], custom_run: CustomRun, pipe: tuple[int, int]
) -> None:
    def start_a_child(self: ExampleProcess) -> None:
        sleeper = subprocess.Popen(["sleep", "311"])
        os.write(pipe[1], f"{sleeper.pid}\n".encode())
        sleeper.wait()

    run = launch(make(kind=custom_run(start_a_child)))
    sleeper = int(read_line(pipe[0]))
    assert run.handle.poll() is None  # still running

    run.handle.signal(signal.SIGTERM)

    run.until_gone()
    assert run.output.report == {"result": "terminated", "signum": signal.SIGTERM}
    wait_for(lambda: gone(sleeper), 10, "the run's own child to get the SIGTERM too")


def test_the_after_fork_hooks_and_the_tag_reach_the_run_child(
    make: Make, launch: Callable[..., Launched], custom_run: CustomRun, pipe: tuple[int, int]
) -> None:
    def hook() -> None:
        os.write(pipe[1], f"hook {os.getpid()} {os.environ.get('DJP_RUN_TAG')}\n".encode())

    run = launch(make(kind=custom_run(lambda self: None)), tag="t-launch", after_fork=[hook])

    assert read_line(pipe[0]) == f"hook {run.handle.pid} t-launch"
    run.until_gone()
    assert run.output.report == {"result": "succeeded"}


def test_a_failing_after_fork_hook_is_reported_as_the_runs_failure(
    make: Make, launch: Callable[..., Launched]
) -> None:
    def hook() -> None:
        raise RuntimeError("the broker pool could not be reset")

    run = launch(make(kind="succeed"), after_fork=[hook])

    assert os.waitstatus_to_exitcode(run.until_gone()) == 1
    assert run.output.report["result"] == "failed"
    assert run.output.report["exception"] == "RuntimeError: the broker pool could not be reset"


def test_a_sigterm_sent_as_the_run_is_launched_is_not_lost(
    make: Make, launch: Callable[..., Launched]
) -> None:
    # The supervisor may stop the run at once: before the run child has even made its
    # process group (the signal then goes to the child alone) or put its handler in place
    # (SIGTERM is still blocked there: it is delivered once the handler is in).
    run = launch(make(kind="sleep", seconds=60), signal_at_once=signal.SIGTERM)

    wait_status = run.until_gone()

    assert os.waitstatus_to_exitcode(wait_status) == 0  # not killed by it: reported
    assert run.output.report == {"result": "terminated", "signum": signal.SIGTERM}


def test_close_releases_the_descriptors_and_never_raises(
    make: Make, launch: Callable[..., Launched]
) -> None:
    run = launch(make(kind="quiet", seconds=0))
    run.until_gone()
    fds = [*run.handle.readers(), run.handle.exit_fd()]

    run.handle.close()
    run.handle.close()  # again: nothing to release, no error

    for fd in fds:
        assert fd is not None
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(fd)


# -- the helpers launchers share ---------------------------------------------------------


@pytest.fixture
def popen() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``popen(args, **kwargs)``: a child of the test; killed and reaped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen(args, **kwargs))
        return started[-1]

    yield start
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait(10)


def test_signal_group_reaches_the_whole_group_led_by_the_child(
    popen: Callable[..., subprocess.Popen[bytes]],
) -> None:
    leader = popen(["sh", "-c", "sleep 312 & wait"], start_new_session=True)
    member = wait_for(lambda: psutil.Process(leader.pid).children(), 10, "the shell's sleep")[0]

    signal_group(leader.pid, signal.SIGKILL)

    assert leader.wait(10) == -signal.SIGKILL
    wait_for(lambda: gone(member.pid), 10, "the other member of the group to be killed")


def test_signal_group_signals_the_child_alone_if_it_leads_no_group(
    popen: Callable[..., subprocess.Popen[bytes]],
) -> None:
    child = popen([sys.executable, "-c", "import time; time.sleep(60)"])  # in the test's group
    assert os.getpgid(child.pid) == os.getpgrp() != child.pid

    signal_group(child.pid, signal.SIGTERM)

    assert child.wait(10) == -signal.SIGTERM


def test_signal_group_of_a_process_that_is_gone_does_nothing() -> None:
    with open("/proc/sys/kernel/pid_max") as file:
        no_such_pid = int(file.read()) + 1  # above every pid the kernel gives

    signal_group(no_such_pid, signal.SIGKILL)  # no error


def test_poll_child_gives_the_waitpid_status_once_the_child_is_gone(
    popen: Callable[..., subprocess.Popen[bytes]],
) -> None:
    read_fd, write_fd = os.pipe()
    try:
        child = popen(["sh", "-c", "read line; exit 5"], stdin=read_fd)
        assert poll_child(child.pid) is None  # waiting for its line

        os.write(write_fd, b"go\n")

        wait_status = reaped(lambda: poll_child(child.pid))
        assert os.waitstatus_to_exitcode(wait_status) == 5
        child.returncode = 5  # reaped here: Popen must not wait for it again
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_pidfd_of_a_child_becomes_readable_when_it_exits(
    popen: Callable[..., subprocess.Popen[bytes]],
) -> None:
    read_fd, write_fd = os.pipe()
    child = popen(["sh", "-c", "read line"], stdin=read_fd)
    pidfd = pidfd_of(child.pid)
    assert pidfd is not None
    try:
        assert select.select([pidfd], [], [], 0)[0] == []  # still there

        os.write(write_fd, b"go\n")

        assert select.select([pidfd], [], [], 10)[0] == [pidfd]
        assert child.wait(10) == 0
    finally:
        for fd in (pidfd, read_fd, write_fd):
            os.close(fd)


def test_a_handle_whose_child_has_no_pidfd_still_closes_its_report_pipe(
    make: Make,
) -> None:
    # A handle for a pid with no process behind it: pidfd_open fails, no exit descriptor.
    with open("/proc/sys/kernel/pid_max") as file:
        no_such_pid = int(file.read()) + 1
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    process = make(kind="quiet")
    handle = ForkHandle(no_such_pid, read_fd, RunOutput(process))

    assert handle.exit_fd() is None
    handle.close()

    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(read_fd)
