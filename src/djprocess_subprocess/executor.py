"""The executor contract: how the pool child starts, signals and cleans up one run.

``DJPROCESS_SUBPROCESS_EXECUTOR`` names the class (default
:class:`djprocess_subprocess.native.NativeExecutor`;
:class:`djprocess_gvisor.executor.GvisorExecutor` runs in a gVisor sandbox). The local
supervisor (:mod:`djprocess.run.localsupervisor`) drives it through
:class:`djprocess_subprocess.launcher.ExecutorLauncher`; an executor never decides a
status and never reads a pid back from the database.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["REPORT", "STDERR", "STDOUT", "ExecutionHandle", "Executor", "RunRequest"]

#: What a file descriptor of :attr:`ExecutionHandle.channels` carries.
REPORT, STDOUT, STDERR = "report", "stdout", "stderr"


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What an executor needs to start one run.

    ``tag``: the PostgreSQL ``application_name`` the run's sessions must carry.
    ``parent_pid``: the pool child's pid (the run dies with it).
    """

    process: BaseProcess
    tag: str
    parent_pid: int


@dataclass(eq=False)
class ExecutionHandle:
    """One launched run.

    ``pid``: host pid of the process the executor started (a child of the pool child);
    ``sandbox_id``: the sandbox's name, "" for a native run; ``proc``: the
    :class:`subprocess.Popen` holding that child; ``channels``: the pool child's
    non-blocking read ends, each named :data:`REPORT`, :data:`STDOUT` or :data:`STDERR`.
    """

    pid: int | None
    sandbox_id: str
    proc: subprocess.Popen[bytes] | None = None
    channels: dict[int, str] = field(default_factory=dict)
    #: Where the executor keeps what it must remove in :meth:`Executor.cleanup`.
    workdir: str = ""
    #: The ``waitpid`` status, once the started process is reaped.
    status: int | None = None

    def is_alive(self) -> bool:
        """True while the started process has not been reaped."""
        return self.proc is not None and self.proc.returncode is None


class Executor(Protocol):
    """Starts runs of ``python -m djprocess_subprocess.runner`` and controls them."""

    #: The run reaches the database itself (False: its log lines, progress and outcome
    #: come back on the report channel, see :mod:`djprocess.run.relay`).
    database_access: bool
    #: Runs are isolated from the host (their own kernel, filesystem and network).
    sandboxed: bool

    def launch(self, request: RunRequest) -> ExecutionHandle:
        """Start the run in a new session and process group, with SIGTERM still blocked
        (the runner unblocks it). Raises :class:`OSError` when it cannot start."""

    def is_alive(self, handle: ExecutionHandle) -> bool:
        """True while the run's process has not been reaped."""

    def poll(self, handle: ExecutionHandle) -> int | None:
        """Reap the run's process if it is gone and return its ``waitpid`` status."""

    def wait(self, handle: ExecutionHandle) -> int:
        """Block until the run's process is gone; its exit code as :class:`subprocess.Popen`
        gives it (negative: killed by that signal)."""

    def terminate(self, handle: ExecutionHandle, signal_name: str) -> None:
        """Send ``signal_name`` (``"SIGTERM"``, ``"SIGKILL"``) to the run as a unit."""

    def cleanup(self, handle: ExecutionHandle) -> None:
        """After the run's process is reaped: close descriptors, remove the sandbox and
        whatever the launch created. Never raises."""
