"""How a local supervisor starts the run it watches: the launcher seam.

:func:`djprocess.run.localsupervisor.run_supervised` has one watch/escalate/record loop; what
differs between backends is only how the run is started and how it is signalled. A
:class:`Launcher` starts the run and returns a :class:`RunHandle`, the supervisor's only
way to reach it:

* :class:`ForkLauncher` (the Celery backend): ``os.fork()`` a run child that calls
  ``run()`` (:mod:`djprocess.run.child`);
* ``djprocess_subprocess``'s executor launcher: a fresh interpreter (or a gVisor sandbox)
  started through an executor.

A handle signals what it started and nothing else: it holds the run's process as a child
of the supervisor (a ``waitpid`` tells "gone"; its pid cannot be reused before that), never
a pid read back from the database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from djprocess.run import child as runchild

if TYPE_CHECKING:
    from djprocess.models import BaseProcess
    from djprocess.run.output import RunOutput


class RunHandle(Protocol):
    """One started run, as its supervisor sees it."""

    #: Host pid of the process the supervisor waits for (logged; never stored for a kill).
    pid: int

    def exit_fd(self) -> int | None:
        """A file descriptor that becomes readable when the run's process exits (a pidfd),
        or None (the supervisor then polls every 50 ms)."""

    def readers(self) -> dict[int, Callable[[bytes], None]]:
        """Non-blocking file descriptors to read while the run lasts, each with the
        function that takes the bytes read (b"" at end of file)."""

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the run as a unit (its process group, its sandbox)."""

    def poll(self) -> int | None:
        """Reap the run's process if it is gone: its ``waitpid`` status, else None."""

    def close(self) -> None:
        """Once the run's process is reaped: release what the launch took (descriptors,
        a sandbox). Never raises."""


class Launcher(Protocol):
    """Starts runs for a local supervisor (see :mod:`djprocess.run.launch`)."""

    def launch(self, process: BaseProcess, *, tag: str, output: RunOutput) -> RunHandle:
        """Start ``process``'s run (already claimed: ``running``). ``tag`` is the
        PostgreSQL ``application_name`` its sessions must use; what the run reports (its
        outcome, log lines, output) goes to ``output``. Called with SIGTERM blocked: the
        run must unblock it once its handler is in place. Raises :class:`OSError` if
        nothing could be started."""


class ForkHandle:
    """A run child forked by :class:`ForkLauncher`: it leads its own process group."""

    def __init__(self, pid: int, report_fd: int, output: RunOutput) -> None:
        self.pid = pid
        self._report_fd = report_fd
        self._output = output
        self._pidfd = pidfd_of(pid)

    def exit_fd(self) -> int | None:
        return self._pidfd

    def readers(self) -> dict[int, Callable[[bytes], None]]:
        return {self._report_fd: self._output.feed_report}

    def signal(self, signum: int) -> None:
        signal_group(self.pid, signum)

    def poll(self) -> int | None:
        return poll_child(self.pid)

    def close(self) -> None:
        for fd in (self._report_fd, self._pidfd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


class ForkLauncher:
    """Forks a run child that calls ``run()`` (:func:`djprocess.run.child.main`)."""

    def __init__(self, after_fork: Iterable[Callable[[], None]] = ()) -> None:
        self.after_fork = list(after_fork)

    def launch(self, process: BaseProcess, *, tag: str, output: RunOutput) -> RunHandle:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(read_fd)
            runchild.main(process, write_fd, tag=tag, parent_pid=parent, after_fork=self.after_fork)
        os.close(write_fd)
        return ForkHandle(pid, read_fd, output)


# -- helpers shared by launchers ------------------------------------------------------


def pidfd_of(pid: int) -> int | None:
    """``pidfd_open(pid)`` of a child of ours, or None where the kernel lacks it."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # pragma: no cover - kernels before 5.3
        return None


def signal_group(pid: int, signum: int) -> None:
    """Signal the process group led by our unreaped child ``pid`` (the group id is its
    pid, which cannot be reused while the child is unreaped); the child alone if it left
    its group."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def poll_child(pid: int) -> int | None:
    """``waitpid(pid, WNOHANG)``: the status once our child ``pid`` is gone, else None
    (-1 if something else reaped it)."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # pragma: no cover - reaped elsewhere: it is gone
        return -1
    return status if done == pid else None


__all__ = [
    "ForkHandle",
    "ForkLauncher",
    "Launcher",
    "RunHandle",
    "pidfd_of",
    "poll_child",
    "signal_group",
]
