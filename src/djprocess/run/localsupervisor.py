"""The local supervisor: the process that claims a run forks it and watches it.

A worker backend calls :func:`run_supervised` in a process of its own that will not be
reused while the run lasts (a Celery prefork pool child). That process:

1. claims the row (``pending → running``, ``deadline_at = now + timeout`` in UTC);
2. starts the run through a launcher (:mod:`djprocess.run.launch`): by default it forks the
   *run child* (:mod:`djprocess.run.child`), which calls ``run()`` in its own process
   group; ``djprocess_subprocess`` starts a fresh interpreter or a gVisor sandbox;
3. watches it: the deadline on a monotonic clock, the row's status through a
   :class:`~djprocess.run._statuswatcher.StatusWatcher` (a ``cancel()``, a decision of the
   supervisor, a deleted row), a SIGTERM to itself (a worker shutting down);
4. stops it when asked: SIGTERM to the run's process group up to
   ``DJPROCESS_KILL_TERM_RETRIES`` times, ``DJPROCESS_KILL_TERM_WAIT_SECONDS`` apart, then
   SIGKILL to the group and to every process the run left behind; it holds the run's
   process as its own child (through the launcher's handle), so "gone" is a ``waitpid``,
   never a guess, and no pid is ever read back from the database;
5. after every run, whatever its end: stops what the run left behind (this process is a
   child subreaper, so orphans come back to it), ends PostgreSQL statements the run left
   running on the server, and records the outcome, retrying through a database outage.

No remote-control command, broker or supervisor worker is involved: the deadline and
``cancel()`` hold with the control channel down, the broker away, the worker in warm
shutdown or its main process stuck.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING

import psutil
from django.db import DatabaseError, InterfaceError, OperationalError, connections

from djprocess import _clock as clock
from djprocess.backends.base import KillResult
from djprocess.conf import settings
from djprocess.run import child as runchild
from djprocess.run import runner
from djprocess.run._results import RunResult, StopReason
from djprocess.run._statuswatcher import StatusWatcher
from djprocess.run.host import is_alive
from djprocess.run.launch import ForkLauncher, Launcher, RunHandle
from djprocess.run.output import RunOutput

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

logger = logging.getLogger("djprocess.run.localsupervisor")

__all__ = [
    "after_fork_hooks",
    "install_worker_process_handlers",
    "run_supervised",
    "run_tag",
    "stop_run_everywhere",
]

#: Seconds left to the processes a run left behind between SIGTERM and SIGKILL.
LEFTOVER_GRACE_SECONDS = 1.0
#: Rounds of SIGKILL for leftovers that keep forking.
LEFTOVER_KILL_ROUNDS = 50
#: Seconds the supervisor keeps retrying to record an outcome through a database outage.
RECORD_RETRY_SECONDS = 600.0
#: Seconds a supervisor waits for the run child after SIGKILL before it says so.
SIGKILL_WAIT_SECONDS = 10.0

#: The supervisor running in this process now (for the SIGTERM handler), if any.
_active: LocalSupervisor | None = None
#: Called in every run child right after the fork (a backend resets its broker pools here).
after_fork_hooks: list[Callable[[], None]] = []


def install_worker_process_handlers() -> None:
    """Set up a process that will supervise runs (a pool child, at its start): make it
    a child subreaper, so what a run leaves behind comes back to it."""
    runchild.become_subreaper()


@dataclass
class Stop:
    """Why and how a supervised run was stopped."""

    reason: str  # a StopReason, or the status the row left running for
    started: float  # monotonic
    term_sent: int = 0
    kill_sent: bool = False
    next_step: float = 0.0


@dataclass
class LocalSupervisor:
    """Forks and watches one run. Use :func:`run_supervised`."""

    process: BaseProcess
    task_id: str
    hostname: str
    after_fork: Iterable[Callable[[], None]] = ()
    shutdown_requested: bool = False
    launcher: Launcher | None = None
    output: RunOutput | None = None
    stop: Stop | None = None
    exit_status: int | None = None
    claimed_at: float = 0.0

    # -- the run ------------------------------------------------------------------

    def run(self) -> str:
        # From before the claim until the outcome is recorded, SIGTERM to this process (a
        # worker's cold shutdown, an operator) is ours: it stops the run first, with the
        # usual escalation, and the handler it replaces (billiard's) gets it afterwards.
        # It stays blocked until the fork: no claim is left without its run's supervisor,
        # and in the child it is delivered once the handler that turns it into
        # ProcessTerminated is installed.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        global _active
        _active = self
        try:
            final = self._claim_and_run(old_mask)
        finally:
            _active = None
            signal.signal(signal.SIGTERM, previous)
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if self.shutdown_requested:
            # Carry on with the shutdown that was put off while the run was stopped.
            os.kill(os.getpid(), signal.SIGTERM)
        return final

    def _claim_and_run(self, old_mask: Iterable[int]) -> str:
        process = self.process
        self.claimed_at = claimed_at = clock.monotonic()
        if not runner.claim(process, task_id=self.task_id, hostname=self.hostname, watched=True):
            return runner.not_claimed(process)
        deadline = claimed_at + process.timeout_seconds()
        _close_connections()  # never share a database socket with the run
        tag = run_tag(self.task_id)
        launcher = self.launcher or ForkLauncher([*after_fork_hooks, *self.after_fork])
        self.output = RunOutput(process)
        try:
            handle = launcher.launch(process, tag=tag, output=self.output)
        except Exception as exc:  # noqa: BLE001 - recorded as the run's failure
            return self._not_started(exc)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        try:
            self._supervise(handle, deadline)
        finally:
            handle.close()
        left = stop_leftovers(kill_now=self.stop is not None and self.stop.kill_sent)
        ended = end_database_sessions(tag)
        self.output.close()
        elapsed = timedelta(seconds=round(clock.monotonic() - claimed_at, 3))
        return _with_db_retry(
            lambda: self._record(elapsed, left, ended), f"{process._meta.label} pk={process.pk}"
        )

    def _supervise(self, handle: RunHandle, deadline: float) -> None:
        """Watch the run until it is gone; on any error of our own, kill it."""
        process = self.process
        assert process.deadline_at is not None
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        watcher = StatusWatcher(
            process, process.deadline_at + timedelta(seconds=settings.SWEEP_SECONDS), wake_w
        )
        try:
            watcher.start()
            self._watch(handle, wake_r, deadline, watcher)
        except BaseException:
            # Never leave a run behind without its supervisor.
            handle.signal(signal.SIGKILL)
            _kill_descendants()
            while handle.poll() is None:
                time.sleep(0.01)
            raise
        finally:
            watcher.stop()
            for fd in (wake_r, wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.shutdown_requested = True

    def _watch(
        self, handle: RunHandle, wake_r: int, deadline: float, watcher: StatusWatcher
    ) -> None:
        readers = handle.readers()
        with selectors.DefaultSelector() as selector:
            for fd in readers:
                selector.register(fd, selectors.EVENT_READ)
            selector.register(wake_r, selectors.EVENT_READ)
            exit_fd = handle.exit_fd()
            if exit_fd is not None:
                selector.register(exit_fd, selectors.EVENT_READ)
            while self.exit_status is None:
                now = clock.monotonic()
                if self.stop is None:
                    reason = self._stop_reason(now, deadline, watcher)
                    if reason is not None:
                        self.stop = Stop(reason=reason, started=now, next_step=now)
                        if reason == StopReason.TIMEOUT:
                            watcher.decide_timeout()
                if self.stop is not None and now >= self.stop.next_step:
                    self._escalate(handle, now)
                wait = deadline - now if self.stop is None else self.stop.next_step - now
                if exit_fd is None:
                    wait = min(wait, 0.05)
                for key, _ in selector.select(timeout=max(0.0, min(wait, 1.0))):
                    if key.fd == wake_r:
                        _read_all(wake_r)
                    elif key.fd in readers:
                        data = _read_all(key.fd)
                        readers[key.fd](data)
                        if not data:  # end of file: a writer closed it for good
                            selector.unregister(key.fd)
                self.exit_status = handle.poll()
            # What the run wrote just before it ended (more may still come from
            # processes it left behind; those are stopped next).
            for fd, feed in readers.items():
                data = _read_all(fd)
                if data:
                    feed(data)

    def _stop_reason(self, now: float, deadline: float, watcher: StatusWatcher) -> str | None:
        if watcher.found is not None:
            return watcher.found
        if self.shutdown_requested:
            return StopReason.SHUTDOWN
        if now >= deadline:
            return StopReason.TIMEOUT
        return None

    def _escalate(self, handle: RunHandle, now: float) -> None:
        assert self.stop is not None
        stop = self.stop
        pid = handle.pid
        if stop.kill_sent:
            stop.next_step = now + SIGKILL_WAIT_SECONDS
            logger.error("task %s: run %s still not gone %.0fs after SIGKILL",
                         self.task_id, pid, SIGKILL_WAIT_SECONDS)  # fmt: skip
            return
        if stop.term_sent < settings.KILL_TERM_RETRIES:
            stop.term_sent += 1
            handle.signal(signal.SIGTERM)
            stop.next_step = now + settings.KILL_TERM_WAIT_SECONDS
            logger.info("task %s: SIGTERM %d/%d sent to the run %d (%s)",
                        self.task_id, stop.term_sent, settings.KILL_TERM_RETRIES, pid,
                        stop.reason)  # fmt: skip
            return
        stop.kill_sent = True
        handle.signal(signal.SIGKILL)
        _kill_descendants()
        stop.next_step = now + SIGKILL_WAIT_SECONDS
        logger.warning("task %s: SIGKILL sent to the run %d and what it left behind, "
                       "after %d SIGTERM", self.task_id, pid, stop.term_sent)  # fmt: skip

    # -- recording ------------------------------------------------------------------

    def _not_started(self, exc: Exception) -> str:
        logger.exception("task %s: the run could not be started", self.task_id)
        outcome = runner.Outcome(
            runner.Outcome.FAILED, exception=f"RunNotStarted: {type(exc).__name__}: {exc}"
        )
        return _with_db_retry(
            lambda: runner.record_end(self.process, outcome, timedelta(0)),
            f"{self.process._meta.label} pk={self.process.pk}",
        )

    def _record(self, elapsed: timedelta, leftovers: int, ended_sessions: int) -> str:
        process = self.process
        notes = []
        if leftovers:
            notes.append(f"stopped {leftovers} process(es) it left behind")
        if ended_sessions:
            notes.append(f"ended {ended_sessions} database session(s) it left running")
        suffix = f" ({'; '.join(notes)})" if notes else ""
        if self.stop is not None:
            # "timed out after" the time it had, not after the stop that followed.
            decided = timedelta(seconds=round(self.stop.started - self.claimed_at, 3))
            return runner.record_stop(
                process, self.stop.reason, self._kill_result(), decided, suffix
            )
        return runner.record_end(process, self._outcome(), elapsed, suffix)

    def _kill_result(self) -> KillResult:
        assert self.stop is not None
        return KillResult(
            found=True,
            gone=True,
            term_sent=self.stop.term_sent,
            term_retries=settings.KILL_TERM_RETRIES,
            kill_sent=self.stop.kill_sent,
            hostname=self.hostname,
        )

    def _outcome(self) -> runner.Outcome:
        report = self.output.report if self.output is not None else {}
        result = report.get("result")
        if result == RunResult.SUCCEEDED:
            return runner.Outcome(runner.Outcome.SUCCEEDED)
        if result == RunResult.FAILED:
            return runner.Outcome(
                runner.Outcome.FAILED,
                exception=str(report.get("exception", "")),
                traceback=str(report.get("traceback", "")),
            )
        if result == RunResult.TERMINATED:
            return runner.Outcome(runner.Outcome.TERMINATED)
        return runner.Outcome(
            runner.Outcome.FAILED, exception=f"RunProcessDied: {describe_exit(self.exit_status)}"
        )


def run_supervised(
    process: BaseProcess,
    *,
    task_id: str,
    hostname: str = "",
    after_fork: Iterable[Callable[[], None]] = (),
    launcher: Launcher | None = None,
) -> str:
    """Claim ``process``, start its run through ``launcher`` (default: a forked run
    child, :class:`~djprocess.run.launch.ForkLauncher`), enforce its deadline and stops, and
    record the outcome. Returns the status stored afterwards.

    A process that is not ``pending`` (or not dispatched) is not run; its status is
    returned. ``after_fork`` callables run first thing in a forked run child. Linux only
    (``fork``, ``prctl``). Raises ``DoesNotExist`` if the row is gone before the claim,
    and :class:`OSError` if the launcher could not start the run (the row is then
    recorded ``failed``).
    """
    if _active is not None:
        raise RuntimeError("this process is already supervising a run")
    return LocalSupervisor(
        process,
        task_id=task_id,
        hostname=hostname or socket.gethostname(),
        after_fork=after_fork,
        launcher=launcher,
    ).run()


# -- helpers ------------------------------------------------------------------------


def describe_exit(status: int | None) -> str:
    """``"exited with code 3"`` / ``"was killed by SIGSEGV"`` for a ``waitpid`` status."""
    if status is None or status < 0:
        return "the run's process ended, exit status unknown"
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return f"the run's process was killed by {name}"
    return f"the run's process exited with code {os.waitstatus_to_exitcode(status)}"


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        with contextlib.suppress(Exception):
            connection.close()
    with contextlib.suppress(Exception):
        from djprocess.logs import _store as logstore

        logstore.close_private_connections()


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _kill_descendants() -> None:
    # SIGKILL only, no wait: the run child among them is reaped by the watch loop.
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


def stop_leftovers(*, kill_now: bool = False, grace: float = LEFTOVER_GRACE_SECONDS) -> int:
    """Stop every descendant of this process (SIGTERM, then SIGKILL after ``grace``
    seconds; at once with ``kill_now``) and reap them. Returns how many there were.

    Called by a supervisor between runs, when its only descendants are what the last
    run left behind (it is a child subreaper: orphans are re-parented to it). SIGKILL is
    repeated until none is left: a leftover may still be forking while it is stopped.
    """
    found = _live_descendants()
    if not found:
        return 0
    seen = {proc.pid for proc in found}
    if not kill_now:
        for proc in found:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        psutil.wait_procs(found, timeout=grace)
    for _ in range(LEFTOVER_KILL_ROUNDS):
        alive = _live_descendants()
        if not alive:
            break
        seen.update(proc.pid for proc in alive)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=0.2)
        _reap_children()
    _reap_children()
    return len(seen)


def _live_descendants() -> list[psutil.Process]:
    _reap_children()  # zombies of processes already gone are not left behind
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:  # pragma: no cover - our own process always exists
        return []
    return [proc for proc in children if is_alive(proc)]


def run_tag(task_id: str) -> str:
    """The tag of the run of ``task_id``: the ``application_name`` of its PostgreSQL
    sessions and the value of ``DJP_RUN_TAG`` in the environment of every process it
    starts (at most 63 characters, PostgreSQL's limit)."""
    return f"djprocess-run-{task_id or uuid.uuid4().hex}"[:63]


def stop_run_everywhere(tag: str) -> int:
    """SIGKILL every process on this host whose environment carries ``DJP_RUN_TAG=tag``
    (what a run started, wherever it went), and end the run's PostgreSQL sessions. For
    when the run's supervisor itself died (a pool child SIGKILLed, OOM-killed): nothing
    else would stop them. Returns how many processes were killed."""
    killed = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and proc.environ().get(runchild.RUN_ENV) == tag:
                proc.kill()
                killed.append(proc)
    psutil.wait_procs(killed, timeout=2)
    end_database_sessions(tag)
    return len(killed)


def _reap_children() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def end_database_sessions(tag: str) -> int:
    """Terminate the PostgreSQL sessions the run child tagged with ``tag`` that are still
    there (a statement it left running holds its locks until the server notices). Returns
    how many were ended. Other databases: nothing to do (their client-side work died with
    the run's process)."""
    ended = 0
    for alias in connections:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    [tag],
                )
                row = cursor.fetchone()
                ended += int(row[0]) if row else 0
        except DatabaseError as exc:
            logger.warning("could not end the database sessions of a run on %r: %s", alias, exc)
            with contextlib.suppress(Exception):
                connection.close()
    return ended


def _with_db_retry(action: Callable[[], str], label: str) -> str:
    """Run ``action`` until it gets through a database outage (at most
    :data:`RECORD_RETRY_SECONDS`); its last error is raised after that."""
    give_up = clock.monotonic() + RECORD_RETRY_SECONDS
    pause = 0.1
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError) as exc:
            if clock.monotonic() > give_up:
                raise
            logger.warning("%s: cannot record the end of its run (%s); retrying", label, exc)
            for connection in connections.all(initialized_only=True):
                with contextlib.suppress(Exception):
                    connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
