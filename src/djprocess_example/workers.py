"""Starting and stopping real ``celery worker -P prefork`` processes for the example.

Used by the demo and by the integration tests. Each worker runs in its own
session, so stopping it can also reach processes its tasks orphaned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

__all__ = ["Worker", "stop_all", "wait_until_ready"]


@dataclass
class Worker:
    """One ``celery worker`` process consuming ``queue``."""

    queue: str
    concurrency: int
    env: Mapping[str, str]
    log_path: Path
    app: str = "djprocess_example.celery"
    extra_args: tuple[str, ...] = ()
    #: A command the worker runs under, e.g. ``("unshare", "--pid", "--fork", "--mount-proc")``.
    prefix: tuple[str, ...] = ()
    name: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def hostname(self) -> str:
        return f"{self.queue}-{self.name}@{os.uname().nodename}"

    def start(self) -> Worker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        command = [
            *self.prefix,
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "worker",
            "-Q",
            self.queue,
            "-P",
            "prefork",
            "-c",
            str(self.concurrency),
            "-n",
            self.hostname,
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
            *self.extra_args,
        ]
        self.popen = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, "worker not started"
        return self.popen.pid

    def pool_pids(self) -> list[int]:
        """Pids of the pool children (direct children of the main process)."""
        try:
            return [child.pid for child in psutil.Process(self.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def session_processes(self) -> list[psutil.Process]:
        """Every live process in the worker's session (its tree and what it orphaned)."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getsid(proc.pid) == self.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (OSError, psutil.Error):
                continue
        return found

    def request_stop(self) -> None:
        """Begin a warm shutdown (SIGTERM) without waiting for it."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL to the whole session after ``timeout``."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        left = self.session_processes()
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(left, timeout=timeout)
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout)
        if self._log is not None:
            self._log.close()


def stop_all(workers: list[Worker], timeout: float = 15.0) -> None:
    """Stop ``workers`` together: every one begins its warm shutdown at once, then each is
    waited for (and SIGKILLed after ``timeout``)."""
    for worker in workers:
        worker.request_stop()
    for worker in workers:
        worker.stop(timeout)


def wait_until_ready(app: Any, workers: list[Worker], timeout: float = 60.0) -> None:
    """Block until every worker answers a ping; raise ``TimeoutError`` naming the silent ones."""
    deadline = time.monotonic() + timeout
    waiting = {worker.hostname for worker in workers}
    while waiting:
        for worker in workers:
            if worker.popen is not None and worker.popen.poll() is not None:
                raise RuntimeError(
                    f"worker {worker.hostname} exited with {worker.popen.returncode}; "
                    f"see {worker.log_path}"
                )
        replies = app.control.ping(destination=sorted(waiting), timeout=0.5) or []
        for reply in replies:
            waiting -= set(reply)
        if waiting and time.monotonic() > deadline:
            raise TimeoutError(f"workers did not answer within {timeout}s: {sorted(waiting)}")
