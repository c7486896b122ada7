"""Helpers of the unit tests that start real processes: waiting with deadlines, reaping,
reading non-blocking pipes, and finding what a test left behind."""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Callable
from typing import Any

import psutil
from django.db import OperationalError

from djprocess.run.launch import RunHandle


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``condition`` until it returns something true, and return that; fail after
    ``seconds``. A query that meets a table lock (in-memory SQLite, another connection
    writing) counts as not yet."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = condition()
        except OperationalError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def reaped(poll: Callable[[], int | None], seconds: float = 30) -> int:
    """Call ``poll`` until it gives a wait status (0 included); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (wait_status := poll()) is None:
        assert time.monotonic() < deadline, "the process was not reaped in time"
        time.sleep(0.01)
    return wait_status


def read_some(fd: int) -> bytes:
    """What a non-blocking ``fd`` has now (b"" if nothing, or at end of file)."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def live_descendants() -> list[psutil.Process]:
    """This process's descendants that still run (zombies left out)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def gone(pid: int) -> bool:
    """True once ``pid`` has ended (a zombie, or reaped by whoever)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def watch_until_gone(handle: RunHandle, seconds: float) -> int:
    """Watch a launched run as the local supervisor's loop does until its exit descriptor
    is readable, feeding what its pipes give to their readers (b"" last); its ``waitpid``
    status (via ``poll``). Fails after ``seconds``."""
    readers = handle.readers()
    exit_fd = handle.exit_fd()
    assert exit_fd is not None
    deadline = time.monotonic() + seconds
    open_fds = set(readers)
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "the run did not end in time"
        readable, _, _ = select.select([exit_fd, *open_fds], [], [], left)
        for fd in readable:
            if fd in open_fds:
                data = read_some(fd)
                readers[fd](data)
                if not data:
                    open_fds.discard(fd)
        if exit_fd in readable:
            break
    wait_status = reaped(handle.poll)
    for fd in open_fds:  # what it wrote just before it ended
        while data := read_some(fd):
            readers[fd](data)
        readers[fd](b"")
    return wait_status


def assert_none_left() -> None:
    """Fail if a test left a descendant of this process running; kill them first, so the
    next test starts clean either way."""
    left = live_descendants()
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(left, timeout=10)
    assert left == [], "a test left a process behind"
