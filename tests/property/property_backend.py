"""A worker backend for the lifecycle state machine: records dispatches and kills, runs
nothing (the machine delivers the tasks itself), and every kill succeeds."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from djprocess.backends.base import BaseWorkerBackend, KillResult

if TYPE_CHECKING:
    from djprocess.models import BaseProcess

PATH = "property_backend.MachineBackend"


class MachineBackend(BaseWorkerBackend):
    supports_kill = True

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.dispatched: list[int] = []
        self.killed: list[str] = []

    def dispatch(self, process: BaseProcess) -> tuple[str, str]:
        number = next(self.ids)
        self.dispatched.append(process.pk)
        return f"run-{number}", f"watchdog-{number}"

    def kill(self, task_id: str, *, hostname: str = "", pid: int | None = None) -> KillResult:
        self.killed.append(task_id)
        return KillResult(found=True, gone=True, term_sent=1, term_retries=3, pid=pid)

    def revoke_scheduled(self, task_id: str) -> None:
        return None
