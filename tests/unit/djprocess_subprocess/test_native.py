"""``djprocess_subprocess.native``: signals go through the handle, to the run's group only."""

from __future__ import annotations

import os
import subprocess
import time

import psutil
import pytest

from djprocess_subprocess.executor import ExecutionHandle
from djprocess_subprocess.native import NativeExecutor, close_channels, handle_for


def started(command: str) -> ExecutionHandle:
    proc = subprocess.Popen(
        ["sh", "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return handle_for(proc, "", {})


def reaped(executor: NativeExecutor, handle: ExecutionHandle, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while (status := executor.poll(handle)) is None:
        if time.monotonic() > deadline:
            pytest.fail("the child was not reaped in time")
        time.sleep(0.01)
    return status


def test_terminate_reaches_the_whole_group_and_nothing_after_the_reap() -> None:
    executor = NativeExecutor()
    handle = started("sleep 313 & sleep 313; wait")
    try:
        assert handle.pid is not None
        group = _wait_group(handle.pid, 3)  # the shell and its two sleeps
        executor.terminate(handle, "SIGKILL")
        status = reaped(executor, handle)
        assert os.WIFSIGNALED(status)
        assert executor.is_alive(handle) is False
        assert executor.wait(handle) == -9
        psutil.wait_procs([p for p in group if p.pid != handle.pid], timeout=5)
        assert not [p for p in group if p.is_running() and p.status() != "zombie"]
        # Reaped: its pid may belong to anybody now, and is never signalled again.
        executor.terminate(handle, "SIGKILL")
    finally:
        if handle.is_alive():
            executor.terminate(handle, "SIGKILL")
            reaped(executor, handle)
        close_channels(handle)


def test_an_exit_code_is_reported_as_waitpid_gives_it() -> None:
    executor = NativeExecutor()
    handle = started("exit 3")
    try:
        status = reaped(executor, handle)
        assert os.waitstatus_to_exitcode(status) == 3
        assert executor.poll(handle) == status  # once reaped, the same answer
    finally:
        executor.cleanup(handle)


def _wait_group(pgid: int, size: int, timeout: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while True:
        group = [p for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == pgid]
        if len(group) >= size:
            return group
        if time.monotonic() > deadline:
            pytest.fail(f"process group {pgid} has {len(group)} processes, not {size}")
        time.sleep(0.01)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None
