"""Helpers for testing code that uses djprocess, with the real runner and real transitions.

* :func:`recording_backend` — a backend that records what djprocess asks (dispatch, kill,
  revoke) and runs nothing; :meth:`RecordingBackend.run_dispatched` then runs the recorded
  processes with the real runner, when the test decides.
* :func:`run_eagerly` — ``start()`` runs the process at once, in the test, with the real
  runner (no Celery, no worker); the djprocess signals are sent even inside a test
  transaction.
* :func:`simulate_running` and :func:`fire_watchdog` — a process "picked up by a worker", and
  its watchdog firing after a faked amount of time: the clock of a timeout, without waiting.

Each helper restores what it changed when its block ends, so nothing leaks between tests. It
needs no test framework; with pytest, wrap them in fixtures (see the docs' testing page).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import DEFAULT_DB_ALIAS
from django.db.models import F
from django.test import TestCase, override_settings
from django.utils import timezone

from djprocess import _clock as clock
from djprocess import status
from djprocess._transitions import compare_and_set, current_status
from djprocess.backends import get_backend
from djprocess.backends.base import BaseWorkerBackend, KillResult
from djprocess.exceptions import InvalidTransition
from djprocess.supervision import supervisor

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

__all__ = [
    "IMMEDIATE_BACKEND",
    "RECORDING_BACKEND",
    "RecordingBackend",
    "fire_watchdog",
    "recording_backend",
    "run_eagerly",
    "simulate_running",
]

#: Dotted path of :class:`RecordingBackend`, for ``DJPROCESS_WORKER_BACKEND``.
RECORDING_BACKEND = "djprocess.testing.RecordingBackend"
#: Dotted path of the backend :func:`run_eagerly` uses.
IMMEDIATE_BACKEND = "djprocess.backends.immediate.ImmediateBackend"


class RecordingBackend(BaseWorkerBackend):
    """A backend that records what it is asked and runs nothing.

    ``dispatched``: the processes passed to ``dispatch()``, in order; ``killed``: the task
    ids passed to ``kill()``; ``revoked``: the task ids passed to ``revoke_scheduled()``.
    Task ids are ``"run-<pk>-<n>"`` and ``"watchdog-<pk>-<n>"`` (``n``: the dispatch number).
    ``kill()`` reports the run gone after one SIGTERM; set :attr:`kill_result` to change it.
    Use it through :func:`recording_backend`, which gives each test a clean one.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded and restore the default :attr:`kill_result`."""
        self.dispatched: list[BaseProcess] = []
        self.killed: list[str] = []
        self.revoked: list[str] = []
        #: What ``kill()`` returns.
        self.kill_result = KillResult(found=True, gone=True, term_sent=1, term_retries=3)
        self._run_count = 0

    def dispatch(self, process: BaseProcess) -> tuple[str, str]:
        """Record ``process``; returns ``("run-<pk>-<n>", "watchdog-<pk>-<n>")``."""
        self.dispatched.append(process)
        number = len(self.dispatched)
        return f"run-{process.pk}-{number}", f"watchdog-{process.pk}-{number}"

    def kill(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> KillResult:
        """Record ``task_id``; returns :attr:`kill_result`."""
        self.killed.append(task_id)
        return self.kill_result

    def revoke_scheduled(self, task_id: str) -> None:
        """Record ``task_id``."""
        self.revoked.append(task_id)

    def run_dispatched(self) -> list[str]:
        """Run every recorded process not yet run, in dispatch order, with the real runner
        (``execute()``, as a worker would); returns their final statuses. A process
        cancelled meanwhile is not run (its status is returned as it is)."""
        outcomes: list[str] = []
        while self._run_count < len(self.dispatched):
            process = self.dispatched[self._run_count]
            self._run_count += 1
            process.refresh_from_db(fields=["process_task_id"])
            task_id = process.process_task_id or f"run-{process.pk}-{self._run_count}"
            outcomes.append(process.execute(task_id=task_id, hostname="recording"))
        return outcomes


@contextmanager
def recording_backend() -> Iterator[RecordingBackend]:
    """Make :class:`RecordingBackend` the configured backend for the block and yield it,
    empty. ``start()`` then records the dispatch and returns with the process ``pending``.
    Everything recorded is forgotten when the block ends."""
    with override_settings(DJPROCESS_WORKER_BACKEND=RECORDING_BACKEND):
        backend = get_backend()
        assert isinstance(backend, RecordingBackend)
        backend.reset()
        try:
            yield backend
        finally:
            backend.reset()


@contextmanager
def run_eagerly(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Inside the block ``start()`` runs the process at once, in this thread, with the real
    runner (:class:`~djprocess.backends.immediate.ImmediateBackend`): when it returns the
    process has ended. Callbacks registered with ``transaction.on_commit()`` on ``using``
    inside the block, the djprocess signals among them, run when the block ends, even in
    a test wrapped in a transaction that never commits. No watchdog: a timeout is not
    enforced (see :func:`fire_watchdog`)."""
    with (
        override_settings(DJPROCESS_WORKER_BACKEND=IMMEDIATE_BACKEND),
        TestCase.captureOnCommitCallbacks(using=using, execute=True),
    ):
        yield


def simulate_running(
    process: BaseProcess, *, hostname: str = "test-worker", pid: int | None = None
) -> None:
    """Move a ``pending`` ``process`` to ``running`` as a worker's claim would (compare-and-set;
    ``started_at`` = now, ``attempts`` + 1), without running ``run()``. Raises
    :class:`~djprocess.exceptions.InvalidTransition` if it is not ``pending``."""
    now = timezone.now()
    claimed = compare_and_set(
        process,
        [status.PENDING],
        status.RUNNING,
        started_at=now,
        deadline_at=clock.utc_now() + process.timeout,
        dispatched_at=process.dispatched_at or now,
        worker_hostname=hostname,
        worker_pid=pid,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        raise InvalidTransition(process, "simulate_running", current_status(process))
    process.refresh_from_db()


def fire_watchdog(process: BaseProcess, *, after: timedelta | None = None) -> supervisor.Outcome:
    """Fire ``process``'s watchdog as if ``after`` (default: its ``timeout``) had passed since
    it started: its ``started_at`` (and ``dispatched_at``) are moved back by that much, then
    :func:`djprocess.supervision.supervisor.fire_watchdog` runs here with the configured backend.

    Returns the watchdog's outcome (a
    :class:`djprocess.supervision.supervisor.Outcome`, a ``str`` enum):
    ``"timed_out"`` (the process was ``running`` past its deadline: it is ``timed_out`` and
    the backend was asked to kill it), ``"rescheduled"`` (``after`` is short of the
    deadline), ``"noop"`` (not started yet, or already ended), … The process is refreshed
    from the database. Use it inside :func:`recording_backend`: with a real backend the kill
    would go to real workers."""
    elapsed = process.timeout if after is None else after
    model = type(process)
    rows = model._base_manager.filter(pk=process.pk)
    now = timezone.now()
    started = rows.filter(started_at__isnull=False)
    started.update(started_at=now - elapsed, deadline_at=clock.utc_now() - elapsed + F("timeout"))
    rows.filter(dispatched_at__isnull=False).update(dispatched_at=F("dispatched_at") - elapsed)
    process.refresh_from_db()
    outcome = supervisor.fire_watchdog(process, backend=get_backend())
    process.refresh_from_db()
    return outcome
