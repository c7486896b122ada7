"""The default executor: ``python -m djprocess_subprocess.runner`` as a child process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from djprocess.run.launch import poll_child, signal_group
from djprocess_subprocess.executor import REPORT, STDERR, STDOUT, ExecutionHandle, RunRequest

__all__ = ["NativeExecutor", "close_channels", "handle_for", "reap", "runner_command"]


def runner_command(request: RunRequest, *options: str) -> list[str]:
    """``[python, "-m", "djprocess_subprocess.runner", label, pk, *options]``."""
    process = request.process
    return [
        sys.executable,
        "-m",
        "djprocess_subprocess.runner",
        process._meta.label_lower,
        str(process.pk),
        *options,
    ]


def child_environment() -> dict[str, str]:
    """The pool child's environment, with unbuffered output (lines arrive as printed)."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


class NativeExecutor:
    """Starts the run as a child interpreter in its own session and process group.

    The run reaches the database itself (same settings as the worker) and reports its
    outcome on a pipe it inherits; its stdout and stderr are pipes to the pool child.
    Signals go to the process group the child leads, through the :class:`~subprocess.Popen`
    the pool child holds: the group id is the unreaped child's pid, which no other process
    can have.
    """

    database_access = True
    sandboxed = False

    def launch(self, request: RunRequest) -> ExecutionHandle:
        read_fd, write_fd = os.pipe()
        try:
            options = ["--report-fd", str(write_fd), "--tag", request.tag]
            options += ["--parent-pid", str(request.parent_pid)]
            proc = subprocess.Popen(
                runner_command(request, *options),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
                env=child_environment(),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return handle_for(proc, "", {read_fd: REPORT})

    def is_alive(self, handle: ExecutionHandle) -> bool:
        return handle.is_alive()

    def poll(self, handle: ExecutionHandle) -> int | None:
        return reap(handle)

    def wait(self, handle: ExecutionHandle) -> int:
        while (status := reap(handle)) is None:
            time.sleep(0.05)
        return os.waitstatus_to_exitcode(status) if status >= 0 else -1

    def terminate(self, handle: ExecutionHandle, signal_name: str) -> None:
        if handle.is_alive() and handle.pid is not None:
            signal_group(handle.pid, signal.Signals[signal_name])

    def cleanup(self, handle: ExecutionHandle) -> None:
        close_channels(handle)


def handle_for(
    proc: subprocess.Popen[bytes], sandbox_id: str, channels: dict[int, str]
) -> ExecutionHandle:
    """The handle of a started ``proc``: its stdout and stderr pipes join ``channels``
    (those named :data:`REPORT` in ``channels`` keep their name); all non-blocking."""
    assert proc.stdout is not None
    assert proc.stderr is not None
    named = dict(channels)
    named.setdefault(proc.stdout.fileno(), STDOUT)
    named.setdefault(proc.stderr.fileno(), STDERR)
    for fd in named:
        os.set_blocking(fd, False)
    return ExecutionHandle(pid=proc.pid, sandbox_id=sandbox_id, proc=proc, channels=named)


def reap(handle: ExecutionHandle) -> int | None:
    """``waitpid`` the handle's child without blocking; its status once gone. The
    :class:`~subprocess.Popen` is told, so it never waits on a pid that is not ours any more."""
    proc = handle.proc
    if proc is None or handle.pid is None:
        return -1
    if handle.status is not None:
        return handle.status
    status = poll_child(handle.pid)
    if status is not None:
        proc.returncode = os.waitstatus_to_exitcode(status) if status >= 0 else -1
        handle.status = status
    return status


def close_channels(handle: ExecutionHandle) -> None:
    """Close the pool child's ends of the run's pipes."""
    proc = handle.proc
    for fd in list(handle.channels):
        if proc is not None and (
            (proc.stdout is not None and fd == proc.stdout.fileno())
            or (proc.stderr is not None and fd == proc.stderr.fileno())
        ):
            continue
        with contextlib.suppress(OSError):
            os.close(fd)
    handle.channels = {}
    if proc is not None:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
