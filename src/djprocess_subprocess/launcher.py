"""The launcher that starts runs through an executor (the subprocess backend's)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from djprocess.run.launch import RunHandle, pidfd_of
from djprocess.run.output import STDERR_LEVEL, STDOUT_LEVEL, RunOutput
from djprocess_subprocess.executor import (
    REPORT,
    STDERR,
    ExecutionHandle,
    Executor,
    RunRequest,
)

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = ["ExecutorLauncher", "ExecutorRunHandle"]


class ExecutorRunHandle:
    """A run started by an executor, as the local supervisor drives it."""

    def __init__(self, executor: Executor, handle: ExecutionHandle, output: RunOutput) -> None:
        assert handle.pid is not None
        self.pid = handle.pid
        self.executor = executor
        self.handle = handle
        self._output = output
        self._pidfd = pidfd_of(handle.pid)

    def exit_fd(self) -> int | None:
        return self._pidfd

    def readers(self) -> dict[int, Callable[[bytes], None]]:
        feeds: dict[int, Callable[[bytes], None]] = {}
        for fd, name in self.handle.channels.items():
            if name == REPORT:
                feeds[fd] = self._output.feed_report
            else:
                level = STDERR_LEVEL if name == STDERR else STDOUT_LEVEL
                feeds[fd] = self._output.output_feeder(level)
        return feeds

    def signal(self, signum: int) -> None:
        self.executor.terminate(self.handle, signal.Signals(signum).name)

    def poll(self) -> int | None:
        return self.executor.poll(self.handle)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.cleanup(self.handle)
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None


class ExecutorLauncher:
    """Starts each run through ``executor`` (a :class:`~djprocess.run.launch.Launcher`)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def launch(self, process: BaseProcess, *, tag: str, output: RunOutput) -> RunHandle:
        handle = self.executor.launch(RunRequest(process=process, tag=tag, parent_pid=os.getpid()))
        return ExecutorRunHandle(self.executor, handle, output)
