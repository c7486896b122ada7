"""A worker backend for unit tests: it records what djprocess asks and runs nothing.

It is a real :class:`~djprocess.backends.base.BaseWorkerBackend` subclass, loaded by
``DJPROCESS_WORKER_BACKEND = "recording_backend.RecordingBackend"`` (``tests/unit``
is on ``sys.path`` under pytest), so the code under test takes its normal path.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from djprocess.backends.base import BaseWorkerBackend, KillResult, Liveness

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

PATH = "recording_backend.RecordingBackend"


class RecordingBackend(BaseWorkerBackend):
    """``dispatch`` records and returns made-up task ids; ``kill`` returns ``kill_result``
    (or raises it, if it is an exception); ``probe`` returns ``liveness``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.dispatched: list[object] = []
        self.killed: list[tuple[str, str, int | None]] = []
        self.revoked: list[str] = []
        self.kill_result: KillResult | BaseException = KillResult(
            found=True, gone=True, term_sent=1, term_retries=3
        )
        self.liveness = Liveness.UNKNOWN
        self.supports_probe = False
        self.supports_kill = True
        self.stops_runs_locally = False
        self.dispatch_error: BaseException | None = None
        #: When True, ``kill`` SIGTERMs this very process, as a worker's kill would.
        self.kill_sends_sigterm = False

    def dispatch(self, process: BaseProcess) -> tuple[str, str]:
        if self.dispatch_error is not None:
            raise self.dispatch_error
        self.dispatched.append(process.pk)
        number = len(self.dispatched)
        return f"run-{process.pk}-{number}", f"watch-{process.pk}-{number}"

    def kill(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> KillResult:
        self.killed.append((task_id, hostname, pid))
        if self.kill_sends_sigterm:
            os.kill(os.getpid(), signal.SIGTERM)
        if isinstance(self.kill_result, BaseException):
            raise self.kill_result
        return self.kill_result

    def revoke_scheduled(self, task_id: str) -> None:
        self.revoked.append(task_id)

    def probe(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> Liveness:
        return self.liveness
